package exec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Format is how a program's stdout is interpreted: upstream's
// ResponseFormat. It marshals as "Text", "Json" or "Bytes".
type Format uint8

const (
	// FormatText: the output is a UTF-8 string.
	FormatText Format = iota
	// FormatJSON: the output is one JSON value.
	FormatJSON
	// FormatBytes: the output is raw bytes (base64 in JSON).
	FormatBytes
)

func (f Format) String() string {
	switch f {
	case FormatText:
		return "Text"
	case FormatJSON:
		return "Json"
	case FormatBytes:
		return "Bytes"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// ParseFormat accepts upstream's names and their lower-case forms.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "text", "":
		return FormatText, nil
	case "json":
		return FormatJSON, nil
	case "bytes":
		return FormatBytes, nil
	}
	return 0, fmt.Errorf("unknown response format %q: want text, json or bytes", s)
}

// MarshalText implements encoding.TextMarshaler with upstream's names.
func (f Format) MarshalText() ([]byte, error) {
	if f > FormatBytes {
		return nil, fmt.Errorf("unknown response format %d", uint8(f))
	}
	return []byte(f.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *Format) UnmarshalText(b []byte) error {
	v, err := ParseFormat(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// Result is what a run produced. It is filled in as far as the run got, on
// failure too: a failed program still used instructions and time.
type Result struct {
	// Output is everything the program wrote to stdout (up to
	// MaxOutputBytes), already checked against Format.
	Output []byte
	// Format is the request's response format.
	Format Format
	// Stderr is the first MaxStderrBytes the program wrote to stderr.
	Stderr []byte
	// StderrTruncated reports that the program wrote more than was kept.
	StderrTruncated bool
	// Instructions is the number of WebAssembly instructions executed.
	Instructions uint64
	// Time is the wall time of the run, from instantiation to exit.
	Time time.Duration
	// CompileTime is how long instrumenting and compiling took, zero when
	// the compiled module came from the cache.
	CompileTime time.Duration
	// Cached reports that the compiled module was already in memory.
	Cached bool
}

// Response is the shape of upstream's ExecutionResponse with the output
// shown in JSON by format: a string for Text, the JSON value itself for
// Json, base64 for Bytes.
type Response struct {
	Success       bool            `json:"success"`
	Output        json.RawMessage `json:"output"`
	Error         *string         `json:"error"`
	ResourcesUsed ResourcesUsed   `json:"resources_used"`
}

// ResourcesUsed is upstream's ResourceMetrics.
type ResourcesUsed struct {
	Instructions  uint64  `json:"instructions"`
	TimeMS        uint64  `json:"time_ms"`
	CompileTimeMS *uint64 `json:"compile_time_ms,omitempty"`
}

// Response turns a run's outcome (the Result and error Run returned) into
// the response shape. err may be nil.
func (r Result) Response(err error) Response {
	resp := Response{
		Success:       err == nil,
		Output:        json.RawMessage("null"),
		ResourcesUsed: ResourcesUsed{Instructions: r.Instructions, TimeMS: uint64(r.Time.Milliseconds())},
	}
	if r.CompileTime > 0 {
		ms := uint64(r.CompileTime.Milliseconds())
		resp.ResourcesUsed.CompileTimeMS = &ms
	}
	if err != nil {
		msg := err.Error()
		resp.Error = &msg
		return resp
	}
	resp.Output = r.OutputJSON()
	return resp
}

// OutputJSON renders Output as JSON according to Format.
func (r Result) OutputJSON() json.RawMessage {
	var v any
	switch r.Format {
	case FormatJSON:
		var buf bytes.Buffer
		if err := json.Compact(&buf, r.Output); err == nil {
			return buf.Bytes()
		}
		v = string(r.Output) // checked at run time; kept valid regardless
	case FormatBytes:
		v = base64.StdEncoding.EncodeToString(r.Output)
	default:
		v = strings.ToValidUTF8(string(r.Output), "\uFFFD")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

// checkOutput verifies that out fits the format.
func checkOutput(f Format, out []byte) error {
	switch f {
	case FormatJSON:
		if !json.Valid(out) {
			var v any
			err := json.Unmarshal(out, &v)
			if len(bytes.TrimSpace(out)) == 0 {
				return failure(ErrBadOutput, "the response format is Json but the program wrote no output")
			}
			return failureWithCause(ErrBadOutput, err, "the response format is Json but the output is not valid JSON (%v); output began: %s", err, preview(out, 200))
		}
	case FormatText:
		if !utf8.Valid(out) {
			at := firstInvalidUTF8(out)
			return failure(ErrBadOutput, "the response format is Text but the output is not valid UTF-8 (first bad byte at offset %d); use the Bytes format for binary output", at)
		}
	}
	return nil
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// preview quotes at most n bytes of b for an error message, never cutting a
// UTF-8 sequence in half (upstream panicked on exactly that).
func preview(b []byte, n int) string {
	cut := len(b) > n
	if cut {
		b = b[:n] // a rune cut in half becomes U+FFFD below
	}
	s := fmt.Sprintf("%q", strings.ToValidUTF8(string(b), "\uFFFD"))
	if cut {
		s += "…"
	}
	return s
}

// cappedBuffer keeps the first limit bytes written to it.
type cappedBuffer struct {
	buf       []byte
	limit     int
	truncated bool
	// failOnOverflow makes an overflowing write stop the program (stdout);
	// otherwise the excess is silently dropped (stderr).
	failOnOverflow bool
}

// errOutputOverflow is panicked from inside the program's write so the run
// stops at exactly that instruction on every node, instead of whenever an
// asynchronous cancellation lands; wazero turns the panic into the error
// returned by the call.
type errOutputOverflow struct{ limit int }

func (e *errOutputOverflow) Error() string {
	return fmt.Sprintf("the program wrote more than %d bytes to stdout", e.limit)
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := c.limit - len(c.buf)
	if len(p) <= room {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	c.buf = append(c.buf, p[:max(room, 0)]...)
	c.truncated = true
	if c.failOnOverflow {
		panic(&errOutputOverflow{limit: c.limit})
	}
	return len(p), nil
}
