package hostcall_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/daemon/hostcall"
	outexec "github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/exec/hostabi"
	"github.com/outlayer/outlayer/internal/wasmtest"
	"github.com/outlayer/outlayer/store"
)

// BenchmarkHostCall measures what one host call costs a run, end to end:
// the Go SDK's wrapper, the wasm→host crossing, hostabi's memory copies
// and metering charge, the record, and the node's session (storage reads
// from a real bbolt replica; VRF signs with Ed25519). Each iteration is a
// run of the hostprobe program making `calls` calls; a run with no calls
// is timed alongside and subtracted, so ns/call is the calls' own cost.
// "isolated" runs in a sandbox process, where every call also crosses the
// pipe to the node and back.
func BenchmarkHostCall(b *testing.B) {
	wasm := wasmtest.Build(b, "./exec/hostabi/testdata/hostprobe")
	st, err := store.Open(filepath.Join(b.TempDir(), "state.db"), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ns, _ := hostcall.Namespace(hostabi.ScopeUser, "c0de", "alice.near")
	if err := st.Update(func(tx *store.Tx) error {
		return tx.ApplyProgEffects(&store.ProgEffects{Code: "c0de", Writes: []store.ProgWrite{{NS: ns, Key: []byte("k"), Value: []byte("value")}}})
	}); err != nil {
		b.Fatal(err)
	}
	vrf, _ := hostcall.NewVRF(make([]byte, 32))
	const calls = 200
	scripts := map[string]string{
		"storage-get": "get user k\n",
		"storage-set": "set user k v\n",
		"vrf":         "vrf coin\n",
	}
	for _, mode := range []string{"in-process", "isolated"} {
		r, err := outexec.NewRunner(context.Background(), outexec.Config{Isolate: mode == "isolated", Sandboxes: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close(context.Background()) })
		run := func(script string) time.Duration {
			s := hostcall.New(hostcall.Config{RequestID: 1, Sender: "alice.near", Code: "c0de", Storage: st, VRF: vrf,
				Limits: hostcall.Limits{VRFCalls: calls}})
			rec := hostabi.NewRecorder(s.Handle)
			start := time.Now()
			if _, err := r.Run(context.Background(), outexec.Request{Wasm: wasm, Input: []byte(script), Host: rec.Handle}); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		run("") // compile
		for _, name := range []string{"storage-get", "storage-set", "vrf"} {
			script := strings.Repeat(scripts[name], calls)
			b.Run(mode+"/"+name, func(b *testing.B) {
				var with, without time.Duration
				for b.Loop() {
					without += run("")
					with += run(script)
				}
				b.ReportMetric(float64((with-without).Nanoseconds())/float64(b.N*calls), "ns/call")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
