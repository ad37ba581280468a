package daemon

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

// Executor keys that follow the cluster (see DESIGN.md, "Executor keys"):
// the leader keeps the contract's registered executor keys equal to the
// members' keys. A member whose key is not registered (a node that joined,
// or restarted under a new memory-only identity) is added, and a registered
// key no member holds (a removed or replaced identity) is removed, each by
// vouch_executor_key with the vouches of members whose keys are
// registered. Each voucher checks the change against its own replica's
// membership before it signs.

// VouchProtocol asks a member to vouch for an executor-key change.
//
// Request: the change as JSON (vouchRequest, at most 4 KiB). Response: as
// FailureSignProtocol's: one status byte; 0 (signed) is followed by the
// voucher's ed25519 public key (32 bytes) and the signature (64 bytes);
// 1 (refused) by a 2-byte length and the reason.
const VouchProtocol = "/outlayer/vouch/1"

const (
	// vouchWait is how long a voucher waits for its replica's
	// membership to show what the leader's shows (it may lag).
	vouchWait = 5 * time.Second
	// vouchAskTimeout bounds one round of asking the members.
	vouchAskTimeout = 15 * time.Second
	// executorKeyPoll is how often the leader compares the members with
	// the registered keys; failures back off to executorKeyMaxWait.
	executorKeyPoll    = 2 * time.Second
	executorKeyMaxWait = time.Minute
	maxVouchRequest    = 4 << 10
)

// errVouchRefused: a member refused to vouch for a key change.
var errVouchRefused = errors.New("refused to vouch")

// vouchRequest is a VouchProtocol request: a contracts.VouchMessage.
type vouchRequest struct {
	ChainID   string                `json:"chain_id"`
	Contract  string                `json:"contract"`
	Action    contracts.VouchAction `json:"action"`
	PublicKey near.PublicKey        `json:"public_key"`
	NodeID    string                `json:"node_id,omitempty"`
	Nonce     uint64                `json:"nonce"`
}

func (r vouchRequest) message() (contracts.VouchMessage, error) {
	if r.PublicKey.Type != near.ED25519 {
		return contracts.VouchMessage{}, fmt.Errorf("%w: executor keys are ed25519", errVouchRefused)
	}
	return contracts.VouchMessage{ChainID: r.ChainID, Contract: r.Contract, Action: r.Action,
		PublicKey: r.PublicKey.Ed25519(), NodeID: r.NodeID, Nonce: r.Nonce}, nil
}

func vouchRequestOf(m contracts.VouchMessage) vouchRequest {
	return vouchRequest{ChainID: m.ChainID, Contract: m.Contract, Action: m.Action,
		PublicKey: near.PublicKeyFromEd25519(m.PublicKey), NodeID: m.NodeID, Nonce: m.Nonce}
}

// keyPeer is the peer id an ed25519 executor key is the identity of.
func keyPeer(pub ed25519.PublicKey) (string, error) {
	pk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", err
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// voucher signs key changes with this node's executor key after checking
// them against its replica: an add only for a key that is a member's
// identity (admitted by the join handshake), recorded under that member's
// peer id; a removal only for a key no member holds.
type voucher struct {
	members  members
	key      ed25519.PrivateKey
	contract string
	chain    interface {
		chainID(ctx context.Context) (string, error)
	}
	// wait is how long to wait for the membership to agree.
	wait time.Duration
}

func (v *voucher) sign(ctx context.Context, m contracts.VouchMessage) (contracts.ExecutorSignature, error) {
	refuse := func(format string, a ...any) (contracts.ExecutorSignature, error) {
		return contracts.ExecutorSignature{}, fmt.Errorf("%w: %s", errVouchRefused, fmt.Sprintf(format, a...))
	}
	if m.Contract != v.contract {
		return refuse("the change is for contract %s; this node serves %s", m.Contract, v.contract)
	}
	chainID, err := v.chain.chainID(ctx)
	if err != nil {
		return contracts.ExecutorSignature{}, err
	}
	if m.ChainID != chainID {
		return refuse("the change is for chain %q; this node's claims bind %q", m.ChainID, chainID)
	}
	if _, err := m.Encode(); err != nil {
		return refuse("%v", err)
	}
	pid, err := keyPeer(m.PublicKey)
	if err != nil {
		return refuse("the key is no node identity: %v", err)
	}
	add := m.Action == contracts.VouchAdd
	if add && m.NodeID != pid {
		return refuse("an added key is recorded under its member's peer id %s, not %q", pid, m.NodeID)
	}
	if !add && pid == v.members.Self() {
		return refuse("the key is this node's own")
	}
	// add: the key's peer must be a member; remove: it must not be.
	var member bool
	err = pollUntil(ctx, v.wait, func() (bool, error) {
		all, err := v.members.All()
		if err != nil {
			return false, err
		}
		member = slices.Contains(all, pid)
		return member == add, nil
	})
	if err != nil {
		return contracts.ExecutorSignature{}, err
	}
	switch {
	case add && !member:
		return refuse("peer %s is not a member in this node's replica", shortPeer(pid))
	case !add && member:
		return refuse("peer %s is still a member in this node's replica", shortPeer(pid))
	}
	return contracts.SignVouch(m, v.key)
}

func (n *Node) registerVouchProtocol() {
	n.cons.Host().Handle(VouchProtocol, func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(vouchAskTimeout))
		raw, err := io.ReadAll(io.LimitReader(s, maxVouchRequest+1))
		if err != nil || len(raw) > maxVouchRequest {
			_ = s.Reset()
			return
		}
		var req vouchRequest
		m, err := func() (contracts.VouchMessage, error) {
			if err := json.Unmarshal(raw, &req); err != nil {
				return contracts.VouchMessage{}, fmt.Errorf("%w: unreadable request: %w", errVouchRefused, err)
			}
			return req.message()
		}()
		var sig contracts.ExecutorSignature
		if err == nil {
			ctx, cancel := context.WithTimeout(n.ctx, vouchAskTimeout-time.Second)
			sig, err = n.voucher.sign(ctx, m)
			cancel()
		}
		if err != nil {
			n.log.Warn("refused to vouch for an executor-key change", "asker", shortPeer(s.Conn().RemotePeer().String()),
				"action", req.Action, "key", req.PublicKey.String(), "err", err)
		}
		writeSignAnswer(s, sig, err)
	})
}

// askVouch asks member peerID to vouch for m.
func (n *Node) askVouch(ctx context.Context, peerID string, m contracts.VouchMessage) (contracts.ExecutorSignature, error) {
	raw, err := json.Marshal(vouchRequestOf(m))
	if err != nil {
		return contracts.ExecutorSignature{}, err
	}
	return n.askSignature(ctx, peerID, VouchProtocol, raw, errVouchRefused)
}

// vouchers collects vouches for a key change from the given members.
type vouchers interface {
	collect(ctx context.Context, m contracts.VouchMessage, from []string, need int) (sigs []contracts.ExecutorSignature, problems []error)
}

// vouchCollector is the Node's vouchers: it asks every given member at
// once (itself locally) and keeps the first need valid, distinct vouches
// whose keys are the members' own.
type vouchCollector struct{ n *Node }

func (c vouchCollector) collect(ctx context.Context, m contracts.VouchMessage, from []string, need int) ([]contracts.ExecutorSignature, []error) {
	n := c.n
	ctx, cancel := context.WithTimeout(ctx, vouchAskTimeout)
	defer cancel()
	self := n.PeerID()
	return gatherSignatures(ctx, from, need, func(ctx context.Context, id string) (contracts.ExecutorSignature, error) {
		if id == self {
			return n.voucher.sign(ctx, m)
		}
		return n.askVouch(ctx, id, m)
	}, func(id string, sig contracts.ExecutorSignature) error {
		if err := contracts.VerifyVouch(m, sig); err != nil {
			return err
		}
		if sig.PublicKey.String() != peerExecutorKey(id) {
			return errors.New("vouched with a key that is not its identity")
		}
		return nil
	})
}

// executorKeys is the leader's loop that keeps the registered executor
// keys equal to the members'.
type executorKeys struct {
	chain    chainReader
	sender   chainSender
	contract string
	members  members
	// pending is what may still carry a key's signature to the chain.
	pending interface {
		Unresolved(limit int) ([]*store.Job, error)
		Queued(limit int) ([]*store.Job, error)
		Leases(until time.Time, limit int) ([]*store.Job, error)
	}
	vouch   vouchers
	status  *executorKeyStatus
	metrics *executorKeyMetrics
	log     *slog.Logger
	// submitted is the nonce after this term's last change, which the
	// final block must reach before the next change is planned.
	submitted uint64
}

// keyChange is one change the leader wants.
type keyChange struct {
	action contracts.VouchAction
	key    near.PublicKey
	peer   string
}

func (c keyChange) String() string {
	return fmt.Sprintf("%s %s (peer %s)", c.action, c.key, shortPeer(c.peer))
}

func (e *executorKeys) run(ctx context.Context) {
	e.status.lead(true)
	defer e.status.lead(false)
	pollEvery(ctx, executorKeyPoll, executorKeyMaxWait, e.log, "keeping the registered executor keys equal to the members'", func(ctx context.Context) error {
		err := e.pass(ctx)
		e.status.result(err)
		if err != nil {
			e.metrics.failures.Inc()
		}
		return err
	})
}

// pass reads the contract at the final block and makes at most one change
// (the next pass sees its effect once final).
func (e *executorKeys) pass(ctx context.Context) error {
	blk, err := e.chain.Block(ctx, near.Final())
	if err != nil {
		return fmt.Errorf("reading the final block: %w", err)
	}
	ref := near.AtHeight(blk.Header.Height)
	var ag contracts.Agreement
	if err := e.chain.ViewFunctionAt(ctx, e.contract, contracts.MethodGetAgreement, nil, &ag, ref); err != nil {
		return fmt.Errorf("reading the contract's agreement settings: %w", err)
	}
	var registered []contracts.ExecutorKey
	if err := e.chain.ViewFunctionAt(ctx, e.contract, contracts.MethodListExecutorKeys, nil, &registered, ref); err != nil {
		return fmt.Errorf("listing the registered executor keys: %w", err)
	}
	all, err := e.members.All()
	if err != nil {
		return fmt.Errorf("reading the members: %w", err)
	}
	var changes []keyChange
	if len(registered) > 0 {
		// With none registered the contract uses no executor keys (or
		// the owner has yet to start): nothing is pending on the cluster.
		changes = planKeyChanges(all, registered)
	}
	e.status.plan(len(registered), changes)
	e.metrics.pending.Set(float64(len(changes)))
	switch {
	case len(registered) == 0:
		e.status.note("no executor key is registered yet, so nobody can vouch: the owner registers the first keys (outlayerd node executor-key on each node, then add_executor_key)")
		return nil
	case len(changes) == 0:
		e.status.note("")
		return nil
	case ag.ChainID == "":
		e.status.note("the contract has no chain_id, so it takes no vouched key changes (the owner sets one with set_agreement)")
		return nil
	case ag.ExecutorKeyNonce < e.submitted:
		e.status.note("waiting for the last key change to be final")
		return nil
	}
	e.status.note("")
	change, err := e.next(changes)
	if err != nil || change == nil {
		return err
	}
	need := int(max(ag.VouchersNeeded, ag.DefaultSignatures, 1))
	byKey := map[string]bool{}
	for _, r := range registered {
		byKey[r.PublicKey] = true
	}
	var from []string
	for _, id := range all {
		if k := peerExecutorKey(id); byKey[k] && k != change.key.String() {
			from = append(from, id)
		}
	}
	if len(from) < need {
		return fmt.Errorf("%s needs %d vouchers, but only %d members have registered executor keys: the owner registers more (add_executor_key)", change, need, len(from))
	}
	m := contracts.VouchMessage{ChainID: ag.ChainID, Contract: e.contract, Action: change.action, PublicKey: change.key.Ed25519(), Nonce: ag.ExecutorKeyNonce}
	if change.action == contracts.VouchAdd {
		m.NodeID = change.peer
	}
	sigs, problems := e.vouch.collect(ctx, m, from, need)
	if len(sigs) < need {
		return fmt.Errorf("%s: %d of the %d vouchers it needs: %w", change, len(sigs), need, errors.Join(problems...))
	}
	if _, err := e.sender.CallFunction(ctx, e.contract, contracts.MethodVouchExecutorKey, contracts.VouchArgs(m, sigs),
		contracts.VouchGas(len(sigs)), near.U128{}); err != nil {
		return fmt.Errorf("%s: vouch_executor_key: %w", change, err)
	}
	e.submitted = ag.ExecutorKeyNonce + 1
	e.metrics.changes.WithLabelValues(string(change.action)).Inc()
	e.status.changed(change.String())
	e.log.Info("executor key changed on the contract, vouched by members", "action", change.action, "key", change.key.String(),
		"peer", change.peer, "vouchers", len(sigs))
	return nil
}

// next is the first change that may go now: adds first (a new member's
// signatures count at once), then removals of keys no pending request
// carries a signature of (the contract refuses a whole resolve for one
// unregistered signer).
func (e *executorKeys) next(changes []keyChange) (*keyChange, error) {
	for i, c := range changes {
		if c.action == contracts.VouchAdd {
			return &changes[i], nil
		}
		busy, err := e.signsPending(c.key.String())
		if err != nil {
			return nil, err
		}
		if !busy {
			return &changes[i], nil
		}
		e.status.note(fmt.Sprintf("%s waits: requests not yet resolved carry its signature", c))
	}
	return nil, nil
}

// signsPending reports whether a request not yet resolved holds a result
// signed by key.
func (e *executorKeys) signsPending(key string) (bool, error) {
	var jobs []*store.Job
	for _, list := range []func() ([]*store.Job, error){
		func() ([]*store.Job, error) { return e.pending.Unresolved(0) },
		func() ([]*store.Job, error) { return e.pending.Queued(0) },
		func() ([]*store.Job, error) { return e.pending.Leases(time.Unix(1<<40, 0), 0) },
	} {
		js, err := list()
		if err != nil {
			return false, fmt.Errorf("reading pending requests: %w", err)
		}
		jobs = append(jobs, js...)
	}
	for _, j := range jobs {
		if j.Result != nil && j.Result.SignerKey == key {
			return true, nil
		}
		if j.Agreement != nil {
			for _, r := range j.Agreement.Results {
				if r.SignerKey == key {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// planKeyChanges compares the members with the registered keys: an add
// for each member whose identity key is not registered, a removal for
// each registered key that is no member's. Keys in a form no node
// identity has are left alone.
func planKeyChanges(members []string, registered []contracts.ExecutorKey) []keyChange {
	reg := map[string]bool{}
	for _, r := range registered {
		reg[r.PublicKey] = true
	}
	isMember := map[string]bool{}
	var out []keyChange
	for _, id := range members {
		isMember[id] = true
		k := peerExecutorKey(id)
		if k == "" || reg[k] {
			continue
		}
		pk, err := near.ParsePublicKey(k)
		if err != nil {
			continue
		}
		out = append(out, keyChange{action: contracts.VouchAdd, key: pk, peer: id})
	}
	for _, r := range registered {
		pk, err := near.ParsePublicKey(r.PublicKey)
		if err != nil || pk.Type != near.ED25519 {
			continue
		}
		id, err := keyPeer(pk.Ed25519())
		if err != nil || isMember[id] {
			continue
		}
		out = append(out, keyChange{action: contracts.VouchRemove, key: pk, peer: id})
	}
	return out
}

// ExecutorKeysStatus is /status's executor_keys: what the leader's
// executor-key loop last saw and did (on a node that does not lead, what
// it saw when it last led).
type ExecutorKeysStatus struct {
	Leading bool `json:"leading"`
	// Registered is how many keys the contract had at the last check;
	// Pending the changes the members' keys still need.
	Registered int       `json:"registered"`
	Pending    []string  `json:"pending,omitempty"`
	Checked    time.Time `json:"checked,omitzero"`
	// Note says why nothing is being changed (bootstrap, no chain id,
	// waiting for finality or for requests to resolve).
	Note string `json:"note,omitempty"`
	// LastChange is the last change this node made, and when.
	LastChange   string    `json:"last_change,omitempty"`
	LastChangeAt time.Time `json:"last_change_at,omitzero"`
	// Error is the last pass's failure ("" once a pass succeeds) and
	// Failures how many passes failed in a row.
	Error    string `json:"error,omitempty"`
	Failures int    `json:"failures,omitempty"`
}

// executorKeyStatus holds ExecutorKeysStatus for /status.
type executorKeyStatus struct {
	mu sync.Mutex
	s  ExecutorKeysStatus
}

func (s *executorKeyStatus) update(f func(*ExecutorKeysStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.s)
}

func (s *executorKeyStatus) lead(on bool) { s.update(func(st *ExecutorKeysStatus) { st.Leading = on }) }

func (s *executorKeyStatus) note(msg string) {
	s.update(func(st *ExecutorKeysStatus) { st.Note = msg })
}

func (s *executorKeyStatus) plan(registered int, changes []keyChange) {
	s.update(func(st *ExecutorKeysStatus) {
		st.Registered, st.Checked, st.Pending = registered, time.Now(), nil
		for _, c := range changes {
			st.Pending = append(st.Pending, c.String())
		}
	})
}

func (s *executorKeyStatus) changed(what string) {
	s.update(func(st *ExecutorKeysStatus) {
		st.LastChange, st.LastChangeAt = what, time.Now()
		st.Pending = slices.DeleteFunc(st.Pending, func(p string) bool { return p == what })
	})
}

func (s *executorKeyStatus) result(err error) {
	s.update(func(st *ExecutorKeysStatus) {
		if err == nil {
			st.Error, st.Failures = "", 0
			return
		}
		st.Error = err.Error()
		st.Failures++
	})
}

func (s *executorKeyStatus) snapshot() ExecutorKeysStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.s
	out.Pending = slices.Clone(s.s.Pending)
	return out
}

// executorKeyMetrics are the loop's series.
type executorKeyMetrics struct {
	changes  *prometheus.CounterVec // action=add|remove
	failures prometheus.Counter
	pending  prometheus.Gauge
}

func newExecutorKeyMetrics(reg prometheus.Registerer) *executorKeyMetrics {
	m := &executorKeyMetrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outlayer_executor_key_changes_total",
			Help: "Vouched executor-key changes this node submitted as leader, by action."}, []string{"action"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "outlayer_executor_key_failures_total",
			Help: "Passes of the leader's executor-key loop that failed (reading the contract, collecting vouchers, or the transaction); each is retried with backoff."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "outlayer_executor_key_changes_pending",
			Help: "Executor-key changes the members' keys still need on the contract, as this node last saw while leading."}),
	}
	reg.MustRegister(m.changes, m.failures, m.pending)
	return m
}
