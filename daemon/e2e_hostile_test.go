package daemon_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
)

// tableGrowBomb is a 62-byte command module whose _start grows a table
// without a maximum by 2³²−2 elements in one instruction (ref.null func;
// i32.const -2; table.grow 0; drop). Unchecked, the table (which lives
// outside the memory limit) ends the process that runs it with Go's
// "fatal error: out of memory"; exec's hostile-module corpus builds the
// same module from its parts.
const tableGrowBomb = "0061736d01000000010401600000030201000404017000000503010001071302065f73746172740000066d656d6f727902000a0c010a00d070417efc0f001a0b"

// infiniteLoop is a command module whose _start loops forever.
const infiniteLoop = "0061736d01000000010401600000030201000503010001071302065f73746172740000066d656d6f727902000a0901070003400c000b0b"

// serveWasm serves the hex-encoded module and returns its code source.
func serveWasm(t *testing.T, hexWasm string) contracts.CodeSource {
	t.Helper()
	wasm, err := hex.DecodeString(hexWasm)
	if err != nil {
		t.Fatal(err)
	}
	files := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write(wasm) }))
	t.Cleanup(files.Close)
	sum := sha256.Sum256(wasm)
	return contracts.CodeSource{WasmURL: &contracts.WasmURLSource{URL: files.URL + "/program.wasm", Hash: hex.EncodeToString(sum[:])}}
}

// Three paid requests carrying the table.grow bomb (once enough to end
// every node of a 3-node cluster) leave every node alive and serving, and
// each resolves as a failure refunded all but the base fee.
func TestTableGrowBombLeavesEveryNodeAlive(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(3, nil)
	code := serveWasm(t, tableGrowBomb)

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
	results := w.finals(hashes, w.alice.AccountID(), 3*time.Minute)

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

// busySandboxes lists this process's sandbox children (every node of the
// test cluster runs in this process) that have used more than 300 ms of
// CPU: the ones running the loop, not ones just started.
func busySandboxes() []int {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var pids []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			argv, _ := os.ReadFile("/proc/" + s + "/cmdline")
			stat, _ := os.ReadFile("/proc/" + s + "/stat")
			i := bytes.LastIndexByte(stat, ')')
			if !bytes.HasPrefix(argv, []byte("outlayer-exec-sandbox\x00")) || i < 0 {
				continue
			}
			f := strings.Fields(string(stat[i+1:]))
			if len(f) < 13 {
				continue
			}
			ut, _ := strconv.Atoi(f[11])
			st, _ := strconv.Atoi(f[12])
			if pid, err := strconv.Atoi(s); err == nil && ut+st > 30 { // clock ticks of 10 ms
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// A request whose sandbox dies on every node that tries it (here the test
// kills each one, as the kernel's OOM killer would) is retried on other
// nodes up to the attempt bound, then resolved as a failure that says the
// program crashed the sandbox, refunded all but the base fee; the nodes
// live on.
func TestSandboxCrashEverywhereResolvesAsFailure(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("needs Linux's /proc to find the sandboxes")
	}
	w := newWorld(t, 50*time.Millisecond, 2400)
	// The first lease of a downloaded module includes the build margin;
	// nothing is built here, so keep it short.
	w.startCluster(3, func(c *daemon.Config) { c.BuildLease = 3 * time.Second })
	code := serveWasm(t, infiniteLoop)

	stop := make(chan struct{})
	killed := 0
	var killer sync.WaitGroup
	killer.Add(1)
	go func() {
		defer killer.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			for _, pid := range busySandboxes() {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed++
				}
			}
		}
	}()

	pricing := contracts.DefaultPricing()
	limits := contracts.ResourceLimits{MaxInstructions: 100_000_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 2}
	deposit := add(pricing.Estimate(limits), nearAmount(t, "0.5"))
	h := w.request(code, "", limits, contracts.FormatText, deposit)
	o := parseOutcome(t, w.final(h, w.alice.AccountID(), 3*time.Minute))
	close(stop)
	killer.Wait()

	if len(o.completed) != 1 {
		t.Fatalf("%d completion events", len(o.completed))
	}
	ev := o.completed[0]
	if ev.Success || ev.ErrorMessage == nil || !strings.Contains(*ev.ErrorMessage, "the program crashed the sandbox") {
		t.Fatalf("completion %+v; want a failure saying the program crashed the sandbox", ev)
	}
	if ev.PaymentCharged != pricing.BaseFee || ev.PaymentRefunded != sub(deposit, pricing.BaseFee) {
		t.Errorf("charged %s refunded %s, want the base fee %s charged", ev.PaymentCharged, ev.PaymentRefunded, pricing.BaseFee)
	}
	j := w.job(o.requestID, 10*time.Second)
	if len(j.Attempts) != 3 {
		t.Errorf("%d attempts, want the bound of 3: %+v", len(j.Attempts), j.Attempts)
	}
	t.Logf("%d sandboxes killed; %s", killed, firstLine(*ev.ErrorMessage))
	for i := range w.nodes {
		var st map[string]any
		if err := tryGetJSON("http://"+w.node(i).HTTPAddr()+"/status", &st); err != nil {
			t.Fatalf("node %d does not serve its API: %v", i, err)
		}
	}
}
