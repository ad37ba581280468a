package devchain

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/renameio/v2"

	"github.com/outlayer/outlayer/contracts/near"
)

// snapshot is the persisted chain: accounts, keys, contract data and code;
// the in-memory window of blocks with their transactions, receipts and
// outcomes; the block hashes transactions may still name; and everything in
// flight (pending transactions, receipts due next block, postponed receipts
// and their data, pending yields and their timeouts). A restarted chain
// therefore continues at the next height with the same hashes, answers for
// the blocks and transactions it answered for before, and still resumes or
// times out the yields that were waiting. Files written before the history
// was persisted (no Blocks) still load: the chain continues from their head.
type snapshot struct {
	// Format is snapshotFormat; files without it are format 0, whose
	// contract storage keys were JSON object keys (see loadAccountData).
	Format    int                        `json:"format"`
	Height    uint64                     `json:"height"`
	Hash      near.CryptoHash            `json:"hash"`
	Timestamp uint64                     `json:"timestamp"`
	Accounts  map[string]snapshotAccount `json:"accounts"`
	Code      map[string][]byte          `json:"code"` // by base58 hash

	GenesisHash  near.CryptoHash   `json:"genesis_hash"`
	GenesisTime  uint64            `json:"genesis_time,omitempty"` // ns; absent in older files
	Blocks       []snapshotBlock   `json:"blocks,omitempty"`       // oldest first, ending at the head
	RecentHashes []near.CryptoHash `json:"recent_hashes,omitempty"`
	HashesBase   uint64            `json:"hashes_base,omitempty"`
	// Txs holds every transaction a block, a receipt or the chain refers to.
	Txs             []snapshotTx                                         `json:"txs,omitempty"`
	Included        []near.CryptoHash                                    `json:"included,omitempty"` // retained, in inclusion order
	Pending         []near.CryptoHash                                    `json:"pending_txs,omitempty"`
	Receipts        []snapshotReceipt                                    `json:"receipts,omitempty"`
	Outcomes        map[near.CryptoHash]*near.ExecutionOutcomeWithIDView `json:"outcomes,omitempty"`
	Incoming        []near.CryptoHash                                    `json:"incoming,omitempty"`
	Postponed       []near.CryptoHash                                    `json:"postponed,omitempty"`
	WaitingData     map[near.CryptoHash]near.CryptoHash                  `json:"waiting_data,omitempty"`
	Received        map[near.CryptoHash]snapshotData                     `json:"received,omitempty"`
	Yields          map[near.CryptoHash]string                           `json:"yields,omitempty"`
	ResumeInitiated []near.CryptoHash                                    `json:"resume_initiated,omitempty"`
	Timeouts        []snapshotTimeout                                    `json:"timeouts,omitempty"`
}

type snapshotBlock struct {
	Height    uint64            `json:"height"`
	Hash      near.CryptoHash   `json:"hash"`
	PrevHash  near.CryptoHash   `json:"prev_hash"`
	Timestamp uint64            `json:"timestamp"`
	GasBurnt  uint64            `json:"gas_burnt"`
	Txs       []near.CryptoHash `json:"txs,omitempty"`
	Receipts  []near.CryptoHash `json:"receipts,omitempty"`
	Changes   []snapshotChange  `json:"changes,omitempty"` // format 2
}

// snapshotChange is a stateChange; Key is the access key's text or the
// data entry's raw bytes (base64 in JSON).
type snapshotChange struct {
	Kind      changeKind       `json:"kind"`
	Account   string           `json:"account"`
	Key       []byte           `json:"key,omitempty"`
	TxHash    *near.CryptoHash `json:"tx_hash,omitempty"`
	ReceiptID *near.CryptoHash `json:"receipt_id,omitempty"`
	Before    snapshotValue    `json:"before"`
	After     snapshotValue    `json:"after"`
}

type snapshotValue struct {
	Exists       bool            `json:"exists"`
	Amount       string          `json:"amount,omitempty"`
	Locked       string          `json:"locked,omitempty"`
	CodeHash     near.CryptoHash `json:"code_hash"`
	StorageUsage uint64          `json:"storage_usage,omitempty"`
	AccessKey    []byte          `json:"access_key,omitempty"` // borsh
	Data         []byte          `json:"data,omitempty"`
}

func toSnapshotValue(v stateValue) snapshotValue {
	sv := snapshotValue{Exists: v.exists, CodeHash: v.account.CodeHash, StorageUsage: v.account.StorageUsage, Data: v.data}
	if v.exists {
		sv.Amount, sv.Locked = v.account.Amount.String(), v.account.Locked.String()
		w := near.NewWriter(32)
		v.key.Encode(w)
		sv.AccessKey = w.Bytes()
	}
	return sv
}

func fromSnapshotValue(kind changeKind, sv snapshotValue) (stateValue, error) {
	v := stateValue{exists: sv.Exists, data: sv.Data}
	if !sv.Exists {
		return v, nil
	}
	var err error
	switch kind {
	case changeAccount:
		v.account.CodeHash, v.account.StorageUsage = sv.CodeHash, sv.StorageUsage
		if v.account.Amount, err = near.ParseU128(sv.Amount); err != nil {
			return v, err
		}
		if v.account.Locked, err = near.ParseU128(sv.Locked); err != nil {
			return v, err
		}
	case changeAccessKey:
		r := near.NewReader(sv.AccessKey)
		v.key = near.DecodeAccessKey(r)
		if err := r.Finish(); err != nil {
			return v, err
		}
	case changeData:
		if v.data == nil {
			v.data = []byte{}
		}
	default:
		return v, fmt.Errorf("unknown state change kind %d", kind)
	}
	return v, nil
}

type snapshotTx struct {
	Signed         []byte                           `json:"signed"` // borsh SignedTransaction
	Known          bool                             `json:"known"`  // answered by tx / EXPERIMENTAL_tx_status
	Included       bool                             `json:"included"`
	Outcome        *near.ExecutionOutcomeWithIDView `json:"outcome,omitempty"`
	ReceiptIDs     []near.CryptoHash                `json:"receipt_ids,omitempty"`
	AllReceipts    []near.CryptoHash                `json:"all_receipts,omitempty"`
	PendingCount   int                              `json:"pending"`
	PendingRefunds int                              `json:"pending_refunds"`
}

type snapshotReceipt struct {
	Receipt   *receipt         `json:"receipt"`
	TxHash    *near.CryptoHash `json:"tx_hash,omitempty"`
	RefundGas uint64           `json:"refund_gas,omitempty"`
}

type snapshotData struct {
	Data []byte `json:"data"` // null = None (a failed or timed-out result)
}

type snapshotTimeout struct {
	DataID    near.CryptoHash `json:"data_id"`
	ExpiresAt uint64          `json:"expires_at"`
}

type snapshotAccount struct {
	Amount       string            `json:"amount"`
	Locked       string            `json:"locked"`
	CodeHash     near.CryptoHash   `json:"code_hash"`
	StorageUsage uint64            `json:"storage_usage"`
	Keys         map[string]string `json:"keys"` // public key -> base64 borsh AccessKey
	// Storage is the contract data, sorted by key; keys and values are
	// base64 in JSON, so any bytes round-trip.
	Storage []snapshotEntry `json:"storage,omitempty"`
	// LegacyData is format 0's storage: keys as JSON object keys, which
	// cannot hold bytes that are not UTF-8. Read only, for migration.
	LegacyData map[string][]byte `json:"data,omitempty"`
}

type snapshotEntry struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

// snapshotFormat is the version saveSnapshot writes. Format 0 (no "format"
// field) stored contract storage keys as JSON object keys, so a key that was
// not valid UTF-8 was saved with U+FFFD in place of its bytes. Format 1 has
// no per-block state changes (queries at its blocks answer
// GARBAGE_COLLECTED_BLOCK after loading); format 2 has them.
const snapshotFormat = 2

func (c *Chain) snapshotPath() string { return filepath.Join(c.cfg.Home, "devchain-state.json") }

// saveSnapshot writes the state atomically (temp file + rename).
func (c *Chain) saveSnapshot() error {
	h := c.head()
	s := snapshot{Format: snapshotFormat, Height: h.Height, Hash: h.Hash, Timestamp: h.Timestamp, Accounts: map[string]snapshotAccount{}, Code: map[string][]byte{}}
	for id, a := range c.st.accounts {
		sa := snapshotAccount{Amount: a.Amount.String(), Locked: a.Locked.String(), CodeHash: a.CodeHash, StorageUsage: a.StorageUsage,
			Keys: map[string]string{}, Storage: storageEntries(a.Data)}
		for pk, k := range a.Keys {
			w := near.NewWriter(32)
			k.Encode(w)
			sa.Keys[pk.String()] = b64(w.Bytes())
		}
		s.Accounts[id] = sa
	}
	for h, code := range c.st.code {
		s.Code[h.String()] = code
	}
	c.snapshotHistory(&s)
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("devchain: encode state: %w", err)
	}
	if err := renameio.WriteFile(c.snapshotPath(), b, 0o600); err != nil {
		return fmt.Errorf("devchain: save state: %w", err)
	}
	return nil
}

// loadSnapshot restores a saved state; it reports false if there is none.
func (c *Chain) loadSnapshot() (bool, error) {
	b, err := os.ReadFile(c.snapshotPath())
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("devchain: read state: %w", err)
	}
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return false, fmt.Errorf("devchain: state file %s is corrupt: %w", c.snapshotPath(), err)
	}
	if s.Format > snapshotFormat {
		return false, fmt.Errorf("devchain: state file %s has format %d; this devchain reads formats up to %d (it was written by a newer version)",
			c.snapshotPath(), s.Format, snapshotFormat)
	}
	for hs, code := range s.Code {
		h, err := near.ParseCryptoHash(hs)
		if err != nil {
			return false, fmt.Errorf("devchain: state file: code hash %q: %w", hs, err)
		}
		c.st.code[h] = code
	}
	for id, sa := range s.Accounts {
		data, err := loadAccountData(s.Format, sa)
		if err != nil {
			return false, fmt.Errorf("devchain: state file %s: account %s: %w", c.snapshotPath(), id, err)
		}
		a := &account{ID: id, CodeHash: sa.CodeHash, StorageUsage: sa.StorageUsage, Keys: map[near.PublicKey]near.AccessKey{}, Data: data}
		if a.Amount, err = near.ParseU128(sa.Amount); err != nil {
			return false, fmt.Errorf("devchain: state file: account %s: %w", id, err)
		}
		if a.Locked, err = near.ParseU128(sa.Locked); err != nil {
			return false, fmt.Errorf("devchain: state file: account %s: %w", id, err)
		}
		for pks, kb := range sa.Keys {
			pk, err := near.ParsePublicKey(pks)
			if err != nil {
				return false, fmt.Errorf("devchain: state file: account %s: %w", id, err)
			}
			raw, err := base64.StdEncoding.DecodeString(kb)
			if err != nil {
				return false, fmt.Errorf("devchain: state file: account %s key %s: %w", id, pks, err)
			}
			r := near.NewReader(raw)
			k := near.DecodeAccessKey(r)
			if err := r.Finish(); err != nil {
				return false, fmt.Errorf("devchain: state file: account %s key %s: %w", id, pks, err)
			}
			a.Keys[pk] = k
		}
		c.st.accounts[id] = a
	}
	if len(s.Blocks) == 0 { // a file from before history was persisted
		g := &block{Height: s.Height, Hash: s.Hash, Timestamp: s.Timestamp}
		c.genesisHash, c.genesisTime = g.Hash, g.Timestamp
		c.addBlock(g)
		return true, nil
	}
	if err := c.restoreHistory(&s); err != nil {
		return false, fmt.Errorf("devchain: state file %s: %w", c.snapshotPath(), err)
	}
	if s.Format < 2 { // no state changes saved: the loaded blocks have no history
		c.historyFrom = c.head().Height
	}
	return true, nil
}

// snapshotHistory adds blocks, transactions, receipts and in-flight work.
func (c *Chain) snapshotHistory(s *snapshot) {
	s.GenesisHash, s.GenesisTime, s.RecentHashes, s.HashesBase = c.genesisHash, c.genesisTime, c.recentHashes, c.hashesBase
	txs := map[near.CryptoHash]*txRecord{}
	receipts := map[near.CryptoHash]*receipt{}
	addReceipt := func(r *receipt) {
		receipts[r.ID] = r
		if r.Tx != nil {
			txs[r.Tx.hash] = r.Tx
		}
	}
	for _, b := range c.blocks {
		sb := snapshotBlock{Height: b.Height, Hash: b.Hash, PrevHash: b.PrevHash, Timestamp: b.Timestamp, GasBurnt: b.GasBurnt}
		for _, ch := range b.Changes {
			sb.Changes = append(sb.Changes, snapshotChange{Kind: ch.key.kind, Account: ch.key.account, Key: []byte(ch.key.key),
				TxHash: ch.cause.txHash, ReceiptID: ch.cause.receiptID, Before: toSnapshotValue(ch.before), After: toSnapshotValue(ch.after)})
		}
		for _, tx := range b.Txs {
			sb.Txs = append(sb.Txs, tx.hash)
			txs[tx.hash] = tx
		}
		for _, r := range b.Receipts {
			sb.Receipts = append(sb.Receipts, r.ID)
			addReceipt(r)
		}
		s.Blocks = append(s.Blocks, sb)
	}
	for _, tx := range c.included {
		s.Included = append(s.Included, tx.hash)
		txs[tx.hash] = tx
	}
	for _, tx := range c.pendingTxs {
		s.Pending = append(s.Pending, tx.hash)
		txs[tx.hash] = tx
	}
	for _, r := range c.receipts {
		addReceipt(r)
	}
	for _, r := range c.incoming {
		s.Incoming = append(s.Incoming, r.ID)
		addReceipt(r)
	}
	for id, r := range c.postponed {
		s.Postponed = append(s.Postponed, id)
		addReceipt(r)
	}
	for _, r := range receipts {
		sr := snapshotReceipt{Receipt: r, RefundGas: r.refundGas}
		if r.Tx != nil {
			h := r.Tx.hash
			sr.TxHash = &h
		}
		s.Receipts = append(s.Receipts, sr)
	}
	for _, tx := range txs {
		_, known := c.txs[tx.hash]
		s.Txs = append(s.Txs, snapshotTx{Signed: tx.signed.Bytes(), Known: known, Included: tx.included, Outcome: tx.outcome,
			ReceiptIDs: tx.receiptIDs, AllReceipts: tx.allReceipts, PendingCount: tx.pending, PendingRefunds: tx.pendingRefunds})
	}
	s.Outcomes = c.outcomes
	s.WaitingData, s.Yields = c.waitingData, c.yields
	s.Received = map[near.CryptoHash]snapshotData{}
	for id, d := range c.received {
		s.Received[id] = snapshotData{Data: d.data}
	}
	for id := range c.resumeInitiated {
		s.ResumeInitiated = append(s.ResumeInitiated, id)
	}
	for _, t := range c.timeouts {
		s.Timeouts = append(s.Timeouts, snapshotTimeout{DataID: t.dataID, ExpiresAt: t.expiresAt})
	}
}

// restoreHistory rebuilds what snapshotHistory saved.
func (c *Chain) restoreHistory(s *snapshot) error {
	txs := map[near.CryptoHash]*txRecord{}
	for _, st := range s.Txs {
		signed, err := near.DecodeSignedTransaction(st.Signed)
		if err != nil {
			return fmt.Errorf("transaction: %w", err)
		}
		tx := &txRecord{signed: signed, hash: signed.Hash(), included: st.Included, outcome: st.Outcome,
			receiptIDs: st.ReceiptIDs, allReceipts: st.AllReceipts, pending: st.PendingCount, pendingRefunds: st.PendingRefunds}
		txs[tx.hash] = tx
		if st.Known {
			c.txs[tx.hash] = tx
		}
	}
	lookupTx := func(h near.CryptoHash) (*txRecord, error) {
		if tx := txs[h]; tx != nil {
			return tx, nil
		}
		return nil, fmt.Errorf("transaction %s is referred to but missing", h)
	}
	receipts := map[near.CryptoHash]*receipt{}
	for _, sr := range s.Receipts {
		if sr.Receipt == nil {
			return errors.New("an empty receipt")
		}
		r := sr.Receipt
		r.refundGas = sr.RefundGas
		if sr.TxHash != nil {
			tx, err := lookupTx(*sr.TxHash)
			if err != nil {
				return err
			}
			r.Tx = tx
		}
		receipts[r.ID] = r
	}
	lookupReceipt := func(id near.CryptoHash) (*receipt, error) {
		if r := receipts[id]; r != nil {
			return r, nil
		}
		return nil, fmt.Errorf("receipt %s is referred to but missing", id)
	}
	// c.receipts holds the receipts of retained transactions, as while running.
	for _, tx := range c.txs {
		for _, id := range tx.allReceipts {
			if r := receipts[id]; r != nil {
				c.receipts[id] = r
			}
		}
	}
	for i, sb := range s.Blocks {
		if i > 0 && sb.Height != s.Blocks[i-1].Height+1 {
			return fmt.Errorf("block %d does not follow block %d", sb.Height, s.Blocks[i-1].Height)
		}
		b := &block{Height: sb.Height, Hash: sb.Hash, PrevHash: sb.PrevHash, Timestamp: sb.Timestamp, GasBurnt: sb.GasBurnt}
		for _, sc := range sb.Changes {
			ch := stateChange{key: changeKey{kind: sc.Kind, account: sc.Account, key: string(sc.Key)},
				cause: changeCause{txHash: sc.TxHash, receiptID: sc.ReceiptID}}
			var err error
			if ch.before, err = fromSnapshotValue(sc.Kind, sc.Before); err != nil {
				return fmt.Errorf("block %d: state change of %s: %w", sb.Height, sc.Account, err)
			}
			if ch.after, err = fromSnapshotValue(sc.Kind, sc.After); err != nil {
				return fmt.Errorf("block %d: state change of %s: %w", sb.Height, sc.Account, err)
			}
			b.Changes = append(b.Changes, ch)
		}
		for _, h := range sb.Txs {
			tx, err := lookupTx(h)
			if err != nil {
				return err
			}
			b.Txs = append(b.Txs, tx)
		}
		for _, id := range sb.Receipts {
			r, err := lookupReceipt(id)
			if err != nil {
				return err
			}
			b.Receipts = append(b.Receipts, r)
		}
		c.addBlock(b)
	}
	c.genesisHash, c.genesisTime, c.recentHashes, c.hashesBase = s.GenesisHash, s.GenesisTime, s.RecentHashes, s.HashesBase
	if c.genesisTime == 0 {
		c.genesisTime = c.earliest().Timestamp
	}
	if len(c.recentHashes) == 0 || c.recentHashes[len(c.recentHashes)-1] != c.head().Hash {
		return errors.New("the recent block hashes do not end at the head block")
	}
	for _, h := range s.Included {
		tx, err := lookupTx(h)
		if err != nil {
			return err
		}
		c.included = append(c.included, tx)
	}
	for _, h := range s.Pending {
		tx, err := lookupTx(h)
		if err != nil {
			return err
		}
		c.pendingTxs = append(c.pendingTxs, tx)
	}
	for _, id := range s.Incoming {
		r, err := lookupReceipt(id)
		if err != nil {
			return err
		}
		c.incoming = append(c.incoming, r)
	}
	for _, id := range s.Postponed {
		r, err := lookupReceipt(id)
		if err != nil {
			return err
		}
		c.postponed[id] = r
	}
	for id, o := range s.Outcomes {
		c.outcomes[id] = o
	}
	for id, r := range s.WaitingData {
		c.waitingData[id] = r
	}
	for id, d := range s.Received {
		c.received[id] = &dataValue{data: d.Data}
	}
	for id, acc := range s.Yields {
		c.yields[id] = acc
	}
	for _, id := range s.ResumeInitiated {
		c.resumeInitiated[id] = true
	}
	for _, t := range s.Timeouts {
		c.timeouts = append(c.timeouts, yieldTimeout{dataID: t.DataID, expiresAt: t.ExpiresAt})
	}
	return nil
}

// storageEntries lists an account's contract data sorted by key, so the file
// is the same for the same state.
func storageEntries(data map[string][]byte) []snapshotEntry {
	out := make([]snapshotEntry, 0, len(data))
	for k, v := range data {
		out = append(out, snapshotEntry{Key: []byte(k), Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Key, out[j].Key) < 0 })
	return out
}

// loadAccountData reads an account's contract data. A format-0 file is
// migrated when none of its keys can have lost bytes, and refused otherwise.
func loadAccountData(format int, sa snapshotAccount) (map[string][]byte, error) {
	data := make(map[string][]byte, len(sa.Storage)+len(sa.LegacyData))
	if format == 0 {
		for k, v := range sa.LegacyData {
			if strings.ContainsRune(k, utf8.RuneError) {
				return nil, errors.New("it was written by an older devchain that saved contract storage keys as JSON text, " +
					"and a key contains U+FFFD, the mark of bytes that were not UTF-8 and were lost; loading it would silently " +
					"drop or merge those entries. Move the file away to start a fresh chain")
			}
			data[k] = v
		}
		return data, nil
	}
	if len(sa.LegacyData) > 0 {
		return nil, fmt.Errorf("format %d must not have the format-0 \"data\" map", format)
	}
	for _, e := range sa.Storage {
		k := string(e.Key)
		if _, dup := data[k]; dup {
			return nil, fmt.Errorf("storage key %x appears twice", e.Key)
		}
		v := e.Value
		if v == nil {
			v = []byte{}
		}
		data[k] = v
	}
	return data, nil
}
