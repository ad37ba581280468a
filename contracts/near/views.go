package near

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
)

// This file holds the JSON shapes of NEAR's JSON-RPC results. The devchain
// marshals these very structs and the client unmarshals them, so both sides
// agree by construction; the tests check them against nearcore's JSON.

// ByteArray is bytes as a JSON array of numbers ([1,2,3]), the form of
// call_function's result. (Plain []byte would be base64.)
type ByteArray []byte

// MarshalJSON implements json.Marshaler.
func (b ByteArray) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, 2+4*len(b))
	out = append(out, '[')
	for i, c := range b {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendUint(out, uint64(c), 10)
	}
	return append(out, ']'), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (b *ByteArray) UnmarshalJSON(data []byte) error {
	var nums []uint8
	if err := json.Unmarshal(data, &nums); err != nil {
		return fmt.Errorf("decoding a byte array: %w", err)
	}
	*b = nums
	return nil
}

// ActionView is an Action in RPC JSON: "CreateAccount" or {"Transfer":{…}}.
// DeployContract views carry the sha256 of the code (base64), not the code:
// CodeHash holds it (when marshalling a DeployContract without CodeHash, the
// hash of Action's code is used). Variants this package does not model are
// kept in Raw and re-marshalled unchanged.
type ActionView struct {
	Action   Action
	CodeHash []byte
	Raw      json.RawMessage
}

// NewActionView is the view of a.
func NewActionView(a Action) ActionView { return ActionView{Action: a} }

type functionCallView struct {
	MethodName string `json:"method_name"`
	Args       []byte `json:"args"`
	Gas        uint64 `json:"gas"`
	Deposit    U128   `json:"deposit"`
}

type codeView struct {
	Code []byte `json:"code"`
}

type delegateView struct {
	DelegateAction delegateActionView `json:"delegate_action"`
	Signature      Signature          `json:"signature"`
}

type delegateActionView struct {
	SenderID       string       `json:"sender_id"`
	ReceiverID     string       `json:"receiver_id"`
	Actions        []ActionView `json:"actions"`
	Nonce          uint64       `json:"nonce"`
	MaxBlockHeight uint64       `json:"max_block_height"`
	PublicKey      PublicKey    `json:"public_key"`
}

// MarshalJSON implements json.Marshaler.
func (v ActionView) MarshalJSON() ([]byte, error) {
	if v.Action == nil {
		if v.Raw == nil {
			return nil, fmt.Errorf("empty action view")
		}
		return v.Raw, nil
	}
	var body any
	switch a := v.Action.(type) {
	case CreateAccount:
		return []byte(`"CreateAccount"`), nil
	case DeployContract:
		h := v.CodeHash
		if h == nil {
			s := sha256.Sum256(a.Code)
			h = s[:]
		}
		body = codeView{Code: h}
	case FunctionCall:
		body = functionCallView{MethodName: a.MethodName, Args: nonNilBytes(a.Args), Gas: a.Gas, Deposit: a.Deposit}
	case Transfer:
		body = struct {
			Deposit U128 `json:"deposit"`
		}{a.Deposit}
	case Stake:
		body = struct {
			Stake     U128      `json:"stake"`
			PublicKey PublicKey `json:"public_key"`
		}{a.Stake, a.PublicKey}
	case AddKey:
		body = struct {
			PublicKey PublicKey `json:"public_key"`
			AccessKey AccessKey `json:"access_key"`
		}{a.PublicKey, a.AccessKey}
	case DeleteKey:
		body = struct {
			PublicKey PublicKey `json:"public_key"`
		}{a.PublicKey}
	case DeleteAccount:
		body = struct {
			BeneficiaryID string `json:"beneficiary_id"`
		}{a.BeneficiaryID}
	case Delegate:
		d := delegateView{Signature: a.Signature, DelegateAction: delegateActionView{
			SenderID: a.DelegateAction.SenderID, ReceiverID: a.DelegateAction.ReceiverID,
			Nonce: a.DelegateAction.Nonce, MaxBlockHeight: a.DelegateAction.MaxBlockHeight,
			PublicKey: a.DelegateAction.PublicKey, Actions: make([]ActionView, len(a.DelegateAction.Actions)),
		}}
		for i, inner := range a.DelegateAction.Actions {
			d.DelegateAction.Actions[i] = ActionView{Action: inner}
		}
		body = d
	case DeployGlobalContract:
		// nearcore's view names the mode in the variant and shows the code hash.
		h := v.CodeHash
		if h == nil {
			s := sha256.Sum256(a.Code)
			h = s[:]
		}
		name := "DeployGlobalContract"
		if a.DeployMode == GlobalByAccountID {
			name = "DeployGlobalContractByAccountId"
		}
		return json.Marshal(map[string]codeView{name: {Code: h}})
	case UseGlobalContract:
		if a.Contract.CodeHash != nil {
			return json.Marshal(map[string]any{"UseGlobalContract": map[string]CryptoHash{"code_hash": *a.Contract.CodeHash}})
		}
		return json.Marshal(map[string]any{"UseGlobalContractByAccountId": map[string]string{"account_id": a.Contract.AccountID}})
	default:
		if v.Raw != nil {
			return v.Raw, nil
		}
		// DeterministicStateInit views are not modelled (their shape is not
		// settled upstream); show the variant name so the view stays valid.
		return json.Marshal(v.Action.Tag().String())
	}
	return json.Marshal(map[string]any{v.Action.Tag().String(): body})
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *ActionView) UnmarshalJSON(b []byte) error {
	var variant Variant
	if err := variant.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("decoding an action: %w", err)
	}
	*v = ActionView{}
	var err error
	switch variant.Name {
	case "CreateAccount":
		v.Action = CreateAccount{}
	case "DeployContract":
		var c codeView
		err = variant.Decode(&c)
		v.Action, v.CodeHash = DeployContract{}, c.Code
	case "FunctionCall":
		var f functionCallView
		err = variant.Decode(&f)
		v.Action = FunctionCall(f)
	case "Transfer":
		var t Transfer
		err = variant.Decode(&struct {
			Deposit *U128 `json:"deposit"`
		}{&t.Deposit})
		v.Action = t
	case "Stake":
		var s Stake
		err = variant.Decode(&struct {
			Stake     *U128      `json:"stake"`
			PublicKey *PublicKey `json:"public_key"`
		}{&s.Stake, &s.PublicKey})
		v.Action = s
	case "AddKey":
		var a AddKey
		err = variant.Decode(&struct {
			PublicKey *PublicKey `json:"public_key"`
			AccessKey *AccessKey `json:"access_key"`
		}{&a.PublicKey, &a.AccessKey})
		v.Action = a
	case "DeleteKey":
		var d DeleteKey
		err = variant.Decode(&struct {
			PublicKey *PublicKey `json:"public_key"`
		}{&d.PublicKey})
		v.Action = d
	case "DeleteAccount":
		var d DeleteAccount
		err = variant.Decode(&struct {
			BeneficiaryID *string `json:"beneficiary_id"`
		}{&d.BeneficiaryID})
		v.Action = d
	case "Delegate":
		var d delegateView
		err = variant.Decode(&d)
		da := DelegateAction{SenderID: d.DelegateAction.SenderID, ReceiverID: d.DelegateAction.ReceiverID,
			Nonce: d.DelegateAction.Nonce, MaxBlockHeight: d.DelegateAction.MaxBlockHeight,
			PublicKey: d.DelegateAction.PublicKey}
		for _, inner := range d.DelegateAction.Actions {
			da.Actions = append(da.Actions, inner.Action)
		}
		v.Action = Delegate{DelegateAction: da, Signature: d.Signature}
	case "DeployGlobalContract", "DeployGlobalContractByAccountId":
		var c codeView
		err = variant.Decode(&c)
		mode := GlobalByCodeHash
		if variant.Name == "DeployGlobalContractByAccountId" {
			mode = GlobalByAccountID
		}
		v.Action, v.CodeHash = DeployGlobalContract{DeployMode: mode}, c.Code
	case "UseGlobalContract":
		var u struct {
			CodeHash CryptoHash `json:"code_hash"`
		}
		err = variant.Decode(&u)
		v.Action = UseGlobalContract{Contract: GlobalContractIdentifier{CodeHash: &u.CodeHash}}
	case "UseGlobalContractByAccountId":
		var u struct {
			AccountID string `json:"account_id"`
		}
		err = variant.Decode(&u)
		v.Action = UseGlobalContract{Contract: GlobalContractIdentifier{AccountID: u.AccountID}}
	default:
		v.Raw = append(json.RawMessage(nil), b...)
	}
	if err != nil {
		return fmt.Errorf("decoding a %s action: %w", variant.Name, err)
	}
	return nil
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// MarshalJSON writes "FullAccess" or {"FunctionCall":{…}}.
func (p AccessKeyPermission) MarshalJSON() ([]byte, error) {
	if p.FunctionCall == nil {
		return []byte(`"FullAccess"`), nil
	}
	fc := *p.FunctionCall
	if fc.MethodNames == nil {
		fc.MethodNames = []string{}
	}
	return json.Marshal(map[string]FunctionCallPermission{"FunctionCall": fc})
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *AccessKeyPermission) UnmarshalJSON(b []byte) error {
	var v Variant
	if err := v.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("decoding an access key permission: %w", err)
	}
	switch v.Name {
	case "FullAccess":
		p.FunctionCall = nil
	case "FunctionCall":
		var fc FunctionCallPermission
		if err := v.Decode(&fc); err != nil {
			return fmt.Errorf("decoding a FunctionCall permission: %w", err)
		}
		p.FunctionCall = &fc
	default:
		return fmt.Errorf("unsupported access key permission %q", v.Name)
	}
	return nil
}

// BlockID is a block height or a block hash. JSON: a number or a base58 string.
type BlockID struct {
	Height uint64
	Hash   *CryptoHash
}

// BlockHeight refers to a block by height.
func BlockHeight(h uint64) *BlockID { return &BlockID{Height: h} }

// BlockHash refers to a block by hash.
func BlockHash(h CryptoHash) *BlockID { return &BlockID{Hash: &h} }

// MarshalJSON implements json.Marshaler.
func (b BlockID) MarshalJSON() ([]byte, error) {
	if b.Hash != nil {
		return json.Marshal(b.Hash)
	}
	return json.Marshal(b.Height)
}

// UnmarshalJSON implements json.Unmarshaler.
func (b *BlockID) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var h CryptoHash
		if err := json.Unmarshal(data, &h); err != nil {
			return fmt.Errorf("block id: %w", err)
		}
		*b = BlockID{Hash: &h}
		return nil
	}
	var n uint64
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("block id must be a height or a hash: %w", err)
	}
	*b = BlockID{Height: n}
	return nil
}

// String is the height or the hash.
func (b BlockID) String() string {
	if b.Hash != nil {
		return b.Hash.String()
	}
	return strconv.FormatUint(b.Height, 10)
}

// Finality values of a block reference.
type Finality string

// Finalities.
const (
	FinalityOptimistic Finality = "optimistic"
	FinalityNearFinal  Finality = "near-final"
	FinalityFinal      Finality = "final"
)

// BlockReference selects a block: exactly one of Finality, BlockID or
// SyncCheckpoint. It is embedded in request params.
type BlockReference struct {
	Finality       Finality `json:"finality,omitempty"`
	BlockID        *BlockID `json:"block_id,omitempty"`
	SyncCheckpoint string   `json:"sync_checkpoint,omitempty"`
}

// Final, AtHeight and AtHash are block-reference shortcuts.
func Final() BlockReference              { return BlockReference{Finality: FinalityFinal} }
func Optimistic() BlockReference         { return BlockReference{Finality: FinalityOptimistic} }
func AtHeight(h uint64) BlockReference   { return BlockReference{BlockID: BlockHeight(h)} }
func AtHash(h CryptoHash) BlockReference { return BlockReference{BlockID: BlockHash(h)} }
func (r BlockReference) isZero() bool {
	return r.Finality == "" && r.BlockID == nil && r.SyncCheckpoint == ""
}
func (r BlockReference) orFinal() BlockReference {
	if r.isZero() {
		return Final()
	}
	return r
}

// StatusResult is the result of `status`.
type StatusResult struct {
	Version struct {
		Version      string `json:"version"`
		Build        string `json:"build"`
		RustcVersion string `json:"rustc_version,omitempty"`
	} `json:"version"`
	ChainID               string          `json:"chain_id"`
	ProtocolVersion       uint32          `json:"protocol_version"`
	LatestProtocolVersion uint32          `json:"latest_protocol_version"`
	RPCAddr               *string         `json:"rpc_addr"`
	Validators            []ValidatorInfo `json:"validators"`
	SyncInfo              SyncInfo        `json:"sync_info"`
	ValidatorAccountID    *string         `json:"validator_account_id"`
	ValidatorPublicKey    *PublicKey      `json:"validator_public_key"`
	NodePublicKey         string          `json:"node_public_key"`
	NodeKey               *string         `json:"node_key"`
	UptimeSec             int64           `json:"uptime_sec"`
	GenesisHash           CryptoHash      `json:"genesis_hash"`
}

// ValidatorInfo is one entry of StatusResult.Validators.
type ValidatorInfo struct {
	AccountID string `json:"account_id"`
	IsSlashed bool   `json:"is_slashed"`
}

// SyncInfo is StatusResult.SyncInfo.
type SyncInfo struct {
	LatestBlockHash     CryptoHash  `json:"latest_block_hash"`
	LatestBlockHeight   uint64      `json:"latest_block_height"`
	LatestStateRoot     CryptoHash  `json:"latest_state_root"`
	LatestBlockTime     string      `json:"latest_block_time"`
	Syncing             bool        `json:"syncing"`
	EarliestBlockHash   *CryptoHash `json:"earliest_block_hash,omitempty"`
	EarliestBlockHeight *uint64     `json:"earliest_block_height,omitempty"`
	EarliestBlockTime   *string     `json:"earliest_block_time,omitempty"`
	EpochID             *CryptoHash `json:"epoch_id,omitempty"`
	EpochStartHeight    *uint64     `json:"epoch_start_height,omitempty"`
}

// BlockView is the result of `block`.
type BlockView struct {
	Author string            `json:"author"`
	Header BlockHeaderView   `json:"header"`
	Chunks []ChunkHeaderView `json:"chunks"`
}

// BlockHeaderView is a block header.
type BlockHeaderView struct {
	Height                uint64            `json:"height"`
	PrevHeight            *uint64           `json:"prev_height"`
	EpochID               CryptoHash        `json:"epoch_id"`
	NextEpochID           CryptoHash        `json:"next_epoch_id"`
	Hash                  CryptoHash        `json:"hash"`
	PrevHash              CryptoHash        `json:"prev_hash"`
	PrevStateRoot         CryptoHash        `json:"prev_state_root"`
	BlockBodyHash         *CryptoHash       `json:"block_body_hash"`
	ChunkReceiptsRoot     CryptoHash        `json:"chunk_receipts_root"`
	ChunkHeadersRoot      CryptoHash        `json:"chunk_headers_root"`
	ChunkTxRoot           CryptoHash        `json:"chunk_tx_root"`
	OutcomeRoot           CryptoHash        `json:"outcome_root"`
	ChunksIncluded        uint64            `json:"chunks_included"`
	ChallengesRoot        CryptoHash        `json:"challenges_root"`
	Timestamp             uint64            `json:"timestamp"`
	TimestampNanosec      string            `json:"timestamp_nanosec"`
	RandomValue           CryptoHash        `json:"random_value"`
	ValidatorProposals    []json.RawMessage `json:"validator_proposals"`
	ChunkMask             []bool            `json:"chunk_mask"`
	GasPrice              U128              `json:"gas_price"`
	BlockOrdinal          *uint64           `json:"block_ordinal"`
	RentPaid              U128              `json:"rent_paid"`
	ValidatorReward       U128              `json:"validator_reward"`
	TotalSupply           U128              `json:"total_supply"`
	ChallengesResult      []json.RawMessage `json:"challenges_result"`
	LastFinalBlock        CryptoHash        `json:"last_final_block"`
	LastDSFinalBlock      CryptoHash        `json:"last_ds_final_block"`
	NextBPHash            CryptoHash        `json:"next_bp_hash"`
	BlockMerkleRoot       CryptoHash        `json:"block_merkle_root"`
	EpochSyncDataHash     *CryptoHash       `json:"epoch_sync_data_hash"`
	Approvals             []*Signature      `json:"approvals"`
	Signature             Signature         `json:"signature"`
	LatestProtocolVersion uint32            `json:"latest_protocol_version"`
}

// ChunkHeaderView is a chunk header (one per shard in a block).
type ChunkHeaderView struct {
	ChunkHash            CryptoHash        `json:"chunk_hash"`
	PrevBlockHash        CryptoHash        `json:"prev_block_hash"`
	OutcomeRoot          CryptoHash        `json:"outcome_root"`
	PrevStateRoot        CryptoHash        `json:"prev_state_root"`
	EncodedMerkleRoot    CryptoHash        `json:"encoded_merkle_root"`
	EncodedLength        uint64            `json:"encoded_length"`
	HeightCreated        uint64            `json:"height_created"`
	HeightIncluded       uint64            `json:"height_included"`
	ShardID              uint64            `json:"shard_id"`
	GasUsed              uint64            `json:"gas_used"`
	GasLimit             uint64            `json:"gas_limit"`
	RentPaid             U128              `json:"rent_paid"`
	ValidatorReward      U128              `json:"validator_reward"`
	BalanceBurnt         U128              `json:"balance_burnt"`
	OutgoingReceiptsRoot CryptoHash        `json:"outgoing_receipts_root"`
	TxRoot               CryptoHash        `json:"tx_root"`
	ValidatorProposals   []json.RawMessage `json:"validator_proposals"`
	CongestionInfo       json.RawMessage   `json:"congestion_info,omitempty"`
	Signature            Signature         `json:"signature"`
}

// ChunkView is the result of `chunk`.
type ChunkView struct {
	Author       string                  `json:"author"`
	Header       ChunkHeaderView         `json:"header"`
	Transactions []SignedTransactionView `json:"transactions"`
	Receipts     []ReceiptView           `json:"receipts"`
}

// SignedTransactionView is a transaction in RPC JSON.
type SignedTransactionView struct {
	SignerID    string       `json:"signer_id"`
	PublicKey   PublicKey    `json:"public_key"`
	Nonce       uint64       `json:"nonce"`
	ReceiverID  string       `json:"receiver_id"`
	Actions     []ActionView `json:"actions"`
	PriorityFee uint64       `json:"priority_fee"`
	Signature   Signature    `json:"signature"`
	Hash        CryptoHash   `json:"hash"`
}

// NewSignedTransactionView is the view of st.
func NewSignedTransactionView(st *SignedTransaction) SignedTransactionView {
	v := SignedTransactionView{
		SignerID: st.Transaction.SignerID, PublicKey: st.Transaction.PublicKey, Nonce: st.Transaction.Nonce,
		ReceiverID: st.Transaction.ReceiverID, Signature: st.Signature, Hash: st.Hash(),
		Actions: make([]ActionView, len(st.Transaction.Actions)),
	}
	for i, a := range st.Transaction.Actions {
		v.Actions[i] = NewActionView(a)
	}
	return v
}

// ReceiptView is a receipt in RPC JSON.
type ReceiptView struct {
	PredecessorID string          `json:"predecessor_id"`
	ReceiverID    string          `json:"receiver_id"`
	ReceiptID     CryptoHash      `json:"receipt_id"`
	Receipt       ReceiptEnumView `json:"receipt"`
	Priority      uint64          `json:"priority"`
}

// ReceiptEnumView is {"Action":{…}} or {"Data":{…}}.
type ReceiptEnumView struct {
	Action *ActionReceiptView `json:"Action,omitempty"`
	Data   *DataReceiptView   `json:"Data,omitempty"`
}

// ActionReceiptView is the body of an action receipt.
type ActionReceiptView struct {
	SignerID            string             `json:"signer_id"`
	SignerPublicKey     PublicKey          `json:"signer_public_key"`
	GasPrice            U128               `json:"gas_price"`
	OutputDataReceivers []DataReceiverView `json:"output_data_receivers"`
	InputDataIDs        []CryptoHash       `json:"input_data_ids"`
	Actions             []ActionView       `json:"actions"`
	IsPromiseYield      bool               `json:"is_promise_yield"`
}

// DataReceiverView is one output data receiver.
type DataReceiverView struct {
	DataID     CryptoHash `json:"data_id"`
	ReceiverID string     `json:"receiver_id"`
}

// DataReceiptView is the body of a data receipt. Data nil means None (the
// producing receipt failed), a non-nil empty slice means Some(empty).
type DataReceiptView struct {
	DataID          CryptoHash `json:"data_id"`
	Data            []byte     `json:"data"`
	IsPromiseResume bool       `json:"is_promise_resume"`
}

// QueryResultHeader is carried by every query result.
type QueryResultHeader struct {
	BlockHeight uint64     `json:"block_height"`
	BlockHash   CryptoHash `json:"block_hash"`
}

// AccountView is the result of query view_account.
type AccountView struct {
	Amount                  U128        `json:"amount"`
	Locked                  U128        `json:"locked"`
	CodeHash                CryptoHash  `json:"code_hash"`
	StorageUsage            uint64      `json:"storage_usage"`
	StoragePaidAt           uint64      `json:"storage_paid_at"`
	GlobalContractHash      *CryptoHash `json:"global_contract_hash,omitempty"`
	GlobalContractAccountID string      `json:"global_contract_account_id,omitempty"`
	QueryResultHeader
}

// ContractCodeView is the result of query view_code.
type ContractCodeView struct {
	Code []byte     `json:"code_base64"`
	Hash CryptoHash `json:"hash"`
	QueryResultHeader
}

// AccessKeyView is the result of query view_access_key.
type AccessKeyView struct {
	AccessKey
	QueryResultHeader
}

// AccessKeyInfoView is one key of an AccessKeyList.
type AccessKeyInfoView struct {
	PublicKey PublicKey `json:"public_key"`
	AccessKey AccessKey `json:"access_key"`
}

// AccessKeyList is the result of query view_access_key_list.
type AccessKeyList struct {
	Keys []AccessKeyInfoView `json:"keys"`
	QueryResultHeader
}

// CallResult is the result of query call_function.
type CallResult struct {
	Result ByteArray `json:"result"`
	Logs   []string  `json:"logs"`
	QueryResultHeader
}

// StateItem is one key/value of a contract's state (base64 in JSON).
type StateItem struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

// ViewStateResult is the result of query view_state.
type ViewStateResult struct {
	Values []StateItem       `json:"values"`
	Proof  []json.RawMessage `json:"proof,omitempty"`
	QueryResultHeader
}

// QueryErrorResult is nearcore's legacy success-shaped query failure
// ({"error": "...", "logs": [], ...}) for call_function and view_access_key.
type QueryErrorResult struct {
	Error string   `json:"error"`
	Logs  []string `json:"logs"`
	QueryResultHeader
}

// GasPriceResult is the result of `gas_price`.
type GasPriceResult struct {
	GasPrice U128 `json:"gas_price"`
}

// TxExecutionStatus is a wait_until / final_execution_status level.
type TxExecutionStatus string

// Execution levels, in increasing order.
const (
	TxNone               TxExecutionStatus = "NONE"
	TxIncluded           TxExecutionStatus = "INCLUDED"
	TxExecutedOptimistic TxExecutionStatus = "EXECUTED_OPTIMISTIC"
	TxIncludedFinal      TxExecutionStatus = "INCLUDED_FINAL"
	TxExecuted           TxExecutionStatus = "EXECUTED"
	TxFinal              TxExecutionStatus = "FINAL"
)

// FinalExecutionOutcome is the result of send_tx, tx, broadcast_tx_commit and
// EXPERIMENTAL_tx_status (which also fills Receipts). With wait_until NONE or
// INCLUDED only FinalExecutionStatus is present.
type FinalExecutionOutcome struct {
	FinalExecutionStatus TxExecutionStatus            `json:"final_execution_status,omitempty"`
	Status               *ExecutionStatus             `json:"status,omitempty"`
	Transaction          *SignedTransactionView       `json:"transaction,omitempty"`
	TransactionOutcome   *ExecutionOutcomeWithIDView  `json:"transaction_outcome,omitempty"`
	ReceiptsOutcome      []ExecutionOutcomeWithIDView `json:"receipts_outcome,omitempty"`
	Receipts             []ReceiptView                `json:"receipts,omitempty"`
}

// ExecutionOutcomeWithIDView is the outcome of a transaction or receipt.
type ExecutionOutcomeWithIDView struct {
	Proof     []MerklePathItem     `json:"proof"`
	BlockHash CryptoHash           `json:"block_hash"`
	ID        CryptoHash           `json:"id"`
	Outcome   ExecutionOutcomeView `json:"outcome"`
}

// MarshalJSON writes an empty proof as [] (never null), as nearcore does.
func (o ExecutionOutcomeWithIDView) MarshalJSON() ([]byte, error) {
	type plain ExecutionOutcomeWithIDView
	if o.Proof == nil {
		o.Proof = []MerklePathItem{}
	}
	return json.Marshal(plain(o))
}

// MerklePathItem is one step of an outcome proof.
type MerklePathItem struct {
	Hash      CryptoHash `json:"hash"`
	Direction string     `json:"direction"`
}

// ExecutionOutcomeView is what a transaction or receipt did.
type ExecutionOutcomeView struct {
	Logs        []string              `json:"logs"`
	ReceiptIDs  []CryptoHash          `json:"receipt_ids"`
	GasBurnt    uint64                `json:"gas_burnt"`
	TokensBurnt U128                  `json:"tokens_burnt"`
	ExecutorID  string                `json:"executor_id"`
	Status      ExecutionStatus       `json:"status"`
	Metadata    ExecutionMetadataView `json:"metadata"`
}

// MarshalJSON writes empty lists as [] (never null), as nearcore does.
func (o ExecutionOutcomeView) MarshalJSON() ([]byte, error) {
	type plain ExecutionOutcomeView
	if o.Logs == nil {
		o.Logs = []string{}
	}
	if o.ReceiptIDs == nil {
		o.ReceiptIDs = []CryptoHash{}
	}
	return json.Marshal(plain(o))
}

// ExecutionMetadataView is an outcome's metadata (version 3 with a gas profile).
type ExecutionMetadataView struct {
	Version    uint32        `json:"version"`
	GasProfile []CostGasUsed `json:"gas_profile"`
}

// CostGasUsed is one entry of a gas profile.
type CostGasUsed struct {
	CostCategory string `json:"cost_category"`
	Cost         string `json:"cost"`
	GasUsed      string `json:"gas_used"`
}

// Execution status kinds.
const (
	StatusNotStarted       = "NotStarted"
	StatusStarted          = "Started"
	StatusUnknown          = "Unknown"
	StatusSuccessValue     = "SuccessValue"
	StatusSuccessReceiptID = "SuccessReceiptId"
	StatusFailure          = "Failure"
)

// ExecutionStatus is the status of an outcome or of a whole transaction:
// "NotStarted", "Started", "Unknown", {"SuccessValue":"<base64>"},
// {"SuccessReceiptId":"<hash>"} or {"Failure":<TxExecutionError>}.
type ExecutionStatus struct {
	Kind      string
	Value     []byte            // SuccessValue
	ReceiptID CryptoHash        // SuccessReceiptId
	Failure   *TxExecutionError // Failure
}

// SuccessValue, SuccessReceiptID and Failure build statuses.
func SuccessValue(v []byte) ExecutionStatus {
	return ExecutionStatus{Kind: StatusSuccessValue, Value: v}
}
func SuccessReceiptID(id CryptoHash) ExecutionStatus {
	return ExecutionStatus{Kind: StatusSuccessReceiptID, ReceiptID: id}
}
func Failure(e *TxExecutionError) ExecutionStatus {
	return ExecutionStatus{Kind: StatusFailure, Failure: e}
}

// IsSuccess reports SuccessValue or SuccessReceiptId.
func (s ExecutionStatus) IsSuccess() bool {
	return s.Kind == StatusSuccessValue || s.Kind == StatusSuccessReceiptID
}

// MarshalJSON implements json.Marshaler.
func (s ExecutionStatus) MarshalJSON() ([]byte, error) {
	switch s.Kind {
	case StatusSuccessValue:
		return json.Marshal(map[string]string{s.Kind: base64.StdEncoding.EncodeToString(s.Value)})
	case StatusSuccessReceiptID:
		return json.Marshal(map[string]CryptoHash{s.Kind: s.ReceiptID})
	case StatusFailure:
		if s.Failure == nil {
			return nil, fmt.Errorf("Failure status without an error")
		}
		return json.Marshal(map[string]*TxExecutionError{s.Kind: s.Failure})
	case StatusNotStarted, StatusStarted, StatusUnknown:
		return json.Marshal(s.Kind)
	}
	return nil, fmt.Errorf("unknown execution status %q", s.Kind)
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *ExecutionStatus) UnmarshalJSON(b []byte) error {
	var v Variant
	if err := v.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("decoding an execution status: %w", err)
	}
	*s = ExecutionStatus{Kind: v.Name}
	switch v.Name {
	case StatusNotStarted, StatusStarted, StatusUnknown:
		return nil
	case StatusSuccessValue:
		var str string
		if err := v.Decode(&str); err != nil {
			return fmt.Errorf("decoding SuccessValue: %w", err)
		}
		val, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			return fmt.Errorf("SuccessValue is not base64: %w", err)
		}
		s.Value = val
		return nil
	case StatusSuccessReceiptID:
		return v.Decode(&s.ReceiptID)
	case StatusFailure:
		s.Failure = &TxExecutionError{}
		return v.Decode(s.Failure)
	}
	return fmt.Errorf("unknown execution status %q", v.Name)
}
