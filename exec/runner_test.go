package exec_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	outexec "github.com/outlayer/outlayer/exec"
)

func run(t *testing.T, r *outexec.Runner, req outexec.Request) (outexec.Result, error) {
	t.Helper()
	return r.Run(context.Background(), req)
}

func wantKind(t *testing.T, err error, kind outexec.Kind) *outexec.Error {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error = %v, want kind %q", err, kind)
	}
	var e *outexec.Error
	if !errors.As(err, &e) || !outexec.IsProgramFailure(err) {
		t.Fatalf("error %v is not an *exec.Error", err)
	}
	return e
}

// wantTimeLimit expects ErrTimeLimit, unless the machine was so loaded that
// the run got too little CPU to be judged (ErrNodeStalled; the rule itself
// is tested in TestStalledRule). It reports whether the run was judged
// stalled.
func wantTimeLimit(t *testing.T, err error) bool {
	t.Helper()
	if errors.Is(err, outexec.ErrNodeStalled) && !outexec.IsProgramFailure(err) {
		t.Logf("the machine is too loaded to judge a time limit: %v", err)
		return true
	}
	wantKind(t, err, outexec.ErrTimeLimit)
	return false
}

func TestSamplePrograms(t *testing.T) {
	r := newRunner(t, outexec.Config{})

	t.Run("echo", func(t *testing.T) {
		in := []byte("héllo, wörld\n")
		res, err := run(t, r, outexec.Request{Wasm: sample(t, "echo"), Input: in})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(res.Output, in) {
			t.Fatalf("output %q, want %q", res.Output, in)
		}
		if res.Instructions == 0 || res.Time <= 0 {
			t.Fatalf("resources not reported: %+v", res)
		}
	})

	t.Run("sha256", func(t *testing.T) {
		in := bytes.Repeat([]byte("outlayer"), 10000)
		res, err := run(t, r, outexec.Request{Wasm: sample(t, "sha256"), Input: in})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(in)
		if got, want := string(res.Output), hex.EncodeToString(sum[:]); got != want {
			t.Fatalf("output %s, want %s", got, want)
		}
	})

	t.Run("jsontransform", func(t *testing.T) {
		res, err := run(t, r, outexec.Request{Wasm: sample(t, "jsontransform"), Format: outexec.FormatJSON,
			Input: []byte(`{"name":"Ada","numbers":[5,-1.5,3]}`)})
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Greeting string
			Count    int
			Sum      float64
			Max      float64
			Sorted   []float64
		}
		if err := json.Unmarshal(res.Output, &got); err != nil {
			t.Fatal(err)
		}
		if got.Greeting != "Hello, Ada!" || got.Count != 3 || got.Sum != 6.5 || got.Max != 5 ||
			len(got.Sorted) != 3 || got.Sorted[0] != -1.5 || got.Sorted[2] != 5 {
			t.Fatalf("unexpected output %s", res.Output)
		}
		resp := res.Response(err)
		if !resp.Success || !json.Valid(resp.Output) || resp.Output[0] != '{' {
			t.Fatalf("response %+v does not embed the JSON value", resp)
		}
	})

	t.Run("exitcode", func(t *testing.T) {
		res, err := run(t, r, outexec.Request{Wasm: sample(t, "exitcode"), Input: []byte("x")})
		e := wantKind(t, err, outexec.ErrExit)
		if e.ExitCode != 3 {
			t.Fatalf("exit code %d, want 3", e.ExitCode)
		}
		if !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "this program always fails") {
			t.Fatalf("message %q lacks the status or the program's stderr", err)
		}
		if string(res.Output) != "partial output before failing\n" || res.Instructions == 0 {
			t.Fatalf("partial result not kept: %+v", res)
		}
	})
}

func TestHandMadeModules(t *testing.T) {
	r := newRunner(t, outexec.Config{})

	t.Run("exact instruction count", func(t *testing.T) {
		res, err := run(t, r, outexec.Request{Wasm: helloModule()})
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Output) != "hello" || res.Instructions != 6 {
			t.Fatalf("output %q after %d instructions, want \"hello\" after 6", res.Output, res.Instructions)
		}
	})
	t.Run("trap", func(t *testing.T) {
		_, err := run(t, r, outexec.Request{Wasm: divideByZeroModule()})
		wantKind(t, err, outexec.ErrTrap)
		if !strings.Contains(err.Error(), "integer divide by zero") || !strings.Contains(err.Error(), "wasm stack trace") {
			t.Fatalf("trap message %q lacks the reason or the stack", err)
		}
		// The count after a trap is whatever exec/meter last wrote back
		// (it keeps the budget in a local between checks); that is
		// deterministic but not asserted here.
	})
	t.Run("proc_exit", func(t *testing.T) {
		_, err := run(t, r, outexec.Request{Wasm: exitModule(7)})
		e := wantKind(t, err, outexec.ErrExit)
		if e.ExitCode != 7 || !strings.Contains(err.Error(), "wrote nothing to stderr") {
			t.Fatalf("got %v (code %d)", err, e.ExitCode)
		}
		if _, err := run(t, r, outexec.Request{Wasm: exitModule(0)}); err != nil {
			t.Fatalf("proc_exit(0) is success, got %v", err)
		}
	})
	t.Run("invalid wasm", func(t *testing.T) {
		for name, wasm := range map[string][]byte{
			"garbage":        []byte("not wasm at all"),
			"empty":          nil,
			"truncated":      helloModule()[:30],
			"no _start":      moduleSpec{noStart: true}.wasm(),
			"foreign import": moduleSpec{extraImport: "host_secret"}.wasm(),
			"memory hidden":  moduleSpec{noMemExport: true}.wasm(),
		} {
			_, err := run(t, r, outexec.Request{Wasm: wasm})
			wantKind(t, err, outexec.ErrInvalidWasm)
			t.Logf("%s: %v", name, err)
		}
	})
}

func TestLimits(t *testing.T) {
	r := newRunner(t, outexec.Config{})

	t.Run("instructions", func(t *testing.T) {
		res, err := run(t, r, outexec.Request{Wasm: sample(t, "loop"), Limits: outexec.Limits{MaxInstructions: 20_000_000}})
		wantKind(t, err, outexec.ErrInstructionLimit)
		if res.Instructions != 20_000_000 {
			t.Fatalf("instructions %d, want the whole budget", res.Instructions)
		}
	})
	t.Run("time", func(t *testing.T) {
		start := time.Now()
		res, err := run(t, r, outexec.Request{Wasm: sample(t, "loop"),
			Limits: outexec.Limits{MaxInstructions: outexec.MaxInstructionsCap, Timeout: 300 * time.Millisecond}})
		wantTimeLimit(t, err)
		if elapsed := time.Since(start); elapsed > 20*time.Second {
			t.Fatalf("the deadline did not stop the program promptly: %s", elapsed)
		}
		if res.Instructions == 0 || res.Time < 300*time.Millisecond {
			t.Fatalf("resources not reported: %+v", res)
		}
	})
	t.Run("memory bomb", func(t *testing.T) {
		res, err := run(t, r, outexec.Request{Wasm: sample(t, "membomb"), Limits: outexec.Limits{MaxMemoryMB: 48}})
		wantKind(t, err, outexec.ErrMemoryLimit)
		if !strings.Contains(err.Error(), "48 MiB") || strings.Contains(err.Error(), "goroutine 1") {
			t.Fatalf("message %q should name the limit and leave out the goroutine dump", err)
		}
		if !bytes.Contains(res.Output, []byte("allocated 1 MiB")) {
			t.Fatalf("output before the failure not kept: %q", res.Output)
		}
		// The host is fine: the next run works.
		if _, err := run(t, r, outexec.Request{Wasm: sample(t, "echo"), Input: []byte("still alive")}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("memory.grow refused", func(t *testing.T) {
		_, err := run(t, r, outexec.Request{Wasm: growModule(200), Limits: outexec.Limits{MaxMemoryMB: 8}})
		wantKind(t, err, outexec.ErrMemoryLimit)
		if _, err := run(t, r, outexec.Request{Wasm: growModule(100), Limits: outexec.Limits{MaxMemoryMB: 8}}); err != nil {
			t.Fatalf("growing within the limit failed: %v", err)
		}
	})
	t.Run("initial memory", func(t *testing.T) {
		_, err := run(t, r, outexec.Request{Wasm: moduleSpec{memPages: 100}.wasm(), Limits: outexec.Limits{MaxMemoryMB: 4}})
		wantKind(t, err, outexec.ErrMemoryLimit)
	})
	t.Run("output", func(t *testing.T) {
		res, err := run(t, r, outexec.Request{Wasm: sample(t, "spam")})
		wantKind(t, err, outexec.ErrOutputTooLarge)
		if len(res.Output) != outexec.MaxOutputBytes || res.Instructions == 0 {
			t.Fatalf("kept %d bytes after %d instructions", len(res.Output), res.Instructions)
		}
		// Stopping at the write that overflowed makes the count exact.
		res2, _ := run(t, r, outexec.Request{Wasm: sample(t, "spam")})
		if res2.Instructions != res.Instructions {
			t.Fatalf("instruction counts differ: %d then %d", res.Instructions, res2.Instructions)
		}
	})
	t.Run("input", func(t *testing.T) {
		_, err := run(t, r, outexec.Request{Wasm: sample(t, "echo"), Input: make([]byte, outexec.MaxInputBytes+1)})
		wantKind(t, err, outexec.ErrInputTooLarge)
		res, err := run(t, r, outexec.Request{Wasm: sample(t, "echo"), Input: bytes.Repeat([]byte("a"), outexec.MaxInputBytes)})
		if err != nil || len(res.Output) != outexec.MaxInputBytes {
			t.Fatalf("an input of exactly the cap: %v, %d bytes out", err, len(res.Output))
		}
	})
	t.Run("caps", func(t *testing.T) {
		for _, l := range []outexec.Limits{
			{MaxInstructions: outexec.MaxInstructionsCap + 1},
			{MaxMemoryMB: outexec.MaxMemoryMBCap + 1},
			{Timeout: outexec.TimeoutCap + time.Second},
			{Timeout: -time.Second},
		} {
			_, err := run(t, r, outexec.Request{Wasm: sample(t, "echo"), Limits: l})
			wantKind(t, err, outexec.ErrBadRequest)
		}
	})
}

func TestFormats(t *testing.T) {
	r := newRunner(t, outexec.Config{})
	echo := sample(t, "echo")
	cases := []struct {
		format outexec.Format
		input  string
		kind   outexec.Kind // "" for success
		json   string       // the output as Response shows it
	}{
		{outexec.FormatText, "plain text ✓", "", `"plain text ✓"`},
		{outexec.FormatText, "bad \xff utf-8", outexec.ErrBadOutput, ""},
		{outexec.FormatJSON, ` {"a": [1, 2]} `, "", `{"a":[1,2]}`},
		{outexec.FormatJSON, `{"a": `, outexec.ErrBadOutput, ""},
		{outexec.FormatJSON, ``, outexec.ErrBadOutput, ""},
		{outexec.FormatBytes, "\x00\xff\x10", "", `"` + base64.StdEncoding.EncodeToString([]byte("\x00\xff\x10")) + `"`},
	}
	for _, c := range cases {
		res, err := run(t, r, outexec.Request{Wasm: echo, Input: []byte(c.input), Format: c.format})
		if c.kind != "" {
			wantKind(t, err, c.kind)
			resp := res.Response(err)
			if resp.Success || resp.Error == nil || string(resp.Output) != "null" {
				t.Fatalf("%s %q: failed response %+v", c.format, c.input, resp)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s %q: %v", c.format, c.input, err)
		}
		if got := string(res.Response(nil).Output); got != c.json {
			t.Fatalf("%s %q: response output %s, want %s", c.format, c.input, got, c.json)
		}
		if !bytes.Equal(res.Output, []byte(c.input)) {
			t.Fatalf("%s: raw output %q changed", c.format, res.Output)
		}
	}
}

func TestCache(t *testing.T) {
	r := newRunner(t, outexec.Config{MaxCachedModules: 2})
	echo := sample(t, "echo")

	first, err := run(t, r, outexec.Request{Wasm: echo})
	if err != nil {
		t.Fatal(err)
	}
	if first.Cached || first.CompileTime == 0 {
		t.Fatalf("first run should compile: %+v", first)
	}
	second, err := run(t, r, outexec.Request{Wasm: echo})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Cached || second.CompileTime != 0 {
		t.Fatalf("second run should hit the cache: %+v", second)
	}
	if first.Instructions != second.Instructions {
		t.Fatalf("instruction counts differ: %d and %d", first.Instructions, second.Instructions)
	}

	// Concurrent runs of a new program share one compilation and all work.
	hello := helloModule()
	var wg sync.WaitGroup
	results := make([]outexec.Result, 8)
	errs := make([]error, len(results))
	for i := range results {
		wg.Go(func() {
			results[i], errs[i] = r.Run(context.Background(), outexec.Request{Wasm: hello})
		})
	}
	wg.Wait()
	compiled := 0
	for i, res := range results {
		if errs[i] != nil || string(res.Output) != "hello" {
			t.Fatalf("run %d: %v %q", i, errs[i], res.Output)
		}
		if !res.Cached {
			compiled++
		}
	}
	if compiled != 1 {
		t.Fatalf("%d of %d concurrent runs compiled, want 1", compiled, len(results))
	}

	// The cache is bounded: a third program evicts the least recent one.
	if _, err := run(t, r, outexec.Request{Wasm: exitModule(0)}); err != nil {
		t.Fatal(err)
	}
	if n := r.CachedModules(); n != 2 {
		t.Fatalf("%d modules cached, want 2", n)
	}
	again, err := run(t, r, outexec.Request{Wasm: echo})
	if err != nil || again.Cached {
		t.Fatalf("echo should have been evicted and compiled again: %v %+v", err, again)
	}

	// A caller-supplied hash keys the cache without rehashing.
	sum := sha256.Sum256(hello)
	res, err := run(t, r, outexec.Request{Wasm: hello, WasmSHA256: sum})
	if err != nil || string(res.Output) != "hello" {
		t.Fatalf("run with a known hash: %v %q", err, res.Output)
	}
	// A wrong hash is caught when it would be compiled under that hash.
	_, err = run(t, r, outexec.Request{Wasm: hello, WasmSHA256: sha256.Sum256([]byte("another program"))})
	wantKind(t, err, outexec.ErrBadRequest)
}

func TestCancelledIsNotAProgramFailure(t *testing.T) {
	r := newRunner(t, outexec.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	loop := sample(t, "loop")
	if _, err := r.Run(ctx, outexec.Request{Wasm: loop, Limits: outexec.Limits{MaxInstructions: 1000}}); err == nil {
		t.Fatal("loop finished")
	} // warm the cache so the cancellation lands while running
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, outexec.Request{Wasm: loop, Limits: outexec.Limits{MaxInstructions: outexec.MaxInstructionsCap}})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil || outexec.IsProgramFailure(err) || !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled run must fail with the node's error, got %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancellation did not stop the run")
	}
}

func TestClosedRunner(t *testing.T) {
	r, err := outexec.NewRunner(context.Background(), outexec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(context.Background(), outexec.Request{Wasm: helloModule()})
	if err == nil || outexec.IsProgramFailure(err) {
		t.Fatalf("run on a closed runner: %v", err)
	}
}
