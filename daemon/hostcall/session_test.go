package hostcall_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon/hostcall"
	"github.com/outlayer/outlayer/egress"
	outexec "github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/exec/hostabi"
	"github.com/outlayer/outlayer/internal/wasmtest"
	"github.com/outlayer/outlayer/store"
	"github.com/outlayer/outlayer/testnet/devchain"
)

type harness struct {
	t      *testing.T
	runner *outexec.Runner
	wasm   []byte
	store  *store.Store
	http   *egress.Client
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	r, err := outexec.NewRunner(context.Background(), outexec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &harness{t: t, runner: r, wasm: wasmtest.Build(t, "./exec/hostabi/testdata/hostprobe"), store: st,
		// Dev mode: loopback and plain http allowed, private ranges not.
		http: egress.New(egress.Config{AllowHTTP: true, AllowLoopback: true})}
}

func (h *harness) config() hostcall.Config {
	return hostcall.Config{RequestID: 7, Sender: "alice.near", Code: "c0de", HTTP: h.http, Storage: h.store}
}

// run runs script under a recording session and returns the output lines
// and the session.
func (h *harness) run(cfg hostcall.Config, script string) (string, *hostcall.Session, *hostabi.Record) {
	h.t.Helper()
	s := hostcall.New(cfg)
	rec := hostabi.NewRecorder(s.Handle)
	res, err := h.runner.Run(context.Background(), outexec.Request{Wasm: h.wasm, Input: []byte(script), Host: rec.Handle})
	if err != nil {
		h.t.Fatalf("%v\n%s", err, res.Stderr)
	}
	return string(res.Output), s, rec.Record()
}

func (h *harness) commit(s *hostcall.Session) error {
	e := s.Effects()
	if e == nil {
		return nil
	}
	return h.store.Update(func(tx *store.Tx) error { return tx.ApplyProgEffects(e) })
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
}

func TestFetchAllowlistSSRFAndLimits(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect-to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
			return
		case "/big":
			w.Write([]byte(strings.Repeat("x", 100)))
			return
		}
		w.Header().Set("X-Answer", r.Header.Get("X-Probe"))
		fmt.Fprintf(w, `{"price":42,"method":%q}`, r.Method)
	}))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndex(port, ":")+1:]

	cfg := h.config()
	cfg.Hosts = []string{"127.0.0.1"}
	out, _, rec := h.run(cfg, fmt.Sprintf("fetch POST %s/price\nfetch GET http://localhost:%s/price\n", srv.URL, port))
	wantLines(t, out,
		fmt.Sprintf(`fetch POST %s/price -> 200 1 "{\"price\":42,\"method\":\"POST\"}"`, srv.URL),
		"-> error: outlayer: http_fetch: denied: ", "localhost is not among the hosts this program may reach (127.0.0.1)")
	if len(rec.Entries) != 2 || rec.Entries[1].Code != hostabi.Denied {
		t.Fatalf("record: %+v", rec.Entries)
	}

	// No manifest: any host, but the SSRF guard holds even in dev mode.
	out, _, _ = h.run(h.config(), fmt.Sprintf("fetch GET http://10.1.2.3:%s/\nfetch GET %s/redirect-to-metadata\nfetch GET http://[fe80::1]/\n", port, srv.URL))
	wantLines(t, out, "10.1.2.3 is a private address", "169.254.169.254 is a link-local address", "fe80::1 is a link-local address")
	if strings.Count(out, "http_fetch: denied") != 3 {
		t.Errorf("want three denied fetches:\n%s", out)
	}

	// A manifest that declares nothing reaches nothing.
	cfg.Hosts = []string{}
	out, _, _ = h.run(cfg, "fetch GET "+srv.URL+"/price\n")
	wantLines(t, out, "this program may reach no host")

	// Count, size and time limits.
	cfg = h.config()
	cfg.Limits = hostcall.Limits{HTTPCalls: 1, HTTPResponseBytes: 50}
	out, _, _ = h.run(cfg, fmt.Sprintf("fetch GET %s/big\nfetch GET %s/price\n", srv.URL, srv.URL))
	wantLines(t, out, "http_fetch: limit exceeded: fetching", "response too large", "http_fetch: limit exceeded: a run may make at most 1 HTTP requests")
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	cfg.Limits = hostcall.Limits{HTTPCallTimeout: 200 * time.Millisecond}
	out, _, _ = h.run(cfg, "fetch GET "+slow.URL+"/\n")
	wantLines(t, out, "http_fetch: limit exceeded")
}

func TestStorageScopesTransactionsAndConflicts(t *testing.T) {
	h := newHarness(t)
	out, s, _ := h.run(h.config(), `set user name ada
get user name
incr worker visits 1
setnx user name bob
cas user name ada grace
get user name
set public board hi
list user - - 10
del user nothing
`)
	wantLines(t, out, "get user name -> ada", "incr worker visits 1 -> 1", "setnx user name bob -> false",
		"cas user name ada grace -> true", "get user name -> grace", "list user - - 10 -> [name]", "del user nothing -> false")
	// Nothing is stored until the effects apply.
	if _, ok, _ := h.store.ProgGet([]byte("u\x00c0de\x00alice.near\x00"), []byte("name")); ok {
		t.Fatal("a write reached the store before the run's effects applied")
	}
	if err := h.commit(s); err != nil {
		t.Fatal(err)
	}
	out, s, _ = h.run(h.config(), "get user name\nincr worker visits 1\nget public board\n")
	wantLines(t, out, "get user name -> grace", "incr worker visits 1 -> 2", "get public board -> hi")
	if err := h.commit(s); err != nil {
		t.Fatal(err)
	}
	// Another caller has its own user scope but shares the worker scope.
	bob := h.config()
	bob.Sender = "bob.near"
	out, _, _ = h.run(bob, "get user name\nincr worker visits 0\n")
	wantLines(t, out, "get user name -> error: outlayer: storage_get: not found", "incr worker visits 0 -> 2")

	// Two runs read visits = 2; the first to commit wins, the second
	// conflicts and must run again.
	_, a, _ := h.run(h.config(), "incr worker visits 1\n")
	_, b, _ := h.run(bob, "incr worker visits 10\n")
	if err := h.commit(a); err != nil {
		t.Fatal(err)
	}
	if err := h.commit(b); !errors.Is(err, store.ErrStorageConflict) {
		t.Fatalf("second commit: %v, want a conflict", err)
	}
	out, b, _ = h.run(bob, "incr worker visits 10\n")
	wantLines(t, out, "incr worker visits 10 -> 13")
	if err := h.commit(b); err != nil {
		t.Fatal(err)
	}

	// Limits and bad input.
	cfg := h.config()
	cfg.Limits = hostcall.Limits{StorageCalls: 2, StorageWriteBytes: 10}
	out, _, _ = h.run(cfg, "set user k 0123456789abc\nset user k v\nget user k\n")
	wantLines(t, out, "set user k 0123456789abc -> error: outlayer: storage_set: limit exceeded: a run may write at most 10 bytes",
		"get user k -> error: outlayer: storage_get: limit exceeded: a run may make at most 2 storage calls")
	out, _, _ = h.run(h.config(), "set user name 12345678\nincr user name 1\nset user name x\nincr user name 1\n")
	wantLines(t, out, fmt.Sprintf("incr user name 1 -> %d", int64(binary.LittleEndian.Uint64([]byte("12345678")))+1), "incr user name 1 -> error: outlayer: storage_increment: bad input: key \"name\" holds 1 bytes")
}

func TestVRFVerifiesAndRefusesColons(t *testing.T) {
	h := newHarness(t)
	cfg := h.config()
	vrf, err := hostcall.NewVRF([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.VRF = vrf
	cfg.Limits = hostcall.Limits{VRFCalls: 2}
	s := hostcall.New(cfg)
	rep := s.Handle(context.Background(), hostabi.Call{Fn: hostabi.FnVRFGenerate, Args: [][]byte{[]byte("coin")}})
	f, err := hostabi.SplitFields(rep.Data)
	if rep.Code != hostabi.OK || err != nil || len(f) != 3 {
		t.Fatalf("vrf: %v %q", rep.Code, rep.Data)
	}
	if string(f[2]) != "vrf:7:alice.near:coin" {
		t.Fatalf("alpha %q", f[2])
	}
	if err := hostcall.VerifyVRF(cfg.VRF.PublicKey(), string(f[2]), string(f[0]), string(f[1])); err != nil {
		t.Fatal(err)
	}
	if err := hostcall.VerifyVRF(cfg.VRF.PublicKey(), "vrf:7:alice.near:other", string(f[0]), string(f[1])); err == nil {
		t.Fatal("a draw verified under another alpha")
	}
	if rep := s.Handle(context.Background(), hostabi.Call{Fn: hostabi.FnVRFGenerate, Args: [][]byte{[]byte("a:b")}}); rep.Code != hostabi.BadInput {
		t.Fatalf("seed with a colon: %v %s", rep.Code, rep.Data)
	}
	s.Handle(context.Background(), hostabi.Call{Fn: hostabi.FnVRFGenerate, Args: [][]byte{[]byte("x")}})
	if rep := s.Handle(context.Background(), hostabi.Call{Fn: hostabi.FnVRFGenerate, Args: [][]byte{[]byte("y")}}); rep.Code != hostabi.Limit {
		t.Fatalf("third draw: %v %s", rep.Code, rep.Data)
	}
	// The program sees the same through the SDK.
	out, _, _ := h.run(h.config(), "vrf coin\n")
	wantLines(t, out, "vrf coin -> error: outlayer: vrf_generate: unavailable")
	cfg.Limits = hostcall.Limits{}
	out, _, _ = h.run(cfg, "vrf coin\npubkey\n")
	wantLines(t, out, "vrf coin -> {"+string(f[0])+" "+string(f[1])+" vrf:7:alice.near:coin}")
}

func TestViewsReadOnePinnedBlock(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a devchain")
	}
	chain, err := devchain.New(devchain.Config{Home: t.TempDir(), BlockTime: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	h := newHarness(t)
	cfg := h.config()
	cfg.Chain = near.NewClient(chain.RPCURL())
	cfg.Limits = hostcall.Limits{ViewCalls: 3}
	out, _, rec := h.run(cfg, fmt.Sprintf("view account %s\nview block\nview account %s\nview account nobody.nowhere\n", chain.RootAccount(), chain.RootAccount()))
	wantLines(t, out, `"amount"`, `"height"`, "limit exceeded: a run may make at most 3 NEAR views")
	if len(rec.Entries) != 4 || string(rec.Entries[0].Data) != string(rec.Entries[2].Data) {
		t.Fatalf("two views of one account at the pinned block differ:\n%s", out)
	}
}
