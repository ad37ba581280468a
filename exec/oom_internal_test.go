package exec

import "testing"

// TestCompileOutOfMemory: a sandbox that dies while compiling is the
// module's compile failing only when its last words say the address space
// ran out; any other death stays a crashed sandbox (the node's problem).
func TestCompileOutOfMemory(t *testing.T) {
	for _, c := range []struct {
		stderr string
		want   bool
	}{
		{"fatal error: out of memory\n\ngoroutine 1 [running]:", true},
		{"runtime/cgo: pthread_create failed: Resource temporarily unavailable\nSIGABRT: abort", true},
		{"panic: runtime error: index out of range [3] with length 2", false},
		{"fatal error: concurrent map writes", false},
		{"", false},
	} {
		if got := compileOutOfMemory(c.stderr); got != c.want {
			t.Errorf("compileOutOfMemory(%q) = %v, want %v", c.stderr, got, c.want)
		}
	}
}
