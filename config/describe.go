package config

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// describe says what a node is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.AliasNode:
		return "an alias"
	case isNull(n):
		return "null"
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return "the number " + short(n.Value)
	case "!!bool":
		return "the boolean " + short(n.Value)
	}
	return fmt.Sprintf("the string %q", short(n.Value))
}

// short cuts long values so that a message stays one readable line.
func short(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// suggest names the known key nearest to a mistyped one, if any is close.
func suggest(key string, fs fields) string {
	known := make([]string, 0, len(fs))
	for k := range fs {
		known = append(known, k)
	}
	sort.Strings(known)     // deterministic choice between equally near keys
	best, bestDist := "", 3 // more than two edits away is no suggestion
	norm := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	for _, k := range known {
		if d := editDistance(norm, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, by bytes.
// Keys are short, and an over-long typo is cut so this stays cheap.
func editDistance(a, b string) int {
	if len(a) > 64 {
		a = a[:64]
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
