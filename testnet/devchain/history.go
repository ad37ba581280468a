package devchain

import (
	"bytes"

	"github.com/outlayer/outlayer/contracts/near"
)

// State history. Every block records, for each piece of state it changed
// (an account's balance/code/storage fields, an access key, a contract data
// entry), its value before and after, and what caused the change (a
// transaction or a receipt). Queries at a past block B undo the changes of
// the blocks after B on a copy of the account; EXPERIMENTAL_changes lists a
// block's records. The records live with their block, so they are dropped
// with it (Config.KeepBlocks).

type changeKind uint8

const (
	changeAccount changeKind = iota
	changeAccessKey
	changeData
)

// changeKey names one piece of state: an account, one of its access keys
// (key = public key text) or one of its data entries (key = raw bytes).
type changeKey struct {
	kind    changeKind
	account string
	key     string
}

// accountFields are the account's own fields (what view_account shows).
type accountFields struct {
	Amount       near.U128
	Locked       near.U128
	CodeHash     near.CryptoHash
	StorageUsage uint64
}

// stateValue is one piece of state at one moment; exists is false for an
// absent account, key or entry.
type stateValue struct {
	exists  bool
	account accountFields
	key     near.AccessKey
	data    []byte
}

func (v stateValue) equal(o stateValue) bool {
	if v.exists != o.exists {
		return false
	}
	return !v.exists || (v.account == o.account && v.key.Nonce == o.key.Nonce &&
		accessKeyJSON(v.key) == accessKeyJSON(o.key) && bytes.Equal(v.data, o.data))
}

func accessKeyJSON(k near.AccessKey) string {
	w := near.NewWriter(64)
	k.Encode(w)
	return string(w.Bytes())
}

// changeCause is what made a change: a transaction (converting it charges
// the signer) or a receipt.
type changeCause struct {
	txHash    *near.CryptoHash
	receiptID *near.CryptoHash
}

// stateChange is one record of a block's change log.
type stateChange struct {
	key           changeKey
	cause         changeCause
	before, after stateValue
}

// changeRecorder collects the current block's changes.
type changeRecorder struct {
	cause   changeCause
	changes []stateChange
	last    map[changeKey]int // index of the key's latest record in changes
}

// valueOf reads a piece of the live state.
func (s *state) valueOf(k changeKey) stateValue {
	a := s.accounts[k.account]
	if a == nil {
		return stateValue{}
	}
	switch k.kind {
	case changeAccount:
		return stateValue{exists: true, account: accountFields{a.Amount, a.Locked, a.CodeHash, a.StorageUsage}}
	case changeAccessKey:
		pk, err := near.ParsePublicKey(k.key)
		if err != nil {
			return stateValue{}
		}
		ak, ok := a.Keys[pk]
		return stateValue{exists: ok, key: ak}
	default:
		d, ok := a.Data[k.key]
		return stateValue{exists: ok, data: d}
	}
}

// touch records the value of k before the change about to be made, once per
// key and cause within a block.
func (s *state) touch(k changeKey) {
	r := &s.recorder
	if r.last == nil {
		r.last = map[changeKey]int{}
	}
	if i, ok := r.last[k]; ok && r.changes[i].cause == r.cause {
		return
	}
	r.last[k] = len(r.changes)
	r.changes = append(r.changes, stateChange{key: k, cause: r.cause, before: s.valueOf(k)})
}

func (s *state) touchAccount(id string) { s.touch(changeKey{kind: changeAccount, account: id}) }

func (s *state) touchKey(id string, pk near.PublicKey) {
	s.touch(changeKey{kind: changeAccessKey, account: id, key: pk.String()})
}

func (s *state) touchData(id, key string) {
	s.touch(changeKey{kind: changeData, account: id, key: key})
}

// setCause names what the following changes are caused by.
func (s *state) setCause(c changeCause) { s.recorder.cause = c }

// takeChanges ends the block: each record gets its value after (the value
// before the key's next record, or the live value), records that changed
// nothing (a rolled-back receipt) are dropped, and the recorder is reset.
func (s *state) takeChanges() []stateChange {
	r := &s.recorder
	if len(r.changes) == 0 {
		r.cause = changeCause{}
		return nil
	}
	next := map[changeKey]stateValue{}
	for i := len(r.changes) - 1; i >= 0; i-- {
		c := &r.changes[i]
		if v, ok := next[c.key]; ok {
			c.after = v
		} else {
			c.after = s.valueOf(c.key)
		}
		next[c.key] = c.before
	}
	out := make([]stateChange, 0, len(r.changes))
	for _, c := range r.changes {
		if !c.before.equal(c.after) {
			out = append(out, c)
		}
	}
	*r = changeRecorder{}
	return out
}

// accountAt is account id as it was at the end of block b: the live account
// for the head, otherwise a copy with the later blocks' changes undone. It
// is nil if the account did not exist then.
func (c *Chain) accountAt(id string, b *block) *account {
	live := c.st.accounts[id]
	if b == c.head() {
		return live
	}
	// The oldest record after b of each piece of this account's state holds
	// its value at b.
	old := map[changeKey]stateValue{}
	for h := c.head().Height; h > b.Height; h-- {
		blk := c.blockAt(h)
		for i := len(blk.Changes) - 1; i >= 0; i-- {
			if ch := &blk.Changes[i]; ch.key.account == id {
				old[ch.key] = ch.before
			}
		}
	}
	if len(old) == 0 {
		return live
	}
	acc, ok := old[changeKey{kind: changeAccount, account: id}]
	if !ok && live == nil {
		return nil
	}
	a := &account{Keys: map[near.PublicKey]near.AccessKey{}, Data: map[string][]byte{}}
	if live != nil {
		a.Amount, a.Locked, a.CodeHash, a.StorageUsage = live.Amount, live.Locked, live.CodeHash, live.StorageUsage
		for k, v := range live.Keys {
			a.Keys[k] = v
		}
		for k, v := range live.Data {
			a.Data[k] = v
		}
	}
	if ok {
		if !acc.exists {
			return nil
		}
		a.Amount, a.Locked, a.CodeHash, a.StorageUsage = acc.account.Amount, acc.account.Locked, acc.account.CodeHash, acc.account.StorageUsage
	}
	for k, v := range old {
		switch k.kind {
		case changeAccessKey:
			pk, err := near.ParsePublicKey(k.key)
			if err != nil {
				continue
			}
			if v.exists {
				a.Keys[pk] = v.key
			} else {
				delete(a.Keys, pk)
			}
		case changeData:
			if v.exists {
				a.Data[k.key] = v.data
			} else {
				delete(a.Data, k.key)
			}
		}
	}
	return a
}
