package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

func strp(s string) *string { return &s }

func TestRequestFromChain(t *testing.T) {
	seen := &store.Cursor{Height: 77}
	base := func() contracts.ExecutionRequest {
		return contracts.ExecutionRequest{
			RequestID: 4, DataID: contracts.DataID{0xab, 0x01}, SenderID: "alice.near", PayerAccountID: "payer.near",
			ResourceLimits: contracts.ResourceLimits{MaxInstructions: 10, MaxMemoryMB: 20, MaxExecutionSeconds: 30},
			Payment:        contracts.U128Number{U128: near.NewU128(12345)}, Timestamp: 99, BlockHeight: 50,
			ResponseFormat: contracts.FormatJSON,
			CodeSource:     contracts.CodeSource{GitHub: &contracts.GitHubSource{Repo: "github.com/a/b", Commit: "main"}},
		}
	}
	cases := []struct {
		name  string
		edit  func(*contracts.ExecutionRequest)
		check func(store.Request) string
	}{
		{"fields carried over", func(*contracts.ExecutionRequest) {}, func(r store.Request) string {
			want := store.Request{ID: 4, DataID: "ab01" + fmt.Sprintf("%060d", 0), Sender: "alice.near", Payer: "payer.near",
				Limits:         store.Limits{MaxInstructions: 10, MaxMemoryMB: 20, MaxExecutionSeconds: 30},
				ResponseFormat: "Json", Deposit: "12345", RequestedAtNs: 99, BlockHeight: 50,
				Code: store.CodeSource{Git: &store.GitSource{Repo: "github.com/a/b", Commit: "main", BuildTarget: "wasm32-wasip1"}}}
			if !reflect.DeepEqual(r, want) {
				return fmt.Sprintf("got %+v\nwant %+v", r, want)
			}
			return ""
		}},
		{"upstream's old target spelling", func(e *contracts.ExecutionRequest) { e.CodeSource.GitHub.BuildTarget = strp("wasm32-wasi") },
			func(r store.Request) string {
				return ifNot(r.Code.Git.BuildTarget == "wasm32-wasip1", r.Code.Git.BuildTarget)
			}},
		{"another target kept", func(e *contracts.ExecutionRequest) { e.CodeSource.GitHub.BuildTarget = strp("wasm32-unknown-unknown") },
			func(r store.Request) string {
				return ifNot(r.Code.Git.BuildTarget == "wasm32-unknown-unknown", r.Code.Git.BuildTarget)
			}},
		{"wasm hash lowercased", func(e *contracts.ExecutionRequest) {
			e.CodeSource = contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: "https://x/y.wasm", Hash: "ABCDEF"}}
		}, func(r store.Request) string {
			return ifNot(r.Code.Git == nil && r.Code.Wasm != nil && r.Code.Wasm.Hash == "abcdef" && r.Code.Wasm.URL == "https://x/y.wasm", r.Code)
		}},
		{"block height from the cursor when the contract has none", func(e *contracts.ExecutionRequest) { e.BlockHeight = 0 },
			func(r store.Request) string { return ifNot(r.BlockHeight == 77, r.BlockHeight) }},
		{"input and secrets", func(e *contracts.ExecutionRequest) {
			e.InputData = strp(`{"x":1}`)
			e.SecretsRef = &contracts.SecretsRef{Profile: "prod", AccountID: "owner.near"}
		}, func(r store.Request) string {
			return ifNot(r.Input == `{"x":1}` && r.Secrets != nil && *r.Secrets == store.SecretsRef{Profile: "prod", AccountID: "owner.near"}, r)
		}},
		{"switches", func(e *contracts.ExecutionRequest) { e.CompileOnly, e.ForceRebuild, e.StoreOnFastFS = true, true, true },
			func(r store.Request) string {
				return ifNot(r.Params == store.Params{CompileOnly: true, ForceRebuild: true, StoreOnFastFS: true}, r.Params)
			}},
	}
	for _, c := range cases {
		e := base()
		c.edit(&e)
		if msg := c.check(requestFromChain(e, seen)); msg != "" {
			t.Errorf("%s: %s", c.name, msg)
		}
	}
	// The exported form is the same mapping, with no cursor to fall back on.
	e := base()
	if got := RequestFromChain(e); !reflect.DeepEqual(got, requestFromChain(e, seen)) {
		t.Errorf("RequestFromChain differs from the watcher's mapping: %+v", got)
	}
}

func ifNot(ok bool, got any) string {
	if ok {
		return ""
	}
	return fmt.Sprintf("got %+v", got)
}

// pendingChain serves get_pending_requests from a list, honouring
// from_index and limit, and counts the view calls.
func pendingChain(height uint64, pending []contracts.ExecutionRequest, views *int) *fakeChain {
	return &fakeChain{height: height, view: func(method string, args any, out any) error {
		*views++
		if method != contracts.MethodGetPendingRequests {
			return fmt.Errorf("unexpected view %s", method)
		}
		a := args.(contracts.PageArgs)
		var page []contracts.ExecutionRequest
		for _, r := range pending {
			if r.RequestID >= *a.FromIndex && uint64(len(page)) < *a.Limit {
				page = append(page, r)
			}
		}
		b, err := json.Marshal(page)
		if err != nil {
			return fmt.Errorf("fake chain: encoding the page: %w", err)
		}
		return json.Unmarshal(b, out)
	}}
}

func chainReq(id uint64) contracts.ExecutionRequest {
	code := contracts.CodeSource{GitHub: &contracts.GitHubSource{Repo: "r", Commit: "c"}}
	return contracts.ExecutionRequest{RequestID: id, SenderID: "alice.near", ResponseFormat: contracts.FormatText,
		CodeSource: code, ExecutionSource: contracts.ExecutionSource{Code: &code}, ResolvedSource: code}
}

// enqueueInto applies Enqueue commands to the fake replica, as the store
// would, so the watcher's next page starts after them.
func enqueueInto(rep *fakeReplica) func(consensus.Command) (consensus.Result, error) {
	return func(c consensus.Command) (consensus.Result, error) {
		e, ok := c.(*consensus.Enqueue)
		if !ok {
			return consensus.Result{}, nil
		}
		var res consensus.Result
		for _, r := range e.Requests {
			rep.jobs[r.ID] = &store.Job{Request: r, Status: store.StatusQueued}
			res.Enqueued = append(res.Enqueued, store.Enqueued)
		}
		return res, nil
	}
}

func TestWatcherEnqueuesWhatIsNew(t *testing.T) {
	known := &store.Job{Request: store.Request{ID: 5}, Status: store.StatusQueued}
	rep := newFakeReplica(known)
	resolved := chainReq(8)
	resolved.Resolved = true
	views := 0
	chain := pendingChain(500, []contracts.ExecutionRequest{chainReq(3), chainReq(5), chainReq(6), chainReq(7), resolved}, &views)
	prop := &fakeProposer{answer: enqueueInto(rep)}
	w := &watcher{replica: rep, propose: prop, chain: chain, contract: "outlayer.near", tip: &chainTip{},
		metrics: newMetrics(), log: quietLog()}
	ctx := context.Background()
	if err := w.pollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if w.tip.Height() != 500 {
		t.Errorf("tip %d, want 500", w.tip.Height())
	}
	enq := commands[*consensus.Enqueue](prop)
	if len(enq) != 1 || enq[0].Cursor == nil || enq[0].Cursor.Height != 500 {
		t.Fatalf("enqueue commands %+v, want one at cursor 500", enq)
	}
	var ids []uint64
	for _, r := range enq[0].Requests {
		ids = append(ids, r.ID)
	}
	// 3 and 5 are at or below what the replica knows; 8 is resolved.
	if !reflect.DeepEqual(ids, []uint64{6, 7}) {
		t.Fatalf("enqueued %v, want [6 7]", ids)
	}
	// The same height again costs no view call.
	before := views
	if err := w.pollOnce(ctx); err != nil || views != before || len(prop.cmds) != 1 {
		t.Fatalf("second poll at the same height: err %v, %d new views, %d commands", err, views-before, len(prop.cmds))
	}
}

func TestWatcherPagesThroughAFullPage(t *testing.T) {
	rep := newFakeReplica()
	var pending []contracts.ExecutionRequest
	for id := uint64(0); id < pendingPage+30; id++ {
		pending = append(pending, chainReq(id))
	}
	views := 0
	prop := &fakeProposer{answer: enqueueInto(rep)}
	w := &watcher{replica: rep, propose: prop, chain: pendingChain(10, pending, &views), tip: &chainTip{},
		metrics: newMetrics(), log: quietLog()}
	if err := w.pollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	enq := commands[*consensus.Enqueue](prop)
	if len(enq) != 2 || len(enq[0].Requests) != pendingPage || len(enq[1].Requests) != 30 || len(rep.jobs) != pendingPage+30 {
		t.Fatalf("%d enqueue commands, %d jobs; want pages of %d and 30", len(enq), len(rep.jobs), pendingPage)
	}
}

func TestWatcherAdvancesTheCursorSparingly(t *testing.T) {
	cases := []struct {
		name    string
		cursor  *store.Cursor
		height  uint64
		advance bool
	}{
		{"no cursor yet", nil, 100, true},
		{"nine blocks on", &store.Cursor{Height: 91}, 100, false},
		{"ten blocks on", &store.Cursor{Height: 90}, 100, true},
	}
	for _, c := range cases {
		rep := newFakeReplica()
		rep.cursor = c.cursor
		views := 0
		prop := &fakeProposer{}
		w := &watcher{replica: rep, propose: prop, chain: pendingChain(c.height, nil, &views), tip: &chainTip{},
			metrics: newMetrics(), log: quietLog()}
		if err := w.pollOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		adv := commands[*consensus.AdvanceCursor](prop)
		if got := len(adv) == 1 && adv[0].Cursor.Height == c.height; got != c.advance || len(prop.cmds) != len(adv) {
			t.Errorf("%s: commands %+v, want advance %v", c.name, prop.cmds, c.advance)
		}
	}
}
