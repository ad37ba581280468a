package near

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// ActionTag is the borsh variant index of an Action.
type ActionTag uint8

// Action tags (nearcore core/primitives/src/action/mod.rs).
const (
	TagCreateAccount          ActionTag = 0
	TagDeployContract         ActionTag = 1
	TagFunctionCall           ActionTag = 2
	TagTransfer               ActionTag = 3
	TagStake                  ActionTag = 4
	TagAddKey                 ActionTag = 5
	TagDeleteKey              ActionTag = 6
	TagDeleteAccount          ActionTag = 7
	TagDelegate               ActionTag = 8
	TagDeployGlobalContract   ActionTag = 9
	TagUseGlobalContract      ActionTag = 10
	TagDeterministicStateInit ActionTag = 11
	TagTransferToGasKey       ActionTag = 12
	TagWithdrawFromGasKey     ActionTag = 13
	TagDelegateV2             ActionTag = 14
)

var actionNames = [...]string{
	"CreateAccount", "DeployContract", "FunctionCall", "Transfer", "Stake", "AddKey",
	"DeleteKey", "DeleteAccount", "Delegate", "DeployGlobalContract", "UseGlobalContract",
	"DeterministicStateInit", "TransferToGasKey", "WithdrawFromGasKey", "DelegateV2",
}

// String is the variant name as nearcore spells it.
func (t ActionTag) String() string {
	if int(t) < len(actionNames) {
		return actionNames[t]
	}
	return fmt.Sprintf("action(%d)", uint8(t))
}

// ErrUnsupportedAction is wrapped by decoding errors for action variants this
// package recognises but does not decode (NEP-611 gas keys, DelegateV2).
var ErrUnsupportedAction = errors.New("unsupported action")

// Action is one action of a transaction or receipt. The concrete types are
// CreateAccount, DeployContract, FunctionCall, Transfer, Stake, AddKey,
// DeleteKey, DeleteAccount, Delegate, DeployGlobalContract, UseGlobalContract
// and DeterministicStateInit; a type switch is the way to handle them.
type Action interface {
	Tag() ActionTag
	encodeBody(w *Writer)
}

// CreateAccount creates the receiver account.
type CreateAccount struct{}

// DeployContract sets the receiver's contract code.
type DeployContract struct {
	Code []byte
}

// FunctionCall calls Method on the receiver's contract.
type FunctionCall struct {
	MethodName string
	Args       []byte
	Gas        uint64
	Deposit    U128
}

// Transfer moves Deposit yoctoNEAR to the receiver.
type Transfer struct {
	Deposit U128
}

// Stake stakes Stake yoctoNEAR with PublicKey as validator key.
type Stake struct {
	Stake     U128
	PublicKey PublicKey
}

// AddKey adds an access key to the receiver.
type AddKey struct {
	PublicKey PublicKey
	AccessKey AccessKey
}

// DeleteKey removes an access key of the receiver.
type DeleteKey struct {
	PublicKey PublicKey
}

// DeleteAccount deletes the receiver, sending its balance to BeneficiaryID.
type DeleteAccount struct {
	BeneficiaryID string
}

// Delegate is a NEP-366 meta-transaction (SignedDelegateAction).
type Delegate struct {
	DelegateAction DelegateAction
	Signature      Signature
}

// GlobalContractDeployMode says how a global contract is addressed.
type GlobalContractDeployMode uint8

// Deploy modes.
const (
	GlobalByCodeHash  GlobalContractDeployMode = 0
	GlobalByAccountID GlobalContractDeployMode = 1
)

// DeployGlobalContract deploys a global contract (NEP-591).
type DeployGlobalContract struct {
	Code       []byte
	DeployMode GlobalContractDeployMode
}

// GlobalContractIdentifier is a code hash or an account id (exactly one set).
type GlobalContractIdentifier struct {
	CodeHash  *CryptoHash
	AccountID string
}

// UseGlobalContract points the receiver at a global contract.
type UseGlobalContract struct {
	Contract GlobalContractIdentifier
}

// DeterministicStateInit initialises a NEP-616 deterministic account.
type DeterministicStateInit struct {
	Code    GlobalContractIdentifier
	Data    map[string][]byte
	Deposit U128
}

// Tag implementations.
func (CreateAccount) Tag() ActionTag          { return TagCreateAccount }
func (DeployContract) Tag() ActionTag         { return TagDeployContract }
func (FunctionCall) Tag() ActionTag           { return TagFunctionCall }
func (Transfer) Tag() ActionTag               { return TagTransfer }
func (Stake) Tag() ActionTag                  { return TagStake }
func (AddKey) Tag() ActionTag                 { return TagAddKey }
func (DeleteKey) Tag() ActionTag              { return TagDeleteKey }
func (DeleteAccount) Tag() ActionTag          { return TagDeleteAccount }
func (Delegate) Tag() ActionTag               { return TagDelegate }
func (DeployGlobalContract) Tag() ActionTag   { return TagDeployGlobalContract }
func (UseGlobalContract) Tag() ActionTag      { return TagUseGlobalContract }
func (DeterministicStateInit) Tag() ActionTag { return TagDeterministicStateInit }

func (CreateAccount) encodeBody(*Writer)      {}
func (a DeployContract) encodeBody(w *Writer) { w.ByteVec(a.Code) }
func (a FunctionCall) encodeBody(w *Writer) {
	w.String(a.MethodName)
	w.ByteVec(a.Args)
	w.U64(a.Gas)
	w.U128(a.Deposit)
}
func (a Transfer) encodeBody(w *Writer) { w.U128(a.Deposit) }
func (a Stake) encodeBody(w *Writer) {
	w.U128(a.Stake)
	a.PublicKey.Encode(w)
}
func (a AddKey) encodeBody(w *Writer) {
	a.PublicKey.Encode(w)
	a.AccessKey.Encode(w)
}
func (a DeleteKey) encodeBody(w *Writer)     { a.PublicKey.Encode(w) }
func (a DeleteAccount) encodeBody(w *Writer) { w.String(a.BeneficiaryID) }
func (a Delegate) encodeBody(w *Writer) {
	a.DelegateAction.Encode(w)
	a.Signature.Encode(w)
}
func (a DeployGlobalContract) encodeBody(w *Writer) {
	w.ByteVec(a.Code)
	w.U8(uint8(a.DeployMode))
}
func (a UseGlobalContract) encodeBody(w *Writer) { a.Contract.encode(w) }
func (a DeterministicStateInit) encodeBody(w *Writer) {
	w.U8(0) // DeterministicAccountStateInit::V1
	a.Code.encode(w)
	keys := make([]string, 0, len(a.Data))
	for k := range a.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys) // BTreeMap order: bytewise
	w.U32(uint32(len(keys)))
	for _, k := range keys {
		w.ByteVec([]byte(k))
		w.ByteVec(a.Data[k])
	}
	w.U128(a.Deposit)
}

func (g GlobalContractIdentifier) encode(w *Writer) {
	if g.CodeHash != nil {
		w.U8(0)
		w.Fixed(g.CodeHash[:])
		return
	}
	w.U8(1)
	w.String(g.AccountID)
}

func decodeGlobalContractIdentifier(r *Reader) GlobalContractIdentifier {
	switch tag := r.U8(); tag {
	case 0:
		var h CryptoHash
		r.FixedInto(h[:])
		return GlobalContractIdentifier{CodeHash: &h}
	case 1:
		return GlobalContractIdentifier{AccountID: r.String()}
	default:
		r.Failf("borsh: unknown global contract identifier tag %d", tag)
		return GlobalContractIdentifier{}
	}
}

// EncodeAction writes the borsh form of a (tag then body).
func EncodeAction(w *Writer, a Action) {
	w.U8(uint8(a.Tag()))
	a.encodeBody(w)
}

// DecodeAction reads one action. Nested Delegate actions are rejected as
// nearcore's NonDelegateAction does.
func DecodeAction(r *Reader) Action { return decodeAction(r, true) }

func decodeAction(r *Reader, allowDelegate bool) Action {
	tag := ActionTag(r.U8())
	if r.Err() != nil {
		return nil
	}
	switch tag {
	case TagCreateAccount:
		return CreateAccount{}
	case TagDeployContract:
		return DeployContract{Code: r.ByteVec()}
	case TagFunctionCall:
		var a FunctionCall
		a.MethodName = r.String()
		a.Args = r.ByteVec()
		a.Gas = r.U64()
		a.Deposit = r.U128()
		return a
	case TagTransfer:
		return Transfer{Deposit: r.U128()}
	case TagStake:
		var a Stake
		a.Stake = r.U128()
		a.PublicKey = DecodePublicKey(r)
		return a
	case TagAddKey:
		var a AddKey
		a.PublicKey = DecodePublicKey(r)
		a.AccessKey = DecodeAccessKey(r)
		return a
	case TagDeleteKey:
		return DeleteKey{PublicKey: DecodePublicKey(r)}
	case TagDeleteAccount:
		return DeleteAccount{BeneficiaryID: r.String()}
	case TagDelegate:
		if !allowDelegate {
			r.Failf("borsh: a delegate action may not contain another delegate action")
			return nil
		}
		var a Delegate
		a.DelegateAction = DecodeDelegateAction(r)
		a.Signature = DecodeSignature(r)
		return a
	case TagDeployGlobalContract:
		var a DeployGlobalContract
		a.Code = r.ByteVec()
		mode := r.U8()
		if mode > 1 {
			r.Failf("borsh: unknown global contract deploy mode %d", mode)
		}
		a.DeployMode = GlobalContractDeployMode(mode)
		return a
	case TagUseGlobalContract:
		return UseGlobalContract{Contract: decodeGlobalContractIdentifier(r)}
	case TagDeterministicStateInit:
		var a DeterministicStateInit
		if v := r.U8(); v != 0 {
			r.Failf("borsh: unknown deterministic state init version %d", v)
			return nil
		}
		a.Code = decodeGlobalContractIdentifier(r)
		n := r.Len(8)
		a.Data = make(map[string][]byte, n)
		prev := ""
		for i := 0; i < n && r.Err() == nil; i++ {
			k := string(r.ByteVec())
			v := r.ByteVec()
			if i > 0 && k <= prev {
				r.Failf("borsh: state init keys are not strictly sorted")
			}
			prev = k
			a.Data[k] = v
		}
		a.Deposit = r.U128()
		return a
	case TagTransferToGasKey, TagWithdrawFromGasKey, TagDelegateV2:
		r.Fail(fmt.Errorf("%w %s (tag %d)", ErrUnsupportedAction, tag, uint8(tag)))
		return nil
	default:
		r.Failf("borsh: unknown action tag %d", uint8(tag))
		return nil
	}
}

// Access key permission tags.
const (
	permFunctionCall = 0
	permFullAccess   = 1
)

// AccessKey is an access key's nonce and permission. JSON: {"nonce", "permission"}.
type AccessKey struct {
	Nonce      uint64              `json:"nonce"`
	Permission AccessKeyPermission `json:"permission"`
}

// FullAccessKey returns a full-access key with nonce 0.
func FullAccessKey() AccessKey { return AccessKey{} }

// AccessKeyPermission is FullAccess (FunctionCall == nil) or a function-call
// permission. JSON: "FullAccess" or {"FunctionCall": {...}}.
type AccessKeyPermission struct {
	FunctionCall *FunctionCallPermission
}

// IsFullAccess reports whether the permission is FullAccess.
func (p AccessKeyPermission) IsFullAccess() bool { return p.FunctionCall == nil }

// FunctionCallPermission limits a key to calls of MethodNames (any if empty)
// on ReceiverID, paid from Allowance (nil = unlimited).
type FunctionCallPermission struct {
	Allowance   *U128    `json:"allowance"`
	ReceiverID  string   `json:"receiver_id"`
	MethodNames []string `json:"method_names"`
}

// Encode writes the borsh form.
func (k AccessKey) Encode(w *Writer) {
	w.U64(k.Nonce)
	if k.Permission.FunctionCall == nil {
		w.U8(permFullAccess)
		return
	}
	p := k.Permission.FunctionCall
	w.U8(permFunctionCall)
	if p.Allowance == nil {
		w.U8(0)
	} else {
		w.U8(1)
		w.U128(*p.Allowance)
	}
	w.String(p.ReceiverID)
	w.U32(uint32(len(p.MethodNames)))
	for _, m := range p.MethodNames {
		w.String(m)
	}
}

// DecodeAccessKey reads the borsh form.
func DecodeAccessKey(r *Reader) AccessKey {
	var k AccessKey
	k.Nonce = r.U64()
	switch tag := r.U8(); tag {
	case permFullAccess:
	case permFunctionCall:
		p := &FunctionCallPermission{}
		switch opt := r.U8(); opt {
		case 0:
		case 1:
			a := r.U128()
			p.Allowance = &a
		default:
			r.Failf("borsh: invalid option tag %d for allowance", opt)
		}
		p.ReceiverID = r.String()
		n := r.Len(4)
		p.MethodNames = make([]string, 0, n)
		for i := 0; i < n && r.Err() == nil; i++ {
			p.MethodNames = append(p.MethodNames, r.String())
		}
		k.Permission.FunctionCall = p
	default:
		if r.Err() == nil {
			r.Failf("borsh: unsupported access key permission tag %d", tag)
		}
	}
	return k
}

// DelegateAction is the body of a NEP-366 meta-transaction.
type DelegateAction struct {
	SenderID       string    `json:"sender_id"`
	ReceiverID     string    `json:"receiver_id"`
	Actions        []Action  `json:"-"`
	Nonce          uint64    `json:"nonce"`
	MaxBlockHeight uint64    `json:"max_block_height"`
	PublicKey      PublicKey `json:"public_key"`
}

// delegateActionPrefix is NEP-461's signable-message discriminant for NEP-366.
const delegateActionPrefix = 1<<30 + 366

// Encode writes the borsh form.
func (d DelegateAction) Encode(w *Writer) {
	w.String(d.SenderID)
	w.String(d.ReceiverID)
	w.U32(uint32(len(d.Actions)))
	for _, a := range d.Actions {
		EncodeAction(w, a)
	}
	w.U64(d.Nonce)
	w.U64(d.MaxBlockHeight)
	d.PublicKey.Encode(w)
}

// SigningHash is sha256(u32_le(2^30+366) ‖ borsh(d)), the message a delegate
// action's signature covers.
func (d DelegateAction) SigningHash() CryptoHash {
	w := NewWriter(256)
	w.Fixed(binary.LittleEndian.AppendUint32(nil, delegateActionPrefix))
	d.Encode(w)
	return HashBytes(w.Bytes())
}

// DecodeDelegateAction reads the borsh form.
func DecodeDelegateAction(r *Reader) DelegateAction {
	var d DelegateAction
	d.SenderID = r.String()
	d.ReceiverID = r.String()
	n := r.Len(1)
	d.Actions = make([]Action, 0, n)
	for i := 0; i < n && r.Err() == nil; i++ {
		d.Actions = append(d.Actions, decodeAction(r, false))
	}
	d.Nonce = r.U64()
	d.MaxBlockHeight = r.U64()
	d.PublicKey = DecodePublicKey(r)
	return d
}
