package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// HTTPS calls (upstream-head §3.5–3.6). A call is started by one command
// that checks the payment key, reserves the call's compute limit plus its
// deposit, and enqueues a request for the program in the same transaction;
// from there the request goes through the queue, the leases and the results
// like one from the chain. Instead of a resolve on chain it is settled by a
// second command, which charges what the run cost (at most the reserved
// compute limit), releases exactly the amount that was reserved, and
// closes the request. Both commands are idempotent on the call id, and the
// settlement happens once whatever node ran the program or led the
// cluster, because a request reaches completed or failed once.

// CallIDBase is where the request ids of HTTPS calls start (upstream's
// sequence starts there too): far above any on-chain request id, so the
// two never meet, and the chain watcher's highest known id ignores calls.
const CallIDBase uint64 = 100_000_000_000

// CallPrice is what a call costs, in payment-token minimal units: the
// contract's base_fee_usd, per_million_instructions_fee_usd and
// per_sec_fee_usd. It is fixed when the call starts, so a price change
// while it runs does not change what it is charged.
type CallPrice struct {
	BaseFee                uint64 `json:"base_fee"`
	PerMillionInstructions uint64 `json:"per_million_instructions"`
	PerSecond              uint64 `json:"per_second"`
}

// Cost is base + floor(instructions/1e6)·per-million + floor(ms/1000)·per-second
// (upstream's formula), saturating at 2^64-1.
func (p CallPrice) Cost(instructions, timeMs uint64) uint64 {
	sum := p.BaseFee
	for _, part := range [][2]uint64{{instructions / 1_000_000, p.PerMillionInstructions}, {timeMs / 1000, p.PerSecond}} {
		hi, lo := bits.Mul64(part[0], part[1])
		if hi != 0 || sum > math.MaxUint64-lo {
			return math.MaxUint64
		}
		sum += lo
	}
	return sum
}

// CallStatus is where a call is: pending until its request settles.
type CallStatus string

const (
	CallPending   CallStatus = "pending"
	CallCompleted CallStatus = "completed"
	CallFailed    CallStatus = "failed"
)

// Call is one HTTPS call and its accounting.
type Call struct {
	// ID is the call's UUID, chosen by the node that accepted it.
	ID string `json:"id"`
	// JobID is the request that runs the program.
	JobID     uint64 `json:"job_id"`
	Owner     string `json:"owner"`
	Nonce     uint32 `json:"nonce"`
	ProjectID string `json:"project_id"`
	// ComputeLimit bounds the compute cost; Deposit goes to the project
	// owner on success (X-Attached-Deposit). Reserved is their sum, held on
	// the key until the call settles, and exactly what settling releases.
	ComputeLimit uint64     `json:"compute_limit"`
	Deposit      uint64     `json:"deposit,omitempty"`
	Reserved     uint64     `json:"reserved"`
	Price        CallPrice  `json:"price"`
	Status       CallStatus `json:"status"`
	// ComputeCost is what the run cost (capped at ComputeLimit); Charged
	// is what the key paid: the compute cost plus, on success, the deposit.
	ComputeCost uint64    `json:"compute_cost"`
	Charged     uint64    `json:"charged"`
	Error       string    `json:"error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	SettledAt   time.Time `json:"settled_at,omitzero"`
}

// CallSpec is a call as the accepting node proposes it.
type CallSpec struct {
	ID    string `json:"id"`
	Owner string `json:"owner"`
	Nonce uint32 `json:"nonce"`
	// KeyHash is the hash of the secret the caller presented (never the
	// secret): the key's rules are checked again when the command applies.
	KeyHash      string    `json:"key_hash"`
	ProjectID    string    `json:"project_id"`
	ComputeLimit uint64    `json:"compute_limit"`
	Deposit      uint64    `json:"deposit,omitempty"`
	Price        CallPrice `json:"price"`
}

// CallRefusal says why a payment key refused a call.
type CallRefusal string

const (
	// RefusedInvalidKey: unknown or deleted key, or the secret does not match.
	RefusedInvalidKey CallRefusal = "invalid_key"
	// RefusedProjectNotAllowed: the project is outside the key's scope.
	RefusedProjectNotAllowed CallRefusal = "project_not_allowed"
	// RefusedMaxPerCall: compute limit plus deposit exceed the key's bound.
	RefusedMaxPerCall CallRefusal = "max_per_call"
	// RefusedInsufficientBalance: the key cannot reserve the call.
	RefusedInsufficientBalance CallRefusal = "insufficient_balance"
)

// CallRefused is a refusal and the message the caller sees (upstream's
// wording).
type CallRefused struct {
	Reason  CallRefusal `json:"reason"`
	Message string      `json:"message"`
}

func (r *CallRefused) Error() string { return r.Message }

// CheckCall applies a key's rules to a call, in upstream's order (the
// secret, the scope, the per-call bound, the balance): nil when the key may
// start it. k is nil for an unknown key.
func CheckCall(k *PaymentKey, spec CallSpec) *CallRefused {
	if k == nil || k.Deleted() || k.KeyHash != spec.KeyHash {
		return &CallRefused{RefusedInvalidKey, "Invalid payment key"}
	}
	if !k.Allows(spec.ProjectID) {
		return &CallRefused{RefusedProjectNotAllowed, "Project not allowed for this payment key"}
	}
	need, ok := spec.reserve()
	if !ok {
		return &CallRefused{RefusedMaxPerCall, fmt.Sprintf("Max per call exceeded: max=%d, requested=%d+%d", k.MaxPerCall, spec.ComputeLimit, spec.Deposit)}
	}
	if k.MaxPerCall > 0 && need > k.MaxPerCall {
		return &CallRefused{RefusedMaxPerCall, fmt.Sprintf("Max per call exceeded: max=%d, requested=%d", k.MaxPerCall, need)}
	}
	if avail := k.Available(); avail < need {
		return &CallRefused{RefusedInsufficientBalance, fmt.Sprintf("Insufficient balance: available=%d, required=%d", avail, need)}
	}
	return nil
}

func (s CallSpec) reserve() (uint64, bool) {
	sum, carry := bits.Add64(s.ComputeLimit, s.Deposit, 0)
	return sum, carry == 0
}

// CallStarted is what StartCall did.
type CallStarted struct {
	// Call is the call, new or (Known) started before with this id.
	Call  *Call `json:"call,omitempty"`
	Known bool  `json:"known,omitempty"`
	// Refused is set when the key refused; nothing was written.
	Refused *CallRefused `json:"refused,omitempty"`
}

// StartCall checks the key, reserves the call's compute limit plus deposit
// and enqueues req as the call's request (its id is assigned here, from
// CallIDBase up; its sender is the key's owner). A call id seen before
// returns that call unchanged (Known). A key that refuses the call is an
// answer (Refused), not an error; a request that could not run is
// ErrBadInput. Either way nothing is written.
func (t *Tx) StartCall(spec CallSpec, req Request, now time.Time) (CallStarted, error) {
	if err := checkNow(now); err != nil {
		return CallStarted{}, err
	}
	if spec.ID == "" || len(spec.ID) > 64 {
		return CallStarted{}, badInput("call id %q must be 1 to 64 characters", spec.ID)
	}
	if c, err := t.Call(spec.ID); err == nil {
		return CallStarted{Call: c, Known: true}, nil
	}
	if err := checkKeyName(spec.Owner, spec.Nonce); err != nil {
		return CallStarted{}, err
	}
	if err := validIndexPart("project id", spec.ProjectID); err != nil || spec.ProjectID == "" {
		return CallStarted{}, badInput("call %s: project id %q is empty or malformed", spec.ID, spec.ProjectID)
	}
	k, err := t.PaymentKey(spec.Owner, spec.Nonce)
	if err != nil && !isNotFound(err) {
		return CallStarted{}, err
	}
	if r := CheckCall(k, spec); r != nil {
		return CallStarted{Refused: r}, nil
	}
	now = canonicalTime(now)
	id, err := t.nextCallJobID()
	if err != nil {
		return CallStarted{}, err
	}
	req.ID, req.Sender = id, spec.Owner
	if req.Deposit == "" {
		req.Deposit = "0"
	}
	if err := req.validate(); err != nil {
		return CallStarted{}, badInput("call %s cannot run: %v", spec.ID, err)
	}
	if t.bucket(bucketRequests).Get(u64key(id)) != nil {
		return CallStarted{}, fmt.Errorf("call %s: request id %d is taken: %w", spec.ID, id, ErrCorrupt)
	}
	reserve, _ := spec.reserve()
	c := &Call{ID: spec.ID, JobID: id, Owner: spec.Owner, Nonce: spec.Nonce, ProjectID: spec.ProjectID,
		ComputeLimit: spec.ComputeLimit, Deposit: spec.Deposit, Reserved: reserve, Price: spec.Price,
		Status: CallPending, CreatedAt: now}
	k.Reserved += reserve
	k.Calls++
	k.LastUsedAt = now
	if _, err := t.EnqueueBatch([]Request{req}, nil, now); err != nil {
		return CallStarted{}, err
	}
	job, err := t.Get(id)
	if err != nil {
		return CallStarted{}, err
	}
	job.Call = spec.ID
	if err := t.putJob(job); err != nil {
		return CallStarted{}, err
	}
	if err := t.putPaymentKey(k); err != nil {
		return CallStarted{}, err
	}
	if err := t.putCall(c); err != nil {
		return CallStarted{}, err
	}
	if err := t.bucket(bucketKeyCalls).Put(append(payKeyID(spec.Owner, spec.Nonce), u64key(id)...), []byte(spec.ID)); err != nil {
		return CallStarted{}, err
	}
	if err := t.bucket(bucketMeta).Put(keyCallSeq, u64key(id+1)); err != nil {
		return CallStarted{}, err
	}
	return CallStarted{Call: c}, nil
}

func (t *Tx) nextCallJobID() (uint64, error) {
	raw := t.bucket(bucketMeta).Get(keyCallSeq)
	switch len(raw) {
	case 0:
		return CallIDBase, nil
	case 8:
		return binary.BigEndian.Uint64(raw), nil
	}
	return 0, fmt.Errorf("call sequence record is %d bytes, not 8: %w", len(raw), ErrCorrupt)
}

// SettleCall charges a call whose request completed or failed and closes
// the request: the compute cost of the accepted result (at most the
// compute limit; nothing when the cluster gave up without a result), plus
// the deposit when the program succeeded, moves to the key's spent, and
// exactly the reserved amount is released. Settling a settled call is a
// no-op; a call whose request still runs is ErrInvalidTransition.
func (t *Tx) SettleCall(id string, now time.Time) (*Call, error) {
	if err := checkNow(now); err != nil {
		return nil, err
	}
	c, err := t.Call(id)
	if err != nil {
		return nil, err
	}
	if c.Status != CallPending {
		return c, nil
	}
	job, err := t.Get(c.JobID)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", id, err)
	}
	if !job.Status.AwaitsResolve() {
		return nil, fmt.Errorf("settle call %s: its request is %s: %w", id, job.Status, ErrInvalidTransition)
	}
	k, err := t.PaymentKey(c.Owner, c.Nonce)
	if err != nil {
		return nil, fmt.Errorf("settle call %s: %w", id, err)
	}
	now = canonicalTime(now)
	c.Status, c.Error = CallFailed, job.Error
	if job.Status == StatusCompleted && job.Result != nil {
		c.ComputeCost = min(c.Price.Cost(job.Result.Instructions, job.Result.TimeMs), c.ComputeLimit)
		c.Charged = c.ComputeCost
		if job.Result.Success {
			c.Status, c.Error = CallCompleted, ""
			c.Charged += c.Deposit
		} else {
			c.Error = job.Result.Error
		}
	}
	if k.Reserved < c.Reserved {
		return nil, fmt.Errorf("settle call %s: key %s holds %d reserved, the call reserved %d: %w",
			id, FormatKeyName(c.Owner, c.Nonce), k.Reserved, c.Reserved, ErrCorrupt)
	}
	k.Reserved -= c.Reserved
	k.Spent += c.Charged // Charged <= Reserved, so Spent+Reserved stays within the balance
	c.SettledAt = now
	if c.Status == CallCompleted && c.Deposit > 0 {
		if err := t.creditEarnings(c.ProjectID, c.Deposit, now); err != nil {
			return nil, err
		}
	}

	t.setStatus(job, StatusResolved)
	job.UpdatedAt, job.ClosedAt = now, now
	if err := t.bucket(bucketUnresolved).Delete(u64key(job.ID)); err != nil {
		return nil, err
	}
	if err := t.putJob(job); err != nil {
		return nil, err
	}
	if err := t.putPaymentKey(k); err != nil {
		return nil, err
	}
	return c, t.putCall(c)
}

// Call returns a call by id, or ErrNotFound.
func (t *Tx) Call(id string) (*Call, error) {
	raw := t.bucket(bucketCalls).Get([]byte(id))
	if raw == nil {
		return nil, fmt.Errorf("call %q: %w", id, ErrNotFound)
	}
	var c Call
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("decode call %q: %w", id, err)
	}
	return &c, nil
}

func (t *Tx) putCall(c *Call) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode call %s: %w", c.ID, err)
	}
	return t.bucket(bucketCalls).Put([]byte(c.ID), raw)
}

// KeyCalls returns a page of the key's calls, newest first, skipping
// offset, at most limit (capped at MaxPageSize).
func (t *Tx) KeyCalls(owner string, nonce uint32, offset, limit int) ([]*Call, error) {
	if limit <= 0 {
		return nil, nil
	}
	limit = min(limit, MaxPageSize)
	prefix := payKeyID(owner, nonce)
	c := t.bucket(bucketKeyCalls).Cursor()
	var v []byte
	k, _ := c.Seek(append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	var out []*Call
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Prev() {
		if offset > 0 {
			offset--
			continue
		}
		call, err := t.Call(string(v))
		if err != nil {
			return nil, fmt.Errorf("key call index: %w", err)
		}
		out = append(out, call)
	}
	return out, nil
}

// HighestChainID is the largest on-chain request id the store holds or
// has pruned (calls excluded); ok is false when there is none. Counting
// pruned ids keeps the chain watcher, which asks for requests above it,
// from ever seeing a pruned request again.
func (t *Tx) HighestChainID() (id uint64, ok bool) {
	below := t.prunedMark(keyPrunedChainBelow) // one above the highest pruned
	c := t.bucket(bucketRequests).Cursor()
	k, _ := c.Seek(u64key(CallIDBase))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || binary.BigEndian.Uint64(k) >= CallIDBase {
		return below - min(below, 1), below > 0
	}
	return max(binary.BigEndian.Uint64(k), below-min(below, 1)), true
}

// Call is Tx.Call in its own read transaction.
func (s *Store) Call(id string) (c *Call, err error) {
	err = s.View(func(tx *Tx) error { c, err = tx.Call(id); return err })
	return c, err
}

// KeyCalls is Tx.KeyCalls in its own read transaction.
func (s *Store) KeyCalls(owner string, nonce uint32, offset, limit int) (calls []*Call, err error) {
	err = s.View(func(tx *Tx) error { calls, err = tx.KeyCalls(owner, nonce, offset, limit); return err })
	return calls, err
}

// HighestChainID is Tx.HighestChainID in its own read transaction.
func (s *Store) HighestChainID() (id uint64, ok bool, err error) {
	err = s.View(func(tx *Tx) error { id, ok = tx.HighestChainID(); return nil })
	return id, ok, err
}

// checkCallContent decodes every payment key and call of a snapshot (their
// buckets may be missing from one taken before they existed).
func checkCallContent(tx *bolt.Tx) error {
	for _, b := range []struct {
		name []byte
		into func() any
	}{
		{bucketPayKeys, func() any { return new(PaymentKey) }},
		{bucketCalls, func() any { return new(Call) }},
		{bucketEarnings, func() any { return new(Earnings) }},
	} {
		bk := tx.Bucket(b.name)
		if bk == nil {
			continue
		}
		if err := bk.ForEach(func(k, v []byte) error {
			if err := json.Unmarshal(v, b.into()); err != nil {
				return fmt.Errorf("%s record %q: %w", b.name, k, err)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// Earnings is what a project owner received from calls' deposits
// (X-Attached-Deposit of successful calls), in payment-token units.
type Earnings struct {
	Owner       string    `json:"owner"`
	TotalEarned uint64    `json:"total_earned"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

// creditEarnings adds amount to the owner of projectID ("owner/name").
func (t *Tx) creditEarnings(projectID string, amount uint64, now time.Time) error {
	owner, _, _ := strings.Cut(projectID, "/")
	e, err := t.Earnings(owner)
	if err != nil {
		return err
	}
	e.TotalEarned = satAdd(e.TotalEarned, amount)
	e.UpdatedAt = now
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return t.bucket(bucketEarnings).Put([]byte(owner), raw)
}

func satAdd(a, b uint64) uint64 {
	if s, carry := bits.Add64(a, b, 0); carry == 0 {
		return s
	}
	return math.MaxUint64
}

// Earnings returns an owner's earnings (zero when none).
func (t *Tx) Earnings(owner string) (*Earnings, error) {
	e := &Earnings{Owner: owner}
	if raw := t.bucket(bucketEarnings).Get([]byte(owner)); raw != nil {
		if err := json.Unmarshal(raw, e); err != nil {
			return nil, fmt.Errorf("decode earnings of %s: %w", owner, err)
		}
	}
	return e, nil
}

// Earnings is Tx.Earnings in its own read transaction.
func (s *Store) Earnings(owner string) (e *Earnings, err error) {
	err = s.View(func(tx *Tx) error { e, err = tx.Earnings(owner); return err })
	return e, err
}
