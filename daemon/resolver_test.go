package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/failure"
	"github.com/outlayer/outlayer/internal/textcut"
	"github.com/outlayer/outlayer/store"
)

func doneJob(format string, res *store.Result) *store.Job {
	return &store.Job{Request: store.Request{ID: 11, ResponseFormat: format}, Status: store.StatusCompleted, Result: res}
}

// TestResolvePayload checks what the resolver sends for a finished
// request: the method, and the response the contract (and the caller's
// callback) receives.
func TestResolvePayload(t *testing.T) {
	compile := uint64(40)
	bigErr := strings.Repeat("é", 3000)
	failedJob := &store.Job{Request: store.Request{ID: 11}, Status: store.StatusFailed, Error: "given up before the yield deadline"}
	cases := []struct {
		name   string
		job    *store.Job
		method string
		check  func(r contracts.ExecutionResponse) bool
	}{
		{"text output inline", doneJob("Text", &store.Result{Success: true, Output: []byte("hi"), Instructions: 7, TimeMs: 2}),
			contracts.MethodResolveExecution, func(r contracts.ExecutionResponse) bool {
				return r.Success && r.Output.Format == contracts.FormatText && r.Output.Text == "hi" && r.ResourcesUsed.Instructions == 7
			}},
		{"empty format is Text", doneJob("", &store.Result{Success: true, Output: []byte("hi")}),
			contracts.MethodResolveExecution, func(r contracts.ExecutionResponse) bool { return r.Output.Text == "hi" }},
		{"json output trimmed", doneJob("Json", &store.Result{Success: true, Output: []byte(" {\"a\":1}\n")}),
			contracts.MethodResolveExecution, func(r contracts.ExecutionResponse) bool { return string(r.Output.JSON) == `{"a":1}` }},
		{"bytes output", doneJob("Bytes", &store.Result{Success: true, Output: []byte{0, 255}}),
			contracts.MethodResolveExecution, func(r contracts.ExecutionResponse) bool {
				return r.Output.Format == contracts.FormatBytes && string(r.Output.Bytes) == "\x00\xff"
			}},
		{"compile time and note", doneJob("Text", &store.Result{Success: true, Output: []byte("x"), CompileMs: &compile, CompilationNote: "built"}),
			contracts.MethodResolveExecution, func(r contracts.ExecutionResponse) bool {
				return *r.ResourcesUsed.CompileTimeMs == 40 && *r.CompilationNote == "built"
			}},
		{"program failure", doneJob("Text", &store.Result{Success: false, Error: "Execution failed: trap", ErrorKind: failure.Trap, Instructions: 9}),
			contracts.MethodResolveExecution, func(r contracts.ExecutionResponse) bool {
				return !r.Success && r.Output == nil && *r.Error == "Execution failed: trap" && r.ResourcesUsed.Instructions == 9
			}},
		{"failure without a message", doneJob("Text", &store.Result{Success: false}),
			contracts.MethodResolveExecution, func(r contracts.ExecutionResponse) bool { return *r.Error == "execution failed" }},
		{"failed by the cluster", failedJob, contracts.MethodResolveExecution, func(r contracts.ExecutionResponse) bool {
			return !r.Success && *r.Error == "given up before the yield deadline"
		}},
		{"huge error cut to fit, marked", doneJob("Text", &store.Result{Success: false, Error: bigErr, CompilationNote: strings.Repeat("n", 900)}),
			contracts.MethodResolveExecution, func(r contracts.ExecutionResponse) bool {
				b, _ := json.Marshal(r)
				return len(b) <= contracts.MaxYieldPayload && len(*r.Error) <= contracts.MaxErrorBytes &&
					strings.HasSuffix(*r.Error, textcut.Marker) && strings.HasPrefix(bigErr, strings.TrimSuffix(*r.Error, textcut.Marker))
			}},
		{"large output through contract state", doneJob("Text", &store.Result{Success: true, Output: []byte(strings.Repeat("o", 4000))}),
			contracts.MethodSubmitExecutionOutputAndResolve, nil},
		{"unknown stored format fails, not Text", doneJob("Yaml", &store.Result{Success: true, Output: []byte("a: 1")}),
			contracts.MethodResolveExecution, func(r contracts.ExecutionResponse) bool {
				return !r.Success && r.Output == nil && strings.Contains(*r.Error, `"Yaml" is not Bytes, Text or Json`)
			}},
		{"invalid json output fails", doneJob("Json", &store.Result{Success: true, Output: []byte("{nope")}),
			contracts.MethodResolveExecution, func(r contracts.ExecutionResponse) bool {
				return !r.Success && strings.Contains(*r.Error, "not valid JSON")
			}},
	}
	for _, c := range cases {
		method, args, err := contracts.ResolveCall(c.job.ID, responseFor(c.job))
		if err != nil || method != c.method {
			t.Errorf("%s: %s %v, want %s", c.name, method, err, c.method)
			continue
		}
		if c.check == nil {
			a := args.(contracts.SubmitExecutionOutputAndResolveArgs)
			if a.RequestID != 11 || !a.Success || a.Output.Text != strings.Repeat("o", 4000) {
				t.Errorf("%s: args %+v", c.name, a)
			}
			continue
		}
		a := args.(contracts.ResolveExecutionArgs)
		if a.RequestID != 11 || !c.check(a.Response) {
			b, _ := json.Marshal(a.Response)
			t.Errorf("%s: response %s", c.name, b)
		}
	}
}

func testResolver(rep *fakeReplica, prop *fakeProposer, chain *fakeChain) *resolver {
	return (&resolver{replica: rep, propose: prop, chain: chain, sender: chain, contract: "outlayer.near",
		yieldBlocks: 200, tip: &chainTip{}, warm: newWarmSet(), metrics: newMetrics(), log: quietLog()}).init()
}

func TestResolveOneOutcomes(t *testing.T) {
	landed := &near.FinalExecutionOutcome{Transaction: &near.SignedTransactionView{Hash: near.CryptoHash{7}}}
	cases := []struct {
		name    string
		answer  error
		want    string // the command proposed: "resolved", "expired" or ""
		reason  string
		retries bool
	}{
		{"landed", nil, "resolved", "", false},
		{"promise gone", errors.New("Smart contract panicked: Unable to resume execution promise"), "expired", "the chain refused the resolve", false},
		{"settled by someone else", errors.New("Smart contract panicked: Execution request already resolved"), "expired", "already settled this request without a resolve from this cluster", false},
		{"rpc trouble", errors.New("connection refused"), "", "", true},
	}
	for _, c := range cases {
		job := doneJob("Text", &store.Result{Success: true, Output: []byte("ok"), WasmHash: strings.Repeat("ab", 32), Node: "B"})
		job.BlockHeight = 100
		prop := &fakeProposer{}
		chain := &fakeChain{height: 150, call: func(string, any) (*near.FinalExecutionOutcome, error) {
			if c.answer != nil {
				return nil, c.answer
			}
			return landed, nil
		}}
		r := testResolver(newFakeReplica(job), prop, chain)
		r.resolveOne(context.Background(), job)
		if len(chain.calls) != 1 || chain.calls[0] != contracts.MethodResolveExecution {
			t.Fatalf("%s: calls %v", c.name, chain.calls)
		}
		var got, reason string
		if rs := commands[*consensus.Resolved](prop); len(rs) == 1 {
			got = "resolved"
			if rs[0].TxHash != landed.Transaction.Hash.String() {
				t.Errorf("%s: recorded tx %s", c.name, rs[0].TxHash)
			}
		}
		if ex := commands[*consensus.Expired](prop); len(ex) == 1 {
			got, reason = "expired", ex[0].Reason
		}
		if got != c.want || !strings.Contains(reason, c.reason) || len(prop.cmds) > 1 {
			t.Errorf("%s: proposed %v (%q), want %q mentioning %q", c.name, prop.cmds, reason, c.want, c.reason)
		}
		r.mu.Lock()
		_, waiting := r.retryAt[job.ID]
		r.mu.Unlock()
		if waiting != c.retries {
			t.Errorf("%s: retry scheduled %v, want %v", c.name, waiting, c.retries)
		}
	}
}
