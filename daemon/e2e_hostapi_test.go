package daemon_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/daemon/hostcall"
	outexec "github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/exec/hostabi"
	"github.com/outlayer/outlayer/internal/wasmtest"
	"github.com/outlayer/outlayer/store"
	examplecontracts "github.com/outlayer/outlayer/testnet/examples/contracts"
)

// Programs that reach the world, end to end on loopback: a run fetches
// from a test HTTP server (reachable only because the cluster is in dev
// mode), keeps a counter in storage, draws VRF output and views the chain;
// an SSRF attempt is refused with a clear error in its output; a failed run
// changes no storage; the finished request's record replays to the same
// output and instruction count, and a tampered record is caught.
func TestProgramsReachTheWorldAndReplay(t *testing.T) {
	probe := wasmtest.Build(t, "./exec/hostabi/testdata/hostprobe")
	programs["hostprobe"] = probe
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(1, nil)
	price := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("X-Answer", "fresh")
		fmt.Fprintf(rw, `{"near_usd":%q}`, "3.21")
	}))
	t.Cleanup(price.Close)

	limits := contracts.ResourceLimits{MaxInstructions: 2_000_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 20}
	deposit := add(contracts.DefaultPricing().Estimate(limits), nearAmount(t, "0.5"))
	run := func(script string) (outcome, *store.Job) {
		t.Helper()
		h := w.request(w.wasmSource("hostprobe"), script, limits, contracts.FormatText, deposit)
		o := w.finals([]near.CryptoHash{h}, w.alice.AccountID(), 2*time.Minute)[0]
		return o, w.job(o.requestID, 20*time.Second)
	}

	script := fmt.Sprintf("fetch GET %s/price\nincr worker runs 1\nset public last ok\nvrf coin\nview account %s\nfetch GET http://10.0.0.1/\n",
		price.URL, w.root.AccountID())
	o, j := run(script)
	if j.Result == nil || !j.Result.Success {
		t.Fatalf("first run: %+v", j.Result)
	}
	out := string(j.Result.Output)
	for _, want := range []string{`-> 200 fresh "{\"near_usd\":\"3.21\"}"`, "incr worker runs 1 -> 1", "vrf coin -> {",
		`"amount"`, "fetch GET http://10.0.0.1/ -> error: outlayer: http_fetch: denied: ", "10.0.0.1 is a private address"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if j.Result.RecordHash == "" {
		t.Fatal("the result carries no record hash")
	}

	// The VRF draw verifies under GET /vrf/pubkey.
	api := "http://" + w.node(0).HTTPAddr()
	var pk struct {
		Hex string `json:"vrf_public_key_hex"`
	}
	getJSON(t, api+"/vrf/pubkey", &pk)
	line := out[strings.Index(out, "vrf coin -> {")+len("vrf coin -> {"):]
	parts := strings.Fields(line[:strings.IndexByte(line, '}')])
	pub, _ := hex.DecodeString(pk.Hex)
	if len(parts) != 3 || parts[2] != fmt.Sprintf("vrf:%d:%s:coin", o.requestID, w.alice.AccountID()) {
		t.Fatalf("vrf answer %q", parts)
	}
	if err := hostcall.VerifyVRF(pub, parts[2], parts[0], parts[1]); err != nil {
		t.Fatal(err)
	}

	// A contract verifies the draw on chain with ed25519_verify against the
	// key it keeps (testnet/examples/contracts/vrfcheck).
	checker := w.account("vrfcheck", 10)
	if _, err := checker.DeployContract(w.ctx, examplecontracts.VRFCheck, "set_pubkey", map[string]string{"pubkey_hex": pk.Hex}, 0); err != nil {
		t.Fatal(err)
	}
	for alpha, want := range map[string]string{parts[2]: "true", parts[2] + "x": "false"} {
		var ok bool
		if err := w.cl.ViewFunction(w.ctx, checker.AccountID(), "verify",
			map[string]string{"alpha": alpha, "signature_hex": parts[1], "output_hex": parts[0]}, &ok); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ok) != want {
			t.Fatalf("the contract says %v for alpha %q, want %s", ok, alpha, want)
		}
	}

	// The public value is readable by anyone.
	code := w.wasmSource("hostprobe").WasmURL.Hash
	var pub1 struct {
		Exists bool   `json:"exists"`
		Value  []byte `json:"value"`
	}
	getJSON(t, api+"/public/storage/get?code="+code+"&key=last", &pub1)
	if !pub1.Exists || string(pub1.Value) != "ok" {
		t.Fatalf("public storage: %+v", pub1)
	}

	// The record is served, matches the result's hash, and replays locally
	// to the same output and instruction count.
	record := getBytes(t, fmt.Sprintf("%s/requests/%d/record", api, o.requestID))
	sum := sha256.Sum256(record)
	if hex.EncodeToString(sum[:]) != j.Result.RecordHash {
		t.Fatalf("served record hashes to %x, the result says %s", sum, j.Result.RecordHash)
	}
	// Unknown and malformed request ids are refused, the same way on both
	// routes that name a stored request.
	for path, want := range map[string]int{
		"/requests/999999/record": http.StatusNotFound, "/requests/999999": http.StatusNotFound,
		"/requests/x/record": http.StatusBadRequest, "/requests/-1": http.StatusBadRequest,
	} {
		resp, err := http.Get(api + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %s, want %d", path, resp.Status, want)
		}
	}
	runner, err := outexec.NewRunner(context.Background(), outexec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close(context.Background())
	req := daemon.ExecRequest(j, w.outlayer, probe, sha256.Sum256(probe), outexec.FormatText)
	// The seed is the cluster's secret (from its keystore master): a
	// replay needs it to reproduce the Go runtime's random start-up.
	if req.Seed, err = daemon.RequestSeedOf(w.anyNode(), j); err != nil {
		t.Fatal(err)
	}
	rp, err := hostcall.Replay(context.Background(), runner, req, record)
	if err != nil || rp.Err != nil || rp.Diverged != nil {
		t.Fatalf("replay: %v / %v / %v", err, rp.Err, rp.Diverged)
	}
	if !bytes.Equal(rp.Result.Output, j.Result.Output) || rp.Result.Instructions != j.Result.Instructions {
		t.Fatalf("replay gave %d instructions (cluster %d), output:\n%s", rp.Result.Instructions, j.Result.Instructions, rp.Result.Output)
	}
	// A record whose HTTP answer was changed gives another output: caught.
	parsed, _ := hostabi.ParseRecord(record)
	parsed.Entries[0].Data = bytes.Replace(parsed.Entries[0].Data, []byte("3.21"), []byte("9.99"), 1)
	rp, err = hostcall.Replay(context.Background(), runner, req, parsed.Marshal())
	if err != nil || bytes.Equal(rp.Result.Output, j.Result.Output) || rp.RecordHash == j.Result.RecordHash {
		t.Fatalf("a tampered record replayed to the same result (err %v)", err)
	}

	// A failed run changes no storage; the next run sees the first run's
	// write only.
	_, j2 := run("incr worker runs 1\nexit 3\n")
	if j2.Result == nil || j2.Result.Success {
		t.Fatalf("the failing run: %+v", j2.Result)
	}
	_, j3 := run("incr worker runs 1\n")
	if j3.Result == nil || !strings.Contains(string(j3.Result.Output), "incr worker runs 1 -> 2") {
		t.Fatalf("after a failed run: %+v", j3.Result)
	}
}

func getBytes(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	return b
}

// With k = 2 the second executor replays the first one's record: the
// world is asked once (the server counts one fetch although it answers
// differently each time), both executors agree byte for byte, and the
// request's storage writes apply once.
func TestAgreeingExecutorsReplayTheFirstRecord(t *testing.T) {
	probe := wasmtest.Build(t, "./exec/hostabi/testdata/hostprobe")
	programs["hostprobe"] = probe
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(2, func(c *daemon.Config) { c.Agreement = 2 })
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(rw, "answer %d", hits.Add(1))
	}))
	t.Cleanup(srv.Close)
	limits := contracts.ResourceLimits{MaxInstructions: 2_000_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 20}
	deposit := add(contracts.DefaultPricing().Estimate(limits), nearAmount(t, "0.5"))
	for i, want := range []string{"incr worker n 1 -> 1", "incr worker n 1 -> 2"} {
		h := w.request(w.wasmSource("hostprobe"), "fetch GET "+srv.URL+"/\nincr worker n 1\n", limits, contracts.FormatText, deposit)
		o := parseOutcome(t, w.final(h, w.alice.AccountID(), 2*time.Minute))
		j := w.job(o.requestID, 20*time.Second)
		if j.Result == nil || !j.Result.Success || !strings.Contains(string(j.Result.Output), want) {
			t.Fatalf("request %d: %+v", i, j.Result)
		}
		if j.Agreement == nil || len(j.Agreement.Majority()) != 2 || len(j.Agreement.Dissent) != 0 {
			t.Fatalf("request %d: agreement %+v", i, j.Agreement)
		}
		if a, b := j.Agreement.Results[0], j.Agreement.Results[1]; a.Node == b.Node || a.RecordHash != b.RecordHash || a.RecordHash == "" {
			t.Fatalf("request %d: executors %s and %s, records %s and %s", i, a.Node, b.Node, a.RecordHash, b.RecordHash)
		}
		if got := hits.Load(); got != int64(i+1) {
			t.Fatalf("after request %d the server saw %d fetches, want %d (the second executor must replay)", i, got, i+1)
		}
	}
}

// Storage stays linearizable across a leader kill: a counter incremented
// by one request after another, with the leader killed halfway, counts
// every successful request exactly once (no lost and no doubled writes),
// whichever node ran each request and whoever led when it completed.
func TestStorageCounterSurvivesALeaderKill(t *testing.T) {
	counter := wasmtest.Build(t, "./testnet/examples/programs/counter")
	programs["counter"] = counter
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(3, nil)
	limits := contracts.ResourceLimits{MaxInstructions: 500_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 20}
	deposit := add(contracts.DefaultPricing().Estimate(limits), nearAmount(t, "0.5"))
	const n = 6
	for i := 1; i <= n; i++ {
		if i == n/2+1 {
			w.kill(w.leader())
		}
		h := w.request(w.wasmSource("counter"), "", limits, contracts.FormatText, deposit)
		o := parseOutcome(t, w.final(h, w.alice.AccountID(), 2*time.Minute))
		if len(o.completed) != 1 || !o.completed[0].Success {
			t.Fatalf("request %d: %+v", i, o.completed)
		}
		var out string
		if err := o.out.DecodeResult(&out); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("your visits: %d, all visits: %d", i, i); strings.TrimSpace(out) != want {
			t.Fatalf("request %d answered %q, want %q", i, out, want)
		}
	}
}
