package contracts

import "github.com/outlayer/outlayer/contracts/near"

// Agreement methods of the OutLayer contract: executor keys that may sign
// result claims, and how many signatures a request needs.
// contracts/DESIGN.md, "Executor signatures", says what each k trusts.
const (
	MethodAddExecutorKey    = "add_executor_key"    // owner or registrar: AddExecutorKeyArgs
	MethodRemoveExecutorKey = "remove_executor_key" // owner or registrar: ExecutorKeyArgs
	MethodSetAgreement      = "set_agreement"       // owner: AgreementArgs
	MethodGetAgreement      = "get_agreement"       // view: Agreement
	MethodListExecutorKeys  = "list_executor_keys"  // view: []ExecutorKey
)

// MaxSignatures is the most signatures a resolve may carry, and the
// largest max_signatures.
const MaxSignatures = 16

// AgreementArgs are set_agreement's arguments (every field optional); new
// takes the same fields beside owner_id (NewArgs). DefaultSignatures is the
// k of a request that does not choose one; 0 means the operator alone
// resolves, without signatures (a contract that trusts its operator).
// RegistrarID may add and remove executor keys besides the owner; "" clears it.
type AgreementArgs struct {
	ChainID           string  `json:"chain_id,omitempty"`
	DefaultSignatures *uint64 `json:"default_signatures,omitempty"`
	MaxSignatures     *uint64 `json:"max_signatures,omitempty"`
	RegistrarID       *string `json:"registrar_id,omitempty"`
}

// Agreement is get_agreement's result.
type Agreement struct {
	ChainID           string  `json:"chain_id"`
	DefaultSignatures uint64  `json:"default_signatures"`
	MaxSignatures     uint64  `json:"max_signatures"`
	RegistrarID       *string `json:"registrar_id"`
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
