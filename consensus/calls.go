package consensus

import (
	"time"

	"github.com/outlayer/outlayer/store"
)

// The commands of payment keys and HTTPS calls (store/paykeys.go,
// store/calls.go). Each is idempotent: key events on their event id, call
// commands on the call id, so a proposal retried after an indeterminate
// outcome (a leader that died mid-call) applies once.

// KeyCreate records a payment key created on chain.
type KeyCreate struct {
	Event store.KeyCreated `json:"event"`
}

func (c *KeyCreate) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	r.KeyEvent, err = tx.CreateKey(c.Event, now)
	return r, err
}

// KeyTopUp adds a top-up the chain accepted to a key's balance.
type KeyTopUp struct {
	Event store.KeyToppedUp `json:"event"`
}

func (c *KeyTopUp) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	r.KeyEvent, err = tx.TopUpKey(c.Event, now)
	return r, err
}

// KeyDelete marks a payment key deleted on chain.
type KeyDelete struct {
	Event store.KeyDeleted `json:"event"`
}

func (c *KeyDelete) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	r.KeyEvent, err = tx.DeleteKey(c.Event, now)
	return r, err
}

// CallStart checks a payment key, reserves the call's budget and enqueues
// its request, all in one entry.
type CallStart struct {
	Spec    store.CallSpec `json:"spec"`
	Request store.Request  `json:"request"`
}

func (c *CallStart) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	out, err := tx.StartCall(c.Spec, c.Request, now)
	if err != nil {
		return r, err
	}
	r.CallStarted = &out
	return r, nil
}

// CallSettle charges a finished call and releases its reservation.
type CallSettle struct {
	ID string `json:"id"`
}

func (c *CallSettle) apply(tx *store.Tx, now time.Time) (r Result, err error) {
	r.Call, err = tx.SettleCall(c.ID, now)
	return r, err
}
