package textcut

import (
	"strings"
	"unicode/utf8"
)

// Marker stands where text was cut.
const Marker = "…[truncated]"

// Head returns s if it is at most n bytes; otherwise its start, cut on a
// rune boundary, followed by Marker, n bytes at most in all (when n is
// smaller than Marker, just the start). Invalid UTF-8 in the kept part is
// replaced by "?" (never longer), so a cut result is valid UTF-8.
func Head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < 0 {
		n = 0
	}
	keep, mark := n-len(Marker), Marker
	if keep < 0 {
		keep, mark = n, ""
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return strings.ToValidUTF8(s[:keep], "?") + mark
}

// Tail is Head for the end of s: Marker, then the last bytes of s, n bytes
// at most in all. Build logs keep their tail, where the error is.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < 0 {
		n = 0
	}
	keep, mark := n-len(Marker), Marker
	if keep < 0 {
		keep, mark = n, ""
	}
	start := len(s) - keep
	for start < len(s) && !utf8.RuneStart(s[start]) {
		start++
	}
	return mark + strings.ToValidUTF8(s[start:], "?")
}
