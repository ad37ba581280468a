package daemon

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/internal/httpjson"
	"github.com/outlayer/outlayer/store"
	"github.com/outlayer/outlayer/web"
)

// The web UI (package web) and the few JSON routes it needs beyond the
// public API: filtered request lists, the WASM cache, and read-only chain
// views relayed through the node (the chain head, the contract's copy of a
// request and of its resolve transaction, the contract's agreement settings
// and executor keys, an account's secrets profiles). Everything here only
// reads.

// uiChainTimeout bounds one relayed chain read.
const uiChainTimeout = 10 * time.Second

// uiScanLimit bounds how many stored requests one filtered list reads.
const uiScanLimit = 2000

// mountUI adds the UI's pages, assets and JSON routes to mux.
func (n *Node) mountUI(mux *http.ServeMux) error {
	mux.HandleFunc("GET /ui/api/requests", n.handleUIRequests)
	mux.HandleFunc("GET /ui/api/programs", n.handleUIPrograms)
	head := &headCache{}
	mux.HandleFunc("GET /ui/api/chain", func(w http.ResponseWriter, r *http.Request) { n.handleUIChain(w, r, head) })
	mux.HandleFunc("GET /ui/api/chain/requests/{id}", n.handleUIChainRequest)
	mux.HandleFunc("GET /ui/api/chain/requests/{id}/resolve", n.handleUIChainResolve)
	executors := &executorsCache{}
	mux.HandleFunc("GET /ui/api/chain/executors", func(w http.ResponseWriter, r *http.Request) { n.handleUIExecutors(w, r, executors) })
	mux.HandleFunc("GET /ui/api/secrets", n.handleUISecrets)
	mux.HandleFunc("GET /ui/api/storage-pricing", func(w http.ResponseWriter, _ *http.Request) {
		// What a request's deposit adds for its storage (refunded at
		// settlement): the estimator adds it as the contract does.
		httpjson.Write(w, http.StatusOK, map[string]any{
			"storage_price_per_byte":    strconv.FormatUint(contracts.StoragePricePerByte, 10),
			"request_storage_allowance": contracts.RequestStorageAllowance,
		})
	})
	return web.Mount(mux)
}

// uiFilter selects requests for the executions list.
type uiFilter struct {
	sender, status, program string
}

func (f uiFilter) match(j *store.Job) bool {
	if f.sender != "" && j.Sender != f.sender {
		return false
	}
	if f.status != "" && string(j.Status) != f.status {
		return false
	}
	if f.program == "" {
		return true
	}
	p := strings.ToLower(f.program)
	var hay []string
	if g := j.Code.Git; g != nil {
		hay = append(hay, g.Repo, g.Commit)
	}
	if w := j.Code.Wasm; w != nil {
		hay = append(hay, w.URL, w.Hash)
	}
	if j.Result != nil {
		hay = append(hay, j.Result.WasmHash)
	}
	return slices.ContainsFunc(hay, func(s string) bool { return s != "" && strings.Contains(strings.ToLower(s), p) })
}

// handleUIRequests is the newest requests matching ?sender, ?status and
// ?program (a substring of the repository, commit, URL or WASM hash), at
// most ?limit (default 50), with ?after=ID returning only newer ones. It
// reads at most uiScanLimit stored requests; "scanned_all" says whether
// that covered every request.
func (n *Node) handleUIRequests(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := uiFilter{sender: q.Get("sender"), status: q.Get("status"), program: strings.TrimSpace(q.Get("program"))}
	if f.status != "" && !slices.Contains([]string{"queued", "assigned", "completed", "failed", "resolved", "expired"}, f.status) {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("status %q is not one of queued, assigned, completed, failed, resolved, expired", f.status))
		return
	}
	limit, err := parseLimit(r, 50, 500)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	// newer reports whether a request is newer than ?after (all are
	// without it; request ids start at 0).
	newer := func(uint64) bool { return true }
	if a := q.Get("after"); a != "" {
		after, err := parseRequestID("after", a)
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		newer = func(id uint64) bool { return id > after }
	}
	st := n.cons.Store()
	out := []JobView{}
	scanned, all := 0, false
	page := store.Page{Limit: store.MaxPageSize}
	for scanned < uiScanLimit && len(out) < limit {
		var res store.PageResult
		var err error
		if f.sender != "" {
			res, err = st.BySender(f.sender, page)
		} else {
			res, err = st.Latest(page)
		}
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, err.Error())
			return
		}
		stop := false
		for _, j := range res.Jobs {
			scanned++
			if !newer(j.ID) {
				stop = true
				break
			}
			if f.match(j) {
				out = append(out, n.viewJob(j))
				if len(out) == limit {
					break
				}
			}
		}
		if res.NextToken == "" || stop {
			all = true
			break
		}
		page.Token = res.NextToken
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"requests": out, "scanned": scanned, "scanned_all": all})
}

// UIProgram is one module in the WASM cache as the Programs page shows it.
type UIProgram struct {
	Hash     string             `json:"hash"`
	Size     uint64             `json:"size"`
	StoredAt time.Time          `json:"stored_at"`
	LastUsed time.Time          `json:"last_used"`
	Sources  []store.BlobSource `json:"sources,omitempty"`
	// Runs counts the recent requests (of the newest uiScanLimit) whose
	// result ran this module; Builds those whose run compiled it.
	Runs   int `json:"runs"`
	Builds int `json:"builds"`
	// BuildNote is the newest compilation note a result carried for it
	// that tells how the module was made (a build log, a download), not
	// that a run found it cached; a cache note only when no other is
	// recent. With k executors at once, the newest result for a module
	// built for it may well be the executor that found it cached.
	BuildNote string `json:"build_note,omitempty"`
	// URLs are the WASM URLs recent requests named for it.
	URLs []string `json:"urls,omitempty"`
}

// handleUIPrograms lists the WASM cache, newest first, with what recent
// requests say about each module.
func (n *Node) handleUIPrograms(w http.ResponseWriter, _ *http.Request) {
	st := n.cons.Store()
	var infos []*store.BlobInfo
	if err := st.View(func(tx *store.Tx) error {
		var err error
		infos, err = tx.Blobs()
		return err
	}); err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	byHash := map[string]*UIProgram{}
	out := make([]*UIProgram, 0, len(infos))
	for _, in := range infos {
		p := &UIProgram{Hash: hex.EncodeToString(in.Hash[:]), Size: in.Size, StoredAt: in.StoredAt, LastUsed: in.LastUsed, Sources: in.Sources}
		byHash[p.Hash] = p
		out = append(out, p)
	}
	page := store.Page{Limit: store.MaxPageSize}
	for scanned := 0; scanned < uiScanLimit; {
		res, err := st.Latest(page)
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, err.Error())
			return
		}
		for _, j := range res.Jobs { // newest first
			scanned++
			if j.Result == nil {
				continue
			}
			p := byHash[strings.ToLower(j.Result.WasmHash)]
			if p == nil {
				continue
			}
			p.Runs++
			if j.Result.CompileMs != nil {
				p.Builds++
			}
			p.BuildNote = buildNote(p.BuildNote, j)
			if wsrc := j.Code.Wasm; wsrc != nil && !slices.Contains(p.URLs, wsrc.URL) && len(p.URLs) < 5 {
				p.URLs = append(p.URLs, wsrc.URL)
			}
		}
		if res.NextToken == "" {
			break
		}
		page.Token = res.NextToken
	}
	slices.SortStableFunc(out, func(a, b *UIProgram) int { return b.StoredAt.Compare(a.StoredAt) })
	httpjson.Write(w, http.StatusOK, map[string]any{"programs": out})
}

// headCacheFor is how long one read of the chain head answers every
// browser polling the overview (each asks every few seconds).
const headCacheFor = time.Second

// headCache keeps the last chain head read for headCacheFor.
type headCache struct {
	mu     sync.Mutex
	at     time.Time
	height uint64
	hash   string
}

// get returns the final head, read at most once per headCacheFor.
func (c *headCache) get(ctx context.Context, chain chainReader) (uint64, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < headCacheFor {
		return c.height, c.hash, nil
	}
	b, err := chain.Block(ctx, near.Final())
	if err != nil {
		return 0, "", err
	}
	c.at, c.height, c.hash = time.Now(), b.Header.Height, b.Header.Hash.String()
	return c.height, c.hash, nil
}

// handleUIChain is the chain as this node sees it: the final head and the
// watcher's cursor.
func (n *Node) handleUIChain(w http.ResponseWriter, r *http.Request, head *headCache) {
	ctx, cancel := context.WithTimeout(r.Context(), uiChainTimeout)
	defer cancel()
	out := map[string]any{"contract": n.cfg.ContractID, "rpc": n.cfg.RPCURL}
	if c, ok, err := n.cons.Store().Cursor(); err == nil && ok {
		out["cursor"] = c
	}
	if height, hash, err := head.get(ctx, n.chain); err != nil {
		out["head_error"] = "reading the chain head: " + err.Error()
	} else {
		out["head"] = map[string]any{"height": height, "hash": hash}
	}
	httpjson.Write(w, http.StatusOK, out)
}

// handleUIChainRequest relays the contract's get_request view for a
// request, unchanged (null once the request is settled), so the browser
// can compare the node's copy with the chain's itself.
func (n *Node) handleUIChainRequest(w http.ResponseWriter, r *http.Request) {
	id, ok := pathRequestID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), uiChainTimeout)
	defer cancel()
	var raw json.RawMessage
	if err := n.chain.ViewFunction(ctx, n.cfg.ContractID, contracts.MethodGetRequest, contracts.RequestIDArgs{RequestID: id}, &raw); err != nil {
		httpjson.Error(w, http.StatusBadGateway, fmt.Sprintf("reading request %d from contract %s: %v", id, n.cfg.ContractID, err))
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"contract": n.cfg.ContractID, "request": raw})
}

// handleUISecrets relays the contract's list_user_secrets for ?account:
// profile names, accessors and access conditions, never ciphertext.
func (n *Node) handleUISecrets(w http.ResponseWriter, r *http.Request) {
	account := r.URL.Query().Get("account")
	if account == "" {
		httpjson.Error(w, http.StatusBadRequest, "give the owner: /ui/api/secrets?account=ACCOUNT")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), uiChainTimeout)
	defer cancel()
	var list []contracts.UserSecretInfo
	err := n.chain.ViewFunction(ctx, n.cfg.ContractID, contracts.MethodListUserSecrets, contracts.ListUserSecretsArgs{AccountID: account}, &list)
	if err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
		httpjson.Error(w, code, fmt.Sprintf("listing %s's secrets on %s: %v", account, n.cfg.ContractID, err))
		return
	}
	if list == nil {
		list = []contracts.UserSecretInfo{}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"contract": n.cfg.ContractID, "account": account, "secrets": list})
}

// handleUIChainResolve relays the transaction that resolved a request (the
// one this node's replica records, sent by the operator account): its
// signer, receiver, method, arguments exactly as sent (the result and the
// executor signatures), its failure if it failed, and every log of its
// receipts (the contract's result_signed event). The browser recomputes
// the claim and checks the signatures itself; it reads nothing else.
func (n *Node) handleUIChainResolve(w http.ResponseWriter, r *http.Request) {
	j, ok := n.pathJob(w, r)
	if !ok {
		return
	}
	if j.ResolveTx == "" {
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("request %d has no resolve transaction yet (status %s)", j.ID, j.Status))
		return
	}
	h, err := near.ParseCryptoHash(j.ResolveTx)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, fmt.Sprintf("request %d's resolve transaction %q: %v", j.ID, j.ResolveTx, err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), uiChainTimeout)
	defer cancel()
	out, err := n.chain.TxStatus(ctx, h, n.cfg.OperatorAccount, near.TxFinal)
	if err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
		httpjson.Error(w, code, fmt.Sprintf("reading request %d's resolve transaction %s of %s: %v", j.ID, h, n.cfg.OperatorAccount, err))
		return
	}
	if out.Transaction == nil || len(out.Transaction.Actions) != 1 {
		httpjson.Error(w, http.StatusBadGateway, fmt.Sprintf("transaction %s is not one function call", h))
		return
	}
	fc, isCall := out.Transaction.Actions[0].Action.(near.FunctionCall)
	if !isCall || !json.Valid(fc.Args) {
		httpjson.Error(w, http.StatusBadGateway, fmt.Sprintf("transaction %s is not a function call with JSON arguments", h))
		return
	}
	view := map[string]any{"contract": n.cfg.ContractID, "request_id": j.ID, "tx": h.String(),
		"signer_id": out.Transaction.SignerID, "receiver_id": out.Transaction.ReceiverID,
		"method": fc.MethodName, "args": json.RawMessage(fc.Args), "logs": out.Logs()}
	if ferr := out.Err(); ferr != nil {
		view["failure"] = ferr.Error()
	}
	// Compact, unlike the other answers: indenting would put each byte of
	// a Bytes output on a line of its own.
	body, err := json.Marshal(view)
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, fmt.Sprintf("encoding transaction %s: %v", h, err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// executorsCacheFor is how long one read of the contract's agreement
// settings and executor keys answers every request page.
const executorsCacheFor = 2 * time.Second

// executorsCache keeps the last get_agreement and list_executor_keys
// answers (unchanged) for executorsCacheFor; one read at a time.
type executorsCache struct {
	mu        sync.Mutex
	at        time.Time
	agreement json.RawMessage
	keys      json.RawMessage
}

func (c *executorsCache) get(ctx context.Context, chain chainReader, contract string) (agreement, keys json.RawMessage, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < executorsCacheFor {
		return c.agreement, c.keys, nil
	}
	if err := chain.ViewFunctionAt(ctx, contract, contracts.MethodGetAgreement, nil, &agreement, near.Final()); err != nil {
		return nil, nil, fmt.Errorf("reading %s's agreement settings: %w", contract, err)
	}
	if err := chain.ViewFunctionAt(ctx, contract, contracts.MethodListExecutorKeys, nil, &keys, near.Final()); err != nil {
		return nil, nil, fmt.Errorf("reading %s's executor keys: %w", contract, err)
	}
	c.at, c.agreement, c.keys = time.Now(), agreement, keys
	return agreement, keys, nil
}

// handleUIExecutors relays the contract's get_agreement (its chain id,
// default k) and list_executor_keys views, unchanged: what the request
// page checks a resolve's signers against.
func (n *Node) handleUIExecutors(w http.ResponseWriter, r *http.Request, c *executorsCache) {
	ctx, cancel := context.WithTimeout(r.Context(), uiChainTimeout)
	defer cancel()
	agreement, keys, err := c.get(ctx, n.chain, n.cfg.ContractID)
	if err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
		httpjson.Error(w, code, err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"contract": n.cfg.ContractID, "agreement": agreement, "executor_keys": keys})
}

// buildNote is the note to show for a module: have (from newer requests)
// unless it is empty or only says a run found the module cached and job's
// results (the agreed one first, then every executor's) carry one that
// tells how the module was made.
func buildNote(have string, j *store.Job) string {
	notes := []string{j.Result.CompilationNote}
	if j.Agreement != nil {
		for _, r := range j.Agreement.Results {
			notes = append(notes, r.CompilationNote)
		}
	}
	for _, note := range notes {
		if have == "" || strings.HasPrefix(have, cachedNote) && note != "" && !strings.HasPrefix(note, cachedNote) {
			have = note
		}
	}
	return have
}
