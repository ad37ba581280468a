package textcut

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHeadAndTail(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes of two-byte runes
	cases := []struct {
		name      string
		cut       func(string, int) string
		in        string
		n         int
		want      string
		wantShort bool
	}{
		{"head fits", Head, "hello", 5, "hello", false},
		{"tail fits", Tail, "hello", 9, "hello", false},
		{"head ascii", Head, strings.Repeat("a", 40), 20, strings.Repeat("a", 20-len(Marker)) + Marker, true},
		{"tail ascii", Tail, strings.Repeat("a", 39) + "b", 20, Marker + strings.Repeat("a", 20-len(Marker)-1) + "b", true},
		{"budget below the marker", Head, "abcdef", 3, "abc", true},
		{"zero budget", Tail, "abcdef", 0, "", true},
		{"negative budget", Head, "abcdef", -4, "", true},
	}
	for _, c := range cases {
		got := c.cut(c.in, c.n)
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	for n := 0; n < 60; n++ {
		for _, cut := range []func(string, int) string{Head, Tail} {
			got := cut(long, n)
			if len(got) > max(n, 0) || !utf8.ValidString(got) {
				t.Fatalf("n=%d: %d bytes, valid %v: %q", n, len(got), utf8.ValidString(got), got)
			}
			if n >= len(Marker)+2 && !strings.Contains(got, Marker) {
				t.Fatalf("n=%d: no marker in %q", n, got)
			}
		}
	}
	// Invalid UTF-8 in the kept part does not leak out.
	if got := Head("\xff\xfe"+strings.Repeat("x", 40), 30); !utf8.ValidString(got) || len(got) > 30 {
		t.Fatalf("invalid UTF-8 kept: %q", got)
	}
}
