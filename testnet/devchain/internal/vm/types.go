package vm

import (
	"github.com/outlayer/outlayer/contracts/near"
)

// ActionKind is the borsh tag of a NEAR action.
type ActionKind uint8

// The action kinds a contract can create through promise batch functions (the
// same tags as NEAR's Action enum).
const (
	ActCreateAccount  ActionKind = 0
	ActDeployContract ActionKind = 1
	ActFunctionCall   ActionKind = 2
	ActTransfer       ActionKind = 3
	ActStake          ActionKind = 4
	ActAddKey         ActionKind = 5
	ActDeleteKey      ActionKind = 6
	ActDeleteAccount  ActionKind = 7
	// ActDelegate is a NEP-366 delegate action; only transactions carry it.
	ActDelegate ActionKind = 8
)

// Action is one action of a receipt. Only the fields of its Kind are set.
type Action struct {
	Kind ActionKind

	Code []byte // DeployContract

	Method    string // FunctionCall
	Args      []byte
	Gas       uint64
	GasWeight uint64
	Deposit   near.U128 // FunctionCall, Transfer; Stake amount

	PublicKey   []byte // borsh PublicKey: AddKey, DeleteKey, Stake
	KeyNonce    uint64 // AddKey
	FullAccess  bool   // AddKey
	Allowance   *near.U128
	KeyReceiver string
	KeyMethods  []string

	Beneficiary string // DeleteAccount

	// Delegate: the borsh SignedDelegateAction (as the Action enum encodes
	// it, tag included) and its inner actions, converted.
	Delegate        []byte
	DelegateActions []Action
}

// DataReceiver is where a receipt's result goes once it has executed.
type DataReceiver struct {
	DataID   [32]byte
	Receiver string
}

// Receipt is an action receipt a contract call created.
type Receipt struct {
	Receiver            string
	Actions             []Action
	InputDataIDs        [][32]byte
	OutputDataReceivers []DataReceiver
	// IsYield marks a PromiseYield receipt: it waits for one resume (its only
	// input data id) or for the yield timeout.
	IsYield bool
}

// DataReceipt carries a payload to a waiting receipt (here: yield resumes).
type DataReceipt struct {
	DataID   [32]byte
	Receiver string
	Data     []byte
	IsResume bool
}

// PromiseResult is one input of a callback.
type PromiseResult struct {
	Failed bool
	Data   []byte
}

// Context is what a call sees of the chain.
type Context struct {
	CurrentAccount  string
	Signer          string
	SignerPublicKey []byte // borsh
	Predecessor     string
	Input           []byte
	BlockHeight     uint64
	BlockTimestamp  uint64 // ns
	EpochHeight     uint64
	ChainID         string
	RandomSeed      []byte
	AccountBalance  near.U128 // includes the attached deposit
	AccountLocked   near.U128
	AttachedDeposit near.U128
	StorageUsage    uint64
	PrepaidGas      uint64
	PromiseResults  []PromiseResult
	// View forbids state changes and promises (RPC call_function).
	View bool
}

// Host is the chain's side of a call: the current account's storage and the
// services host functions need.
type Host interface {
	StorageRead(key []byte) ([]byte, bool)
	// StorageWrite and StorageRemove are never called in a view.
	StorageWrite(key, value []byte)
	StorageRemove(key []byte)
	// YieldPending reports whether a yield of the current account with this
	// data id still waits for its resume.
	YieldPending(dataID [32]byte) bool
	// NewDataID returns a fresh, unique data id.
	NewDataID() [32]byte
}

// Outcome is the result of a call. On failure Err is set, and Receipts and
// DataReceipts are empty: a failed call creates nothing.
type Outcome struct {
	ReturnData []byte
	// ReturnPromise is the index in Receipts of the receipt whose result is
	// this call's result (promise_return), or -1.
	ReturnPromise int
	Logs          []string
	Receipts      []Receipt
	DataReceipts  []DataReceipt
	// BurntGas is gas consumed by this call itself; UsedGas adds the gas it
	// prepaid to the receipts it created.
	BurntGas uint64
	UsedGas  uint64
	// BalanceSpent is the sum of deposits attached to created receipts.
	BalanceSpent near.U128
	StorageUsage uint64
	Err          *FunctionCallError
}
