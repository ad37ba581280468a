package devchain

import (
	"fmt"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain/internal/vm"
)

// txRecord follows one transaction from submission to its last refund.
type txRecord struct {
	signed   *near.SignedTransaction
	hash     near.CryptoHash
	included bool // the transaction is in a block
	outcome  *near.ExecutionOutcomeWithIDView
	// invalid is the InvalidTxError of a transaction that was accepted by RPC
	// but failed validation when its block was built (e.g. a nonce race).
	invalid *txError
	// receiptIDs lists the executed receipts in execution order.
	receiptIDs []near.CryptoHash
	// allReceipts lists every receipt the transaction caused.
	allReceipts    []near.CryptoHash
	pending        int // non-refund action receipts not yet executed
	pendingRefunds int
}

// txError is an InvalidTxError: JSON is its value inside
// {"InvalidTxError": ...}; Text is what error.data's display form says.
type txError struct {
	JSON any
	Text string
}

func (e *txError) Error() string { return e.Text }

// rpcError is the INVALID_TRANSACTION error nearcore answers with (details
// only in error.data).
func (e *txError) rpcError() *near.RPCError {
	return near.NewInvalidTransactionError(near.NewInvalidTxError(variantOf(e.JSON)))
}

func invalidTx(json any, format string, a ...any) *txError {
	return &txError{JSON: json, Text: fmt.Sprintf(format, a...)}
}

func actionsValidation(json any, format string, a ...any) *txError {
	return invalidTx(map[string]any{"ActionsValidation": json}, format, a...)
}

// txPlan is what a valid transaction costs and becomes.
type txPlan struct {
	actions   []vm.Action
	fees      vm.Fee
	prepaid   uint64 // function-call gas
	deposits  near.U128
	cost      near.U128
	key       near.AccessKey
	signer    *account
	signerPK  near.PublicKey
	keyIsFull bool
}

// convertActions turns transaction actions into receipt actions, applying
// NEAR's action validation.
func (c *Chain) convertActions(acts []near.Action) ([]vm.Action, *txError) {
	if len(acts) > maxActionsPerTransaction {
		return nil, actionsValidation(map[string]any{"TotalNumberOfActionsExceeded": map[string]any{"total_number_of_actions": len(acts), "limit": maxActionsPerTransaction}},
			"the transaction has %d actions, more than the limit %d", len(acts), maxActionsPerTransaction)
	}
	out := make([]vm.Action, 0, len(acts))
	var totalGas uint64
	sawDelegate := false
	for _, a := range acts {
		switch a := a.(type) {
		case near.CreateAccount:
			out = append(out, vm.Action{Kind: vm.ActCreateAccount})
		case near.DeployContract:
			if len(a.Code) > 4<<20 {
				return nil, actionsValidation(map[string]any{"ContractSizeExceeded": map[string]any{"size": len(a.Code), "limit": 4 << 20}},
					"contract size %d exceeds the limit %d", len(a.Code), 4<<20)
			}
			out = append(out, vm.Action{Kind: vm.ActDeployContract, Code: a.Code})
		case near.FunctionCall:
			if a.Gas == 0 {
				return nil, actionsValidation("FunctionCallZeroAttachedGas", "a function call attaches zero gas")
			}
			if len(a.MethodName) > 256 {
				return nil, actionsValidation(map[string]any{"FunctionCallMethodNameLengthExceeded": map[string]any{"length": len(a.MethodName), "limit": 256}},
					"method name length %d exceeds the limit 256", len(a.MethodName))
			}
			if len(a.Args) > 4<<20 {
				return nil, actionsValidation(map[string]any{"FunctionCallArgumentsLengthExceeded": map[string]any{"length": len(a.Args), "limit": 4 << 20}},
					"arguments length %d exceeds the limit %d", len(a.Args), 4<<20)
			}
			totalGas += a.Gas
			if totalGas < a.Gas || totalGas > c.cfg.MaxPrepaidGas {
				return nil, actionsValidation(map[string]any{"TotalPrepaidGasExceeded": map[string]any{"total_prepaid_gas": totalGas, "limit": c.cfg.MaxPrepaidGas}},
					"total prepaid gas %d exceeds the limit %d", totalGas, c.cfg.MaxPrepaidGas)
			}
			out = append(out, vm.Action{Kind: vm.ActFunctionCall, Method: a.MethodName, Args: a.Args, Gas: a.Gas, Deposit: a.Deposit})
		case near.Transfer:
			out = append(out, vm.Action{Kind: vm.ActTransfer, Deposit: a.Deposit})
		case near.AddKey:
			w := near.NewWriter(33)
			a.PublicKey.Encode(w)
			va := vm.Action{Kind: vm.ActAddKey, PublicKey: w.Bytes(), KeyNonce: a.AccessKey.Nonce, FullAccess: a.AccessKey.Permission.IsFullAccess()}
			if p := a.AccessKey.Permission.FunctionCall; p != nil {
				if err := near.ValidateAccountID(p.ReceiverID); err != nil {
					return nil, actionsValidation(map[string]any{"InvalidAccountId": map[string]any{"account_id": p.ReceiverID}}, "access key receiver: %v", err)
				}
				va.KeyReceiver, va.KeyMethods = p.ReceiverID, p.MethodNames
				if p.Allowance != nil {
					v := *p.Allowance
					va.Allowance = &v
				}
			}
			out = append(out, va)
		case near.DeleteKey:
			w := near.NewWriter(33)
			a.PublicKey.Encode(w)
			out = append(out, vm.Action{Kind: vm.ActDeleteKey, PublicKey: w.Bytes()})
		case near.DeleteAccount:
			if err := near.ValidateAccountID(a.BeneficiaryID); err != nil {
				return nil, actionsValidation(map[string]any{"InvalidAccountId": map[string]any{"account_id": a.BeneficiaryID}}, "beneficiary: %v", err)
			}
			out = append(out, vm.Action{Kind: vm.ActDeleteAccount, Beneficiary: a.BeneficiaryID})
		case near.Delegate:
			if sawDelegate {
				return nil, actionsValidation("DelegateActionMustBeOnlyOne", "a transaction may hold only one delegate action")
			}
			sawDelegate = true
			inner, verr := c.convertActions(a.DelegateAction.Actions)
			if verr != nil {
				return nil, verr
			}
			for _, ia := range inner {
				totalGas += ia.Gas
			}
			if totalGas > c.cfg.MaxPrepaidGas {
				return nil, actionsValidation(map[string]any{"TotalPrepaidGasExceeded": map[string]any{"total_prepaid_gas": totalGas, "limit": c.cfg.MaxPrepaidGas}},
					"total prepaid gas %d exceeds the limit %d", totalGas, c.cfg.MaxPrepaidGas)
			}
			w := near.NewWriter(256)
			near.EncodeAction(w, a)
			out = append(out, vm.Action{Kind: vm.ActDelegate, Delegate: w.Bytes(), DelegateActions: inner})
		default:
			name := fmt.Sprintf("%T", a)
			if t, ok := a.(interface{ Tag() near.ActionTag }); ok {
				name = t.Tag().String()
			}
			return nil, actionsValidation(map[string]any{"UnsupportedProtocolFeature": map[string]any{"protocol_feature": name, "version": protocolVersion}},
				"the devchain does not support %s actions", name)
		}
	}
	return out, nil
}

// validateTx applies nearcore's verifier rules against the current state.
func (c *Chain) validateTx(st *near.SignedTransaction, checkSignature bool) (*txPlan, *txError) {
	t := &st.Transaction
	if st.Size() > maxTransactionSize {
		return nil, invalidTx(map[string]any{"TransactionSizeExceeded": map[string]any{"size": st.Size(), "limit": maxTransactionSize}},
			"transaction size %d exceeds the limit %d", st.Size(), maxTransactionSize)
	}
	if near.ValidateAccountID(t.SignerID) != nil {
		return nil, invalidTx(map[string]any{"InvalidSignerId": map[string]any{"signer_id": t.SignerID}}, "invalid signer account id %q", t.SignerID)
	}
	if near.ValidateAccountID(t.ReceiverID) != nil {
		return nil, invalidTx(map[string]any{"InvalidReceiverId": map[string]any{"receiver_id": t.ReceiverID}}, "invalid receiver account id %q", t.ReceiverID)
	}
	// The signature cannot change between submission and inclusion, so the
	// second validation (in the block) skips the costly ed25519 check.
	if checkSignature {
		if err := st.Verify(); err != nil {
			return nil, invalidTx("InvalidSignature", "transaction has an invalid signature")
		}
	}
	// block_hash must be a recent block of this chain.
	refHeight, ok := c.heightOfHash(t.BlockHash)
	head := c.head()
	if !ok || head.Height+1-refHeight > transactionValidityPeriod {
		return nil, invalidTx("Expired", "transaction has expired (block hash %s is unknown or older than %d blocks)", t.BlockHash, transactionValidityPeriod)
	}
	acts, verr := c.convertActions(t.Actions)
	if verr != nil {
		return nil, verr
	}
	signer := c.st.accounts[t.SignerID]
	if signer == nil {
		return nil, invalidTx(map[string]any{"SignerDoesNotExist": map[string]any{"signer_id": t.SignerID}}, "signer %s does not exist", t.SignerID)
	}
	key, ok := signer.Keys[t.PublicKey]
	if !ok {
		return nil, invalidTx(map[string]any{"InvalidAccessKeyError": map[string]any{"AccessKeyNotFound": map[string]any{"account_id": t.SignerID, "public_key": t.PublicKey.String()}}},
			"signer %s has no access key %s", t.SignerID, t.PublicKey)
	}
	if t.Nonce <= key.Nonce {
		return nil, invalidTx(map[string]any{"InvalidNonce": map[string]any{"tx_nonce": t.Nonce, "ak_nonce": key.Nonce}},
			"transaction nonce %d must be larger than the access key nonce %d", t.Nonce, key.Nonce)
	}
	if upper := (head.Height + 1) * accessKeyNonceRange; t.Nonce >= upper {
		return nil, invalidTx(map[string]any{"NonceTooLarge": map[string]any{"tx_nonce": t.Nonce, "upper_bound": upper}},
			"transaction nonce %d must be smaller than %d", t.Nonce, upper)
	}
	p := &txPlan{actions: acts, key: key, signer: signer, signerPK: t.PublicKey, keyIsFull: key.Permission.IsFullAccess()}
	p.fees = vm.ReceiptFees(acts)
	p.prepaid, p.deposits = attachedGasAndDeposits(acts)
	gas := p.fees.Send + p.fees.Exec + p.prepaid
	gasCost := near.U128Product(gas, GasPrice)
	cost, ok := gasCost.Add(p.deposits)
	if !ok {
		return nil, invalidTx("CostOverflow", "transaction cost overflows u128")
	}
	p.cost = cost
	if perm := key.Permission.FunctionCall; perm != nil {
		if len(acts) != 1 || acts[0].Kind != vm.ActFunctionCall {
			return nil, invalidTx(map[string]any{"InvalidAccessKeyError": "RequiresFullAccess"}, "a function-call access key can only sign a single FunctionCall action")
		}
		if !acts[0].Deposit.IsZero() {
			return nil, invalidTx(map[string]any{"InvalidAccessKeyError": "DepositWithFunctionCall"}, "a function-call access key cannot attach a deposit")
		}
		if t.ReceiverID != perm.ReceiverID {
			return nil, invalidTx(map[string]any{"InvalidAccessKeyError": map[string]any{"ReceiverMismatch": map[string]any{"tx_receiver": t.ReceiverID, "ak_receiver": perm.ReceiverID}}},
				"transaction receiver %s does not match the access key's receiver %s", t.ReceiverID, perm.ReceiverID)
		}
		if len(perm.MethodNames) > 0 && !contains(perm.MethodNames, acts[0].Method) {
			return nil, invalidTx(map[string]any{"InvalidAccessKeyError": map[string]any{"MethodNameMismatch": map[string]any{"method_name": acts[0].Method}}},
				"method %s is not allowed by the access key", acts[0].Method)
		}
		if perm.Allowance != nil && perm.Allowance.Cmp(gasCost) < 0 {
			return nil, invalidTx(map[string]any{"InvalidAccessKeyError": map[string]any{"NotEnoughAllowance": map[string]any{
				"account_id": t.SignerID, "public_key": t.PublicKey.String(), "allowance": perm.Allowance.String(), "cost": gasCost.String()}}},
				"access key allowance %s is less than the cost %s", perm.Allowance, gasCost)
		}
	}
	rest, ok := signer.Amount.Sub(cost)
	if !ok {
		return nil, invalidTx(map[string]any{"NotEnoughBalance": map[string]any{"signer_id": t.SignerID, "balance": signer.Amount.String(), "cost": cost.String()}},
			"signer %s has %s yocto, the transaction costs %s", t.SignerID, signer.Amount, cost)
	}
	if need := requiredForStorage(signer.StorageUsage); rest.Cmp(need) < 0 {
		return nil, invalidTx(map[string]any{"LackBalanceForState": map[string]any{"signer_id": t.SignerID, "amount": need.String()}},
			"after paying, signer %s could not cover its storage (%s yocto needed)", t.SignerID, need)
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// includeTx validates the transaction again in block b and converts it into
// a receipt executed in the next block.
func (c *Chain) includeTx(b *block, tx *txRecord) {
	p, terr := c.validateTx(tx.signed, false)
	if terr != nil {
		tx.invalid = terr
		delete(c.txs, tx.hash) // like nearcore, an invalid transaction is never part of the chain
		return
	}
	t := &tx.signed.Transaction
	signer := p.signer
	c.st.setCause(changeCause{txHash: &tx.hash})
	c.st.touchAccount(t.SignerID)
	c.st.touchKey(t.SignerID, t.PublicKey)
	rest, _ := signer.Amount.Sub(p.cost)
	signer.Amount = rest
	key := p.key
	key.Nonce = t.Nonce
	if perm := key.Permission.FunctionCall; perm != nil && perm.Allowance != nil {
		gasCost := near.U128Product(p.fees.Send+p.fees.Exec+p.prepaid, GasPrice)
		left, _ := perm.Allowance.Sub(gasCost)
		np := *perm
		np.Allowance = &left
		key.Permission.FunctionCall = &np
	}
	signer.Keys[t.PublicKey] = key
	c.st.commit()

	w := near.NewWriter(33)
	t.PublicKey.Encode(w)
	r := &receipt{
		ID: deriveID(tx.hash, "receipt", 0), Predecessor: t.SignerID, Receiver: t.ReceiverID,
		Signer: t.SignerID, SignerKey: w.Bytes(), Actions: p.actions, PrepaidGas: p.fees.Exec + p.prepaid,
		GasPrice: GasPrice, Tx: tx,
	}
	tx.included = true
	c.included = append(c.included, tx)
	b.Txs = append(b.Txs, tx)
	burnt := p.fees.Send
	b.GasBurnt += burnt
	tx.outcome = &near.ExecutionOutcomeWithIDView{
		BlockHash: b.Hash, ID: tx.hash,
		Outcome: near.ExecutionOutcomeView{
			ReceiptIDs: []near.CryptoHash{r.ID}, GasBurnt: burnt,
			TokensBurnt: near.U128Product(burnt, GasPrice), ExecutorID: t.SignerID,
			Status: near.SuccessReceiptID(r.ID), Metadata: near.ExecutionMetadataView{Version: 3, GasProfile: []near.CostGasUsed{}},
		},
	}
	c.enqueue(r)
}

// attachedGasAndDeposits sums the gas attached to function calls and the
// deposits of actions, counting a delegate action's inner actions (its
// relayer pays for them).
func attachedGasAndDeposits(acts []vm.Action) (gas uint64, deposits near.U128) {
	for i := range acts {
		a := &acts[i]
		switch a.Kind {
		case vm.ActFunctionCall:
			gas += a.Gas
			deposits, _ = deposits.Add(a.Deposit)
		case vm.ActTransfer:
			deposits, _ = deposits.Add(a.Deposit)
		case vm.ActDelegate:
			g, d := attachedGasAndDeposits(a.DelegateActions)
			gas += g
			deposits, _ = deposits.Add(d)
		}
	}
	return gas, deposits
}
