package contracts

import "github.com/outlayer/outlayer/contracts/near"

// Method names of the registration contract (deployed on the operator account).
const (
	RegisterMethodNew            = "new"
	RegisterMethodRegisterNode   = "register_node"
	RegisterMethodOnNodeKeyAdded = "on_node_key_added"
	RegisterMethodRemoveNode     = "remove_node"
	RegisterMethodSetOwner       = "set_owner"
	RegisterMethodSetInitKey     = "set_init_key"
	RegisterMethodGetConfig      = "get_config"
	RegisterMethodListNodes      = "list_nodes"
	RegisterMethodGetNode        = "get_node"
	RegisterMethodGetAttestation = "get_attestation"
)

// NodeKeyMethods are the only methods a registered node key may call, on
// the OutLayer contract: the resolves and the vouched executor-key changes.
func NodeKeyMethods() []string {
	return []string{MethodResolveExecution, MethodSubmitExecutionOutputAndResolve, MethodVouchExecutorKey}
}

// RegisterNewArgs are the registration contract's init arguments.
// InitPublicKey is the operator-account key allowed to call register_node;
// Allowance (default 1 NEAR) is each node key's gas allowance.
type RegisterNewArgs struct {
	OwnerID            string     `json:"owner_id"`
	OutLayerContractID string     `json:"outlayer_contract_id"`
	InitPublicKey      string     `json:"init_public_key"`
	Allowance          *near.U128 `json:"allowance,omitempty"`
}

// RegisterNodeArgs are register_node's arguments. Attestation is the
// node's TDX quote or simulated report, as text (hex or base64); NodeID
// defaults to PublicKey.
type RegisterNodeArgs struct {
	PublicKey   string `json:"public_key"`
	Attestation string `json:"attestation"`
	NodeID      string `json:"node_id,omitempty"`
}

// PublicKeyArgs name a node key (remove_node, get_node, get_attestation).
type PublicKeyArgs struct {
	PublicKey string `json:"public_key"`
}

// RegisterConfig is the registration contract's get_config result.
type RegisterConfig struct {
	OwnerID            string    `json:"owner_id"`
	OutLayerContractID string    `json:"outlayer_contract_id"`
	InitPublicKey      string    `json:"init_public_key"`
	Allowance          near.U128 `json:"allowance"`
	MethodNames        []string  `json:"method_names"`
}

// NodeRecord is get_node's result.
type NodeRecord struct {
	NodeID       string `json:"node_id"`
	PublicKey    string `json:"public_key"`
	Attestation  string `json:"attestation"`
	RegisteredAt uint64 `json:"registered_at"`
	BlockHeight  uint64 `json:"block_height"`
}

// NodeSummary is one entry of list_nodes.
type NodeSummary struct {
	NodeID         string `json:"node_id"`
	PublicKey      string `json:"public_key"`
	RegisteredAt   uint64 `json:"registered_at"`
	BlockHeight    uint64 `json:"block_height"`
	AttestationLen uint64 `json:"attestation_len"`
}

// ListNodesArgs page list_nodes by position in registration order.
type ListNodesArgs struct {
	FromIndex *uint64 `json:"from_index,omitempty"`
	Limit     *uint64 `json:"limit,omitempty"`
}
