package exec_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	outexec "github.com/outlayer/outlayer/exec"
)

func TestFormatNames(t *testing.T) {
	for _, c := range []struct {
		in   string
		want outexec.Format
	}{{"Text", outexec.FormatText}, {"json", outexec.FormatJSON}, {"BYTES", outexec.FormatBytes}, {"", outexec.FormatText}} {
		got, err := outexec.ParseFormat(c.in)
		if err != nil || got != c.want {
			t.Fatalf("ParseFormat(%q) = %v, %v", c.in, got, err)
		}
	}
	if _, err := outexec.ParseFormat("xml"); err == nil {
		t.Fatal("xml accepted")
	}
	// Upstream's unit-enum names on the wire.
	b, err := json.Marshal(struct{ F outexec.Format }{outexec.FormatJSON})
	if err != nil || string(b) != `{"F":"Json"}` {
		t.Fatalf("marshal: %s %v", b, err)
	}
	var v struct{ F outexec.Format }
	if err := json.Unmarshal([]byte(`{"F":"Bytes"}`), &v); err != nil || v.F != outexec.FormatBytes {
		t.Fatalf("unmarshal: %v %v", v.F, err)
	}
}

func TestResponseShape(t *testing.T) {
	res := outexec.Result{Output: []byte(`{"x": 1}`), Format: outexec.FormatJSON, Instructions: 7,
		Time: 1500 * time.Microsecond, CompileTime: 20 * time.Millisecond}
	b, err := json.Marshal(res.Response(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"success":true,"output":{"x":1},"error":null,"resources_used":{"instructions":7,"time_ms":1,"compile_time_ms":20}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}

	failed := outexec.Result{Output: []byte("partial"), Instructions: 9}
	b, err = json.Marshal(failed.Response(errors.New("boom")))
	if err != nil {
		t.Fatal(err)
	}
	want = `{"success":false,"output":null,"error":"boom","resources_used":{"instructions":9,"time_ms":0}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestErrorKinds(t *testing.T) {
	err := outexec.Limits{MaxMemoryMB: 5000}.Validate()
	if !errors.Is(err, outexec.ErrBadRequest) || errors.Is(err, outexec.ErrMemoryLimit) || !outexec.IsProgramFailure(err) {
		t.Fatalf("Validate: %v", err)
	}
	if !strings.Contains(err.Error(), "5000 MiB") {
		t.Fatalf("message %q does not name the value", err)
	}
	if outexec.IsProgramFailure(errors.New("disk on fire")) {
		t.Fatal("a plain error is not the program's failure")
	}
	d := outexec.Limits{}.WithDefaults()
	if d.MaxInstructions != 1e9 || d.MaxMemoryMB != 128 || d.Timeout != time.Minute {
		t.Fatalf("defaults %+v", d)
	}
}
