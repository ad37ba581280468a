package contracts

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestResolveCallChoosesThePath(t *testing.T) {
	small := ExecutionResponse{Success: true, Output: TextOutput("42"), ResourcesUsed: ResourceMetrics{Instructions: 1}}
	m, args, err := ResolveCall(1, small)
	if err != nil || m != MethodResolveExecution || args.(ResolveExecutionArgs).Response.Output.Text != "42" {
		t.Fatalf("small response: %s %+v %v", m, args, err)
	}

	big := ExecutionResponse{Success: true, Output: TextOutput(strings.Repeat("o", 5000)), CompilationNote: ptr("cached")}
	m, args, err = ResolveCall(2, big)
	if err != nil || m != MethodSubmitExecutionOutputAndResolve {
		t.Fatalf("large output: %s %v", m, err)
	}
	a := args.(SubmitExecutionOutputAndResolveArgs)
	if a.RequestID != 2 || a.Output.Text != strings.Repeat("o", 5000) || !a.Success || *a.CompilationNote != "cached" {
		t.Fatalf("large output args = %+v", a)
	}

	// A failure with a huge, multi-byte error is truncated to fit, on a rune boundary.
	fail := ExecutionResponse{Success: false, Error: ptr(strings.Repeat("é", 2000)), Output: TextOutput(strings.Repeat("x", 3000))}
	m, args, err = ResolveCall(3, fail)
	if err != nil || m != MethodResolveExecution {
		t.Fatalf("large failure: %s %v", m, err)
	}
	r := args.(ResolveExecutionArgs).Response
	if r.Output != nil || !utf8.ValidString(*r.Error) || len(*r.Error) > MaxErrorBytes {
		t.Fatalf("failure response = %+v", r)
	}
	if b, _ := json.Marshal(r); len(b) > MaxYieldPayload {
		t.Fatalf("failure response is %d bytes", len(b))
	}
}

func TestOutputIn(t *testing.T) {
	cases := []struct {
		format ResponseFormat
		out    string
		want   string // the output's JSON, or "" for an error
	}{
		{FormatText, "hi", `{"Text":"hi"}`},
		{"", "hi", `{"Text":"hi"}`},
		{FormatJSON, " [1, 2]\n", `{"Json":[1,2]}`},
		{FormatJSON, "{nope", ""},
		{FormatBytes, "\x01\x02", `{"Bytes":[1,2]}`},
		{"Yaml", "a: 1", ""},
		{"text", "hi", ""}, // the contract's spellings only
	}
	for _, c := range cases {
		o, err := OutputIn(c.format, []byte(c.out))
		if c.want == "" {
			if err == nil {
				t.Errorf("%q %q: accepted", c.format, c.out)
			}
			continue
		}
		b, merr := json.Marshal(o)
		if err != nil || merr != nil || string(b) != c.want {
			t.Errorf("%q %q: %s %v %v, want %s", c.format, c.out, b, err, merr, c.want)
		}
	}
}

func TestResolveGasGrowsWithPayloadAndSignatures(t *testing.T) {
	small := ResolveExecutionArgs{Response: ExecutionResponse{Success: true, Output: TextOutput("x")}}
	g0, err := ResolveGas(small)
	if err != nil {
		t.Fatal(err)
	}
	signed := small
	signed.Signatures = make([]ExecutorSignature, 3)
	if g3, _ := ResolveGas(signed); g3 < g0+3*resolveGasPerSignature {
		t.Errorf("3 signatures add %d gas, want at least %d", g3-g0, 3*resolveGasPerSignature)
	}
	text := SubmitExecutionOutputAndResolveArgs{Output: *TextOutput(strings.Repeat("y", 100_000)), Success: true}
	js := SubmitExecutionOutputAndResolveArgs{Output: *JSONOutput([]byte(`"` + strings.Repeat("y", 100_000) + `"`)), Success: true}
	gt, _ := ResolveGas(text)
	gj, _ := ResolveGas(js)
	if gt <= g0 || gj <= gt {
		t.Errorf("gas: small %d, 100 KB text %d, 100 KB json %d: want increasing", g0, gt, gj)
	}
	// A payload that cannot fit one transaction is an error, not a silent cap.
	huge := SubmitExecutionOutputAndResolveArgs{Output: *JSONOutput([]byte(`"` + strings.Repeat("y", 400_000) + `"`)), Success: true}
	if _, err := ResolveGas(huge); err == nil || !strings.Contains(err.Error(), "300 Tgas") {
		t.Errorf("400 KB Json output: %v", err)
	}
	if _, err := ResolveGas(struct{}{}); err == nil {
		t.Error("an unknown argument type was accepted")
	}
}
