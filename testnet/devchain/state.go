package devchain

import (
	"github.com/outlayer/outlayer/contracts/near"
)

// Storage accounting (nearcore RuntimeFeesConfig.storage_usage_config).
const (
	storageAccountBytes  = 100                        // storage_num_bytes_account
	storageExtraBytes    = 40                         // storage_num_extra_bytes_record
	zeroBalanceMaxBytes  = 770                        // NEP-448 zero-balance accounts
	storageAmountPerByte = 10_000_000_000_000_000_000 // 10^19 yocto
)

// account is one account's state.
type account struct {
	ID           string // the account id (for the change log)
	Amount       near.U128
	Locked       near.U128
	CodeHash     near.CryptoHash
	StorageUsage uint64
	Keys         map[near.PublicKey]near.AccessKey
	Data         map[string][]byte
}

// state is the whole chain state plus an undo journal, so a failed receipt
// (or a rejected transaction) rolls back exactly what it changed.
type state struct {
	accounts map[string]*account
	code     map[near.CryptoHash][]byte
	journal  []func()
	recorder changeRecorder // this block's changes (history.go)
}

func newState() *state {
	return &state{accounts: map[string]*account{}, code: map[near.CryptoHash][]byte{}}
}

func (s *state) mark() int { return len(s.journal) }

func (s *state) rollback(to int) {
	for i := len(s.journal) - 1; i >= to; i-- {
		s.journal[i]()
	}
	s.journal = s.journal[:to]
}

func (s *state) commit() { s.journal = s.journal[:0] }

func (s *state) createAccount(id string) *account {
	s.touchAccount(id)
	a := &account{ID: id, StorageUsage: storageAccountBytes, Keys: map[near.PublicKey]near.AccessKey{}, Data: map[string][]byte{}}
	s.accounts[id] = a
	s.journal = append(s.journal, func() { delete(s.accounts, id) })
	return a
}

func (s *state) deleteAccount(id string) {
	a := s.accounts[id]
	s.touchAccount(id)
	for pk := range a.Keys {
		s.touchKey(id, pk)
	}
	for k := range a.Data {
		s.touchData(id, k)
	}
	delete(s.accounts, id)
	s.journal = append(s.journal, func() { s.accounts[id] = a })
}

func (s *state) setAmount(a *account, v near.U128) {
	s.touchAccount(a.ID)
	old := a.Amount
	a.Amount = v
	s.journal = append(s.journal, func() { a.Amount = old })
}

func (s *state) setStorageUsage(a *account, v uint64) {
	s.touchAccount(a.ID)
	old := a.StorageUsage
	a.StorageUsage = v
	s.journal = append(s.journal, func() { a.StorageUsage = old })
}

func (s *state) setKey(a *account, pk near.PublicKey, k near.AccessKey) {
	s.touchKey(a.ID, pk)
	old, had := a.Keys[pk]
	a.Keys[pk] = k
	s.journal = append(s.journal, func() {
		if had {
			a.Keys[pk] = old
		} else {
			delete(a.Keys, pk)
		}
	})
}

func (s *state) deleteKey(a *account, pk near.PublicKey) {
	s.touchKey(a.ID, pk)
	old := a.Keys[pk]
	delete(a.Keys, pk)
	s.journal = append(s.journal, func() { a.Keys[pk] = old })
}

func (s *state) setCode(a *account, code []byte) {
	s.touchAccount(a.ID)
	h := near.HashBytes(code)
	oldHash, oldLen := a.CodeHash, uint64(len(s.code[a.CodeHash]))
	if _, ok := s.code[h]; !ok {
		s.code[h] = code
		s.journal = append(s.journal, func() { delete(s.code, h) })
	}
	a.CodeHash = h
	s.setStorageUsage(a, a.StorageUsage-oldLen+uint64(len(code)))
	s.journal = append(s.journal, func() { a.CodeHash = oldHash })
}

func (s *state) codeOf(a *account) []byte {
	if a.CodeHash.IsZero() {
		return nil
	}
	return s.code[a.CodeHash]
}

// accessKeyStorage is len(borsh public key) + len(borsh access key) + 40.
func accessKeyStorage(pk near.PublicKey, k near.AccessKey) uint64 {
	w := near.NewWriter(64)
	pk.Encode(w)
	k.Encode(w)
	return uint64(len(w.Bytes())) + storageExtraBytes
}

// requiredForStorage is the balance an account must hold for its storage.
func requiredForStorage(usage uint64) near.U128 {
	if usage <= zeroBalanceMaxBytes {
		return near.U128{}
	}
	v, _ := near.NewU128(usage).Mul64(storageAmountPerByte)
	return v
}

// accountStorage is the vm.Host of one call: the account's data, journaled.
type accountStorage struct {
	s       *state
	a       *account
	account string
	chain   *Chain
	parent  near.CryptoHash
	nextID  uint64
	view    bool
}

func (h *accountStorage) StorageRead(k []byte) ([]byte, bool) {
	v, ok := h.a.Data[string(k)]
	return v, ok
}

func (h *accountStorage) StorageWrite(k, v []byte) {
	key := string(k)
	h.s.touchData(h.account, key)
	old, had := h.a.Data[key]
	h.a.Data[key] = append([]byte(nil), v...)
	h.s.journal = append(h.s.journal, func() {
		if had {
			h.a.Data[key] = old
		} else {
			delete(h.a.Data, key)
		}
	})
}

func (h *accountStorage) StorageRemove(k []byte) {
	key := string(k)
	old, had := h.a.Data[key]
	if !had {
		return
	}
	h.s.touchData(h.account, key)
	delete(h.a.Data, key)
	h.s.journal = append(h.s.journal, func() { h.a.Data[key] = old })
}

func (h *accountStorage) YieldPending(id [32]byte) bool {
	return h.chain.yields[near.CryptoHash(id)] == h.account
}

func (h *accountStorage) NewDataID() [32]byte {
	h.nextID++
	return deriveID(h.parent, "data", h.nextID)
}
