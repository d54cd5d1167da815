package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

const timeoutWant = `whole seconds or a duration such as "1500ms"`

// parseTimeout reads a timeout as the seed wrote them, integer seconds, or
// as a Go duration string ("1500ms", "2m"). Negative timeouts are errors;
// what 0 means is up to the option.
func parseTimeout(n *yaml.Node) (time.Duration, error) {
	text := strings.TrimSpace(n.Value)
	switch n.ShortTag() {
	case "!!int":
		var s int64
		if err := n.Decode(&s); err != nil {
			return 0, fmt.Errorf("want %s, got %s", timeoutWant, describe(n))
		}
		return seconds(s)
	case "!!str":
		if s, err := strconv.ParseInt(text, 10, 64); err == nil {
			return seconds(s) // "30" quoted is still seconds
		}
		d, err := time.ParseDuration(text)
		if err != nil {
			return 0, fmt.Errorf("want %s, got %s", timeoutWant, describe(n))
		}
		if d < 0 {
			return 0, fmt.Errorf("must not be negative, got %s", text)
		}
		return d, nil
	}
	return 0, fmt.Errorf("want %s, got %s", timeoutWant, describe(n))
}

func seconds(s int64) (time.Duration, error) {
	if s < 0 {
		return 0, fmt.Errorf("must not be negative, got %d", s)
	}
	if s > math.MaxInt64/int64(time.Second) {
		return 0, fmt.Errorf("%d seconds is too long", s)
	}
	return time.Duration(s) * time.Second, nil
}
