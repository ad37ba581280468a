package store

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Payment keys are the prepaid keys of the HTTPS API (upstream-head §3): a
// key is created on chain by its owner, topped up with a NEP-141 token and
// deleted on chain; the cluster learns of each event through the chain
// watcher and applies it here. The store keeps the SHA-256 of the key's
// secret, never the secret. Amounts are the payment token's minimal units
// (6 decimals: 1000000 is $1).
//
// Every event carries an id (EventID) that the store remembers, so an event
// seen twice — a new leader re-reading the chain — is applied once.

// Bucket names of the payment-key and HTTPS-call state.
var (
	bucketPayKeys  = []byte("pay_keys")      // owner ‖ 0 ‖ nonce(4) → PaymentKey
	bucketPayEvent = []byte("pay_events")    // event id → —
	bucketCalls    = []byte("calls")         // call id → Call
	bucketKeyCalls = []byte("idx_key_calls") // owner ‖ 0 ‖ nonce(4) ‖ job id(8) → call id
	bucketEarnings = []byte("earnings")      // project owner → Earnings

	// callBuckets are created when a store opens. They are not in
	// allBuckets, so a snapshot taken before they existed still restores.
	callBuckets = [][]byte{bucketPayKeys, bucketPayEvent, bucketCalls, bucketKeyCalls, bucketEarnings}

	keyCallSeq = []byte("call_seq")
)

// PaymentKey is a payment key as the cluster knows it.
type PaymentKey struct {
	Owner string `json:"owner"`
	Nonce uint32 `json:"nonce"`
	// ChainID is the key's id on the contract (list_payment_keys orders
	// by it); 0 for a key that did not come from the contract's views.
	ChainID uint64 `json:"chain_id,omitempty"`
	// KeyHash is lowercase hex of SHA-256 of the secret's 64 lowercase
	// hex characters (upstream's key_hash).
	KeyHash string `json:"key_hash"`
	// ProjectIDs are the projects the key may call; empty allows every
	// project.
	ProjectIDs []string `json:"project_ids,omitempty"`
	// MaxPerCall bounds compute limit plus deposit of one call; 0: none.
	MaxPerCall uint64 `json:"max_per_call,omitempty"`
	// InitialBalance is the total ever topped up (upstream's name).
	InitialBalance uint64 `json:"initial_balance"`
	// Spent is what settled calls cost; Reserved is held by calls that
	// have not settled yet.
	Spent    uint64 `json:"spent"`
	Reserved uint64 `json:"reserved"`
	// Calls counts the calls ever started with the key.
	Calls      uint64    `json:"calls"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	DeletedAt  time.Time `json:"deleted_at,omitzero"`
}

// Available is what a new call may reserve.
func (k *PaymentKey) Available() uint64 {
	used := k.Spent + k.Reserved // both bounded by InitialBalance
	if used >= k.InitialBalance {
		return 0
	}
	return k.InitialBalance - used
}

// Deleted reports whether the key was deleted on chain.
func (k *PaymentKey) Deleted() bool { return !k.DeletedAt.IsZero() }

// Allows reports whether the key may call projectID.
func (k *PaymentKey) Allows(projectID string) bool {
	return len(k.ProjectIDs) == 0 || slices.Contains(k.ProjectIDs, projectID)
}

// KeyCreated is the chain's record of a new payment key.
type KeyCreated struct {
	EventID    string   `json:"event_id"`
	ChainID    uint64   `json:"chain_id,omitempty"`
	Owner      string   `json:"owner"`
	Nonce      uint32   `json:"nonce"`
	KeyHash    string   `json:"key_hash"`
	ProjectIDs []string `json:"project_ids,omitempty"`
	MaxPerCall uint64   `json:"max_per_call,omitempty"`
}

// KeyToppedUp is a top-up the chain accepted: Amount more, or — when the
// watcher syncs from the contract's view rather than from one event —
// Total, the key's total ever topped up as the chain says it. A Total at
// or below what the store holds changes nothing, so a sync applied twice,
// late or out of order never counts a top-up twice.
type KeyToppedUp struct {
	EventID string `json:"event_id"`
	Owner   string `json:"owner"`
	Nonce   uint32 `json:"nonce"`
	Amount  uint64 `json:"amount,omitempty"`
	Total   uint64 `json:"total,omitempty"`
}

// KeyDeleted is a key deleted on chain.
type KeyDeleted struct {
	EventID string `json:"event_id"`
	Owner   string `json:"owner"`
	Nonce   uint32 `json:"nonce"`
}

// KeyEventOutcome says what applying a key event did.
type KeyEventOutcome int

const (
	// KeyEventApplied: the event changed the key.
	KeyEventApplied KeyEventOutcome = iota + 1
	// KeyEventSeen: the event id was applied before; nothing changed.
	KeyEventSeen
)

func (o KeyEventOutcome) String() string {
	switch o {
	case KeyEventApplied:
		return "applied"
	case KeyEventSeen:
		return "already applied"
	}
	return fmt.Sprintf("KeyEventOutcome(%d)", int(o))
}

func payKeyID(owner string, nonce uint32) []byte {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], nonce)
	return compositeKey(n[:], owner)
}

func checkKeyName(owner string, nonce uint32) error {
	if owner == "" || len(owner) > 64 {
		return badInput("payment key owner %q must be 1 to 64 characters", owner)
	}
	if err := validIndexPart("payment key owner", owner); err != nil {
		return fmt.Errorf("%w: %w", err, ErrBadInput)
	}
	if nonce == 0 {
		return badInput("payment key nonce must be at least 1")
	}
	return nil
}

func checkEventID(id string) error {
	if id == "" || len(id) > 256 {
		return badInput("payment key event id %q must be 1 to 256 characters", id)
	}
	return nil
}

// seenEvent reports whether event id was applied before.
func (t *Tx) seenEvent(id string) bool { return t.bucket(bucketPayEvent).Get([]byte(id)) != nil }

// PaymentKey returns the key owner:nonce (deleted keys included), or
// ErrNotFound.
func (t *Tx) PaymentKey(owner string, nonce uint32) (*PaymentKey, error) {
	raw := t.bucket(bucketPayKeys).Get(payKeyID(owner, nonce))
	if raw == nil {
		return nil, fmt.Errorf("payment key %s:%d: %w", owner, nonce, ErrNotFound)
	}
	var k PaymentKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("decode payment key %s:%d: %w", owner, nonce, err)
	}
	return &k, nil
}

func (t *Tx) putPaymentKey(k *PaymentKey) error {
	raw, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("encode payment key %s:%d: %w", k.Owner, k.Nonce, err)
	}
	return t.bucket(bucketPayKeys).Put(payKeyID(k.Owner, k.Nonce), raw)
}

// CreateKey records a new key with balance 0. Keys are write-once, as on
// chain: a second key under the same owner and nonce is ErrInvalidTransition.
func (t *Tx) CreateKey(ev KeyCreated, now time.Time) (KeyEventOutcome, error) {
	return t.applyKeyEvent(ev.EventID, now, func() error {
		if err := checkKeyName(ev.Owner, ev.Nonce); err != nil {
			return err
		}
		if b, err := hex.DecodeString(ev.KeyHash); err != nil || len(b) != 32 || hex.EncodeToString(b) != ev.KeyHash {
			return badInput("payment key %s:%d: key hash %q is not 64 lowercase hex digits", ev.Owner, ev.Nonce, ev.KeyHash)
		}
		if len(ev.ProjectIDs) > 100 {
			return badInput("payment key %s:%d names %d projects; at most 100 are allowed", ev.Owner, ev.Nonce, len(ev.ProjectIDs))
		}
		for _, p := range ev.ProjectIDs {
			if err := validIndexPart("project id", p); err != nil {
				return fmt.Errorf("%w: %w", err, ErrBadInput)
			}
		}
		if _, err := t.PaymentKey(ev.Owner, ev.Nonce); err == nil {
			return fmt.Errorf("payment key %s:%d already exists (keys are write-once): %w", ev.Owner, ev.Nonce, ErrInvalidTransition)
		}
		now = canonicalTime(now)
		k := &PaymentKey{Owner: ev.Owner, Nonce: ev.Nonce, ChainID: ev.ChainID, KeyHash: ev.KeyHash, MaxPerCall: ev.MaxPerCall, CreatedAt: now}
		if len(ev.ProjectIDs) > 0 {
			k.ProjectIDs = slices.Clone(ev.ProjectIDs)
			slices.Sort(k.ProjectIDs)
			k.ProjectIDs = slices.Compact(k.ProjectIDs)
		}
		return t.putPaymentKey(k)
	})
}

// TopUpKey adds a top-up to a key's balance. An unknown or deleted key is
// ErrNotFound; a total past 2^64-1 is ErrBadInput.
func (t *Tx) TopUpKey(ev KeyToppedUp, now time.Time) (KeyEventOutcome, error) {
	return t.applyKeyEvent(ev.EventID, now, func() error {
		if (ev.Amount == 0) == (ev.Total == 0) {
			return badInput("top-up of payment key %s:%d needs exactly one of an amount and a total", ev.Owner, ev.Nonce)
		}
		k, err := t.PaymentKey(ev.Owner, ev.Nonce)
		if err != nil {
			return err
		}
		if k.Deleted() {
			return fmt.Errorf("top-up of payment key %s:%d: the key was deleted: %w", ev.Owner, ev.Nonce, ErrNotFound)
		}
		switch {
		case ev.Total != 0:
			k.InitialBalance = max(k.InitialBalance, ev.Total)
		case k.InitialBalance > math.MaxUint64-ev.Amount:
			return badInput("top-up of payment key %s:%d: balance %d + %d overflows", ev.Owner, ev.Nonce, k.InitialBalance, ev.Amount)
		default:
			k.InitialBalance += ev.Amount
		}
		return t.putPaymentKey(k)
	})
}

// DeleteKey marks a key deleted: it authorises nothing from now on. Calls
// already running still settle against it, so its books stay exact.
func (t *Tx) DeleteKey(ev KeyDeleted, now time.Time) (KeyEventOutcome, error) {
	return t.applyKeyEvent(ev.EventID, now, func() error {
		k, err := t.PaymentKey(ev.Owner, ev.Nonce)
		if err != nil {
			return err
		}
		if k.Deleted() {
			return nil
		}
		k.DeletedAt = canonicalTime(now)
		return t.putPaymentKey(k)
	})
}

// applyKeyEvent applies a key event once: it checks the time and the event
// id, answers KeyEventSeen for an event already applied, and otherwise
// runs apply and records the event id with its changes.
func (t *Tx) applyKeyEvent(eventID string, now time.Time, apply func() error) (KeyEventOutcome, error) {
	if err := checkNow(now); err != nil {
		return 0, err
	}
	if err := checkEventID(eventID); err != nil {
		return 0, err
	}
	if t.seenEvent(eventID) {
		return KeyEventSeen, nil
	}
	if err := apply(); err != nil {
		return 0, err
	}
	return KeyEventApplied, t.bucket(bucketPayEvent).Put([]byte(eventID), nil)
}

// PaymentKey is Tx.PaymentKey in its own read transaction.
func (s *Store) PaymentKey(owner string, nonce uint32) (k *PaymentKey, err error) {
	err = s.View(func(tx *Tx) error { k, err = tx.PaymentKey(owner, nonce); return err })
	return k, err
}

// FormatKeyName is "owner:nonce", the key's public name.
func FormatKeyName(owner string, nonce uint32) string {
	return owner + ":" + strconv.FormatUint(uint64(nonce), 10)
}

// PaymentKeys lists every key the store holds, deleted ones included, by
// owner and nonce.
func (t *Tx) PaymentKeys() ([]*PaymentKey, error) {
	var out []*PaymentKey
	err := t.bucket(bucketPayKeys).ForEach(func(_, v []byte) error {
		var k PaymentKey
		if err := json.Unmarshal(v, &k); err != nil {
			return fmt.Errorf("decode payment key: %w", err)
		}
		out = append(out, &k)
		return nil
	})
	return out, err
}

// PaymentKeys is Tx.PaymentKeys in its own read transaction.
func (s *Store) PaymentKeys() (ks []*PaymentKey, err error) {
	err = s.View(func(tx *Tx) error { ks, err = tx.PaymentKeys(); return err })
	return ks, err
}
