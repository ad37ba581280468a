package devchain

import (
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain/internal/vm"
)

// The devchain serves its RPC results with contracts/near's view types, so
// the client and the chain share one definition of every JSON shape. This
// file converts the chain's internal records into those views.

// zeroSignature stands in for block, chunk and approval signatures (a single
// node signs nothing).
var zeroSignature, _ = near.NewSignature(near.ED25519, make([]byte, 64))

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// variantOf turns an error kind built as "Name" or {"Name": body} into a
// near.Variant (how nearcore's externally tagged enums are modelled).
func variantOf(kind any) near.Variant {
	switch k := kind.(type) {
	case string:
		return near.UnitVariant(k)
	case near.Variant:
		return k
	case map[string]any:
		if len(k) == 1 {
			for name, body := range k {
				return near.NewVariant(name, body)
			}
		}
	}
	var v near.Variant
	b, err := json.Marshal(kind)
	if err == nil && v.UnmarshalJSON(b) == nil {
		return v
	}
	return near.UnitVariant("Unknown")
}

// nearAction is the contracts/near action of a receipt action.
func nearAction(a *vm.Action) near.Action {
	switch a.Kind {
	case vm.ActCreateAccount:
		return near.CreateAccount{}
	case vm.ActDeployContract:
		return near.DeployContract{Code: a.Code}
	case vm.ActFunctionCall:
		return near.FunctionCall{MethodName: a.Method, Args: a.Args, Gas: a.Gas, Deposit: a.Deposit}
	case vm.ActTransfer:
		return near.Transfer{Deposit: a.Deposit}
	case vm.ActStake:
		pk, _ := pkFromBorsh(a.PublicKey)
		return near.Stake{Stake: a.Deposit, PublicKey: pk}
	case vm.ActAddKey:
		pk, _ := pkFromBorsh(a.PublicKey)
		return near.AddKey{PublicKey: pk, AccessKey: vmAccessKey(a)}
	case vm.ActDeleteKey:
		pk, _ := pkFromBorsh(a.PublicKey)
		return near.DeleteKey{PublicKey: pk}
	case vm.ActDeleteAccount:
		return near.DeleteAccount{BeneficiaryID: a.Beneficiary}
	case vm.ActDelegate:
		if d, err := decodeDelegate(a.Delegate); err == nil {
			return d
		}
	}
	return nil
}

func actionViews(acts []vm.Action) []near.ActionView {
	out := make([]near.ActionView, 0, len(acts))
	for i := range acts {
		if na := nearAction(&acts[i]); na != nil {
			v := near.NewActionView(na)
			if d, ok := na.(near.DeployContract); ok {
				h := near.HashBytes(d.Code)
				v.CodeHash = h[:]
			}
			out = append(out, v)
		}
	}
	return out
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
	if p.MethodNames == nil {
		p.MethodNames = []string{}
	}
	if a.Allowance != nil {
		v := *a.Allowance
		p.Allowance = &v
	}
	return near.AccessKey{Nonce: a.KeyNonce, Permission: near.AccessKeyPermission{FunctionCall: p}}
}

// accessKeyView makes sure a function-call permission lists its methods as
// [] rather than null, as nearcore does.
func accessKeyView(k near.AccessKey) near.AccessKey {
	if p := k.Permission.FunctionCall; p != nil && p.MethodNames == nil {
		np := *p
		np.MethodNames = []string{}
		k.Permission.FunctionCall = &np
	}
	return k
}

// receiptView is nearcore's ReceiptView of a receipt.
func receiptView(r *receipt) near.ReceiptView {
	v := near.ReceiptView{PredecessorID: r.Predecessor, ReceiverID: r.Receiver, ReceiptID: r.ID}
	if r.IsData {
		d := &near.DataReceiptView{DataID: r.DataID, IsPromiseResume: r.IsResume}
		if !r.DataNone {
			d.Data = r.Data
			if d.Data == nil {
				d.Data = []byte{}
			}
		}
		v.Receipt.Data = d
		return v
	}
	outs := make([]near.DataReceiverView, 0, len(r.OutputDataReceivers))
	for _, o := range r.OutputDataReceivers {
		outs = append(outs, near.DataReceiverView{DataID: near.CryptoHash(o.DataID), ReceiverID: o.Receiver})
	}
	ins := make([]near.CryptoHash, 0, len(r.InputDataIDs))
	ins = append(ins, r.InputDataIDs...)
	signerKey, _ := pkFromBorsh(r.SignerKey)
	gasPrice := near.NewU128(r.GasPrice)
	if r.IsRefund {
		gasPrice = near.U128{}
		if signerKey.IsZero() {
			signerKey, _ = near.NewPublicKey(near.ED25519, make([]byte, 32))
		}
	}
	v.Receipt.Action = &near.ActionReceiptView{
		SignerID: r.Signer, SignerPublicKey: signerKey, GasPrice: gasPrice,
		OutputDataReceivers: outs, InputDataIDs: ins, Actions: actionViews(r.Actions), IsPromiseYield: r.IsYield,
	}
	return v
}

func (c *Chain) chunkHeaderView(b *block) near.ChunkHeaderView {
	burnt, _ := near.NewU128(b.GasBurnt).Mul64(GasPrice)
	return near.ChunkHeaderView{
		ChunkHash: b.ChunkHash, PrevBlockHash: b.PrevHash, HeightCreated: b.Height, HeightIncluded: b.Height,
		GasUsed: b.GasBurnt, GasLimit: 1_000_000_000_000_000, BalanceBurnt: burnt,
		ValidatorProposals: []json.RawMessage{}, CongestionInfo: json.RawMessage(`null`), Signature: zeroSignature,
	}
}

func (c *Chain) blockView(b *block) *near.BlockView {
	var prevHeight *uint64
	if b.Height > genesisHeight {
		p := b.Height - 1
		prevHeight = &p
	}
	ordinal := b.Height
	return &near.BlockView{
		Author: c.cfg.RootAccount,
		Header: near.BlockHeaderView{
			Height: b.Height, PrevHeight: prevHeight, Hash: b.Hash, PrevHash: b.PrevHash, BlockBodyHash: &near.CryptoHash{},
			ChunksIncluded: 1, Timestamp: b.Timestamp, TimestampNanosec: strconv.FormatUint(b.Timestamp, 10),
			RandomValue: deriveID(b.Hash, "random", 0), ValidatorProposals: []json.RawMessage{}, ChunkMask: []bool{true},
			GasPrice: near.NewU128(GasPrice), BlockOrdinal: &ordinal, ChallengesResult: []json.RawMessage{},
			LastFinalBlock: b.Hash, LastDSFinalBlock: b.Hash, Approvals: []*near.Signature{}, Signature: zeroSignature,
			LatestProtocolVersion: protocolVersion,
		},
		Chunks: []near.ChunkHeaderView{c.chunkHeaderView(b)},
	}
}
