package devchain

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
)

// manualChain starts a chain whose blocks are produced only by FastForward
// (the timer is an hour), after a setup phase driven by a background producer.
type manualChain struct {
	t    *testing.T
	c    *Chain
	cl   *near.Client
	root *near.Signer
}

func (m *manualChain) step(n uint64) {
	m.t.Helper()
	if err := m.c.FastForward(context.Background(), n); err != nil {
		m.t.Fatal(err)
	}
}

// stepTo produces blocks until the head is at height h.
func (m *manualChain) stepTo(h uint64) {
	m.t.Helper()
	head := m.c.Height()
	if head > h {
		m.t.Fatalf("head %d is already past %d", head, h)
	}
	m.step(h - head)
}

func (m *manualChain) send(contract, method string, args string) near.CryptoHash {
	m.t.Helper()
	st, err := m.root.Sign(context.Background(), contract, near.FunctionCall{MethodName: method, Args: []byte(args), Gas: 100_000_000_000_000})
	if err != nil {
		m.t.Fatal(err)
	}
	h, err := m.cl.BroadcastTxAsync(context.Background(), st)
	if err != nil {
		m.t.Fatal(err)
	}
	return h
}

func (m *manualChain) status(h near.CryptoHash) *near.FinalExecutionOutcome {
	m.t.Helper()
	out, err := m.cl.TxStatus(context.Background(), h, m.root.AccountID(), near.TxNone)
	if err != nil {
		m.t.Fatal(err)
	}
	return out
}

func (m *manualChain) heightOf(blockHash near.CryptoHash) uint64 {
	m.t.Helper()
	b, err := m.cl.Block(context.Background(), near.AtHash(blockHash))
	if err != nil {
		m.t.Fatal(err)
	}
	return b.Header.Height
}

// outcomeWithLog finds the receipt outcome of tx h whose logs contain s.
func (m *manualChain) outcomeWithLog(h near.CryptoHash, s string) (near.ExecutionOutcomeWithIDView, bool) {
	for _, o := range m.status(h).ReceiptsOutcome {
		for _, l := range o.Outcome.Logs {
			if strings.Contains(l, s) {
				return o, true
			}
		}
	}
	return near.ExecutionOutcomeWithIDView{}, false
}

func startManualChain(t *testing.T) (*manualChain, string) {
	c, cl, root := startChain(t, Config{BlockTime: time.Hour})
	m := &manualChain{t: t, c: c, cl: cl, root: root}
	// Drive blocks while the helpers below wait for finality.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = c.FastForward(ctx, 1)
			}
		}
	}()
	y := newContractAccount(t, context.Background(), root, "yield", "yieldpair", 10)
	stop()
	wg.Wait()
	return m, y.AccountID()
}

// yieldStart sends start and steps until its call ran; it returns the tx, the
// height of the block the yield was created in, and the data id (hex).
func (m *manualChain) yieldStart(contract, tag string) (near.CryptoHash, uint64, string) {
	m.t.Helper()
	h := m.send(contract, "start", `{"tag":"`+tag+`"}`)
	m.step(2) // included, then executed
	o, ok := m.outcomeWithLog(h, "yield data_id: ")
	if !ok {
		m.t.Fatalf("start %s did not run after two blocks: %+v", tag, m.status(h))
	}
	var id string
	for _, l := range o.Outcome.Logs {
		if rest, ok := strings.CutPrefix(l, "yield data_id: "); ok {
			id = rest
		}
	}
	return h, m.heightOf(o.BlockHash), id
}

func (m *manualChain) expectStarted(h near.CryptoHash, when string) {
	m.t.Helper()
	if out := m.status(h); out.Status == nil || out.Status.Kind != near.StatusStarted {
		m.t.Fatalf("%s: yield tx status = %+v, want Started", when, out.Status)
	}
}

// TestYieldTimeoutBoundary pins the yield timeout to nearcore's timing: the
// timeout entry expires at created+200 (created = the block the creating call
// ran in), it fires at the end of that block, and the callback runs in
// created+201 with PromiseResult::Failed. A resume that runs in block
// created+200 still wins (its PromiseResume is queued before the timeout's);
// a resume after the callback ran returns 0.
func TestYieldTimeoutBoundary(t *testing.T) {
	m, y := startManualChain(t)
	const timeout = 200

	// Resume in the last allowed block: the resume call runs in created+200.
	tx, created, id := m.yieldStart(y, "last")
	m.stepTo(created + timeout - 2)
	resume := m.send(y, "resume", `{"data_id":"`+id+`","payload":"just in time"}`)
	m.step(2) // included in created+199, runs in created+200
	m.expectStarted(tx, "block created+200")
	var accepted bool
	if err := m.status(resume).DecodeResult(&accepted); err != nil || !accepted {
		t.Fatalf("resume in block created+200 = %v, %v; want true", accepted, err)
	}
	if rs := m.status(resume).ReceiptsOutcome; len(rs) == 0 || m.heightOf(rs[0].BlockHash) != created+timeout {
		t.Fatalf("the resume call did not run in block %d: %+v", created+timeout, rs)
	}
	m.step(1)
	var got string
	if err := m.status(tx).DecodeResult(&got); err != nil || got != "just in time" {
		t.Fatalf("callback after a resume in created+200 = %q, %v; want the payload", got, err)
	}
	if o, ok := m.outcomeWithLog(tx, "yield resumed with"); !ok || m.heightOf(o.BlockHash) != created+timeout+1 {
		t.Fatalf("callback block = %v, want %d", o.BlockHash, created+timeout+1)
	}

	// Nobody resumes: Started through created+200, the callback sees the
	// timeout in created+201, and a later resume is rejected (returns 0).
	tx, created, id = m.yieldStart(y, "late")
	m.stepTo(created + timeout)
	m.expectStarted(tx, "block created+200 without a resume")
	m.step(1)
	out := m.status(tx)
	var null *string
	if err := out.DecodeResult(&null); err != nil || null != nil {
		t.Fatalf("callback after the timeout = %v, %v; want null", null, err)
	}
	o, ok := m.outcomeWithLog(tx, "yield timed out")
	if !ok || m.heightOf(o.BlockHash) != created+timeout+1 {
		t.Fatalf("timeout callback: found %v at block %v, want block %d", ok, o.BlockHash, created+timeout+1)
	}
	resume = m.send(y, "resume", `{"data_id":"`+id+`","payload":"too late"}`)
	m.step(2)
	if err := m.status(resume).DecodeResult(&accepted); err != nil || accepted {
		t.Fatalf("resume after the timeout callback = %v, %v; want false", accepted, err)
	}
	if _, ok := m.outcomeWithLog(resume, "resume rejected"); !ok {
		t.Fatal("the late resume did not log its rejection")
	}

	// A resume whose call runs in created+201, before the timeout's
	// PromiseResume is applied in that block: nearcore marks the yield
	// ResumeInitiated and cancels the timeout, so the payload wins one block
	// later and the callback never sees a failure.
	tx, created, id = m.yieldStart(y, "race")
	m.stepTo(created + timeout - 1)
	resume = m.send(y, "resume", `{"data_id":"`+id+`","payload":"raced"}`)
	m.step(2) // included in created+200 (before the timeout fires), runs in created+201
	if err := m.status(resume).DecodeResult(&accepted); err != nil || !accepted {
		t.Fatalf("resume in created+201 = %v, %v; want true", accepted, err)
	}
	m.expectStarted(tx, "block created+201 after a racing resume")
	m.step(1)
	if err := m.status(tx).DecodeResult(&got); err != nil || got != "raced" {
		t.Fatalf("callback after a racing resume = %q, %v; want the payload", got, err)
	}
	var count struct {
		Resumed  uint64 `json:"resumed"`
		TimedOut uint64 `json:"timed_out"`
	}
	if err := m.cl.ViewFunction(context.Background(), y, "get_count", nil, &count); err != nil || count.Resumed != 2 || count.TimedOut != 1 {
		t.Fatalf("get_count = %+v, %v; want 2 resumed, 1 timed out", count, err)
	}
	// The cancelled timeout and the consumed payloads leave nothing behind.
	m.step(2)
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if n := len(m.c.received) + len(m.c.yields) + len(m.c.resumeInitiated) + len(m.c.timeouts) + len(m.c.postponed); n != 0 {
		t.Fatalf("leftover yield state: %d received, %d yields, %d resume-initiated, %d timeouts, %d postponed",
			len(m.c.received), len(m.c.yields), len(m.c.resumeInitiated), len(m.c.timeouts), len(m.c.postponed))
	}
}
