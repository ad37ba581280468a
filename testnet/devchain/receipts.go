package devchain

import (
	"context"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/devchain/internal/vm"
)

// receipt is an action receipt or a data receipt.
type receipt struct {
	ID          near.CryptoHash
	Predecessor string
	Receiver    string
	Tx          *txRecord `json:"-"` // persisted by hash

	// Action receipt.
	Signer              string
	SignerKey           []byte // borsh
	GasPrice            uint64
	Actions             []vm.Action
	InputDataIDs        []near.CryptoHash
	OutputDataReceivers []vm.DataReceiver
	IsYield             bool
	IsRefund            bool
	// PrepaidGas is what the receipt may spend: its actions' execution fees
	// plus the gas attached to its function calls.
	PrepaidGas uint64

	// Data receipt.
	IsData   bool
	DataID   near.CryptoHash
	Data     []byte
	DataNone bool
	IsResume bool

	// refundGas is the gas a refund receipt gives back (restored to a
	// function-call key's allowance).
	refundGas uint64
}

// receiptExecFee is the execution fee the creator of a receipt prepaid: the
// receipt, its actions, and one data dependency per input.
func receiptExecFee(r *receipt) uint64 {
	return vm.ReceiptFees(r.Actions).Exec + uint64(len(r.InputDataIDs))*vm.FeeDataReceiptBase.Exec
}

// enqueue schedules a receipt for the next block and counts it against its
// transaction.
func (c *Chain) enqueue(r *receipt) {
	c.receipts[r.ID] = r
	if r.Tx != nil {
		r.Tx.allReceipts = append(r.Tx.allReceipts, r.ID)
		switch {
		case r.IsData:
		case r.IsRefund:
			r.Tx.pendingRefunds++
		default:
			r.Tx.pending++
		}
	}
	c.incoming = append(c.incoming, r)
}

// applyReceipt delivers a data receipt or runs an action receipt whose inputs
// are all there.
func (c *Chain) applyReceipt(ctx context.Context, b *block, r *receipt) {
	b.Receipts = append(b.Receipts, r)
	if r.IsData {
		if r.DataNone && r.IsResume && c.resumeInitiated[r.DataID] {
			// nearcore's PromiseYieldStatus::ResumeInitiated: a resume already
			// ran (its payload is on the way), so the timeout is cancelled.
			return
		}
		waiting, ok := c.waitingData[r.DataID]
		if !ok {
			if r.IsResume {
				return // the yield already ran: a second resume or a late timeout; the first one won
			}
			if _, dup := c.received[r.DataID]; !dup {
				c.received[r.DataID] = &dataValue{data: dataOrNil(r)}
			}
			return
		}
		c.received[r.DataID] = &dataValue{data: dataOrNil(r)}
		delete(c.resumeInitiated, r.DataID)
		delete(c.yields, r.DataID)
		delete(c.waitingData, r.DataID)
		if ar := c.postponed[waiting]; ar != nil && c.inputsReady(ar) {
			delete(c.postponed, waiting)
			c.executeAction(ctx, b, ar)
		}
		return
	}
	if !c.inputsReady(r) {
		c.postponed[r.ID] = r
		for _, id := range r.InputDataIDs {
			if _, ok := c.received[id]; !ok {
				c.waitingData[id] = r.ID
			}
		}
		return
	}
	c.executeAction(ctx, b, r)
}

func (c *Chain) inputsReady(r *receipt) bool {
	for _, id := range r.InputDataIDs {
		if _, ok := c.received[id]; !ok {
			return false
		}
	}
	return true
}

// dataOrNil is a data receipt's payload: nil for None, non-nil (maybe
// empty) for Some.
func dataOrNil(r *receipt) []byte {
	if r.DataNone {
		return nil
	}
	if r.Data == nil {
		return []byte{}
	}
	return r.Data
}

// fireYieldTimeouts resumes, with a failed result, every yield whose timeout
// has come and that nobody resumed.
func (c *Chain) fireYieldTimeouts(b *block) {
	// The queue is ordered by expiresAt (entries are appended block by block).
	n := 0
	for _, t := range c.timeouts {
		if t.expiresAt > b.Height {
			break
		}
		n++
		if c.yields[t.dataID] == "" {
			continue // resumed already
		}
		// As nearcore: a PromiseResume with no data from the contract to itself.
		owner := c.yields[t.dataID]
		r := &receipt{ID: deriveID(t.dataID, "yield-timeout", b.Height), IsData: true, DataID: t.dataID, DataNone: true, IsResume: true,
			Predecessor: owner, Receiver: owner}
		if waiting := c.postponed[c.waitingData[t.dataID]]; waiting != nil {
			r.Tx = waiting.Tx
		}
		c.enqueue(r)
	}
	c.timeouts = append(c.timeouts[:0], c.timeouts[n:]...)
}

// actionFailure is an ActionError: which action failed and why.
type actionFailure struct {
	index *int
	kind  any
}

func failAt(i int, kind any) *actionFailure { return &actionFailure{index: &i, kind: kind} }

func (f *actionFailure) err() *near.TxExecutionError {
	ae := &near.ActionError{Kind: variantOf(f.kind)}
	if f.index != nil {
		i := uint64(*f.index)
		ae.Index = &i
	}
	return &near.TxExecutionError{ActionError: ae}
}

// executeAction runs all actions of an action receipt atomically.
func (c *Chain) executeAction(ctx context.Context, b *block, r *receipt) {
	c.st.setCause(changeCause{receiptID: &r.ID})
	mark := c.st.mark()
	var burnt uint64 // refunds burn nothing
	if !r.IsRefund {
		burnt = receiptExecFee(r)
	}
	var (
		logs       []string
		created    []*receipt
		resumes    []vm.DataReceipt
		returnData []byte
		returnRcpt = -1
		childGas   uint64
		fail       *actionFailure
	)
	results := make([]vm.PromiseResult, len(r.InputDataIDs))
	for i, id := range r.InputDataIDs {
		if d := c.received[id]; d != nil && d.data != nil {
			results[i] = vm.PromiseResult{Data: d.data}
		} else {
			results[i] = vm.PromiseResult{Failed: true}
		}
		delete(c.received, id) // consumed: nothing else waits for this data id
	}
	acc := c.st.accounts[r.Receiver]
	createdHere := false
	for i := range r.Actions {
		a := &r.Actions[i]
		returnData, returnRcpt = nil, -1
		if acc == nil && a.Kind != vm.ActCreateAccount && !(a.Kind == vm.ActTransfer && near.AccountIDKind(r.Receiver) == near.NearImplicitAccount) {
			fail = failAt(i, map[string]any{"AccountDoesNotExist": map[string]any{"account_id": r.Receiver}})
			break
		}
		needsOwner := a.Kind == vm.ActDeployContract || a.Kind == vm.ActAddKey || a.Kind == vm.ActDeleteKey || a.Kind == vm.ActDeleteAccount || a.Kind == vm.ActStake
		if needsOwner && !createdHere && r.Predecessor != r.Receiver {
			fail = failAt(i, map[string]any{"ActorNoPermission": map[string]any{"account_id": r.Receiver, "actor_id": r.Predecessor}})
			break
		}
		switch a.Kind {
		case vm.ActCreateAccount:
			if acc != nil {
				fail = failAt(i, map[string]any{"AccountAlreadyExists": map[string]any{"account_id": r.Receiver}})
				break
			}
			if f := c.checkCreateAllowed(i, r); f != nil {
				fail = f
				break
			}
			acc = c.st.createAccount(r.Receiver)
			createdHere = true
		case vm.ActDeployContract:
			c.st.setCode(acc, a.Code)
		case vm.ActTransfer:
			if acc == nil { // a transfer to a NEAR-implicit account creates it with its key
				acc = c.st.createAccount(r.Receiver)
				createdHere = true
				if pk, err := implicitKey(r.Receiver); err == nil {
					k := near.AccessKey{Nonce: (b.Height - 1) * accessKeyNonceRange}
					c.st.setKey(acc, pk, k)
					c.st.setStorageUsage(acc, acc.StorageUsage+accessKeyStorage(pk, k))
				}
			}
			sum, _ := acc.Amount.Add(a.Deposit)
			c.st.setAmount(acc, sum)
		case vm.ActAddKey:
			pk, _ := pkFromBorsh(a.PublicKey)
			if _, exists := acc.Keys[pk]; exists {
				fail = failAt(i, map[string]any{"AddKeyAlreadyExists": map[string]any{"account_id": r.Receiver, "public_key": pk.String()}})
				break
			}
			k := vmAccessKey(a)
			k.Nonce = (b.Height - 1) * accessKeyNonceRange
			c.st.setKey(acc, pk, k)
			c.st.setStorageUsage(acc, acc.StorageUsage+accessKeyStorage(pk, k))
		case vm.ActDeleteKey:
			pk, _ := pkFromBorsh(a.PublicKey)
			k, exists := acc.Keys[pk]
			if !exists {
				fail = failAt(i, map[string]any{"DeleteKeyDoesNotExist": map[string]any{"account_id": r.Receiver, "public_key": pk.String()}})
				break
			}
			c.st.deleteKey(acc, pk)
			c.st.setStorageUsage(acc, acc.StorageUsage-accessKeyStorage(pk, k))
		case vm.ActDeleteAccount:
			if len(acc.Data) > 0 && acc.StorageUsage > 10_000 {
				fail = failAt(i, map[string]any{"DeleteAccountWithLargeState": map[string]any{"account_id": r.Receiver}})
				break
			}
			if !acc.Amount.IsZero() {
				created = append(created, &receipt{Receiver: a.Beneficiary, Predecessor: systemAccount, IsRefund: true,
					Actions: []vm.Action{{Kind: vm.ActTransfer, Deposit: acc.Amount}}})
			}
			c.st.deleteAccount(r.Receiver)
			acc = nil
		case vm.ActDelegate:
			cr, innerExec, f := c.applyDelegate(i, b, r, a, acc)
			if f != nil {
				fail = f
				break
			}
			burnt -= innerExec // prepaid by the relayer, burnt by the inner receipt
			childGas += cr.PrepaidGas
			created = append(created, cr)
		case vm.ActStake:
			fail = failAt(i, map[string]any{"TriesToStake": map[string]any{"account_id": r.Receiver, "stake": a.Deposit.String(), "locked": "0", "balance": acc.Amount.String()}})
		case vm.ActFunctionCall:
			sum, _ := acc.Amount.Add(a.Deposit)
			c.st.setAmount(acc, sum)
			out := c.runFunctionCall(ctx, b, r, a, acc, results)
			burnt += out.BurntGas
			logs = append(logs, out.Logs...)
			if out.Err != nil {
				fail = failAt(i, map[string]any{"FunctionCallError": out.Err})
				break
			}
			left, _ := acc.Amount.Sub(out.BalanceSpent)
			c.st.setAmount(acc, left)
			c.st.setStorageUsage(acc, out.StorageUsage)
			childGas += out.UsedGas - out.BurntGas
			returnData, returnRcpt = out.ReturnData, out.ReturnPromise
			resumes = append(resumes, out.DataReceipts...)
			base := len(created)
			for _, vr := range out.Receipts {
				var fcGas uint64
				for _, va := range vr.Actions {
					fcGas += va.Gas
				}
				cr := &receipt{Predecessor: r.Receiver, Receiver: vr.Receiver, Signer: r.Signer, SignerKey: r.SignerKey,
					GasPrice: r.GasPrice, Actions: vr.Actions, IsYield: vr.IsYield, OutputDataReceivers: vr.OutputDataReceivers}
				for _, id := range vr.InputDataIDs {
					cr.InputDataIDs = append(cr.InputDataIDs, near.CryptoHash(id))
				}
				cr.PrepaidGas = receiptExecFee(cr) + fcGas
				created = append(created, cr)
			}
			if returnRcpt >= 0 {
				returnRcpt += base
			}
		}
		if fail != nil {
			break
		}
	}
	if fail == nil && acc != nil {
		if need := requiredForStorage(acc.StorageUsage); acc.Amount.Cmp(need) < 0 {
			fail = &actionFailure{kind: map[string]any{"LackBalanceForState": map[string]any{"account_id": r.Receiver, "amount": need.String()}}}
		}
	}
	if burnt > r.PrepaidGas && !r.IsRefund {
		burnt = r.PrepaidGas
	}

	var status near.ExecutionStatus
	var childIDs []near.CryptoHash
	if fail != nil {
		c.st.rollback(mark)
		created, resumes, childGas = nil, nil, 0
		status = near.Failure(fail.err())
		// Refund the deposits of a failed receipt to its predecessor.
		_, deposits := attachedGasAndDeposits(r.Actions)
		if !deposits.IsZero() && r.Predecessor != systemAccount {
			created = append(created, &receipt{Receiver: r.Predecessor, Predecessor: systemAccount, IsRefund: true,
				Actions: []vm.Action{{Kind: vm.ActTransfer, Deposit: deposits}}})
		}
		for _, od := range r.OutputDataReceivers {
			c.enqueueData(r, near.CryptoHash(od.DataID), od.Receiver, nil, true)
		}
	} else {
		c.st.commit()
		if returnRcpt >= 0 {
			// SuccessReceiptId is filled in once ids are assigned.
			created[returnRcpt].OutputDataReceivers = append(created[returnRcpt].OutputDataReceivers, r.OutputDataReceivers...)
		} else {
			status = near.SuccessValue(returnData)
			for _, od := range r.OutputDataReceivers {
				c.enqueueData(r, near.CryptoHash(od.DataID), od.Receiver, returnData, false)
			}
		}
	}
	// Unused gas goes back to the signer.
	if !r.IsRefund && r.PrepaidGas > burnt+childGas && r.Signer != "" && r.Predecessor != systemAccount {
		refund := r.PrepaidGas - burnt - childGas
		created = append(created, &receipt{Receiver: r.Signer, Predecessor: systemAccount, IsRefund: true, SignerKey: r.SignerKey,
			Actions: []vm.Action{{Kind: vm.ActTransfer, Deposit: near.U128Product(refund, r.GasPrice)}}, refundGas: refund})
	}
	for n, cr := range created {
		cr.ID = deriveID(r.ID, "receipt", uint64(n)+1)
		cr.Tx = r.Tx
		if cr.IsRefund && cr.Signer == "" {
			cr.Signer = systemAccount
		}
		childIDs = append(childIDs, cr.ID)
		if cr.IsYield {
			// nearcore queues the timeout when the creating call succeeds, at
			// the creating block's height (not when the yield receipt arrives
			// one block later): it fires at the end of block created+timeout
			// and the callback runs, with PromiseResult::Failed, one block
			// after that.
			c.yields[cr.InputDataIDs[0]] = cr.Receiver
			c.timeouts = append(c.timeouts, yieldTimeout{dataID: cr.InputDataIDs[0], expiresAt: b.Height + c.cfg.YieldTimeout})
		}
		c.enqueue(cr)
	}
	if fail == nil && returnRcpt >= 0 {
		status = near.SuccessReceiptID(created[returnRcpt].ID)
	}
	for _, dr := range resumes {
		id := near.CryptoHash(dr.DataID)
		if c.yields[id] != "" {
			c.resumeInitiated[id] = true
		}
		c.enqueueData(r, id, dr.Receiver, dr.Data, false)
	}
	if r.IsRefund && fail == nil {
		c.restoreAllowance(r)
	}
	b.GasBurnt += burnt
	c.outcomes[r.ID] = &near.ExecutionOutcomeWithIDView{
		BlockHash: b.Hash, ID: r.ID,
		Outcome: near.ExecutionOutcomeView{
			Logs: logs, ReceiptIDs: childIDs, GasBurnt: burnt, TokensBurnt: near.U128Product(burnt, r.GasPrice),
			ExecutorID: r.Receiver, Status: status, Metadata: near.ExecutionMetadataView{Version: 3, GasProfile: []near.CostGasUsed{}},
		},
	}
	if tx := r.Tx; tx != nil {
		tx.receiptIDs = append(tx.receiptIDs, r.ID)
		if r.IsRefund {
			tx.pendingRefunds--
		} else {
			tx.pending--
		}
	}
}

func (c *Chain) enqueueData(parent *receipt, id near.CryptoHash, receiver string, data []byte, none bool) {
	if !none && data == nil {
		data = []byte{}
	}
	c.enqueue(&receipt{ID: deriveID(parent.ID, "data:"+id.String(), 0), IsData: true, DataID: id, Receiver: receiver,
		Predecessor: parent.Receiver, Data: data, DataNone: none, Tx: parent.Tx})
}

// checkCreateAllowed applies NEAR's account creation rules: a sub-account
// only by its direct parent, a top-level account only by the registrar. The
// devchain's root account may create any account (documented deviation).
func (c *Chain) checkCreateAllowed(i int, r *receipt) *actionFailure {
	id, pred := r.Receiver, r.Predecessor
	if pred == c.cfg.RootAccount || near.AccountIDKind(id) != near.NamedAccount {
		return nil
	}
	if near.IsTopLevelAccount(id) {
		if pred == registrarAccount {
			return nil
		}
		return failAt(i, map[string]any{"CreateAccountOnlyByRegistrar": map[string]any{"account_id": id, "registrar_account_id": registrarAccount, "predecessor_id": pred}})
	}
	if near.IsSubAccountOf(id, pred) {
		return nil
	}
	return failAt(i, map[string]any{"CreateAccountNotAllowed": map[string]any{"account_id": id, "predecessor_id": pred}})
}

func implicitKey(id string) (near.PublicKey, error) {
	raw := make([]byte, 32)
	for i := range raw {
		var v byte
		for _, ch := range id[2*i : 2*i+2] {
			v <<= 4
			switch {
			case ch >= '0' && ch <= '9':
				v |= byte(ch - '0')
			default:
				v |= byte(ch-'a') + 10
			}
		}
		raw[i] = v
	}
	return near.NewPublicKey(near.ED25519, raw)
}

// restoreAllowance gives a function-call key back the allowance of refunded gas.
func (c *Chain) restoreAllowance(r *receipt) {
	if r.refundGas == 0 || r.Tx == nil {
		return
	}
	signer := c.st.accounts[r.Receiver]
	if signer == nil {
		return
	}
	pk := r.Tx.signed.Transaction.PublicKey
	k, ok := signer.Keys[pk]
	if !ok || k.Permission.FunctionCall == nil || k.Permission.FunctionCall.Allowance == nil {
		return
	}
	np := *k.Permission.FunctionCall
	v, ok := np.Allowance.Add(near.U128Product(r.refundGas, GasPrice))
	if !ok {
		return
	}
	np.Allowance = &v
	k.Permission.FunctionCall = &np
	c.st.touchKey(r.Receiver, pk)
	signer.Keys[pk] = k
	c.st.commit()
}

// runFunctionCall executes one FunctionCall action in the VM.
func (c *Chain) runFunctionCall(ctx context.Context, b *block, r *receipt, a *vm.Action, acc *account, results []vm.PromiseResult) *vm.Outcome {
	code := c.st.codeOf(acc)
	if code == nil {
		return &vm.Outcome{ReturnPromise: -1, Err: vm.CodeDoesNotExist(r.Receiver)}
	}
	seed := deriveID(b.Hash, "seed:"+r.ID.String(), 0)
	vctx := &vm.Context{
		CurrentAccount: r.Receiver, Signer: r.Signer, SignerPublicKey: r.SignerKey, Predecessor: r.Predecessor,
		Input: a.Args, BlockHeight: b.Height, BlockTimestamp: b.Timestamp, EpochHeight: b.Height / epochLength,
		ChainID: c.cfg.ChainID, RandomSeed: seed[:], AccountBalance: acc.Amount, AccountLocked: acc.Locked,
		AttachedDeposit: a.Deposit, StorageUsage: acc.StorageUsage, PrepaidGas: a.Gas, PromiseResults: results,
	}
	host := &accountStorage{s: c.st, a: acc, account: r.Receiver, chain: c, parent: r.ID}
	return c.engine.Run(ctx, code, a.Method, vctx, host)
}
