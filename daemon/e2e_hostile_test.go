package daemon_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
)

// tableGrowBomb is a 62-byte command module whose _start grows a table
// without a maximum by 2³²−2 elements in one instruction (ref.null func;
// i32.const -2; table.grow 0; drop). Unchecked, the table (which lives
// outside the memory limit) ends the process that runs it with Go's
// "fatal error: out of memory"; exec's hostile-module corpus builds the
// same module from its parts.
const tableGrowBomb = "0061736d01000000010401600000030201000404017000000503010001071302065f73746172740000066d656d6f727902000a0c010a00d070417efc0f001a0b"

// Three paid requests carrying the table.grow bomb (once enough to end
// every node of a 3-node cluster) leave every node alive and serving, and
// each resolves as a failure refunded all but the base fee.
func TestTableGrowBombLeavesEveryNodeAlive(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(3, nil)
	bomb, err := hex.DecodeString(tableGrowBomb)
	if err != nil {
		t.Fatal(err)
	}
	files := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write(bomb) }))
	defer files.Close()
	sum := sha256.Sum256(bomb)
	code := contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: files.URL + "/bomb.wasm", Hash: hex.EncodeToString(sum[:])}}

	pricing := contracts.DefaultPricing()
	limits := contracts.ResourceLimits{MaxInstructions: 10_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 5}
	deposit := add(pricing.Estimate(limits), nearAmount(t, "0.5"))
	payer := w.account("bombpayer", 1)
	payerBefore := w.balance(payer.AccountID())
	hashes := make([]near.CryptoHash, 3)
	for i := range hashes {
		in := ""
		hashes[i] = w.send(w.alice, w.outlayer, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
			CodeSource: code, ResourceLimits: &limits, InputData: &in, ResponseFormat: contracts.FormatText,
			PayerAccountID: payer.AccountID(),
		}, deposit)
	}
	results := make([]outcome, len(hashes))
	var wg sync.WaitGroup
	for i := range hashes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = parseOutcome(t, w.final(hashes[i], w.alice.AccountID(), 3*time.Minute))
		}()
	}
	wg.Wait()

	refund := sub(deposit, pricing.BaseFee)
	expected := payerBefore
	for i, o := range results {
		if len(o.completed) != 1 {
			t.Fatalf("request %d: %d completion events", i, len(o.completed))
		}
		ev := o.completed[0]
		if ev.Success || ev.ErrorMessage == nil || ev.PaymentCharged != pricing.BaseFee || ev.PaymentRefunded != refund {
			t.Fatalf("request %d: %+v; want a failure charged %s, refunded %s", i, ev, pricing.BaseFee, refund)
		}
		t.Logf("request %d: %s", i, firstLine(*ev.ErrorMessage))
		expected = add(expected, refund)
	}
	if got := w.balance(payer.AccountID()); got != expected {
		t.Errorf("payer balance %s, want %s", got, expected)
	}

	// Every node is alive: a member of the Raft configuration with a
	// leader, answering its API, and the cluster still runs programs.
	for i := range w.nodes {
		nd := w.node(i)
		srv, err := nd.Consensus().Servers()
		if err != nil || len(srv) != 3 || nd.Consensus().Leader() == "" {
			t.Fatalf("node %d: servers %v, leader %q, %v", i, srv, nd.Consensus().Leader(), err)
		}
		var st map[string]any
		if err := tryGetJSON("http://"+nd.HTTPAddr()+"/status", &st); err != nil {
			t.Fatalf("node %d does not serve its API: %v", i, err)
		}
	}
	h := w.request(w.wasmSource("echo"), `{"after":"bombs"}`, limits, contracts.FormatJSON, deposit)
	out := w.final(h, w.alice.AccountID(), 2*time.Minute)
	var got map[string]string
	if o := parseOutcome(t, out); len(o.completed) != 1 || !o.completed[0].Success {
		t.Fatalf("after the bombs an ordinary request gave %+v", o.completed)
	}
	if err := out.DecodeResult(&got); err != nil || got["after"] != "bombs" {
		t.Fatalf("after the bombs an ordinary request returned %v, %v", got, err)
	}
}
