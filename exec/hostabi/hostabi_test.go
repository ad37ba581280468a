package hostabi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	outexec "github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/exec/hostabi"
	"github.com/outlayer/outlayer/internal/wasmtest"
)

// probeWasm builds testdata/hostprobe, a Go program using the SDK.
func probeWasm(t testing.TB) []byte {
	t.Helper()
	return wasmtest.Build(t, "./exec/hostabi/testdata/hostprobe")
}

// fakeWorld is a Handler with an in-memory storage and canned answers, to
// test the ABI's plumbing (exec/hostcall tests the node's real handler).
type fakeWorld struct {
	mu    sync.Mutex
	kv    map[string][]byte
	calls []hostabi.Call
}

func (w *fakeWorld) handle(_ context.Context, c hostabi.Call) hostabi.Reply {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, c)
	if w.kv == nil {
		w.kv = map[string][]byte{}
	}
	key := func() string { return string(c.Args[0]) + "/" + string(c.Args[1]) }
	switch c.Fn {
	case hostabi.FnStorageGet:
		v, ok := w.kv[key()]
		if !ok {
			return hostabi.Errorf(hostabi.NotFound, "no value for %q", c.Args[1])
		}
		return hostabi.Reply{Data: v}
	case hostabi.FnStorageSet:
		w.kv[key()] = c.Args[2]
		return hostabi.Reply{}
	case hostabi.FnStorageHas:
		_, ok := w.kv[key()]
		return hostabi.Reply{Data: hostabi.Bool(ok)}
	case hostabi.FnStorageIncrement:
		d, _ := hostabi.I64(c.Args[2])
		return hostabi.Reply{Data: hostabi.PutI64(d + 40)}
	case hostabi.FnStorageList:
		return hostabi.Reply{Data: hostabi.AppendFields(nil, []byte("a"), []byte("b"))}
	case hostabi.FnHTTPFetch:
		f, err := hostabi.SplitFields(c.Args[0])
		if err != nil || len(f) != 4 {
			return hostabi.Errorf(hostabi.BadInput, "malformed request")
		}
		if strings.Contains(string(f[1]), "big") {
			return hostabi.Reply{Data: hostabi.AppendFields(nil, []byte("200"), nil, bytes.Repeat([]byte("x"), 10000))}
		}
		if strings.Contains(string(f[1]), "10.0.0.1") {
			return hostabi.Errorf(hostabi.Denied, "10.0.0.1 is a private address")
		}
		return hostabi.Reply{Data: hostabi.AppendFields(nil, []byte("201"), []byte("X-Answer: yes\n"),
			fmt.Appendf(nil, "%s %s %s %s", f[0], f[1], strings.TrimSpace(string(f[2])), f[3]))}
	case hostabi.FnVRFGenerate:
		return hostabi.Reply{Data: hostabi.AppendFields(nil, []byte("00ff"), []byte("abcd"), append([]byte("vrf:1:alice:"), c.Args[0]...))}
	}
	return hostabi.Errorf(hostabi.Unavailable, "%s is not offered by this fake", c.Fn)
}

func runners(t *testing.T) map[string]*outexec.Runner {
	t.Helper()
	out := map[string]*outexec.Runner{}
	for name, cfg := range map[string]outexec.Config{
		"in-process": {},
		"isolated":   {Isolate: true, Sandboxes: 1},
	} {
		r, err := outexec.NewRunner(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(context.Background()) })
		out[name] = r
	}
	return out
}

const script = `set user k hello
get user k
get user missing
has user k
incr worker n 2
list public p - 10
fetch POST https://api.example/x body
big https://big.example/
fetch GET http://10.0.0.1/
vrf coin
pubkey
`

const wantOutput = `set user k hello -> ok
get user k -> hello
get user missing -> error: outlayer: storage_get: not found: no value for "missing"
has user k -> true
incr worker n 2 -> 42
list public p - 10 -> [a b]
fetch POST https://api.example/x body -> 201 yes "POST https://api.example/x X-Probe: 1 body"
big https://big.example/ -> 10000 bytes
fetch GET http://10.0.0.1/ -> error: outlayer: http_fetch: denied: 10.0.0.1 is a private address
vrf coin -> {00ff abcd vrf:1:alice:coin}
pubkey -> error: outlayer: vrf_pubkey: unavailable: vrf_pubkey is not offered by this fake
`

func TestSDKCallsReachTheHandlerInProcessAndIsolated(t *testing.T) {
	wasm := probeWasm(t)
	for name, r := range runners(t) {
		t.Run(name, func(t *testing.T) {
			w := &fakeWorld{}
			res, err := r.Run(context.Background(), outexec.Request{Wasm: wasm, Input: []byte(script), Host: w.handle})
			if err != nil {
				t.Fatalf("%v\n%s", err, res.Stderr)
			}
			if got := string(res.Output); got != wantOutput {
				t.Errorf("output:\n%s\nwant:\n%s", got, wantOutput)
			}
			if len(w.calls) != 11 {
				t.Errorf("%d calls reached the handler, want 11", len(w.calls))
			}
			if got := string(w.calls[0].Args[1]); w.calls[0].Fn != hostabi.FnStorageSet || got != "k" {
				t.Errorf("first call %s(%q), want storage_set of k", w.calls[0].Fn, got)
			}
		})
	}
}

func TestReplayGivesTheSameRunAndCatchesDivergence(t *testing.T) {
	wasm := probeWasm(t)
	for name, r := range runners(t) {
		t.Run(name, func(t *testing.T) {
			w := &fakeWorld{}
			rec := hostabi.NewRecorder(w.handle)
			first, err := r.Run(context.Background(), outexec.Request{Wasm: wasm, Input: []byte(script), Host: rec.Handle})
			if err != nil {
				t.Fatal(err)
			}
			record := rec.Record()
			parsed, err := hostabi.ParseRecord(record.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if parsed.HashHex() != record.HashHex() || record.HashHex() == "" {
				t.Fatalf("hash after a round trip %q, before %q", parsed.HashHex(), record.HashHex())
			}
			rp := hostabi.NewReplayer(parsed)
			second, err := r.Run(context.Background(), outexec.Request{Wasm: wasm, Input: []byte(script), Host: rp.Handle})
			if err != nil {
				t.Fatal(err)
			}
			if err := rp.Check(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Output, second.Output) || first.Instructions != second.Instructions {
				t.Fatalf("replay differs: %d vs %d instructions\n%s\n%s", first.Instructions, second.Instructions, first.Output, second.Output)
			}

			// Another input asks for something the record does not hold.
			rp = hostabi.NewReplayer(parsed)
			changed := strings.Replace(script, "get user missing", "get user other", 1)
			_, err = r.Run(context.Background(), outexec.Request{Wasm: wasm, Input: []byte(changed), Host: rp.Handle})
			if !errors.Is(err, outexec.ErrTrap) || !strings.Contains(err.Error(), "diverged from its record") {
				t.Fatalf("diverging replay: %v, want a trap saying it diverged", err)
			}
			if !errors.Is(rp.Check(), hostabi.ErrReplayDiverged) {
				t.Fatalf("Check: %v", rp.Check())
			}
			// A shorter run is caught after the fact.
			rp = hostabi.NewReplayer(parsed)
			if _, err := r.Run(context.Background(), outexec.Request{Wasm: wasm, Input: []byte("set user k hello\n"), Host: rp.Handle}); err != nil {
				t.Fatal(err)
			}
			if err := rp.Check(); !errors.Is(err, hostabi.ErrReplayDiverged) || !strings.Contains(err.Error(), "made 1 calls, the record holds 11") {
				t.Fatalf("short replay: %v", err)
			}
		})
	}
}

func TestHostCallsAreChargedAndCanExhaustTheBudget(t *testing.T) {
	wasm := probeWasm(t)
	r := runners(t)["in-process"]
	run := func(input string, limit uint64) (outexec.Result, error) {
		w := &fakeWorld{}
		return r.Run(context.Background(), outexec.Request{Wasm: wasm, Input: []byte(input), Host: w.handle,
			Limits: outexec.Limits{MaxInstructions: limit}})
	}
	one, err := run("has user a\n", 0)
	if err != nil {
		t.Fatal(err)
	}
	two, err := run("has user a\nhas user a\n", 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := two.Instructions - one.Instructions; d < hostabi.CallCost {
		t.Fatalf("a second call cost %d instructions, want at least %d", d, hostabi.CallCost)
	}
	fetch, err := run("fetch GET https://a.example/\n", 0)
	if err != nil {
		t.Fatal(err)
	}
	if fetch.Instructions < one.Instructions+hostabi.HTTPCost {
		t.Fatalf("a fetch cost %d instructions more than a storage call, want at least %d", fetch.Instructions-one.Instructions, hostabi.HTTPCost)
	}
	// A budget that covers the program but not the fetch's charge.
	_, err = run("fetch GET https://a.example/\n", one.Instructions+hostabi.HTTPCost/2)
	if !errors.Is(err, outexec.ErrInstructionLimit) {
		t.Fatalf("a fetch past the budget: %v, want the instruction limit", err)
	}
}
