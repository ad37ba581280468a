package p2p

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestJSONFrames(t *testing.T) {
	type msg struct{ A string }
	var buf bytes.Buffer
	if err := WriteJSON(&buf, msg{"hello"}, 64); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&buf, msg{"again"}, 64); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hello", "again"} {
		var got msg
		if err := ReadJSON(&buf, &got, 64); err != nil || got.A != want {
			t.Fatalf("read %+v %v, want %q", got, err, want)
		}
	}
	if err := ReadJSON(&buf, new(msg), 64); !errors.Is(err, io.EOF) {
		t.Fatalf("reading past the last frame: %v, want EOF", err)
	}

	// The writer refuses what the reader would refuse.
	if err := WriteJSON(&buf, msg{strings.Repeat("x", 100)}, 64); err == nil || buf.Len() != 0 {
		t.Fatalf("oversized write: err %v, %d bytes written", err, buf.Len())
	}
	// A reader refuses an oversized announcement before allocating the body.
	if err := ReadJSON(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}), new(msg), 64); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("oversized announcement: %v", err)
	}
	// A truncated body and a body that is not JSON are errors.
	if err := ReadJSON(bytes.NewReader([]byte{0, 0, 0, 9, '{'}), new(msg), 64); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated body: %v", err)
	}
	if err := ReadJSON(bytes.NewReader([]byte{0, 0, 0, 2, 'n', 'o'}), new(msg), 64); err == nil || !strings.Contains(err.Error(), "decode") {
		t.Fatalf("garbage body: %v", err)
	}
}

// TestReadJSONAllocatesAsBytesArrive: a peer that announces a message just
// under a large limit and then sends a few bytes must not make the reader
// allocate the announced size.
func TestReadJSONAllocatesAsBytesArrive(t *testing.T) {
	announced := []byte{0x07, 0xff, 0xff, 0xff, '{', '"'} // 128 MiB - 1, then 2 bytes and EOF
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 20 {
		if err := ReadJSON(bytes.NewReader(announced), new(map[string]any), 128<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncated announcement: %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("20 reads of a 2-byte body announced as 128 MiB allocated %d bytes", grew)
	}
}
