package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/daemon/httpguard"
	"github.com/outlayer/outlayer/daemon/keystore"
	"github.com/outlayer/outlayer/store"
)

// The HTTPS API's checks and limits, each tried, against a real store
// that a proposer applies the call commands to (the cluster tests in
// e2e_calls_test.go run the same through Raft and the workers).

// storeProposer applies the commands the API and the settler propose to a
// store, as the FSM would, and wakes the waiters.
type storeProposer struct {
	st   *store.Store
	wake *notifier
	// gate, when set, holds every CallStart until it is closed; arrived
	// counts the ones waiting.
	gate    chan struct{}
	arrived atomic.Int64
	mu      sync.Mutex
	cmds    []consensus.Command
}

func (p *storeProposer) Apply(_ context.Context, c consensus.Command) (consensus.Result, error) {
	if _, ok := c.(*consensus.CallStart); ok && p.gate != nil {
		p.arrived.Add(1)
		<-p.gate
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmds = append(p.cmds, c)
	var r consensus.Result
	now := time.Now()
	err := p.st.Update(func(tx *store.Tx) (err error) {
		switch c := c.(type) {
		case *consensus.KeyCreate:
			r.KeyEvent, err = tx.CreateKey(c.Event, now)
		case *consensus.KeyTopUp:
			r.KeyEvent, err = tx.TopUpKey(c.Event, now)
		case *consensus.KeyDelete:
			r.KeyEvent, err = tx.DeleteKey(c.Event, now)
		case *consensus.CallStart:
			var out store.CallStarted
			out, err = tx.StartCall(c.Spec, c.Request, now)
			r.CallStarted = &out
		case *consensus.CallSettle:
			r.Call, err = tx.SettleCall(c.ID, now)
		case *consensus.Fail:
			r.Job, err = tx.Fail(c.ID, c.Reason, now)
		default:
			err = fmt.Errorf("storeProposer: %T not handled", c)
		}
		return err
	})
	p.wake.Poke()
	return r, err
}

func (p *storeProposer) count(match func(consensus.Command) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.cmds {
		if match(c) {
			n++
		}
	}
	return n
}

type currentReplica struct{}

func (currentReplica) LinearizableRead(context.Context) error { return nil }

// apiHarness is one node's API over a store, with a settler, on a real
// listener guarded as the node's is.
type apiHarness struct {
	st   *store.Store
	prop *storeProposer
	base string
}

const testSecret = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func newAPIHarness(t *testing.T, cfg CallsConfig) *apiHarness {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	wake := newNotifier(func() uint64 { return 0 })
	prop := &storeProposer{st: st, wake: wake}
	projects := projectFunc(func(_ context.Context, id, _ string) (store.CodeSource, error) {
		if id != "bob.near/app" && id != "bob.near/other" {
			return store.CodeSource{}, errProjectNotFound
		}
		return store.CodeSource{Wasm: &store.WasmSource{URL: "https://x/app.wasm", Hash: strings.Repeat("ab", 32)}}, nil
	})
	api := newCallAPI(st, prop, currentReplica{}, wake, projects, profileSecrets{}, cfg, quietLog())
	go (&settler{replica: st, propose: prop, wake: wake, log: quietLog()}).run(ctx)

	mux := http.NewServeMux()
	api.mount(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, gl := httpguard.Server(httpguard.Public(mux, nil), ln, httpguard.Limits{}, nil)
	go func() { _ = srv.Serve(gl) }()
	t.Cleanup(func() { _ = srv.Close() })

	h := &apiHarness{st: st, prop: prop, base: "http://" + ln.Addr().String()}
	h.apply(t, &consensus.KeyCreate{Event: store.KeyCreated{EventID: "c1", Owner: "alice.near", Nonce: 1,
		KeyHash: SecretHash(testSecret), ProjectIDs: []string{"bob.near/app"}, MaxPerCall: 50_000}})
	h.apply(t, &consensus.KeyTopUp{Event: store.KeyToppedUp{EventID: "t1", Owner: "alice.near", Nonce: 1, Amount: 100_000}})
	return h
}

func (h *apiHarness) apply(t *testing.T, c consensus.Command) {
	t.Helper()
	if _, err := h.prop.Apply(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

func (h *apiHarness) do(t *testing.T, method, path string, headers map[string]string, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func keyHeader(secret string) map[string]string {
	return map[string]string{"X-Payment-Key": "alice.near:1:" + secret}
}

func TestCallRefusesWhatUpstreamRefuses(t *testing.T) {
	h := newAPIHarness(t, CallsConfig{})
	with := func(extra map[string]string) map[string]string {
		out := keyHeader(testSecret)
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	cases := []struct {
		name    string
		path    string
		headers map[string]string
		body    string
		status  int
		msg     string
	}{
		{"nonce 0", "/call/bob.near/app", map[string]string{"X-Payment-Key": "alice.near:0:" + testSecret}, `{"input":1}`, 400, "nonce"},
		{"owner too long", "/call/bob.near/app", map[string]string{"X-Payment-Key": strings.Repeat("a", 65) + ":1:" + testSecret}, `{"input":1}`, 400, "owner"},
		{"secret not hex", "/call/bob.near/app", map[string]string{"X-Payment-Key": "alice.near:1:" + strings.Repeat("zz", 32)}, `{"input":1}`, 400, "hex"},
		{"two parts", "/call/bob.near/app", map[string]string{"X-Payment-Key": "alice.near:1"}, `{"input":1}`, 400, "owner:nonce:key"},
		{"wallet", "/call/bob.near/app", with(map[string]string{"X-Wallet-Id": "ed25519:00"}), `{"input":1}`, 400, "X-Wallet-Id"},
		{"bad deposit", "/call/bob.near/app", with(map[string]string{"X-Attached-Deposit": "-1"}), `{"input":1}`, 400, "X-Attached-Deposit"},
		{"over max_per_call", "/call/bob.near/app", with(map[string]string{"X-Compute-Limit": "40000", "X-Attached-Deposit": "10001"}), `{"input":1}`, 400, "Max per call exceeded: max=50000, requested=50001"},
		{"secrets denied", "/call/bob.near/app", with(nil), `{"input":1,"secrets_ref":{"profile":"denied","account_id":"bob.near"}}`, 403, "secrets_ref: access to secrets denied"},
		{"secrets missing", "/call/bob.near/app", with(nil), `{"input":1,"secrets_ref":{"profile":"missing","account_id":"bob.near"}}`, 404, "secrets store --project bob.near/app"},
		{"secrets unreadable", "/call/bob.near/app", with(nil), `{"input":1,"secrets_ref":{"profile":"rpcdown","account_id":"bob.near"}}`, 502, "checking the secrets"},
		{"secrets no profile", "/call/bob.near/app", with(nil), `{"input":1,"secrets_ref":{"profile":"","account_id":"bob.near"}}`, 400, "secrets_ref"},
		{"secrets bad owner", "/call/bob.near/app", with(nil), `{"input":1,"secrets_ref":{"profile":"default","account_id":"Bob"}}`, 400, "secrets_ref"},
		{"secrets extra field", "/call/bob.near/app", with(nil), `{"input":1,"secrets_ref":{"profile":"default","account_id":"bob.near","accessor":"x"}}`, 400, "accessor"},
		{"unknown field", "/call/bob.near/app", with(nil), `{"input":1,"inptu":2}`, 400, "inptu"},
		{"not JSON", "/call/bob.near/app", with(nil), `input=1`, 400, "not a call"},
		{"zero limits", "/call/bob.near/app", with(nil), `{"input":1,"resource_limits":{"max_instructions":0}}`, 400, "above zero"},
		{"too large", "/call/bob.near/app", with(nil), `{"input":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "body"},
		{"balance over", "/call/bob.near/app", with(map[string]string{"X-Compute-Limit": "1000000"}), `{"input":1}`, 400, "Max per call exceeded"},
	}
	for _, c := range cases {
		status, body := h.do(t, http.MethodPost, c.path, c.headers, c.body)
		if status != c.status || !strings.Contains(body, c.msg) {
			t.Errorf("%s: %d %s, want %d %q", c.name, status, body, c.status, c.msg)
		}
	}
	if n := h.prop.count(func(c consensus.Command) bool { _, ok := c.(*consensus.CallStart); return ok }); n != 0 {
		t.Errorf("%d calls reached Raft", n)
	}
	// A deleted key authorises nothing, on any route.
	h.apply(t, &consensus.KeyDelete{Event: store.KeyDeleted{EventID: "d1", Owner: "alice.near", Nonce: 1}})
	for _, path := range []string{"/call/bob.near/app", "/calls/x", "/payment-keys/balance", "/payment-keys/usage"} {
		method := http.MethodGet
		if strings.HasPrefix(path, "/call/") {
			method = http.MethodPost
		}
		if status, body := h.do(t, method, path, keyHeader(testSecret), `{"input":1}`); status != 401 || !strings.Contains(body, "Invalid payment key") {
			t.Errorf("deleted key, %s: %d %s", path, status, body)
		}
	}
	if k, _ := h.st.PaymentKey("alice.near", 1); k.Spent != 0 || k.Reserved != 0 || k.Calls != 0 {
		t.Errorf("refusals changed the key: %+v", k)
	}
	if status, _ := h.do(t, http.MethodGet, "/public/payment-keys/nobody.near/1/balance", nil, ""); status != 404 {
		t.Errorf("public balance of an unknown key: %d", status)
	}
}

// profileSecrets is a secretsChecker that answers by profile: "denied",
// "missing" and "rpcdown" fail as the keystore would, any other valid one
// passes. It refuses a request that is not for the call's project and
// caller, so the API must ask about the right identity.
type profileSecrets struct{}

func (profileSecrets) CheckAccess(_ context.Context, r keystore.Request) error {
	if _, err := (keystore.Identity{Accessor: r.Accessor, Owner: r.Owner, Profile: r.Profile}).Normalize(); err != nil {
		return err
	}
	if r.Accessor.Project == nil || r.Accessor.Project.ProjectID != "bob.near/app" || r.Caller != "alice.near" {
		return fmt.Errorf("%w: the check asked about %+v for %s, not project bob.near/app for alice.near", keystore.ErrAccessDenied, r.Accessor, r.Caller)
	}
	switch r.Profile {
	case "denied":
		return fmt.Errorf("%w: alice.near does not satisfy the condition", keystore.ErrAccessDenied)
	case "missing":
		return fmt.Errorf("%w: no such profile", keystore.ErrSecretsNotFound)
	case "rpcdown":
		return fmt.Errorf("%w: connection refused", keystore.ErrNEARView)
	}
	return nil
}

// A call whose secrets pass the check runs with them: the request names the
// profile and the project (whose accessor the run reads them through).
func TestCallCarriesItsSecretsRef(t *testing.T) {
	h := newAPIHarness(t, CallsConfig{})
	status, body := h.do(t, http.MethodPost, "/call/bob.near/app", keyHeader(testSecret),
		`{"input":1,"async":true,"secrets_ref":{"profile":"prod","account_id":"bob.near"}}`)
	if status != 200 {
		t.Fatalf("call: %d %s", status, body)
	}
	var resp CallResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	c, err := h.st.Call(resp.CallID)
	if err != nil {
		t.Fatal(err)
	}
	j, err := h.st.Get(c.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if j.Secrets == nil || *j.Secrets != (store.SecretsRef{Profile: "prod", AccountID: "bob.near"}) || j.ProjectID != "bob.near/app" || j.Sender != "alice.near" {
		t.Fatalf("the call's request names secrets %+v, project %q, sender %q", j.Secrets, j.ProjectID, j.Sender)
	}
}

func TestCallRateLimits(t *testing.T) {
	h := newAPIHarness(t, CallsConfig{PerKeyPerMinute: 2, PerIPPerMinute: 5})
	body := `{"input":1,"async":true}`
	for i, want := range []int{200, 200, 429} {
		if status, b := h.do(t, http.MethodPost, "/call/bob.near/app", keyHeader(testSecret), body); status != want {
			t.Fatalf("call %d of one key: %d %s, want %d", i, status, b, want)
		}
	}
	// Wrong secrets do not spend a key's limit (another node, one call a
	// minute for the key).
	api2 := newAPIHarness(t, CallsConfig{PerKeyPerMinute: 1, PerIPPerMinute: 100})
	api2.apply(t, &consensus.KeyCreate{Event: store.KeyCreated{EventID: "c4", Owner: "dave.near", Nonce: 1, KeyHash: SecretHash(testSecret)}})
	api2.apply(t, &consensus.KeyTopUp{Event: store.KeyToppedUp{EventID: "t4", Owner: "dave.near", Nonce: 1, Amount: 100_000}})
	for range 3 {
		if status, _ := api2.do(t, http.MethodPost, "/call/bob.near/app", map[string]string{"X-Payment-Key": "dave.near:1:" + strings.Repeat("ee", 32)}, body); status != 401 {
			t.Fatalf("wrong secret: %d, want 401", status)
		}
	}
	if status, b := api2.do(t, http.MethodPost, "/call/bob.near/app", map[string]string{"X-Payment-Key": "dave.near:1:" + testSecret}, body); status != 200 {
		t.Fatalf("the owner's call after wrong secrets: %d %s, want 200", status, b)
	}

	// Another key from the same address: its own per-key budget, the
	// address's shared one (5: 3 used above, then 2 more, then 429).
	h.apply(t, &consensus.KeyCreate{Event: store.KeyCreated{EventID: "c2", Owner: "carol.near", Nonce: 1, KeyHash: SecretHash(testSecret)}})
	h.apply(t, &consensus.KeyTopUp{Event: store.KeyToppedUp{EventID: "t2", Owner: "carol.near", Nonce: 1, Amount: 100_000}})
	carol := map[string]string{"X-Payment-Key": "carol.near:1:" + testSecret}
	for i, want := range []int{200, 200, 429} {
		if status, b := h.do(t, http.MethodPost, "/call/bob.near/app", carol, body); status != want {
			t.Fatalf("carol's call %d: %d %s, want %d", i, status, b, want)
		}
	}
	// X-Forwarded-For does not buy a new address.
	carol["X-Forwarded-For"] = "203.0.113.9"
	if status, b := h.do(t, http.MethodPost, "/call/bob.near/app", carol, body); status != 429 {
		t.Fatalf("with X-Forwarded-For: %d %s, want 429", status, b)
	}
	if k, _ := h.st.PaymentKey("alice.near", 1); k.Calls != 2 {
		t.Errorf("alice's key started %d calls, want 2", k.Calls)
	}
}

// Two calls that each fit the balance alone, not together, accepted at
// once (the local checks pass for both): the replicated check lets one
// through and refuses the other with 402.
func TestConcurrentCallsCannotOverdraw(t *testing.T) {
	h := newAPIHarness(t, CallsConfig{})
	h.apply(t, &consensus.KeyCreate{Event: store.KeyCreated{EventID: "c3", Owner: "dave.near", Nonce: 1, KeyHash: SecretHash(testSecret)}})
	h.apply(t, &consensus.KeyTopUp{Event: store.KeyToppedUp{EventID: "t3", Owner: "dave.near", Nonce: 1, Amount: 15_000}})
	dave := map[string]string{"X-Payment-Key": "dave.near:1:" + testSecret}
	h.prop.gate = make(chan struct{}) // hold the "log" until both requests passed their local checks
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			status, _ := h.do(t, http.MethodPost, "/call/bob.near/app", dave, `{"input":1,"async":true}`)
			codes <- status
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.prop.arrived.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls reached the log, want both", h.prop.arrived.Load())
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
	close(h.prop.gate)
	got := map[int]int{<-codes: 1}
	got[<-codes]++
	if got[200] != 1 || got[402] != 1 {
		t.Fatalf("answers %v, want one 200 and one 402", got)
	}
	if k, _ := h.st.PaymentKey("dave.near", 1); k.Reserved != 10_000 || k.Calls != 1 {
		t.Fatalf("key %+v, want one call reserved", k)
	}
}

// A sync call nobody runs: at the timeout its request is failed, it settles
// with nothing charged, and the caller gets upstream's 500.
func TestSyncCallTimeoutReleasesTheReservation(t *testing.T) {
	h := newAPIHarness(t, CallsConfig{Timeout: 300 * time.Millisecond})
	status, body := h.do(t, http.MethodPost, "/call/bob.near/app", keyHeader(testSecret), `{"input":{"a":1}}`)
	if status != 500 || !strings.Contains(body, "Timeout waiting for result") {
		t.Fatalf("%d %s", status, body)
	}
	k, _ := h.st.PaymentKey("alice.near", 1)
	if k.Reserved != 0 || k.Spent != 0 || k.Calls != 1 {
		t.Fatalf("key after a timed-out call: %+v", k)
	}
	calls, _ := h.st.KeyCalls("alice.near", 1, 0, 10)
	if len(calls) != 1 || calls[0].Status != store.CallFailed || calls[0].Error != "Timeout waiting for result" {
		t.Fatalf("calls %+v", calls)
	}
	// The poll says the same, with the secret checked.
	status, body = h.do(t, http.MethodGet, "/calls/"+calls[0].ID, keyHeader(testSecret), "")
	var resp CallResponse
	if status != 200 || json.Unmarshal([]byte(body), &resp) != nil || resp.Status != "failed" || resp.ComputeCost != "0" {
		t.Fatalf("GET /calls: %d %s", status, body)
	}
	if status, _ := h.do(t, http.MethodGet, "/calls/"+calls[0].ID, keyHeader(strings.Repeat("ff", 32)), ""); status != 401 {
		t.Fatalf("GET /calls with a wrong secret: %d", status)
	}
	// CORS: a browser's preflight is answered.
	req, _ := http.NewRequest(http.MethodOptions, h.base+"/call/bob.near/app", bytes.NewReader(nil))
	req.Header.Set("Origin", "https://app.example")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil || resp2.StatusCode != http.StatusNoContent || resp2.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp2.Header.Get("Access-Control-Allow-Headers"), "X-Payment-Key") {
		t.Fatalf("preflight: %v %+v", err, resp2)
	}
	resp2.Body.Close()
}
