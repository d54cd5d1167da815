package testutil

import (
	"os"
	"strconv"
	"strings"
)

// Alive reports whether process pid exists and is neither a zombie nor
// dead: a zombie counts as gone, since in a container nobody may reap it.
// On Linux it reads /proc/PID/stat.
func Alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}
