package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/daemon/httpguard"
	"github.com/outlayer/outlayer/daemon/keystore"
	"github.com/outlayer/outlayer/internal/httpjson"
	"github.com/outlayer/outlayer/store"
)

// The public HTTP API every node serves: reads from the local replica (add
// ?consistent=1 to wait until it holds every committed write) and the
// keystore endpoints, which check their caller's signature. Anything that
// changes the cluster is on the admin socket (admin.go). The server is
// guarded (httpguard): timeouts and a connection cap against slow clients,
// a Host allow-list against DNS rebinding, JSON-only writes against
// cross-origin form posts.

func (n *Node) startHTTP() error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", n.handleHealth)
	mux.HandleFunc("GET /status", n.handleStatus)
	mux.HandleFunc("GET /requests/{id}", n.handleRequest)
	mux.HandleFunc("GET /requests", n.handleRequests)
	mux.HandleFunc("GET /history", n.handleHistory)
	mux.HandleFunc("GET /stats", n.handleStats)
	mux.HandleFunc("GET /pricing", n.handlePricing)
	n.calls.mount(mux) // the HTTPS API of payment keys (calls.go)
	n.hostRoutes(mux)  // /vrf/pubkey, /public/storage/get, /requests/{id}/record
	if n.keys != nil {
		// GET pubkey, POST generate, GET status under /v1/keystore/.
		mux.Handle(keystore.HTTPPrefix, n.keys.Handler())
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
	if err := n.mountUI(mux); err != nil { // the dashboard at / (ui.go)
		return err
	}
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP API on %s: %w", n.cfg.HTTPAddr, err)
	}
	n.httpLn = ln
	n.httpSrv, ln = httpguard.Server(httpguard.Public(mux, n.cfg.APIHosts), ln, httpguard.Limits{}, n.log)
	go func() {
		if err := n.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("HTTP API stopped", "err", err)
		}
	}()
	return n.startAdmin()
}

// consistent honours ?consistent=1 with a linearizable read.
func (n *Node) consistent(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Query().Get("consistent") == "" {
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := n.cons.LinearizableRead(ctx); err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "cannot confirm the replica is current: "+err.Error())
		return false
	}
	return true
}

// StatusNode is one member in /status.
type StatusNode struct {
	PeerID    string `json:"peer_id"`
	Role      string `json:"role"`
	Leader    bool   `json:"leader"`
	Reachable bool   `json:"reachable"`
	// Addresses are where this node would dial the member now; Found is
	// how it first learned them and Updated where the latest came from
	// (bootstrap, handshake, mdns, peers.json, node-table, join, exchange,
	// gossip, joiner).
	Addresses          []string  `json:"addresses,omitempty"`
	Found              string    `json:"found,omitempty"`
	Updated            string    `json:"updated,omitempty"`
	Attestation        string    `json:"attestation"`
	JoinedAt           time.Time `json:"joined_at,omitzero"`
	Running            int       `json:"running"`
	SimulatedAttestion bool      `json:"simulated_attestation"`
	// Agreement counts how often the member's results agreed with the
	// majority of a k-of-n agreement; Assigned is false once it dissented
	// DissentLimit times in a row (it is then given no requests).
	Agreement *store.NodeAgreement `json:"agreement,omitempty"`
	Assigned  bool                 `json:"assigned"`
	// ExecutorKey is the key the member signs result claims with (its
	// peer id's ed25519 key, "ed25519:<base58>"), as the contract
	// registers it.
	ExecutorKey string `json:"executor_key,omitempty"`
}

// Status is /status.
type Status struct {
	PeerID       string        `json:"peer_id"`
	Leader       string        `json:"leader"`
	IsLeader     bool          `json:"is_leader"`
	Nodes        []StatusNode  `json:"nodes"`
	Attestation  string        `json:"attestation"`
	Contract     string        `json:"contract"`
	Operator     string        `json:"operator"`
	ChainCursor  *store.Cursor `json:"chain_cursor,omitempty"`
	AppliedIndex uint64        `json:"applied_index"`
	Builds       bool          `json:"builds_available"`
	// ResultAttestation says how this node's results are attested.
	ResultAttestation string `json:"result_attestation"`
	// LANDiscovery says whether this node announces itself and looks for
	// members on the LAN (mDNS), and why.
	LANDiscovery string `json:"lan_discovery"`
	// Agreement is the k this node schedules with as leader (before the
	// cluster's size caps it); DissentLimit the dissents in a row after
	// which a member is no longer assigned.
	Agreement    int `json:"agreement"`
	DissentLimit int `json:"dissent_limit"`
	// ExecutorKey is this node's result-signing key (register it with the
	// contract's add_executor_key; `outlayerd node executor-key` prints it).
	ExecutorKey string `json:"executor_key"`
	// ExecutorKeys is the leader's executor-key loop: the registered
	// keys it keeps equal to the members' (executorkeys.go).
	ExecutorKeys ExecutorKeysStatus `json:"executor_keys"`
	// Storage is what the replicated state keeps: program storage against
	// the node-wide budget, and the retention of settled requests.
	Storage StorageStatus `json:"storage"`
	// ClaimChainID is the chain id this node's result claims and result
	// attestations bind ("" until it was first read).
	ClaimChainID string `json:"claim_chain_id,omitempty"`
	// Health is this node's /health (health.go).
	Health Health `json:"health"`
	// OperatorKey is this node's key on the operator account and what is
	// left of its allowance (a warning when low, exhausted or unreadable).
	OperatorKey KeyAllowance `json:"operator_key"`
}

// ClusterStatus describes the cluster as this node sees it.
func (n *Node) ClusterStatus() (*Status, error) {
	st := n.cons.Store()
	servers, err := n.cons.Servers()
	if err != nil {
		return nil, err
	}
	nodes, err := st.Nodes()
	if err != nil {
		return nil, err
	}
	byID := map[string]*store.Node{}
	for _, nd := range nodes {
		byID[nd.PeerID] = nd
	}
	leases, err := st.Leases(time.Unix(1<<31-1, 0), 0)
	if err != nil {
		return nil, err
	}
	load := map[string]int{}
	for _, j := range leases {
		load[j.Node]++
	}
	leader := n.cons.Leader().String()
	net := n.cons.Host().LibP2P().Network()
	s := &Status{PeerID: n.PeerID(), Leader: leader, IsLeader: n.cons.IsLeader(), Contract: n.cfg.ContractID,
		Operator: n.cfg.OperatorAccount, AppliedIndex: n.cons.AppliedIndex(), Builds: n.builder != nil,
		ResultAttestation: n.resultAttestationSummary(), LANDiscovery: n.cons.LANDiscovery(), Health: n.Health()}
	simulated := 0
	for _, srv := range servers {
		id := srv.ID.String()
		sn := StatusNode{PeerID: id, Role: "nonvoter", Leader: id == leader, Running: load[id],
			Reachable: srv.ID == n.cons.PeerID() || net.Connectedness(srv.ID) == network.Connected}
		if srv.Voter {
			sn.Role = "voter"
		}
		pi := n.cons.Peer(srv.ID)
		sn.Addresses, sn.Found, sn.Updated = pi.Addrs, pi.Found, pi.Updated
		if rec, ok := byID[id]; ok {
			if len(sn.Addresses) == 0 {
				sn.Addresses = rec.Addresses
			}
			sn.Attestation = rec.AttestationSummary
			sn.JoinedAt = rec.JoinedAt
			sn.SimulatedAttestion = strings.Contains(strings.ToLower(rec.AttestationSummary), "simulated")
		}
		if sn.SimulatedAttestion {
			simulated++
		}
		s.Nodes = append(s.Nodes, sn)
	}
	switch {
	case simulated == len(s.Nodes):
		s.Attestation = "simulated attestation: no node has proven it runs in a TEE (development mode)"
	case simulated > 0:
		s.Attestation = fmt.Sprintf("mixed: %d of %d nodes joined with simulated attestation", simulated, len(s.Nodes))
	default:
		s.Attestation = "every node joined with verified attestation"
	}
	if c, ok, err := st.Cursor(); err == nil && ok {
		s.ChainCursor = &c
	}
	if err := n.agreementStatus(s); err != nil {
		return nil, err
	}
	s.ExecutorKeys = n.keyStatus.snapshot()
	if s.Storage.ProgramBytes, err = st.ProgBytes(); err != nil {
		return nil, err
	}
	if s.Storage.PrunedRequests, err = st.PrunedCount(); err != nil {
		return nil, err
	}
	s.Storage.BudgetBytes = n.storageBudget
	s.Storage.Retention = n.cfg.Retention.String()
	if n.cfg.Retention == 0 {
		s.Storage.Retention = "forever"
	}
	s.Storage.RetainSettled = n.cfg.RetainSettled
	return s, nil
}

// StorageStatus is /status's storage section.
type StorageStatus struct {
	// ProgramBytes is what all programs store together (keys and
	// values); BudgetBytes this node's --storage-budget (0: none). A run
	// whose writes would pass the budget fails.
	ProgramBytes uint64 `json:"program_bytes"`
	BudgetBytes  uint64 `json:"budget_bytes"`
	// Retention is how long settled requests are kept ("forever" when
	// not dropped), RetainSettled the count cap (0: none), PrunedRequests
	// how many this replica has dropped.
	Retention      string `json:"retention"`
	RetainSettled  int    `json:"retain_settled,omitempty"`
	PrunedRequests uint64 `json:"pruned_requests"`
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	if !n.consistent(w, r) {
		return
	}
	s, err := n.ClusterStatus()
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, s)
}

// pathJob is the stored request the path's {id} names, read as
// ?consistent asks; anything else (a bad id, an unknown request) is
// answered here and ok is false.
func (n *Node) pathJob(w http.ResponseWriter, r *http.Request) (*store.Job, bool) {
	id, ok := pathRequestID(w, r)
	if !ok || !n.consistent(w, r) {
		return nil, false
	}
	j, err := n.cons.Store().Get(id)
	if errors.Is(err, store.ErrNotFound) {
		if pruned, perr := n.cons.Store().WasPruned(id); perr == nil && pruned {
			httpjson.Error(w, http.StatusGone, fmt.Sprintf("request %d was settled and has been pruned: the cluster keeps settled requests for %s (--retention); its resolution is on chain", id, n.cfg.Retention))
			return nil, false
		}
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("request %d is not known to the cluster", id))
		return nil, false
	}
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return nil, false
	}
	return j, true
}

func (n *Node) handleRequest(w http.ResponseWriter, r *http.Request) {
	j, ok := n.pathJob(w, r)
	if !ok {
		return
	}
	httpjson.Write(w, http.StatusOK, n.viewJob(j))
}

// pathRequestID is the request id in the path's {id}; a bad one is answered
// with 400 and ok is false.
func pathRequestID(w http.ResponseWriter, r *http.Request) (id uint64, ok bool) {
	id, err := parseRequestID("request id", r.PathValue("id"))
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return 0, false
	}
	return id, true
}

// parseRequestID reads a request id given as what (its name in the error).
func parseRequestID(what, s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a request id (a number)", what, s)
	}
	return id, nil
}

// parseLimit reads ?limit: def when it is absent, at most max.
func parseLimit(r *http.Request, def, max int) (int, error) {
	l := r.URL.Query().Get("limit")
	if l == "" {
		return def, nil
	}
	v, err := strconv.Atoi(l)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("limit %q must be a positive number", l)
	}
	return min(v, max), nil
}

func pageFrom(r *http.Request) (store.Page, error) {
	limit, err := parseLimit(r, 0, store.MaxPageSize)
	return store.Page{Token: r.URL.Query().Get("token"), Limit: limit}, err
}

type pageJSON struct {
	Requests  []JobView `json:"requests"`
	NextToken string    `json:"next_token,omitempty"`
}

func (n *Node) handleRequests(w http.ResponseWriter, r *http.Request) {
	p, err := pageFrom(r)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if !n.consistent(w, r) {
		return
	}
	res, err := n.cons.Store().Latest(p)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, pageJSON{Requests: n.viewJobs(res.Jobs), NextToken: res.NextToken})
}

func (n *Node) handleHistory(w http.ResponseWriter, r *http.Request) {
	sender := r.URL.Query().Get("sender")
	if sender == "" {
		httpjson.Error(w, http.StatusBadRequest, "give the account: /history?sender=ACCOUNT")
		return
	}
	p, err := pageFrom(r)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if !n.consistent(w, r) {
		return
	}
	res, err := n.cons.Store().BySender(sender, p)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, pageJSON{Requests: n.viewJobs(res.Jobs), NextToken: res.NextToken})
}

func (n *Node) handleStats(w http.ResponseWriter, r *http.Request) {
	if !n.consistent(w, r) {
		return
	}
	st := n.cons.Store()
	counts, err := st.Counts()
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	blobBytes, _ := st.BlobBytes()
	var total uint64
	for _, c := range counts {
		total += c
	}
	httpjson.Write(w, http.StatusOK, map[string]any{
		"requests":              total,
		"by_status":             counts,
		"wasm_cache_bytes":      blobBytes,
		"builds_here":           n.worker.builds.Load(),
		"compiled_modules_here": n.runner.CachedModules(),
	})
}

// pricingCache keeps the contract's pricing for a few seconds.
type pricingCache struct {
	mu  sync.Mutex
	at  time.Time
	val contracts.Pricing
}

func (n *Node) handlePricing(w http.ResponseWriter, r *http.Request) {
	n.pricing.mu.Lock()
	defer n.pricing.mu.Unlock()
	if time.Since(n.pricing.at) > 10*time.Second {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		var p contracts.Pricing
		if err := n.chain.ViewFunction(ctx, n.cfg.ContractID, contracts.MethodGetPricing, nil, &p); err != nil {
			httpjson.Error(w, http.StatusBadGateway, "reading the contract's pricing: "+err.Error())
			return
		}
		n.pricing.val, n.pricing.at = p, time.Now()
	}
	p := n.pricing.val
	httpjson.Write(w, http.StatusOK, map[string]any{
		"contract":                     n.cfg.ContractID,
		"base_fee":                     p.BaseFee,
		"per_million_instructions_fee": p.PerMillionInstructionsFee,
		"per_ms_fee":                   p.PerMsFee,
		"per_compile_ms_fee":           p.PerCompileMsFee,
		"default_limits_estimate":      p.Estimate(contracts.DefaultResourceLimits()),
	})
}
