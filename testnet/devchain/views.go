package devchain

import (
	"encoding/base64"
	"encoding/json"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain/internal/u128"
	"github.com/outlayer/outlayer/testnet/devchain/internal/vm"
)

// The JSON shapes of NEAR's RPC (nearcore chain/jsonrpc-primitives and
// core/primitives/src/views.rs), as the devchain serves them.

type outcomeView struct {
	Logs        []string        `json:"logs"`
	ReceiptIDs  []string        `json:"receipt_ids"`
	GasBurnt    uint64          `json:"gas_burnt"`
	TokensBurnt string          `json:"tokens_burnt"`
	ExecutorID  string          `json:"executor_id"`
	Status      json.RawMessage `json:"status"`
	Metadata    outcomeMetadata `json:"metadata"`
}

type outcomeMetadata struct {
	Version    int   `json:"version"`
	GasProfile []any `json:"gas_profile"`
}

type outcomeWithID struct {
	Proof     []any       `json:"proof"`
	BlockHash string      `json:"block_hash"`
	ID        string      `json:"id"`
	Outcome   outcomeView `json:"outcome"`
}

type signedTxView struct {
	SignerID    string `json:"signer_id"`
	PublicKey   string `json:"public_key"`
	Nonce       uint64 `json:"nonce"`
	ReceiverID  string `json:"receiver_id"`
	Actions     []any  `json:"actions"`
	PriorityFee uint64 `json:"priority_fee"`
	Signature   string `json:"signature"`
	Hash        string `json:"hash"`
}

type receiptView struct {
	PredecessorID string         `json:"predecessor_id"`
	ReceiverID    string         `json:"receiver_id"`
	ReceiptID     string         `json:"receipt_id"`
	Receipt       map[string]any `json:"receipt"`
	Priority      uint64         `json:"priority"`
}

type accessKeyView struct {
	Nonce      uint64 `json:"nonce"`
	Permission any    `json:"permission"`
}

func accessKeyJSON(k near.AccessKey) accessKeyView {
	if k.Permission.IsFullAccess() {
		return accessKeyView{Nonce: k.Nonce, Permission: "FullAccess"}
	}
	p := k.Permission.FunctionCall
	var allowance any
	if p.Allowance != nil {
		allowance = p.Allowance.String()
	}
	names := p.MethodNames
	if names == nil {
		names = []string{}
	}
	return accessKeyView{Nonce: k.Nonce, Permission: map[string]any{"FunctionCall": map[string]any{
		"allowance": allowance, "receiver_id": p.ReceiverID, "method_names": names,
	}}}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func u128String(v u128.U128) string { return v.String() }

// actionView is nearcore's ActionView JSON of a vm action.
func actionView(a *vm.Action) any {
	switch a.Kind {
	case vm.ActCreateAccount:
		return "CreateAccount"
	case vm.ActDeployContract:
		h := near.HashBytes(a.Code)
		return map[string]any{"DeployContract": map[string]any{"code": b64(h[:])}}
	case vm.ActFunctionCall:
		return map[string]any{"FunctionCall": map[string]any{
			"method_name": a.Method, "args": b64(a.Args), "gas": a.Gas, "deposit": a.Deposit.String(),
		}}
	case vm.ActTransfer:
		return map[string]any{"Transfer": map[string]any{"deposit": a.Deposit.String()}}
	case vm.ActStake:
		return map[string]any{"Stake": map[string]any{"stake": a.Deposit.String(), "public_key": pkString(a.PublicKey)}}
	case vm.ActAddKey:
		return map[string]any{"AddKey": map[string]any{"public_key": pkString(a.PublicKey), "access_key": accessKeyJSON(vmAccessKey(a))}}
	case vm.ActDeleteKey:
		return map[string]any{"DeleteKey": map[string]any{"public_key": pkString(a.PublicKey)}}
	case vm.ActDeleteAccount:
		return map[string]any{"DeleteAccount": map[string]any{"beneficiary_id": a.Beneficiary}}
	}
	return nil
}

func pkString(borsh []byte) string {
	pk, err := pkFromBorsh(borsh)
	if err != nil {
		return ""
	}
	return pk.String()
}

func pkFromBorsh(b []byte) (near.PublicKey, error) {
	r := near.NewReader(b)
	pk := near.DecodePublicKey(r)
	return pk, r.Finish()
}

func vmAccessKey(a *vm.Action) near.AccessKey {
	if a.FullAccess {
		return near.AccessKey{Nonce: a.KeyNonce}
	}
	p := &near.FunctionCallPermission{ReceiverID: a.KeyReceiver, MethodNames: a.KeyMethods}
	if a.Allowance != nil {
		v := near.U128(*a.Allowance)
		p.Allowance = &v
	}
	return near.AccessKey{Nonce: a.KeyNonce, Permission: near.AccessKeyPermission{FunctionCall: p}}
}

func rawJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`null`)
	}
	return b
}
