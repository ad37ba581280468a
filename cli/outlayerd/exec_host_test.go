package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/daemon/hostcall"
	"github.com/outlayer/outlayer/egress"
	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/exec/hostabi"
	"github.com/outlayer/outlayer/internal/wasmtest"
	"github.com/outlayer/outlayer/store"
)

// outlayerd exec offers the host calls locally: HTTP to a local server
// (with --allow-loopback), storage kept in a file across runs, a VRF key;
// --record writes the record and --replay answers from it, catching a run
// that asks for something else.
func TestExecHostCallsRecordAndReplay(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "hostprobe.wasm")
	if err := os.WriteFile(prog, wasmtest.Build(t, "./exec/hostabi/testdata/hostprobe"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "42") }))
	t.Cleanup(srv.Close)
	db, rec := filepath.Join(dir, "storage.db"), filepath.Join(dir, "run.rec")
	script := "fetch GET " + srv.URL + "/price\nincr worker n 1\nvrf coin\n"
	key := strings.Repeat("ab", 32)
	args := []string{"exec", "--cache-dir", "none", "--allow-loopback", "--storage", db, "--vrf-key", key, "--input", script}

	code, out, errOut := runCLI(t, "", append(args, "--record", rec, prog)...)
	if code != 0 || !strings.Contains(out, `-> 200  "42"`) || !strings.Contains(out, "incr worker n 1 -> 1") || !strings.Contains(out, "vrf coin -> {") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "3 host calls, record ") || !strings.Contains(errOut, "1 storage writes saved") {
		t.Fatalf("summary: %s", errOut)
	}
	// The storage file keeps the counter.
	code, out2, _ := runCLI(t, "", append(args, prog)...)
	if code != 0 || !strings.Contains(out2, "incr worker n 1 -> 2") {
		t.Fatalf("second run: exit %d\n%s", code, out2)
	}
	// Without --allow-loopback the SSRF guard refuses the local server.
	code, out3, _ := runCLI(t, "", "exec", "--cache-dir", "none", "--input", "fetch GET "+srv.URL+"/\n", prog)
	if code != 0 || !strings.Contains(out3, "http_fetch: denied") {
		t.Fatalf("fetch without --allow-loopback: exit %d\n%s", code, out3)
	}
	// The record replays to the first run's output without the server,
	// the storage file or the key.
	srv.Close()
	code, replayed, errOut := runCLI(t, "", "exec", "--cache-dir", "none", "--input", script, "--replay", rec, prog)
	if code != 0 || replayed != out || !strings.Contains(errOut, "replayed: every host call was answered from the record") {
		t.Fatalf("replay: exit %d\n%s\nwant\n%s\n%s", code, replayed, out, errOut)
	}
	// Another input asks for what the record does not hold.
	code, _, errOut = runCLI(t, "", "exec", "--cache-dir", "none", "--input", "incr worker n 5\n", "--replay", rec, prog)
	if code != 1 || !strings.Contains(errOut, "diverged from its record") {
		t.Fatalf("diverging replay: exit %d\n%s", code, errOut)
	}
	// Bad flags are usage errors.
	if code, _, errOut = runCLI(t, "", "exec", "--vrf-key", "abcd", prog); code != 2 || !strings.Contains(errOut, "32-byte Ed25519 seed") {
		t.Fatalf("short VRF key: exit %d %s", code, errOut)
	}
	if code, _, errOut = runCLI(t, "", "exec", "--request", "5", prog); code != 2 || !strings.Contains(errOut, "--request needs --node") {
		t.Fatalf("--request alone: exit %d %s", code, errOut)
	}
}

// The examples in testnet/examples/programs that reach the world: a
// counter kept in a storage file, a VRF coin flip that verifies, and a
// price oracle reading a local HTTP server.
func TestExecWorldExamples(t *testing.T) {
	dir := t.TempDir()
	wasm := func(name string) string {
		p := filepath.Join(dir, name+".wasm")
		if err := os.WriteFile(p, wasmtest.Build(t, "./testnet/examples/programs/"+name), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	db := filepath.Join(dir, "counter.db")
	counter := wasm("counter")
	for i, want := range []string{"your visits: 1, all visits: 1", "your visits: 2, all visits: 2"} {
		if code, out, errOut := runCLI(t, "", "exec", "--cache-dir", "none", "--storage", db, counter); code != 0 || strings.TrimSpace(out) != want {
			t.Fatalf("run %d: exit %d %q %s", i, code, out, errOut)
		}
	}
	code, out, _ := runCLI(t, "", "exec", "--cache-dir", "none", "--storage", db, "--env", "NEAR_SENDER_ID=bob.near", counter)
	if code != 0 || strings.TrimSpace(out) != "your visits: 1, all visits: 3" {
		t.Fatalf("another caller: exit %d %q", code, out)
	}

	seed := strings.Repeat("07", 32)
	code, out, errOut := runCLI(t, "", "exec", "--cache-dir", "none", "--vrf-key", seed, "--input", "game-1", wasm("coinflip"))
	var flip struct {
		Side         string `json:"side"`
		OutputHex    string `json:"output_hex"`
		SignatureHex string `json:"signature_hex"`
		Alpha        string `json:"alpha"`
	}
	if err := json.Unmarshal([]byte(out), &flip); code != 0 || err != nil {
		t.Fatalf("coinflip: exit %d %q %s %v", code, out, errOut, err)
	}
	key, _ := hex.DecodeString(seed)
	vrf, _ := hostcall.NewVRF(key)
	if err := hostcall.VerifyVRF(vrf.PublicKey(), flip.Alpha, flip.OutputHex, flip.SignatureHex); err != nil || flip.Alpha != "vrf:0::game-1" {
		t.Fatalf("the flip does not verify: %v (%+v)", err, flip)
	}
	if code, _, errOut := runCLI(t, "", "exec", "--cache-dir", "none", "--input", "game-1", wasm("coinflip")); code != 1 || !strings.Contains(errOut, "vrf_generate: unavailable") {
		t.Fatalf("coinflip without a key: exit %d %s", code, errOut)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"price": 3.21}`) }))
	t.Cleanup(srv.Close)
	oracle := wasm("priceoracle")
	if code, out, errOut := runCLI(t, "", "exec", "--cache-dir", "none", "--allow-loopback", "--input", srv.URL+"/price", oracle); code != 0 || strings.TrimSpace(out) != `{"price":3.21}` {
		t.Fatalf("oracle: exit %d %q %s", code, out, errOut)
	}
	// --allow-host narrows: 127.0.0.1 is not example.com.
	if code, _, errOut := runCLI(t, "", "exec", "--cache-dir", "none", "--allow-loopback", "--allow-host", "example.com", "--input", srv.URL+"/price", oracle); code != 1 || !strings.Contains(errOut, "not among the hosts this program may reach (example.com)") {
		t.Fatalf("oracle with another allowed host: exit %d %s", code, errOut)
	}
}

// outlayerd exec --node URL --request ID replays a finished request from
// the node's API: the job (GET /requests/{id}, as a node serves it), the
// contract (GET /status) and the record (GET /requests/{id}/record). The
// "cluster's" run here is the worker's own path (daemon.ExecRequest with a
// recording session); the replay must match it, and a result or record
// that does not is refused.
func TestExecReplaysAFinishedRequestFromANode(t *testing.T) {
	wasm := wasmtest.Build(t, "./exec/hostabi/testdata/hostprobe")
	prog := filepath.Join(t.TempDir(), "hostprobe.wasm")
	if err := os.WriteFile(prog, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	price := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "3.21") }))
	defer price.Close()
	sum := sha256.Sum256(wasm)
	job := &store.Job{Request: store.Request{ID: 42, Sender: "alice.near", Input: "fetch GET " + price.URL + "/\nvrf coin\n",
		ResponseFormat: "Text", Deposit: "1", BlockHeight: 7}, Status: store.StatusResolved}
	req := daemon.ExecRequest(job, "outlayer.near", wasm, sum, exec.FormatText)
	vrf, _ := hostcall.NewVRF(make([]byte, 32))
	s := hostcall.New(hostcall.Config{RequestID: 42, Sender: "alice.near", Code: hex.EncodeToString(sum[:]), VRF: vrf,
		HTTP: egress.New(egress.Config{AllowHTTP: true, AllowLoopback: true})})
	recorder := hostabi.NewRecorder(s.Handle)
	req.Host = recorder.Handle
	runner, err := exec.NewRunner(context.Background(), exec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close(context.Background())
	res, err := runner.Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	record := recorder.Record()
	job.Result = &store.Result{Success: true, Output: res.Output, Instructions: res.Instructions,
		WasmHash: hex.EncodeToString(sum[:]), RecordHash: record.HashHex()}
	price.Close() // the replay must not need the world

	served := record.Marshal()
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/requests/42":
			_ = json.NewEncoder(w).Encode(daemon.JobView{Job: job})
		case "/requests/42/record":
			_, _ = w.Write(served)
		case "/status":
			fmt.Fprint(w, `{"contract":"outlayer.near"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer node.Close()
	args := []string{"exec", "--cache-dir", "none", "--node", node.URL, "--request", "42", prog}
	code, out, errOut := runCLI(t, "", args...)
	if code != 0 || out != string(res.Output) || !strings.Contains(errOut, "replay matches the cluster's result") {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errOut)
	}
	// A result the replay does not reproduce is caught.
	job.Result.Instructions++
	if code, _, errOut = runCLI(t, "", args...); code != 1 || !strings.Contains(errOut, "does not match the cluster's result") {
		t.Fatalf("a different instruction count: exit %d %s", code, errOut)
	}
	job.Result.Instructions--
	// A record that is not the one the result names is refused.
	tampered := *record
	tampered.Entries = append([]hostabi.Entry(nil), record.Entries...)
	tampered.Entries[0].Data = []byte("tampered")
	served = tampered.Marshal()
	if code, _, errOut = runCLI(t, "", args...); code != 1 || !strings.Contains(errOut, "hashes to") {
		t.Fatalf("a tampered record: exit %d %s", code, errOut)
	}
	// The program must be the one that ran.
	other := filepath.Join(t.TempDir(), "other.wasm")
	_ = os.WriteFile(other, append(append([]byte(nil), wasm...), 0, 1, 'x', 0), 0o644)
	if code, _, errOut = runCLI(t, "", "exec", "--node", node.URL, "--request", "42", other); code != 2 || !strings.Contains(errOut, "but request 42 ran") {
		t.Fatalf("another program: exit %d %s", code, errOut)
	}
}
