package devchain

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain/internal/u128"
)

// snapshot is the persisted state: accounts, keys, contract data and code,
// and the head block. Transactions, receipts in flight and pending yields are
// not persisted (see DESIGN.md).
type snapshot struct {
	Height    uint64                     `json:"height"`
	Hash      near.CryptoHash            `json:"hash"`
	Timestamp uint64                     `json:"timestamp"`
	Accounts  map[string]snapshotAccount `json:"accounts"`
	Code      map[string][]byte          `json:"code"` // by base58 hash
}

type snapshotAccount struct {
	Amount       string            `json:"amount"`
	Locked       string            `json:"locked"`
	CodeHash     near.CryptoHash   `json:"code_hash"`
	StorageUsage uint64            `json:"storage_usage"`
	Keys         map[string]string `json:"keys"` // public key -> base64 borsh AccessKey
	Data         map[string][]byte `json:"data"` // key (raw bytes as string) -> value
}

func (c *Chain) snapshotPath() string { return filepath.Join(c.cfg.Home, "devchain-state.json") }

// saveSnapshot writes the state atomically (temp file + rename).
func (c *Chain) saveSnapshot() error {
	h := c.head()
	s := snapshot{Height: h.Height, Hash: h.Hash, Timestamp: h.Timestamp, Accounts: map[string]snapshotAccount{}, Code: map[string][]byte{}}
	for id, a := range c.st.accounts {
		sa := snapshotAccount{Amount: a.Amount.String(), Locked: a.Locked.String(), CodeHash: a.CodeHash, StorageUsage: a.StorageUsage,
			Keys: map[string]string{}, Data: a.Data}
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
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("devchain: encode state: %w", err)
	}
	tmp := c.snapshotPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("devchain: save state: %w", err)
	}
	if err := os.Rename(tmp, c.snapshotPath()); err != nil {
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
	for hs, code := range s.Code {
		h, err := near.ParseCryptoHash(hs)
		if err != nil {
			return false, fmt.Errorf("devchain: state file: code hash %q: %w", hs, err)
		}
		c.st.code[h] = code
	}
	for id, sa := range s.Accounts {
		a := &account{CodeHash: sa.CodeHash, StorageUsage: sa.StorageUsage, Keys: map[near.PublicKey]near.AccessKey{}, Data: sa.Data}
		if a.Data == nil {
			a.Data = map[string][]byte{}
		}
		if a.Amount, err = u128.Parse(sa.Amount); err != nil {
			return false, fmt.Errorf("devchain: state file: account %s: %w", id, err)
		}
		if a.Locked, err = u128.Parse(sa.Locked); err != nil {
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
	g := &block{Height: s.Height, Hash: s.Hash, Timestamp: s.Timestamp}
	c.genesisHash = g.Hash
	c.addBlock(g)
	return true, nil
}
