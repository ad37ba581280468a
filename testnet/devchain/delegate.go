package devchain

import (
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain/internal/vm"
)

// NEP-366 meta-transactions. A relayer signs a transaction to the sender's
// account holding one Delegate action; when that receipt runs on the
// sender's account, the delegate action is checked as nearcore's
// apply_delegate_action does (signature, expiry, sender, the sender's access
// key and its nonce) and becomes a receipt from the sender to the delegate's
// receiver with the inner actions, paid for by the relayer.

func decodeDelegate(b []byte) (near.Delegate, error) {
	r := near.NewReader(b)
	a := near.DecodeAction(r)
	if err := r.Finish(); err != nil {
		return near.Delegate{}, err
	}
	d, _ := a.(near.Delegate)
	return d, nil
}

// applyDelegate checks the delegate action of receipt r (on the sender's
// account acc) and returns the receipt it becomes, with the execution fees
// of that receipt (prepaid by the relayer and burnt when it runs).
func (c *Chain) applyDelegate(i int, b *block, r *receipt, a *vm.Action, acc *account) (*receipt, uint64, *actionFailure) {
	d, err := decodeDelegate(a.Delegate)
	if err != nil {
		return nil, 0, failAt(i, "DelegateActionInvalidSignature")
	}
	da := d.DelegateAction
	h := da.SigningHash()
	if da.PublicKey.Verify(h[:], d.Signature) != nil {
		return nil, 0, failAt(i, "DelegateActionInvalidSignature")
	}
	if b.Height > da.MaxBlockHeight {
		return nil, 0, failAt(i, "DelegateActionExpired")
	}
	if da.SenderID != r.Receiver {
		return nil, 0, failAt(i, map[string]any{"DelegateActionSenderDoesNotMatchTxReceiver": map[string]any{"sender_id": da.SenderID, "receiver_id": r.Receiver}})
	}
	key, ok := acc.Keys[da.PublicKey]
	if !ok {
		return nil, 0, failAt(i, map[string]any{"DelegateActionAccessKeyError": map[string]any{"AccessKeyNotFound": map[string]any{"account_id": da.SenderID, "public_key": da.PublicKey.String()}}})
	}
	if da.Nonce <= key.Nonce {
		return nil, 0, failAt(i, map[string]any{"DelegateActionInvalidNonce": map[string]any{"delegate_nonce": da.Nonce, "ak_nonce": key.Nonce}})
	}
	if upper := b.Height * accessKeyNonceRange; da.Nonce >= upper {
		return nil, 0, failAt(i, map[string]any{"DelegateActionNonceTooLarge": map[string]any{"delegate_nonce": da.Nonce, "upper_bound": upper}})
	}
	inner := a.DelegateActions
	if perm := key.Permission.FunctionCall; perm != nil {
		keyErr := func(kind any) *actionFailure {
			return failAt(i, map[string]any{"DelegateActionAccessKeyError": kind})
		}
		if len(inner) != 1 || inner[0].Kind != vm.ActFunctionCall {
			return nil, 0, keyErr("RequiresFullAccess")
		}
		if !inner[0].Deposit.IsZero() {
			return nil, 0, keyErr("DepositWithFunctionCall")
		}
		if da.ReceiverID != perm.ReceiverID {
			return nil, 0, keyErr(map[string]any{"ReceiverMismatch": map[string]any{"tx_receiver": da.ReceiverID, "ak_receiver": perm.ReceiverID}})
		}
		if len(perm.MethodNames) > 0 && !contains(perm.MethodNames, inner[0].Method) {
			return nil, 0, keyErr(map[string]any{"MethodNameMismatch": map[string]any{"method_name": inner[0].Method}})
		}
	}
	key.Nonce = da.Nonce
	c.st.setKey(acc, da.PublicKey, key)
	gas, _ := attachedGasAndDeposits(inner)
	cr := &receipt{Predecessor: da.SenderID, Receiver: da.ReceiverID, Signer: r.Signer, SignerKey: r.SignerKey,
		GasPrice: r.GasPrice, Actions: inner}
	innerExec := receiptExecFee(cr)
	cr.PrepaidGas = innerExec + gas
	return cr, innerExec, nil
}
