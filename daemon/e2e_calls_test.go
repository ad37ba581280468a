package daemon_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/store"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// HTTPS calls with payment keys, on a real three-node cluster: the keys are
// created and topped up through the store's commands (the contract's
// payment-key events reach the same commands through the watcher), the
// projects resolve to the sample programs, and every call runs through the
// scheduler, the workers and the sandbox like a request from the chain.

// jsonSpinMain hashes its input N times and prints {"n":N,"h":"<hex>"}: a
// program whose running time the caller chooses and whose output is JSON.
const jsonSpinMain = `package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strconv"
	"strings"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	n, err := strconv.Atoi(strings.TrimSpace(string(in)))
	if err != nil || n < 0 {
		n = 1000
	}
	sum := sha256.Sum256(in)
	for i := 0; i < n; i++ {
		sum = sha256.Sum256(sum[:])
	}
	os.Stdout.WriteString("{\"n\":" + strconv.Itoa(n) + ",\"h\":\"" + hex.EncodeToString(sum[:]) + "\"}")
}
`

var jsonSpinOnce sync.Once

// callWorld is a cluster serving the projects bob.near/echo and
// bob.near/spin.
func callWorld(t testing.TB, tune func(*daemon.Config)) *world {
	t.Helper()
	if err := buildPrograms(); err != nil {
		t.Fatal(err)
	}
	var err error
	jsonSpinOnce.Do(func() { err = buildSource(programsDir, "jsonspin", jsonSpinMain) })
	if err != nil || programs["jsonspin"] == nil {
		t.Fatalf("building jsonspin: %v", err)
	}
	// serves every program, jsonspin included; the user (alice) holds the
	// payment token's supply
	w := newWorldWith(t, 50*time.Millisecond, 600, func(c *fixture.WorldConfig) { c.PaymentToken = true })
	projects := map[string]string{"bob.near/echo": "echo", "bob.near/spin": "jsonspin"}
	w.startCluster(3, func(c *daemon.Config) {
		daemon.SetProjects(c, func(_ context.Context, id, version string) (store.CodeSource, error) {
			name, ok := projects[id]
			if !ok || (version != "" && version != "v1") {
				return store.CodeSource{}, daemon.ErrProjectNotFound
			}
			sum := sha256.Sum256(programs[name])
			return store.CodeSource{Wasm: &store.WasmSource{URL: w.files.URL + "/" + name + ".wasm", Hash: hex.EncodeToString(sum[:])}}, nil
		})
		c.Calls.PerIPPerMinute = 1_000_000
		c.Calls.PerKeyPerMinute = 1_000_000
		if tune != nil {
			tune(c)
		}
	})
	return w
}

// payKey is a payment key the test holds the secret of.
type payKey struct {
	owner  string
	nonce  uint32
	secret string
}

func (k payKey) header() string { return fmt.Sprintf("%s:%d:%s", k.owner, k.nonce, k.secret) }

// newKey creates a key through Raft and tops it up with balance.
func (w *world) newKey(owner string, nonce uint32, balance uint64, projects ...string) payKey {
	w.t.Helper()
	k := payKey{owner: owner, nonce: nonce, secret: strings.Repeat(fmt.Sprintf("%02x", nonce), 32)}
	if _, err := w.anyNode().Consensus().Apply(w.ctx, &consensus.KeyCreate{Event: store.KeyCreated{
		EventID: fmt.Sprintf("create/%s/%d", owner, nonce), Owner: owner, Nonce: nonce,
		KeyHash: daemon.SecretHash(k.secret), ProjectIDs: projects}}); err != nil {
		w.t.Fatalf("creating key %s: %v", k.header(), err)
	}
	if balance > 0 {
		if _, err := w.anyNode().Consensus().Apply(w.ctx, &consensus.KeyTopUp{Event: store.KeyToppedUp{
			EventID: fmt.Sprintf("topup/%s/%d/1", owner, nonce), Owner: owner, Nonce: nonce, Amount: balance}}); err != nil {
			w.t.Fatalf("topping up key %s: %v", k.header(), err)
		}
	}
	return k
}

// chainKey creates alice's key nonce on chain (create_payment_key with the
// secret's hash), tops it up with the payment token (ft_transfer_call) and
// waits until node 0's replica has it, through the leader's key watcher.
func (w *world) chainKey(nonce uint32, balance uint64, projects ...string) payKey {
	w.t.Helper()
	k := payKey{owner: w.alice.AccountID(), nonce: nonce, secret: strings.Repeat(fmt.Sprintf("%02x", 0x80+nonce), 32)}
	if _, err := w.alice.CallFunction(w.ctx, w.outlayer, contracts.MethodCreatePaymentKey, contracts.CreatePaymentKeyArgs{
		Nonce: &nonce, KeyHash: daemon.SecretHash(k.secret), ProjectIDs: projects}, 100*near.TGas, near.OneNEAR); err != nil {
		w.t.Fatalf("create_payment_key: %v", err)
	}
	w.topUpOnChain(k, balance)
	return k
}

// topUpOnChain sends amount of the payment token to k and waits until the
// cluster counted it.
func (w *world) topUpOnChain(k payKey, amount uint64) {
	w.t.Helper()
	before := uint64(0)
	if pk, err := w.node(0).Consensus().Store().PaymentKey(k.owner, k.nonce); err == nil {
		before = pk.InitialBalance
	}
	msg, _ := json.Marshal(contracts.TopUpMsg{Action: contracts.FtActionTopUpPaymentKey, Nonce: k.nonce})
	if _, err := w.alice.CallFunction(w.ctx, w.fw.Token, "ft_transfer_call", contracts.FtTransferCallArgs{
		ReceiverID: w.outlayer, Amount: near.U128{Lo: amount}, Msg: string(msg)}, 100*near.TGas, near.U128{Lo: 1}); err != nil {
		w.t.Fatalf("ft_transfer_call: %v", err)
	}
	w.eventually(30*time.Second, "the cluster counts the top-up", func() bool {
		pk, err := w.node(0).Consensus().Store().PaymentKey(k.owner, k.nonce)
		return err == nil && pk.InitialBalance == before+amount
	})
}

// httpCall is one HTTP exchange with a node's API.
type httpCall struct {
	status int
	body   []byte
	err    error
}

func (c httpCall) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(c.body, v); err != nil {
		t.Fatalf("decoding %s: %v", c.body, err)
	}
}

func doHTTP(ctx context.Context, method, url string, headers map[string]string, body any) httpCall {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return httpCall{err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return httpCall{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return httpCall{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return httpCall{status: resp.StatusCode, body: b, err: err}
}

// call sends POST /call/{project} to node i.
func (w *world) call(i int, k payKey, project string, body map[string]any, headers map[string]string) httpCall {
	h := map[string]string{"X-Payment-Key": k.header()}
	for name, v := range headers {
		h[name] = v
	}
	if k.owner == "" {
		delete(h, "X-Payment-Key")
	}
	return doHTTP(w.ctx, http.MethodPost, "http://"+w.node(i).HTTPAddr()+"/call/"+project, h, body)
}

// keyState is the key as node i's replica holds it.
func (w *world) keyState(i int, k payKey) *store.PaymentKey {
	w.t.Helper()
	pk, err := w.node(i).Consensus().Store().PaymentKey(k.owner, k.nonce)
	if err != nil {
		w.t.Fatalf("key %s on node %d: %v", k.header(), i, err)
	}
	return pk
}

// settledCharges waits until no call of k is pending on node i and
// returns the sum of what the calls were charged, each charge computed
// again here from the request's accepted result.
func (w *world) settledCharges(i int, k payKey, within time.Duration) (sum uint64, calls int) {
	w.t.Helper()
	st := w.node(i).Consensus().Store()
	deadline := time.Now().Add(within)
	for {
		pk, err := st.PaymentKey(k.owner, k.nonce)
		if err == nil && pk.Reserved == 0 {
			break
		}
		if time.Now().After(deadline) {
			all, _ := st.KeyCalls(k.owner, k.nonce, 0, 1000)
			for _, c := range all {
				if c.Status == store.CallPending {
					j, _ := st.Get(c.JobID)
					w.t.Errorf("call %s pending: request %+v", c.ID, j)
				}
			}
			w.t.Fatalf("calls of %s not settled after %s: %+v", k.header(), within, pk)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
	pk := w.keyState(i, k)
	all, err := st.KeyCalls(k.owner, k.nonce, 0, 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	if uint64(len(all)) != pk.Calls {
		w.t.Fatalf("the key lists %d calls, its counter says %d", len(all), pk.Calls)
	}
	for _, c := range all {
		j, err := st.Get(c.JobID)
		if err != nil {
			w.t.Fatal(err)
		}
		want := uint64(0)
		if j.Result != nil && j.Status == store.StatusResolved {
			want = min(c.Price.Cost(j.Result.Instructions, j.Result.TimeMs), c.ComputeLimit)
			if j.Result.Success {
				want += c.Deposit
			}
		}
		if c.Status == store.CallPending || c.Charged != want {
			w.t.Errorf("call %s (%s, request %s): charged %d, its result costs %d", c.ID, c.Status, j.Status, c.Charged, want)
		}
		sum += c.Charged
	}
	return sum, len(all)
}

func TestHTTPSCallsChargeExactlyAndRefuseWithUpstreamStatus(t *testing.T) {
	w := callWorld(t, nil)
	alice := w.chainKey(1, 6_000_000, "bob.near/echo")
	w.topUpOnChain(alice, 4_000_000) // a second top-up adds to the first
	poor := w.newKey("poor.near", 1, 1_500)
	open := w.newKey("carol.near", 7, 100_000)

	// A first call fetches and compiles the program (the rest find it cached).
	first := w.call(0, alice, "bob.near/echo", map[string]any{"input": map[string]any{"hello": "outlayer"}}, nil)
	var resp daemon.CallResponse
	if first.err != nil || first.status != http.StatusOK {
		t.Fatalf("first call: %d %s %v", first.status, first.body, first.err)
	}
	first.decode(t, &resp)
	if resp.Status != "completed" || compactJSON(resp.Output) != `{"hello":"outlayer"}` || resp.ComputeCost == "" || resp.Instructions == nil || *resp.Instructions == 0 {
		t.Fatalf("first call answered %s", first.body)
	}

	// Refusals: upstream's status and message, and nothing reserved or spent.
	before := *w.keyState(0, alice)
	wrong := alice
	wrong.secret = strings.Repeat("ab", 32)
	unknown := payKey{owner: alice.owner, nonce: 99, secret: alice.secret}
	refusals := []struct {
		name    string
		key     payKey
		project string
		body    map[string]any
		headers map[string]string
		status  int
		msg     string
	}{
		{"no key", payKey{}, "bob.near/echo", map[string]any{"input": 1}, nil, 401, "Missing X-Payment-Key header"},
		{"malformed key", payKey{owner: alice.owner, nonce: 1, secret: "short"}, "bob.near/echo", map[string]any{"input": 1}, nil, 400, "Invalid X-Payment-Key format"},
		{"unknown key", unknown, "bob.near/echo", map[string]any{"input": 1}, nil, 401, "Invalid payment key"},
		{"wrong secret", wrong, "bob.near/echo", map[string]any{"input": 1}, nil, 401, "Invalid payment key"},
		{"outside the scope", alice, "bob.near/spin", map[string]any{"input": 1}, nil, 403, "Project not allowed for this payment key"},
		{"compute limit too low", alice, "bob.near/echo", map[string]any{"input": 1}, map[string]string{"X-Compute-Limit": "999"}, 400, "Compute limit too low: min=1000, provided=999"},
		{"insufficient balance", poor, "bob.near/echo", map[string]any{"input": 1}, map[string]string{"X-Compute-Limit": "2000"}, 402, "Insufficient balance: available=1500, required=2000"},
		{"unknown project", open, "bob.near/nothing", map[string]any{"input": 1}, nil, 404, "Project not found"},
		{"unknown version", open, "bob.near/echo", map[string]any{"input": 1, "version_key": "v9"}, nil, 404, "Project not found"},
		{"no input", alice, "bob.near/echo", map[string]any{"async": true}, nil, 400, "no \"input\""},
		{"bad compute limit", alice, "bob.near/echo", map[string]any{"input": 1}, map[string]string{"X-Compute-Limit": "lots"}, 400, "X-Compute-Limit"},
	}
	for _, c := range refusals {
		got := w.call(1, c.key, c.project, c.body, c.headers)
		var e struct {
			Error string `json:"error"`
		}
		if got.err != nil || got.status != c.status || json.Unmarshal(got.body, &e) != nil || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s: %d %s %v, want %d %q", c.name, got.status, got.body, got.err, c.status, c.msg)
		}
	}
	for _, k := range []payKey{alice, poor, open} {
		if got := w.keyState(0, k); got.Spent != map[payKey]uint64{alice: before.Spent}[k] || got.Reserved != 0 {
			t.Errorf("refusals charged %s: %+v", k.header(), got)
		}
	}
	if got := w.keyState(0, alice); got.Calls != before.Calls {
		t.Errorf("refused calls were recorded: %d calls, want %d", got.Calls, before.Calls)
	}

	// 200 concurrent calls through all three nodes.
	const n = 200
	results := make([]httpCall, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = w.call(i%3, alice, "bob.near/echo", map[string]any{"input": map[string]int{"i": i}}, nil)
		}()
	}
	wg.Wait()
	var sum uint64
	for i, r := range results {
		var resp daemon.CallResponse
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("call %d: %d %s %v", i, r.status, r.body, r.err)
		}
		r.decode(t, &resp)
		if resp.Status != "completed" || compactJSON(resp.Output) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Fatalf("call %d answered %s", i, r.body)
		}
		var cost uint64
		fmt.Sscan(resp.ComputeCost, &cost)
		sum += cost
	}
	charged, calls := w.settledCharges(0, alice, 30*time.Second)
	var firstCost uint64
	fmt.Sscan(resp.ComputeCost, &firstCost)
	after := w.keyState(0, alice)
	if calls != n+1 || charged != sum+firstCost || after.Spent != before.Spent+sum || after.Reserved != 0 ||
		after.InitialBalance-after.Spent != after.Available() {
		t.Fatalf("after %d calls costing %d: %d calls charged %d, key %+v (before %+v)", n, sum, calls, charged, after, before)
	}
	// Every replica holds the same books.
	for i := 1; i < 3; i++ {
		w.eventually(10*time.Second, "replicas agree on the key", func() bool {
			got, err := w.node(i).Consensus().Store().PaymentKey(alice.owner, alice.nonce)
			return err == nil && got.Spent == after.Spent && got.Reserved == 0 && got.Calls == after.Calls
		})
	}

	// GET /calls/{id}: the secret is checked, and only the key's own calls.
	var one daemon.CallResponse
	results[0].decode(t, &one)
	get := func(i int, k payKey, id string) httpCall {
		return doHTTP(w.ctx, http.MethodGet, "http://"+w.node(i).HTTPAddr()+"/calls/"+id, map[string]string{"X-Payment-Key": k.header()}, nil)
	}
	if r := get(2, alice, one.CallID); r.status != 200 || !bytes.Contains(r.body, []byte(`"completed"`)) {
		t.Errorf("GET own call: %d %s", r.status, r.body)
	}
	for name, c := range map[string]struct {
		k      payKey
		id     string
		status int
	}{"wrong secret": {wrong, one.CallID, 401}, "another key's call": {open, one.CallID, 401}, "unknown call": {alice, "no-such-call", 404}} {
		if r := get(1, c.k, c.id); r.status != c.status {
			t.Errorf("GET /calls, %s: %d %s, want %d", name, r.status, r.body, c.status)
		}
	}

	// Async: pending at once, then completed through the poll URL.
	async := w.call(1, alice, "bob.near/echo", map[string]any{"input": "quoted", "async": true}, nil)
	var pending daemon.CallResponse
	async.decode(t, &pending)
	if async.status != 200 || pending.Status != "pending" || pending.PollURL != "/calls/"+pending.CallID {
		t.Fatalf("async call: %d %s", async.status, async.body)
	}
	w.eventually(30*time.Second, "the async call completes", func() bool {
		r := doHTTP(w.ctx, http.MethodGet, "http://"+w.node(2).HTTPAddr()+pending.PollURL, map[string]string{"X-Payment-Key": alice.header()}, nil)
		var got daemon.CallResponse
		return r.status == 200 && json.Unmarshal(r.body, &got) == nil && got.Status == "completed" && compactJSON(got.Output) == `"quoted"`
	})

	// Balance and usage.
	var bal daemon.BalanceView
	r := doHTTP(w.ctx, http.MethodGet, "http://"+w.node(1).HTTPAddr()+"/payment-keys/balance", map[string]string{"X-Payment-Key": alice.header()}, nil)
	r.decode(t, &bal)
	if r.status != 200 || bal.InitialBalance != "10000000" || bal.Reserved != "0" || bal.IsGrant == nil || bal.LastUsedAt == nil {
		t.Errorf("balance: %d %s", r.status, r.body)
	}
	if r := doHTTP(w.ctx, http.MethodGet, "http://"+w.node(1).HTTPAddr()+"/payment-keys/balance", map[string]string{"X-Payment-Key": wrong.header()}, nil); r.status != 401 {
		t.Errorf("balance with a wrong secret: %d %s", r.status, r.body)
	}
	var usage daemon.UsageView
	r = doHTTP(w.ctx, http.MethodGet, "http://"+w.node(2).HTTPAddr()+"/public/payment-keys/"+alice.owner+"/1/usage?limit=500", nil, nil)
	r.decode(t, &usage)
	if r.status != 200 || usage.Total != n+2 || usage.Limit != 100 || len(usage.Usage) != 100 || usage.Usage[0].CallID != pending.CallID {
		t.Errorf("usage: %d total %d limit %d rows %d", r.status, usage.Total, usage.Limit, len(usage.Usage))
	}

	// A deposit goes to the project's owner when the program succeeds.
	if r := w.call(0, alice, "bob.near/echo", map[string]any{"input": 1}, map[string]string{"X-Attached-Deposit": "700"}); r.status != 200 {
		t.Fatalf("call with a deposit: %d %s", r.status, r.body)
	}
	var earned struct {
		Owner string `json:"project_owner"`
		Total string `json:"total_earned"`
	}
	r = doHTTP(w.ctx, http.MethodGet, "http://"+w.node(2).HTTPAddr()+"/public/project-earnings/bob.near", nil, nil)
	r.decode(t, &earned)
	if r.status != 200 || earned.Owner != "bob.near" || earned.Total != "700" {
		t.Errorf("earnings: %d %s", r.status, r.body)
	}

	// Deleted on chain: the key authorises nothing more.
	if _, err := w.alice.CallFunction(w.ctx, w.outlayer, contracts.MethodDeletePaymentKey, contracts.NonceArgs{Nonce: alice.nonce}, 100*near.TGas, near.U128{Lo: 1}); err != nil {
		t.Fatalf("delete_payment_key: %v", err)
	}
	w.eventually(30*time.Second, "the cluster sees the key deleted", func() bool {
		return w.keyState(0, alice).Deleted()
	})
	if r := w.call(2, alice, "bob.near/echo", map[string]any{"input": 1}, nil); r.status != 401 {
		t.Errorf("call with a deleted key: %d %s", r.status, r.body)
	}
}

// A leader crash and an executor crash while calls run change nothing in
// what the key is charged: every call is reserved once, charged once by
// its accepted result, and its reservation released exactly.
func TestHTTPSCallsSurviveLeaderAndExecutorKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills nodes and waits for leases to expire")
	}
	// A lease held by a killed node runs out after the run's 3 s plus
	// LeaseExtra, plus BuildLease when the scheduler thought the WASM not
	// yet replicated: keep that short, the download is from loopback.
	w := callWorld(t, func(c *daemon.Config) { c.MaxAttempts = 5; c.BuildLease = 10 * time.Second })
	k := w.newKey("alice.near", 1, 100_000_000)
	spin := func(i, node int) httpCall {
		return w.call(node, k, "bob.near/spin", map[string]any{
			"input": 20_000 + i, "async": true, "resource_limits": map[string]int{"max_execution_seconds": 3}}, nil)
	}
	if r := w.call(0, k, "bob.near/spin", map[string]any{"input": 1}, nil); r.status != 200 {
		t.Fatalf("warm-up call: %d %s", r.status, r.body)
	}

	// Phase 1: the leader dies while calls arrive at a follower.
	leader := w.leader()
	entry := (leader + 1) % 3
	started := sendMany(t, 40, func(i int) httpCall { return spin(i, entry) }, 10, func() { w.kill(leader) })
	charged, calls := w.settledCharges(entry, k, 90*time.Second)
	if calls != started+1 {
		t.Fatalf("%d calls answered 200 (plus the warm-up), the key records %d", started, calls)
	}
	w.restart(leader)

	// Phase 2: a node dies while it runs calls.
	leader = w.leader()
	entry = (leader + 1) % 3
	victim := 3 - leader - entry
	victimID := w.node(victim).PeerID()
	started2 := sendMany(t, 40, func(i int) httpCall { return spin(100+i, entry) }, 40, nil)
	w.eventually(30*time.Second, "the victim runs a call", func() bool {
		for _, j := range mustLeases(t, w.node(leader)) {
			if j.Node == victimID && j.Call != "" {
				return true
			}
		}
		return false
	})
	w.kill(victim)
	charged2, calls2 := w.settledCharges(entry, k, 90*time.Second)
	if calls2 != calls+started2 {
		t.Fatalf("%d more calls answered 200, the key records %d more", started2, calls2-calls)
	}
	got := w.keyState(entry, k)
	if got.Spent != charged2 || got.Reserved != 0 || charged2 < charged || got.Available() != got.InitialBalance-charged2 {
		t.Fatalf("key %+v; the calls' charges sum to %d", got, charged2)
	}
	// The crash made some request run again (a second attempt), and it
	// was still charged once.
	rerun := 0
	all, _ := w.node(entry).Consensus().Store().KeyCalls(k.owner, k.nonce, 0, 1000)
	for _, c := range all {
		j, err := w.node(entry).Consensus().Store().Get(c.JobID)
		if err == nil && len(j.Attempts) > 1 {
			rerun++
		}
	}
	if rerun == 0 {
		t.Error("no call ran twice: the executor crash did not hit a running call")
	}
	t.Logf("%d calls, %d re-run after the crash, charged %d in all", calls2, rerun, charged2)
}

// sendMany sends n requests, 8 at a time, runs during once after the
// first `after` answers, and returns how many answered 200 (every one
// must: a node that loses its leader retries the same call id).
func sendMany(t *testing.T, n int, send func(i int) httpCall, after int, during func()) int {
	t.Helper()
	var (
		mu   sync.Mutex
		ok   int
		bad  []string
		once sync.Once
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, 8)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := send(i)
			mu.Lock()
			if r.err == nil && r.status == 200 {
				ok++
			} else {
				bad = append(bad, fmt.Sprintf("%d %s %v", r.status, r.body, r.err))
			}
			fire := ok == after
			mu.Unlock()
			if fire && during != nil {
				once.Do(during)
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("%d of %d calls failed: %v", len(bad), n, bad)
	}
	return ok
}

func mustLeases(t *testing.T, n *daemon.Node) []*store.Job {
	if n == nil {
		return nil
	}
	js, err := n.Consensus().Store().Leases(time.Now().Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// A call names a project created on the devchain through the contract:
// the node resolves its active version with get_project and get_version,
// and a call naming a version that does not exist is a 404 with nothing
// charged.
func TestHTTPSCallRunsAProjectFromTheContract(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 600)
	w.startCluster(1, nil)
	h := w.send(w.alice, w.outlayer, contracts.MethodCreateProject, contracts.CreateProjectArgs{Name: "echo", Source: w.wasmSource("echo")}, nearAmount(t, "1"))
	if err := w.final(h, w.alice.AccountID(), time.Minute).Err(); err != nil {
		t.Fatalf("create_project: %v", err)
	}
	project := w.alice.AccountID() + "/echo"
	k := w.newKey(w.alice.AccountID(), 1, 1_000_000, project)
	r := w.call(0, k, project, map[string]any{"input": []int{1, 2, 3}}, nil)
	var resp daemon.CallResponse
	if r.status != 200 {
		t.Fatalf("call: %d %s %v", r.status, r.body, r.err)
	}
	r.decode(t, &resp)
	if resp.Status != "completed" || compactJSON(resp.Output) != "[1,2,3]" {
		t.Fatalf("call answered %s", r.body)
	}
	if r := w.call(0, k, project, map[string]any{"input": 1, "version_key": strings.Repeat("0", 64)}, nil); r.status != 404 {
		t.Fatalf("unknown version: %d %s", r.status, r.body)
	}
	charged, calls := w.settledCharges(0, k, 10*time.Second)
	if got := w.keyState(0, k); calls != 1 || got.Spent != charged || got.Reserved != 0 {
		t.Fatalf("key %+v after one call charged %d", got, charged)
	}

	// The program runs as the project's: it sees OUTLAYER_PROJECT_* (and so
	// uses the project's storage, named by the same uuid).
	h = w.send(w.alice, w.outlayer, contracts.MethodCreateProject, contracts.CreateProjectArgs{Name: "env", Source: w.wasmSource("envinfo")}, nearAmount(t, "1"))
	if err := w.final(h, w.alice.AccountID(), time.Minute).Err(); err != nil {
		t.Fatalf("create_project env: %v", err)
	}
	envProject := w.alice.AccountID() + "/env"
	k2 := w.newKey(w.alice.AccountID(), 2, 1_000_000, envProject)
	r = w.call(0, k2, envProject, map[string]any{"input": 1}, nil)
	if r.status != 200 {
		t.Fatalf("call env: %d %s %v", r.status, r.body, r.err)
	}
	var envResp daemon.CallResponse
	r.decode(t, &envResp)
	var report struct {
		EnvOrder []string `json:"env_order"`
	}
	if err := json.Unmarshal(envResp.Output, &report); err != nil {
		t.Fatalf("envinfo answered %s: %v", r.body, err)
	}
	if !slices.Contains(report.EnvOrder, "OUTLAYER_PROJECT_UUID") || !slices.Contains(report.EnvOrder, "OUTLAYER_PROJECT_ID") {
		t.Fatalf("a project's HTTPS call saw the variables %v, want OUTLAYER_PROJECT_ID and OUTLAYER_PROJECT_UUID", report.EnvOrder)
	}
}
