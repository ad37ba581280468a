package contracts

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/outlayer/outlayer/contracts/near"
)

// Agreement methods of the OutLayer contract: executor keys that may sign
// result claims, and how many signatures a request needs.
// contracts/DESIGN.md, "Executor signatures", says what each k trusts.
const (
	MethodAddExecutorKey    = "add_executor_key"    // owner or registrar: AddExecutorKeyArgs
	MethodRemoveExecutorKey = "remove_executor_key" // owner or registrar: ExecutorKeyArgs
	MethodSetAgreement      = "set_agreement"       // owner: AgreementArgs
	MethodGetAgreement      = "get_agreement"       // view: Agreement
	MethodListExecutorKeys  = "list_executor_keys"  // view: []ExecutorKey
	// MethodVouchExecutorKey: the operator account, with registered
	// executors' vouchers: VouchExecutorKeyArgs.
	MethodVouchExecutorKey = "vouch_executor_key"
)

// MaxSignatures is the most signatures a resolve may carry, and the
// largest max_signatures.
const MaxSignatures = 16

// AgreementArgs are set_agreement's arguments (every field optional); new
// takes the same fields beside owner_id (NewArgs). DefaultSignatures is the
// k of a request that does not choose one: 1 unless set, and never 0 (the
// contract refuses it: the operator account alone would decide results).
// RegistrarID may add and remove executor keys besides the owner; "" clears it.
// VouchSignatures raises the vouchers a vouched key change needs above
// max(DefaultSignatures, 1) (0: no more than that).
type AgreementArgs struct {
	ChainID           string  `json:"chain_id,omitempty"`
	DefaultSignatures *uint64 `json:"default_signatures,omitempty"`
	MaxSignatures     *uint64 `json:"max_signatures,omitempty"`
	RegistrarID       *string `json:"registrar_id,omitempty"`
	VouchSignatures   *uint64 `json:"vouch_signatures,omitempty"`
}

// Agreement is get_agreement's result. VouchersNeeded is how many distinct
// registered executor keys a vouched key change needs now
// (max(VouchSignatures, DefaultSignatures, 1)); ExecutorKeyNonce counts
// the key changes so far, and a vouch is good only for the current one.
type Agreement struct {
	ChainID           string  `json:"chain_id"`
	DefaultSignatures uint64  `json:"default_signatures"`
	MaxSignatures     uint64  `json:"max_signatures"`
	RegistrarID       *string `json:"registrar_id"`
	VouchSignatures   uint64  `json:"vouch_signatures"`
	VouchersNeeded    uint64  `json:"vouchers_needed"`
	ExecutorKeyNonce  uint64  `json:"executor_key_nonce"`
}

// AddExecutorKeyArgs registers an executor's node key (its ed25519 libp2p
// key, which signs result claims). NodeID defaults to the key's text.
type AddExecutorKeyArgs struct {
	PublicKey near.PublicKey `json:"public_key"`
	NodeID    string         `json:"node_id,omitempty"`
}

// ExecutorKeyArgs names an executor key.
type ExecutorKeyArgs struct {
	PublicKey near.PublicKey `json:"public_key"`
}

// ExecutorKey is one entry of list_executor_keys.
type ExecutorKey struct {
	PublicKey string `json:"public_key"`
	NodeID    string `json:"node_id"`
	AddedBy   string `json:"added_by"`
	AddedAt   uint64 `json:"added_at"` // block timestamp, ns
}

// ResultSigned is the data of the result_signed event a resolve logs when
// it checked signatures: the claim's hash (hex) and the keys that signed.
type ResultSigned struct {
	RequestID uint64   `json:"request_id"`
	ClaimHash string   `json:"claim_hash"`
	Signers   []string `json:"signers"`
}

// EventResultSigned is the result_signed event's name.
const EventResultSigned = "result_signed"

// VouchAction is what a vouched key change does.
type VouchAction string

// The vouched key changes.
const (
	VouchAdd    VouchAction = "add"
	VouchRemove VouchAction = "remove"
)

// VouchDomain starts every vouch message (version 1).
const VouchDomain = "outlayer-executor-key-v1"

// VouchMessage is what the vouchers of a key change sign: the change
// (action, key, and for an add the node id recorded with it) bound to one
// deployment (chain id, contract) and one moment (the contract's executor
// key nonce, which every key change moves), so a vouch counts once, here.
// contracts/DESIGN.md, "Vouched executor keys".
type VouchMessage struct {
	ChainID   string
	Contract  string
	Action    VouchAction
	PublicKey ed25519.PublicKey
	NodeID    string // "" for a removal
	Nonce     uint64
}

// Encode is the message's canonical bytes, as the contract builds them:
// VouchDomain, then length-prefixed (4 bytes, big endian) chain id and
// contract, the action (1 add, 2 remove), the 32-byte key, the
// length-prefixed node id and the nonce (8 bytes, big endian).
func (m VouchMessage) Encode() ([]byte, error) {
	var action byte
	switch m.Action {
	case VouchAdd:
		action = 1
	case VouchRemove:
		action = 2
		if m.NodeID != "" {
			return nil, errors.New("a vouched removal binds no node id")
		}
	default:
		return nil, fmt.Errorf("vouch action %q is neither %q nor %q", m.Action, VouchAdd, VouchRemove)
	}
	if len(m.PublicKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("the vouched key has %d bytes, not an ed25519 key's %d", len(m.PublicKey), ed25519.PublicKeySize)
	}
	out := []byte(VouchDomain)
	put := func(s string) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	put(m.ChainID)
	put(m.Contract)
	out = append(out, action)
	out = append(out, m.PublicKey...)
	put(m.NodeID)
	return binary.BigEndian.AppendUint64(out, m.Nonce), nil
}

// Hash is the sha256 of the encoding: what a voucher's key signs.
func (m VouchMessage) Hash() ([32]byte, error) {
	b, err := m.Encode()
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// SignVouch signs m with an executor's node key.
func SignVouch(m VouchMessage, key ed25519.PrivateKey) (ExecutorSignature, error) {
	h, err := m.Hash()
	if err != nil {
		return ExecutorSignature{}, err
	}
	sig, _ := near.NewSignature(near.ED25519, ed25519.Sign(key, h[:])) // always 64 bytes
	return ExecutorSignature{PublicKey: near.PublicKeyFromEd25519(key.Public().(ed25519.PublicKey)), Signature: sig}, nil
}

// ErrVouchSignature: a voucher's signature is not over the change.
var ErrVouchSignature = errors.New("the voucher's signature is not over this key change")

// VerifyVouch checks one voucher's signature of m, as the contract does
// (registration and distinctness aside).
func VerifyVouch(m VouchMessage, s ExecutorSignature) error {
	if s.PublicKey.Type != near.ED25519 || s.Signature.Type != near.ED25519 {
		return fmt.Errorf("%w: executor keys and signatures are ed25519", ErrVouchSignature)
	}
	h, err := m.Hash()
	if err != nil {
		return err
	}
	if !ed25519.Verify(s.PublicKey.Ed25519(), h[:], s.Signature.Bytes()) {
		return ErrVouchSignature
	}
	return nil
}

// VouchExecutorKeyArgs are vouch_executor_key's arguments: the change
// (NodeID only for an add), the nonce the vouchers signed (the contract's
// current ExecutorKeyNonce) and the vouchers.
type VouchExecutorKeyArgs struct {
	Action    VouchAction         `json:"action"`
	PublicKey near.PublicKey      `json:"public_key"`
	NodeID    string              `json:"node_id,omitempty"`
	Nonce     uint64              `json:"nonce"`
	Vouchers  []ExecutorSignature `json:"vouchers"`
}

// VouchArgs are the arguments that submit m with its vouchers.
func VouchArgs(m VouchMessage, vouchers []ExecutorSignature) VouchExecutorKeyArgs {
	return VouchExecutorKeyArgs{Action: m.Action, PublicKey: near.PublicKeyFromEd25519(m.PublicKey), NodeID: m.NodeID,
		Nonce: m.Nonce, Vouchers: vouchers}
}

// VouchGas is the gas a vouch_executor_key call attaches: a base for the
// call and state, and one ed25519 check (plus a lookup) per voucher.
func VouchGas(vouchers int) uint64 { return 10*near.TGas + uint64(vouchers)*near.TGas }
