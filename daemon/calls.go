package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/daemon/keystore"
	"github.com/outlayer/outlayer/failure"
	"github.com/outlayer/outlayer/internal/httpjson"
	"github.com/outlayer/outlayer/store"
)

// The HTTPS API of payment keys (upstream-head §3.6), served by every node:
// POST /call/{owner}/{project}, GET /calls/{id}, and the keys' balance and
// usage. A call is checked against the local replica first (so a bad key
// costs no Raft round), then started by one CallStart command that checks
// the key again, reserves its budget and enqueues its request; the request
// runs like one from the chain (scheduler, worker, sandbox, metering), and
// the leader's settler charges it (settle.go). See DESIGN.md, "HTTPS calls".

// CallsConfig tunes the HTTPS API. Zero fields take upstream's defaults.
type CallsConfig struct {
	// Price is what calls cost, in payment-token minimal units (default
	// base 1000, 1 per million instructions, 1 per second: upstream's
	// base_fee_usd, per_million_instructions_fee_usd, per_sec_fee_usd).
	Price store.CallPrice
	// DefaultComputeLimit is the budget of a call without X-Compute-Limit
	// (default 10000 = $0.01); MinComputeLimit the smallest accepted
	// (default 1000).
	DefaultComputeLimit uint64
	MinComputeLimit     uint64
	// Timeout is how long a synchronous call waits for its result
	// (default 300 s).
	Timeout time.Duration
	// PerKeyPerMinute and PerIPPerMinute bound the calls one payment key
	// and one client address may start on this node (defaults 1000 and
	// 100).
	PerKeyPerMinute int
	PerIPPerMinute  int
}

func (c *CallsConfig) setDefaults() {
	if c.Price == (store.CallPrice{}) {
		c.Price = store.CallPrice{BaseFee: 1000, PerMillionInstructions: 1, PerSecond: 1}
	}
	if c.DefaultComputeLimit == 0 {
		c.DefaultComputeLimit = 10_000
	}
	if c.MinComputeLimit == 0 {
		c.MinComputeLimit = 1000
	}
	if c.Timeout <= 0 {
		c.Timeout = 300 * time.Second
	}
	if c.PerKeyPerMinute <= 0 {
		c.PerKeyPerMinute = 1000
	}
	if c.PerIPPerMinute <= 0 {
		c.PerIPPerMinute = 100
	}
}

// Upstream's defaults and caps for a call's resource limits.
const (
	callDefaultInstructions = 10_000_000_000
	callDefaultMemoryMB     = 128
	callDefaultSeconds      = 60
	callMaxInstructions     = 500_000_000_000
	callMaxSeconds          = 180
)

// callStore is what the API reads. *store.Store implements it.
type callStore interface {
	PaymentKey(owner string, nonce uint32) (*store.PaymentKey, error)
	Call(id string) (*store.Call, error)
	KeyCalls(owner string, nonce uint32, offset, limit int) ([]*store.Call, error)
	Get(id uint64) (*store.Job, error)
	Earnings(owner string) (*store.Earnings, error)
}

// linearizer waits until the local replica holds every committed write.
// *consensus.Node implements it.
type linearizer interface {
	LinearizableRead(ctx context.Context) error
}

// callAPI serves the HTTPS API on one node.
type callAPI struct {
	store    callStore
	propose  proposer
	lin      linearizer
	wake     wakeup
	projects projectResolver
	secrets  secretsChecker // nil: the node has no keystore
	cfg      CallsConfig
	perKey   *rateLimiter
	perIP    *rateLimiter
	log      *slog.Logger
}

// secretsChecker checks a call's secrets before anything is reserved.
// *keystore.Keystore implements it.
type secretsChecker interface {
	CheckAccess(ctx context.Context, req keystore.Request) error
}

func newCallAPI(st callStore, p proposer, lin linearizer, wake wakeup, projects projectResolver, secrets secretsChecker, cfg CallsConfig, log *slog.Logger) *callAPI {
	cfg.setDefaults()
	return &callAPI{store: st, propose: p, lin: lin, wake: wake, projects: projects, secrets: secrets, cfg: cfg,
		perKey: newRateLimiter(cfg.PerKeyPerMinute), perIP: newRateLimiter(cfg.PerIPPerMinute), log: log}
}

// mount adds the routes to mux, with permissive CORS: every route is
// authorised by a header, never a cookie, so any page may call it.
func (a *callAPI) mount(mux *http.ServeMux) {
	route := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, cors(h))
		path := pattern[strings.IndexByte(pattern, ' ')+1:]
		mux.Handle("OPTIONS "+path, cors(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	}
	route("POST /call/{owner}/{project}", a.handleCall)
	route("GET /calls/{id}", a.handleGetCall)
	route("GET /payment-keys/balance", a.handleBalance)
	route("GET /payment-keys/usage", a.handleUsage)
	route("GET /public/payment-keys/{owner}/{nonce}/balance", a.handlePublicBalance)
	route("GET /public/payment-keys/{owner}/{nonce}/usage", a.handlePublicUsage)
	route("GET /public/project-earnings/{owner}", a.handleEarnings)
}

// handleEarnings is what a project owner received from calls' deposits:
// upstream's {project_owner, balance, total_earned, updated_at}. Nothing
// is withdrawn yet, so the balance is the total.
func (a *callAPI) handleEarnings(w http.ResponseWriter, r *http.Request) {
	if !a.current(w, r) {
		return
	}
	e, err := a.store.Earnings(r.PathValue("owner"))
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	var updated *time.Time
	if !e.UpdatedAt.IsZero() {
		updated = &e.UpdatedAt
	}
	total := strconv.FormatUint(e.TotalEarned, 10)
	httpjson.Write(w, http.StatusOK, map[string]any{"project_owner": e.Owner, "balance": total, "total_earned": total, "updated_at": updated})
}

func cors(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, X-Payment-Key, X-Compute-Limit, X-Attached-Deposit")
		h(w, r)
	})
}

// presentedKey is a parsed X-Payment-Key: owner, nonce and the hash of the
// secret (the secret itself is not kept).
type presentedKey struct {
	owner string
	nonce uint32
	hash  string
}

func (k presentedKey) name() string { return store.FormatKeyName(k.owner, k.nonce) }

// apiError is an answer with upstream's status and message.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// parsePaymentKey reads X-Payment-Key: "{owner}:{nonce}:{secret}", the
// secret 64 hex characters, hashed lower-cased.
func parsePaymentKey(r *http.Request) (presentedKey, *apiError) {
	v := r.Header.Get("X-Payment-Key")
	if v == "" {
		return presentedKey{}, errorf(http.StatusUnauthorized, "Missing X-Payment-Key header")
	}
	parts := strings.SplitN(v, ":", 3)
	if len(parts) != 3 {
		return presentedKey{}, errorf(http.StatusBadRequest, "Invalid X-Payment-Key format: expected owner:nonce:key")
	}
	owner, secret := parts[0], parts[2]
	if owner == "" || len(owner) > 64 {
		return presentedKey{}, errorf(http.StatusBadRequest, "Invalid X-Payment-Key format: the owner must be 1 to 64 characters")
	}
	nonce, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil || nonce == 0 {
		return presentedKey{}, errorf(http.StatusBadRequest, "Invalid X-Payment-Key format: the nonce %q is not a number from 1 to 4294967295", parts[1])
	}
	if len(secret) != 64 {
		return presentedKey{}, errorf(http.StatusBadRequest, "Invalid X-Payment-Key format: the key must be exactly 64 hex characters (got %d)", len(secret))
	}
	if _, err := hex.DecodeString(secret); err != nil {
		return presentedKey{}, errorf(http.StatusBadRequest, "Invalid X-Payment-Key format: the key must contain only hex characters")
	}
	return presentedKey{owner: owner, nonce: uint32(nonce), hash: SecretHash(secret)}, nil
}

// SecretHash is the key hash the cluster keeps for a payment key's secret:
// lowercase hex of SHA-256 of the secret's lowercase hex.
func SecretHash(secret string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(secret)))
	return hex.EncodeToString(sum[:])
}

// amountHeader reads an optional header holding a token amount.
func amountHeader(r *http.Request, name string, def uint64) (uint64, *apiError) {
	v := strings.TrimSpace(r.Header.Get(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "%s %q is not a whole number of payment-token units", name, v)
	}
	return n, nil
}

// clientIP is the connection's address. X-Forwarded-For and X-Real-IP are
// not honoured: anyone can send them (upstream honours them, so its per-IP
// limit is a per-header limit).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// callBody is the body of POST /call.
type callBody struct {
	Input          json.RawMessage `json:"input"`
	ResourceLimits *struct {
		MaxInstructions     *uint64 `json:"max_instructions"`
		MaxMemoryMB         *uint32 `json:"max_memory_mb"`
		MaxExecutionSeconds *uint64 `json:"max_execution_seconds"`
	} `json:"resource_limits"`
	SecretsRef *store.SecretsRef `json:"secrets_ref"`
	VersionKey *string           `json:"version_key"`
	Async      bool              `json:"async"`
}

// CallResponse is the answer to a call and to GET /calls/{id}.
type CallResponse struct {
	CallID       string          `json:"call_id"`
	Status       string          `json:"status"`
	Output       json.RawMessage `json:"output,omitempty"`
	Error        string          `json:"error,omitempty"`
	ComputeCost  string          `json:"compute_cost,omitempty"`
	Instructions *uint64         `json:"instructions,omitempty"`
	TimeMs       *uint64         `json:"time_ms,omitempty"`
	PollURL      string          `json:"poll_url,omitempty"`
}

func writeErr(w http.ResponseWriter, e *apiError) { httpjson.Error(w, e.status, e.msg) }

func (a *callAPI) handleCall(w http.ResponseWriter, r *http.Request) {
	resp, e := a.call(w, r)
	if e != nil {
		writeErr(w, e)
		return
	}
	httpjson.Write(w, http.StatusOK, resp)
}

// call runs the checks in upstream's order (per-IP limit, key header,
// budget headers, minimum budget, the key's rules, then the per-key limit,
// which upstream checked before the key), resolves
// the project before anything is reserved (upstream reserved first and
// kept the reservation on a 404), then starts the call.
func (a *callAPI) call(w http.ResponseWriter, r *http.Request) (*CallResponse, *apiError) {
	if !a.perIP.allow(clientIP(r)) {
		return nil, errorf(http.StatusTooManyRequests, "Rate limit exceeded")
	}
	key, e := parsePaymentKey(r)
	if e != nil {
		return nil, e
	}
	if v := r.Header.Get("X-Wallet-Id"); v != "" {
		return nil, errorf(http.StatusBadRequest, "X-Wallet-Id is not supported by this cluster (no wallet API)")
	}
	limit, e := amountHeader(r, "X-Compute-Limit", a.cfg.DefaultComputeLimit)
	if e != nil {
		return nil, e
	}
	deposit, e := amountHeader(r, "X-Attached-Deposit", 0)
	if e != nil {
		return nil, e
	}
	if limit < a.cfg.MinComputeLimit {
		return nil, errorf(http.StatusBadRequest, "Compute limit too low: min=%d, provided=%d", a.cfg.MinComputeLimit, limit)
	}
	var body callBody
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "the request body is over %d bytes", mbe.Limit)
		}
		return nil, errorf(http.StatusBadRequest, "the body is not a call: %v (send {\"input\": <any JSON>, ...})", err)
	}
	if len(body.Input) == 0 || string(body.Input) == "null" {
		return nil, errorf(http.StatusBadRequest, "the body has no \"input\" (send {\"input\": <any JSON>})")
	}
	projectID := r.PathValue("owner") + "/" + r.PathValue("project")
	spec := store.CallSpec{ID: uuid.NewString(), Owner: key.owner, Nonce: key.nonce, KeyHash: key.hash,
		ProjectID: projectID, ComputeLimit: limit, Deposit: deposit, Price: a.cfg.Price}

	ctx := r.Context()
	if e := a.checkKey(ctx, spec); e != nil {
		return nil, e
	}
	// The per-key limit counts only calls that proved the secret: counted
	// before (upstream's order), anyone who knows a key's owner and nonce
	// could spend its limit with wrong secrets.
	if !a.perKey.allow(key.name()) {
		return nil, errorf(http.StatusTooManyRequests, "Rate limit exceeded")
	}
	var versionKey string
	if body.VersionKey != nil {
		versionKey = *body.VersionKey
	}
	code, err := a.projects.resolve(ctx, projectID, versionKey)
	if errors.Is(err, errProjectNotFound) {
		return nil, errorf(http.StatusNotFound, "Project not found")
	}
	if err != nil {
		return nil, errorf(http.StatusBadGateway, "resolving project %s: %v", projectID, err)
	}
	req, err := callRequest(body, code)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	// The program runs as the project's: its secrets are the project's
	// (the Project accessor), and OUTLAYER_PROJECT_* and its storage follow
	// when the resolver knows the project's uuid.
	req.ProjectID = projectID
	if u, ok := a.projects.(projectUUIDs); ok {
		uuid, err := u.uuid(ctx, projectID)
		if err != nil {
			return nil, errorf(http.StatusBadGateway, "resolving project %s: %v", projectID, err)
		}
		req.ProjectUUID = uuid
	}
	if ref := body.SecretsRef; ref != nil {
		if e := a.checkSecrets(ctx, req, *ref, key.owner); e != nil {
			return nil, e
		}
		req.Secrets = &store.SecretsRef{Profile: ref.Profile, AccountID: ref.AccountID}
	}
	started, e := a.start(ctx, spec, req)
	if e != nil {
		return nil, e
	}
	c := started.Call
	a.log.Info("call started", "call_id", c.ID, "request_id", c.JobID, "project", projectID, "key", key.name(),
		"reserved", c.Reserved, "async", body.Async)
	if body.Async {
		return &CallResponse{CallID: c.ID, Status: string(store.CallPending), PollURL: "/calls/" + c.ID}, nil
	}
	// The answer may take up to the call timeout: lift the server's write
	// deadline for this response.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(a.cfg.Timeout + 10*time.Second))
	return a.await(ctx, c)
}

// checkKey applies the key's rules from the local replica; a key it does
// not know yet (created a moment ago, replica behind) is looked up again
// after a linearizable read.
func (a *callAPI) checkKey(ctx context.Context, spec store.CallSpec) *apiError {
	k, err := a.store.PaymentKey(spec.Owner, spec.Nonce)
	if errors.Is(err, store.ErrNotFound) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = a.lin.LinearizableRead(rctx)
		cancel()
		if err == nil {
			k, err = a.store.PaymentKey(spec.Owner, spec.Nonce)
		}
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusServiceUnavailable, "reading payment key %s: %v", store.FormatKeyName(spec.Owner, spec.Nonce), err)
	}
	return refusalError(store.CheckCall(k, spec))
}

// checkSecrets applies the checks a run makes before it reads the call's
// secrets (keystore.SecretsFor: the project's secrets profile exists and the
// key's owner, the caller, satisfies its access condition), so a call that
// could not read them is refused before anything is reserved. The run
// checks again when it starts (a condition may change in between).
func (a *callAPI) checkSecrets(ctx context.Context, req store.Request, ref store.SecretsRef, caller string) *apiError {
	if a.secrets == nil {
		return errorf(http.StatusServiceUnavailable, "this node runs without a keystore, so it cannot check secrets_ref; call another node")
	}
	kreq, err := keystore.RequestForJob(req, ref, caller)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = a.secrets.CheckAccess(ctx, kreq)
		cancel()
	}
	switch keystore.ErrorKind(err) {
	case "":
		return nil
	case failure.AccessDenied:
		return errorf(http.StatusForbidden, "secrets_ref: %v", err)
	case failure.SecretsNotFound:
		return errorf(http.StatusNotFound, "secrets_ref: %v (a project's calls read only secrets stored for the project: outlayerd secrets store --project %s)", err, req.ProjectID)
	case failure.SecretsNotReady, failure.SecretsUnavailable:
		return errorf(http.StatusBadGateway, "secrets_ref: checking the secrets: %v", err)
	}
	return errorf(http.StatusBadRequest, "secrets_ref: %v", err)
}

func refusalError(r *store.CallRefused) *apiError {
	if r == nil {
		return nil
	}
	status := map[store.CallRefusal]int{
		store.RefusedInvalidKey:          http.StatusUnauthorized,
		store.RefusedProjectNotAllowed:   http.StatusForbidden,
		store.RefusedMaxPerCall:          http.StatusBadRequest,
		store.RefusedInsufficientBalance: http.StatusPaymentRequired,
	}[r.Reason]
	if status == 0 {
		status = http.StatusForbidden
	}
	return &apiError{status: status, msg: r.Message}
}

// callRequest is the request that runs a call: its input is the body's
// input as compact JSON (a JSON string arrives quoted), its output must be
// JSON, its limits the body's with upstream's defaults, clamped to the
// contract's hard caps.
func callRequest(body callBody, code store.CodeSource) (store.Request, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, body.Input); err != nil {
		return store.Request{}, fmt.Errorf("the input is not JSON: %w", err)
	}
	l := store.Limits{MaxInstructions: callDefaultInstructions, MaxMemoryMB: callDefaultMemoryMB, MaxExecutionSeconds: callDefaultSeconds}
	if rl := body.ResourceLimits; rl != nil {
		if rl.MaxInstructions != nil {
			l.MaxInstructions = *rl.MaxInstructions
		}
		if rl.MaxMemoryMB != nil {
			l.MaxMemoryMB = *rl.MaxMemoryMB
		}
		if rl.MaxExecutionSeconds != nil {
			l.MaxExecutionSeconds = *rl.MaxExecutionSeconds
		}
	}
	if l.MaxInstructions == 0 || l.MaxMemoryMB == 0 || l.MaxExecutionSeconds == 0 {
		return store.Request{}, fmt.Errorf("resource limits must be above zero (got %d instructions, %d MB, %d s)", l.MaxInstructions, l.MaxMemoryMB, l.MaxExecutionSeconds)
	}
	l.MaxInstructions = min(l.MaxInstructions, callMaxInstructions)
	l.MaxExecutionSeconds = min(l.MaxExecutionSeconds, callMaxSeconds)
	return store.Request{Code: code, Limits: l, Input: compact.String(), ResponseFormat: "Json", Deposit: "0"}, nil
}

// start proposes CallStart, again with the same call id while the outcome
// is unknown (a leader that died mid-proposal): the command is idempotent
// on the id, so the call is reserved and enqueued once.
func (a *callAPI) start(ctx context.Context, spec store.CallSpec, req store.Request) (*store.CallStarted, *apiError) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out consensus.Result
	err := retryEvery(ctx, 100*time.Millisecond, 0, func() error {
		var err error
		out, err = a.propose.Apply(ctx, &consensus.CallStart{Spec: spec, Request: req})
		if errors.Is(err, store.ErrBadInput) {
			return backoff.Permanent(err)
		}
		return err
	})
	switch {
	case errors.Is(err, store.ErrBadInput):
		return nil, errorf(http.StatusBadRequest, "%v", err)
	case err != nil:
		return nil, errorf(http.StatusServiceUnavailable, "the cluster could not start the call: %v", err)
	case out.CallStarted == nil:
		return nil, errorf(http.StatusInternalServerError, "the cluster answered the call without an outcome")
	case out.CallStarted.Refused != nil:
		return nil, refusalError(out.CallStarted.Refused)
	}
	return out.CallStarted, nil
}

// await waits until the call is settled in the local replica. At the
// timeout the call's request is failed (a run that finishes later is kept
// as late and never charged) and the call settles with nothing charged;
// if the request finished first, its result is the answer.
func (a *callAPI) await(ctx context.Context, c *store.Call) (*CallResponse, *apiError) {
	deadline := time.Now().Add(a.cfg.Timeout)
	for {
		ch := a.wake.C()
		cur, err := a.store.Call(c.ID)
		if err == nil && cur.Status != store.CallPending {
			return a.response(cur), nil
		}
		if time.Now().After(deadline) {
			break
		}
		if !a.wake.wait(ctx, ch, min(250*time.Millisecond, time.Until(deadline)+time.Millisecond)) {
			return nil, errorf(http.StatusServiceUnavailable, "request cancelled")
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := a.propose.Apply(fctx, &consensus.Fail{ID: c.JobID, Reason: "Timeout waiting for result"})
	if err != nil && !errors.Is(err, store.ErrInvalidTransition) {
		a.log.Warn("failing a timed-out call", "call_id", c.ID, "err", err)
	}
	for {
		ch := a.wake.C()
		cur, err := a.store.Call(c.ID)
		if err == nil && cur.Status == store.CallCompleted {
			return a.response(cur), nil
		}
		if err == nil && cur.Status == store.CallFailed {
			break
		}
		if !a.wake.wait(fctx, ch, 250*time.Millisecond) {
			break
		}
	}
	return nil, errorf(http.StatusInternalServerError, "Timeout waiting for result")
}

// response is a call's answer: pending, or its outcome with the program's
// JSON output or error, the compute cost, instructions and time.
func (a *callAPI) response(c *store.Call) *CallResponse {
	resp := &CallResponse{CallID: c.ID, Status: string(c.Status)}
	if c.Status == store.CallPending {
		resp.PollURL = "/calls/" + c.ID
		return resp
	}
	resp.ComputeCost = strconv.FormatUint(c.ComputeCost, 10)
	resp.Error = c.Error
	if j, err := a.store.Get(c.JobID); err == nil && j.Result != nil {
		in, ms := j.Result.Instructions, j.Result.TimeMs
		resp.Instructions, resp.TimeMs = &in, &ms
		if c.Status == store.CallCompleted && json.Valid(j.Result.Output) {
			resp.Output = json.RawMessage(j.Result.Output)
		}
	}
	return resp
}

// authorised checks the presented key against the replica: it must exist,
// not be deleted, and its secret must match (upstream's GET /calls/{id}
// skipped this last check).
func (a *callAPI) authorised(ctx context.Context, key presentedKey) (*store.PaymentKey, *apiError) {
	spec := store.CallSpec{Owner: key.owner, Nonce: key.nonce, KeyHash: key.hash}
	k, err := a.store.PaymentKey(key.owner, key.nonce)
	if errors.Is(err, store.ErrNotFound) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if a.lin.LinearizableRead(rctx) == nil {
			k, err = a.store.PaymentKey(key.owner, key.nonce)
		}
		cancel()
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusServiceUnavailable, "reading payment key %s: %v", key.name(), err)
	}
	if k == nil || k.Deleted() || k.KeyHash != spec.KeyHash {
		return nil, errorf(http.StatusUnauthorized, "Invalid payment key")
	}
	return k, nil
}

// current waits until the local replica holds every committed write, so a
// balance or a call read on one node is never older than what another
// node answered a moment ago.
func (a *callAPI) current(w http.ResponseWriter, r *http.Request) bool {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := a.lin.LinearizableRead(ctx); err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "cannot confirm the replica is current: "+err.Error())
		return false
	}
	return true
}

func (a *callAPI) handleGetCall(w http.ResponseWriter, r *http.Request) {
	key, e := parsePaymentKey(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	if _, e := a.authorised(r.Context(), key); e != nil {
		writeErr(w, e)
		return
	}
	id := r.PathValue("id")
	c, err := a.store.Call(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Status == store.CallPending) {
		// Started, or settled, on another node a moment ago?
		if !a.current(w, r) {
			return
		}
		c, err = a.store.Call(id)
	}
	if errors.Is(err, store.ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, "Call not found")
		return
	}
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	if c.Owner != key.owner || c.Nonce != key.nonce {
		httpjson.Error(w, http.StatusUnauthorized, "Invalid payment key")
		return
	}
	httpjson.Write(w, http.StatusOK, a.response(c))
}

// BalanceView is a key's balance (decimal strings, upstream's shape).
type BalanceView struct {
	Owner          string     `json:"owner"`
	Nonce          uint32     `json:"nonce"`
	InitialBalance string     `json:"initial_balance"`
	Spent          string     `json:"spent"`
	Reserved       string     `json:"reserved"`
	Available      string     `json:"available"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	IsGrant        *bool      `json:"is_grant,omitempty"`
}

func balanceView(k *store.PaymentKey, withGrant bool) BalanceView {
	v := BalanceView{Owner: k.Owner, Nonce: k.Nonce, InitialBalance: strconv.FormatUint(k.InitialBalance, 10),
		Spent: strconv.FormatUint(k.Spent, 10), Reserved: strconv.FormatUint(k.Reserved, 10),
		Available: strconv.FormatUint(k.Available(), 10)}
	if !k.LastUsedAt.IsZero() {
		t := k.LastUsedAt
		v.LastUsedAt = &t
	}
	if withGrant {
		grant := false
		v.IsGrant = &grant
	}
	return v
}

func (a *callAPI) handleBalance(w http.ResponseWriter, r *http.Request) {
	if k, ok := a.ownKey(w, r); ok {
		httpjson.Write(w, http.StatusOK, balanceView(k, true))
	}
}

// ownKey is the key the request's X-Payment-Key names, read after a
// linearizable read, once its secret checks out; otherwise it has answered.
func (a *callAPI) ownKey(w http.ResponseWriter, r *http.Request) (*store.PaymentKey, bool) {
	key, e := parsePaymentKey(r)
	if e != nil {
		writeErr(w, e)
		return nil, false
	}
	if !a.current(w, r) {
		return nil, false
	}
	k, e := a.authorised(r.Context(), key)
	if e != nil {
		writeErr(w, e)
		return nil, false
	}
	return k, true
}

// publicKey reads {owner}/{nonce} of the public routes.
func (a *callAPI) publicKey(w http.ResponseWriter, r *http.Request) (*store.PaymentKey, bool) {
	if !a.current(w, r) {
		return nil, false
	}
	nonce, err := strconv.ParseUint(r.PathValue("nonce"), 10, 32)
	if err != nil || nonce == 0 {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("nonce %q is not a number from 1 to 4294967295", r.PathValue("nonce")))
		return nil, false
	}
	k, err := a.store.PaymentKey(r.PathValue("owner"), uint32(nonce))
	if errors.Is(err, store.ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, "Payment key not found")
		return nil, false
	}
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return nil, false
	}
	return k, true
}

func (a *callAPI) handlePublicBalance(w http.ResponseWriter, r *http.Request) {
	if k, ok := a.publicKey(w, r); ok {
		httpjson.Write(w, http.StatusOK, balanceView(k, false))
	}
}

// UsageRow is one call in a key's usage.
type UsageRow struct {
	ID              uint64    `json:"id"`
	CallID          string    `json:"call_id"`
	JobID           string    `json:"job_id"`
	ProjectID       string    `json:"project_id"`
	ComputeCost     string    `json:"compute_cost"`
	AttachedDeposit string    `json:"attached_deposit"`
	Status          string    `json:"status"`
	CreatedAt       time.Time `json:"created_at"`
}

// UsageView is a page of a key's usage, newest first.
type UsageView struct {
	Usage  []UsageRow `json:"usage"`
	Total  uint64     `json:"total"`
	Offset int        `json:"offset"`
	Limit  int        `json:"limit"`
}

func (a *callAPI) usage(w http.ResponseWriter, r *http.Request, k *store.PaymentKey) {
	offset, limit := 0, 20
	for name, dst := range map[string]*int{"offset": &offset, "limit": &limit} {
		if v := r.URL.Query().Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("%s %q is not a number of 0 or more", name, v))
				return
			}
			*dst = n
		}
	}
	limit = min(max(limit, 1), 100)
	calls, err := a.store.KeyCalls(k.Owner, k.Nonce, offset, limit)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	v := UsageView{Usage: []UsageRow{}, Total: k.Calls, Offset: offset, Limit: limit}
	for _, c := range calls {
		v.Usage = append(v.Usage, UsageRow{ID: c.JobID, CallID: c.ID, JobID: strconv.FormatUint(c.JobID, 10), ProjectID: c.ProjectID,
			ComputeCost: strconv.FormatUint(c.ComputeCost, 10), AttachedDeposit: strconv.FormatUint(c.Deposit, 10),
			Status: string(c.Status), CreatedAt: c.CreatedAt})
	}
	httpjson.Write(w, http.StatusOK, v)
}

func (a *callAPI) handleUsage(w http.ResponseWriter, r *http.Request) {
	if k, ok := a.ownKey(w, r); ok {
		a.usage(w, r, k)
	}
}

func (a *callAPI) handlePublicUsage(w http.ResponseWriter, r *http.Request) {
	if k, ok := a.publicKey(w, r); ok {
		a.usage(w, r, k)
	}
}
