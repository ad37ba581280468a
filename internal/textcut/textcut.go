package textcut

import (
	"strings"
	"unicode/utf8"
)

// Marker stands where text was cut. (It is the replicated store's marker
// from before this package: results already in the log keep reading the
// same.)
const Marker = " …[truncated]"

// Head returns s if it is at most n bytes; otherwise its start, cut on a
// rune boundary, followed by Marker, n bytes at most in all (when n is
// smaller than Marker, just the start). Invalid UTF-8 in the kept part is
// replaced (U+FFFD, or "?" where that would not fit), so a cut result is
// valid UTF-8.
func Head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	keep, mark := budget(n)
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return valid(s[:keep], keep) + mark
}

// budget splits n bytes into the text kept and the marker (none when
// the marker alone would not fit).
func budget(n int) (keep int, mark string) {
	n = max(n, 0)
	if n < len(Marker) {
		return n, ""
	}
	return n - len(Marker), Marker
}

// valid replaces invalid UTF-8 in s with U+FFFD, or with "?" where that
// would make it longer than n.
func valid(s string, n int) string {
	if v := strings.ToValidUTF8(s, "\uFFFD"); len(v) <= n {
		return v
	}
	return strings.ToValidUTF8(s, "?")
}

// Tail is Head for the end of s: Marker, then the last bytes of s, n bytes
// at most in all. Build logs keep their tail, where the error is.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	keep, mark := budget(n)
	start := len(s) - keep
	for start < len(s) && !utf8.RuneStart(s[start]) {
		start++
	}
	return mark + valid(s[start:], keep)
}
