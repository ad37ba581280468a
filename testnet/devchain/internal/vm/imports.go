package vm

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/tetratelabs/wazero/api"
	//lint:ignore SA1019 NEAR exposes RIPEMD-160 as a host function; contracts rely on it
	"golang.org/x/crypto/ripemd160"
	"golang.org/x/crypto/sha3"

	"github.com/outlayer/outlayer/contracts/near"
)

type viewRule bool

const (
	allowedInView viewRule = false
	piv           viewRule = true // prohibited in view calls
)

type hostFunction struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	view    viewRule
	fn      func(l *logic, a []uint64) uint64
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

func i64s(n int) []api.ValueType {
	t := make([]api.ValueType, n)
	for i := range t {
		t[i] = i64
	}
	return t
}

// fn declares a host function taking n i64 parameters.
func fn(name string, n int, result bool, view viewRule, f func(l *logic, a []uint64) uint64) hostFunction {
	h := hostFunction{name: name, params: i64s(n), view: view, fn: f}
	if result {
		h.results = []api.ValueType{i64}
	}
	return h
}

func notSupported(name string, n int, result bool, view viewRule) hostFunction {
	return fn(name, n, result, view, func(l *logic, _ []uint64) uint64 {
		l.abort(unsupported(name))
		return 0
	})
}

// hostFunctions is NEAR's complete `env` import table (near-sys 0.2.13 plus
// nearcore's newer imports), so every contract links.
var hostFunctions = []hostFunction{
	// Registers.
	fn("read_register", 2, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.memWrite(a[1], l.readRegister(a[0]))
		return 0
	}),
	fn("register_len", 1, true, allowedInView, func(l *logic, a []uint64) uint64 {
		if b, ok := l.registers[a[0]]; ok {
			return uint64(len(b))
		}
		return noRegister
	}),
	fn("write_register", 3, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.writeRegister(a[0], l.memRead(a[2], a[1]))
		return 0
	}),

	// Context.
	fn("current_account_id", 1, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.writeRegister(a[0], []byte(l.ctx.CurrentAccount))
		return 0
	}),
	fn("signer_account_id", 1, false, piv, func(l *logic, a []uint64) uint64 {
		l.writeRegister(a[0], []byte(l.ctx.Signer))
		return 0
	}),
	fn("signer_account_pk", 1, false, piv, func(l *logic, a []uint64) uint64 {
		l.writeRegister(a[0], l.ctx.SignerPublicKey)
		return 0
	}),
	fn("predecessor_account_id", 1, false, piv, func(l *logic, a []uint64) uint64 {
		l.writeRegister(a[0], []byte(l.ctx.Predecessor))
		return 0
	}),
	fn("refund_to_account_id", 1, false, piv, func(l *logic, a []uint64) uint64 {
		l.writeRegister(a[0], []byte(l.ctx.Predecessor))
		return 0
	}),
	fn("input", 1, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.writeRegister(a[0], l.ctx.Input)
		return 0
	}),
	fn("block_index", 0, true, allowedInView, func(l *logic, _ []uint64) uint64 { return l.ctx.BlockHeight }),
	fn("block_height", 0, true, allowedInView, func(l *logic, _ []uint64) uint64 { return l.ctx.BlockHeight }),
	fn("block_timestamp", 0, true, allowedInView, func(l *logic, _ []uint64) uint64 { return l.ctx.BlockTimestamp }),
	fn("epoch_height", 0, true, allowedInView, func(l *logic, _ []uint64) uint64 { return l.ctx.EpochHeight }),
	fn("storage_usage", 0, true, allowedInView, func(l *logic, _ []uint64) uint64 { return l.storageUsage }),
	fn("chain_id", 1, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.writeRegister(a[0], []byte(l.ctx.ChainID))
		return 0
	}),
	fn("current_contract_code", 1, true, allowedInView, func(l *logic, a []uint64) uint64 {
		l.abort(unsupported("current_contract_code"))
		return 0
	}),

	// Economics.
	fn("account_balance", 1, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.memWriteU128(a[0], l.balance)
		return 0
	}),
	fn("account_locked_balance", 1, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.memWriteU128(a[0], l.ctx.AccountLocked)
		return 0
	}),
	fn("attached_deposit", 1, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.memWriteU128(a[0], l.ctx.AttachedDeposit)
		return 0
	}),
	fn("prepaid_gas", 0, true, piv, func(l *logic, _ []uint64) uint64 { return l.ctx.PrepaidGas }),
	fn("used_gas", 0, true, piv, func(l *logic, _ []uint64) uint64 { return l.burntGas() + l.prepaidToPromises }),

	// Math and crypto.
	fn("random_seed", 1, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.writeRegister(a[0], l.ctx.RandomSeed)
		return 0
	}),
	fn("sha256", 3, false, allowedInView, func(l *logic, a []uint64) uint64 {
		v := l.memOrRegister(a[1], a[0])
		l.charge(sha256Base + sha256Byte*uint64(len(v)))
		h := sha256.Sum256(v)
		l.writeRegister(a[2], h[:])
		return 0
	}),
	fn("keccak256", 3, false, allowedInView, func(l *logic, a []uint64) uint64 {
		v := l.memOrRegister(a[1], a[0])
		l.charge(keccak256Base + keccak256Byte*uint64(len(v)))
		h := sha3.NewLegacyKeccak256()
		h.Write(v)
		l.writeRegister(a[2], h.Sum(nil))
		return 0
	}),
	fn("keccak512", 3, false, allowedInView, func(l *logic, a []uint64) uint64 {
		v := l.memOrRegister(a[1], a[0])
		l.charge(keccak512Base + keccak512Byte*uint64(len(v)))
		h := sha3.NewLegacyKeccak512()
		h.Write(v)
		l.writeRegister(a[2], h.Sum(nil))
		return 0
	}),
	fn("ripemd160", 3, false, allowedInView, func(l *logic, a []uint64) uint64 {
		v := l.memOrRegister(a[1], a[0])
		l.charge(ripemd160Base + ripemd160Block*uint64((len(v)+9+63)/64))
		h := ripemd160.New()
		h.Write(v)
		l.writeRegister(a[2], h.Sum(nil))
		return 0
	}),
	fn("ecrecover", 7, true, allowedInView, func(l *logic, a []uint64) uint64 {
		hash := l.memOrRegister(a[1], a[0])
		sig := l.memOrRegister(a[3], a[2])
		v, flag := a[4], a[5]
		l.charge(ecrecoverBase)
		if len(hash) != 32 {
			l.abort(hostErr("ECRecoverError { msg: \"Invalid input length\" }"))
		}
		if len(sig) != 64 || v >= 4 || flag > 1 {
			l.abort(hostErr("ECRecoverError { msg: \"Invalid signature\" }"))
		}
		pub, ok := ecRecover(hash, sig, byte(v), flag == 1)
		if !ok {
			return 0
		}
		l.writeRegister(a[6], pub)
		return 1
	}),
	fn("ed25519_verify", 6, true, allowedInView, func(l *logic, a []uint64) uint64 {
		sig := l.memOrRegister(a[1], a[0])
		if len(sig) != ed25519.SignatureSize {
			l.abort(hostErr("Ed25519VerifyInvalidInput { msg: \"invalid signature length\" }"))
		}
		msg := l.memOrRegister(a[3], a[2])
		pk := l.memOrRegister(a[5], a[4])
		if len(pk) != ed25519.PublicKeySize {
			l.abort(hostErr("Ed25519VerifyInvalidInput { msg: \"invalid public key length\" }"))
		}
		l.charge(ed25519VerifyBase + ed25519VerifyByte*uint64(len(msg)))
		if ed25519.Verify(ed25519.PublicKey(pk), msg, sig) {
			return 1
		}
		return 0
	}),
	notSupported("p256_verify", 6, true, allowedInView),
	notSupported("alt_bn128_g1_multiexp", 3, false, allowedInView),
	notSupported("alt_bn128_g1_sum", 3, false, allowedInView),
	notSupported("alt_bn128_pairing_check", 2, true, allowedInView),
	notSupported("bls12381_p1_sum", 3, true, allowedInView),
	notSupported("bls12381_p2_sum", 3, true, allowedInView),
	notSupported("bls12381_g1_multiexp", 3, true, allowedInView),
	notSupported("bls12381_g2_multiexp", 3, true, allowedInView),
	notSupported("bls12381_map_fp_to_g1", 3, true, allowedInView),
	notSupported("bls12381_map_fp2_to_g2", 3, true, allowedInView),
	notSupported("bls12381_pairing_check", 2, true, allowedInView),
	notSupported("bls12381_p1_decompress", 3, true, allowedInView),
	notSupported("bls12381_p2_decompress", 3, true, allowedInView),

	// Miscellaneous.
	fn("value_return", 2, false, allowedInView, func(l *logic, a []uint64) uint64 {
		v := l.memOrRegister(a[1], a[0])
		if len(v) > maxReturnedData {
			l.abort(hostErr("The length of a returned value %d exceeds the limit %d", len(v), maxReturnedData))
		}
		l.returnData = v
		return 0
	}),
	fn("panic", 0, false, allowedInView, func(l *logic, _ []uint64) uint64 {
		l.abort(hostErr("Smart contract panicked: explicit guest panic"))
		return 0
	}),
	fn("panic_utf8", 2, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.abort(hostErr("Smart contract panicked: %s", l.utf8String(a[0], a[1])))
		return 0
	}),
	fn("log_utf8", 2, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.addLog(l.utf8String(a[0], a[1]))
		return 0
	}),
	fn("log_utf16", 2, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.addLog(l.utf16String(a[0], a[1]))
		return 0
	}),
	{name: "abort", params: []api.ValueType{i32, i32, i32, i32}, fn: func(l *logic, a []uint64) uint64 {
		msg := l.asString(uint32(a[0]))
		file := l.asString(uint32(a[1]))
		text := fmt.Sprintf("%s, filename: %q line: %d col: %d", msg, file, uint32(a[2]), uint32(a[3]))
		l.addLog("ABORT: " + text)
		l.abort(hostErr("Smart contract panicked: %s", text))
		return 0
	}},
	{name: "gas", params: []api.ValueType{i32}, fn: func(l *logic, a []uint64) uint64 {
		l.charge(uint64(uint32(a[0])) * InstructionGas)
		return 0
	}},
	fn("sandbox_debug_log", 2, false, allowedInView, func(l *logic, a []uint64) uint64 {
		_ = l.utf8String(a[0], a[1])
		return 0
	}),

	// Promises.
	fn("promise_create", 8, true, piv, func(l *logic, a []uint64) uint64 {
		acc := l.accountID(a[0], a[1])
		act := l.functionCallAction(a[2], a[3], a[4], a[5], a[6], a[7], 0)
		idx := l.newReceipt(acc, nil)
		l.appendAction(idx, act)
		return idx
	}),
	fn("promise_then", 9, true, piv, func(l *logic, a []uint64) uint64 {
		deps := l.promiseReceipts(a[0])
		acc := l.accountID(a[1], a[2])
		act := l.functionCallAction(a[3], a[4], a[5], a[6], a[7], a[8], 0)
		idx := l.newReceipt(acc, deps)
		l.appendAction(idx, act)
		return idx
	}),
	fn("promise_and", 2, true, piv, func(l *logic, a []uint64) uint64 {
		count := a[1]
		if count > maxInputDataDeps {
			l.abort(hostErr("The number of input data dependencies %d exceeds the limit %d", count, maxInputDataDeps))
		}
		l.charge(promiseAndBase + promiseAndPerPromis*count)
		raw := l.memRead(a[0], count*8)
		var joint []int
		for i := uint64(0); i < count; i++ {
			joint = append(joint, l.promiseReceipts(binary.LittleEndian.Uint64(raw[i*8:]))...)
		}
		if len(l.promises) >= maxPromises {
			l.abort(hostErr("The number of promises within a FunctionCall %d exceeds the limit %d", len(l.promises)+1, maxPromises))
		}
		l.promises = append(l.promises, promise{receipt: -1, joint: joint})
		return uint64(len(l.promises) - 1)
	}),
	fn("promise_batch_create", 2, true, piv, func(l *logic, a []uint64) uint64 {
		return l.newReceipt(l.accountID(a[0], a[1]), nil)
	}),
	fn("promise_batch_then", 3, true, piv, func(l *logic, a []uint64) uint64 {
		deps := l.promiseReceipts(a[0])
		return l.newReceipt(l.accountID(a[1], a[2]), deps)
	}),
	fn("promise_set_refund_to", 3, false, piv, func(l *logic, a []uint64) uint64 {
		l.abort(unsupported("promise_set_refund_to"))
		return 0
	}),
	fn("promise_batch_action_create_account", 1, false, piv, func(l *logic, a []uint64) uint64 {
		l.appendAction(a[0], Action{Kind: ActCreateAccount})
		return 0
	}),
	fn("promise_batch_action_deploy_contract", 3, false, piv, func(l *logic, a []uint64) uint64 {
		code := l.memOrRegister(a[2], a[1])
		if len(code) > maxContractSize {
			l.abort(hostErr("The size of a contract code in DeployContract action %d exceeds the limit %d", len(code), maxContractSize))
		}
		l.appendAction(a[0], Action{Kind: ActDeployContract, Code: code})
		return 0
	}),
	fn("promise_batch_action_function_call", 7, false, piv, func(l *logic, a []uint64) uint64 {
		l.receiptFor(a[0])
		l.appendAction(a[0], l.functionCallAction(a[1], a[2], a[3], a[4], a[5], a[6], 0))
		return 0
	}),
	fn("promise_batch_action_function_call_weight", 8, false, piv, func(l *logic, a []uint64) uint64 {
		l.receiptFor(a[0])
		l.appendAction(a[0], l.functionCallAction(a[1], a[2], a[3], a[4], a[5], a[6], a[7]))
		return 0
	}),
	fn("promise_batch_action_transfer", 2, false, piv, func(l *logic, a []uint64) uint64 {
		l.receiptFor(a[0])
		l.appendAction(a[0], Action{Kind: ActTransfer, Deposit: l.memReadU128(a[1])})
		return 0
	}),
	fn("promise_batch_action_stake", 4, false, piv, func(l *logic, a []uint64) uint64 {
		l.receiptFor(a[0])
		amount := l.memReadU128(a[1])
		l.appendAction(a[0], Action{Kind: ActStake, Deposit: amount, PublicKey: l.publicKey(a[2], a[3])})
		return 0
	}),
	fn("promise_batch_action_add_key_with_full_access", 4, false, piv, func(l *logic, a []uint64) uint64 {
		l.receiptFor(a[0])
		l.appendAction(a[0], Action{Kind: ActAddKey, PublicKey: l.publicKey(a[1], a[2]), KeyNonce: a[3], FullAccess: true})
		return 0
	}),
	fn("promise_batch_action_add_key_with_function_call", 9, false, piv, func(l *logic, a []uint64) uint64 {
		l.receiptFor(a[0])
		pk := l.publicKey(a[1], a[2])
		allowance := l.memReadU128(a[4])
		receiver := l.accountID(a[5], a[6])
		names := l.memOrRegister(a[8], a[7])
		act := Action{Kind: ActAddKey, PublicKey: pk, KeyNonce: a[3], KeyReceiver: receiver, KeyMethods: splitMethodNames(string(names))}
		if !allowance.IsZero() {
			act.Allowance = &allowance
		}
		l.appendAction(a[0], act)
		return 0
	}),
	fn("promise_batch_action_delete_key", 3, false, piv, func(l *logic, a []uint64) uint64 {
		l.receiptFor(a[0])
		l.appendAction(a[0], Action{Kind: ActDeleteKey, PublicKey: l.publicKey(a[1], a[2])})
		return 0
	}),
	fn("promise_batch_action_delete_account", 3, false, piv, func(l *logic, a []uint64) uint64 {
		l.receiptFor(a[0])
		l.appendAction(a[0], Action{Kind: ActDeleteAccount, Beneficiary: l.accountID(a[1], a[2])})
		return 0
	}),
	notSupported("promise_batch_action_deploy_global_contract", 3, false, piv),
	notSupported("promise_batch_action_deploy_global_contract_by_account_id", 3, false, piv),
	notSupported("promise_batch_action_use_global_contract", 3, false, piv),
	notSupported("promise_batch_action_use_global_contract_by_account_id", 3, false, piv),
	notSupported("promise_batch_action_state_init", 4, true, piv),
	notSupported("promise_batch_action_state_init_by_account_id", 4, true, piv),
	notSupported("set_state_init_data_entry", 6, false, piv),
	notSupported("promise_batch_action_transfer_to_gas_key", 4, false, piv),
	notSupported("promise_batch_action_add_gas_key_with_full_access", 4, false, piv),
	notSupported("promise_batch_action_add_gas_key_with_function_call", 9, false, piv),
	fn("promise_results_count", 0, true, piv, func(l *logic, _ []uint64) uint64 {
		return uint64(len(l.ctx.PromiseResults))
	}),
	fn("promise_result", 2, true, piv, func(l *logic, a []uint64) uint64 {
		if a[0] >= uint64(len(l.ctx.PromiseResults)) {
			l.abort(hostErr("Accessed invalid promise result index: %d", a[0]))
		}
		r := l.ctx.PromiseResults[a[0]]
		if r.Failed {
			return 2
		}
		l.writeRegister(a[1], r.Data)
		return 1
	}),
	fn("promise_return", 1, false, piv, func(l *logic, a []uint64) uint64 {
		l.charge(promiseReturn)
		if a[0] >= uint64(len(l.promises)) {
			l.abort(hostErr("%d does not correspond to existing promises", a[0]))
		}
		p := l.promises[a[0]]
		if p.receipt < 0 {
			l.abort(errJointReturn)
		}
		l.returnPromise = p.receipt
		l.returnData = nil
		return 0
	}),

	// Yield and resume (NEP-519).
	fn("promise_yield_create", 7, true, piv, func(l *logic, a []uint64) uint64 {
		method := l.methodName(a[0], a[1])
		args := l.memOrRegister(a[3], a[2])
		l.charge(yieldCreateBase + yieldCreateByte*uint64(len(method)+len(args)))
		if len(l.promises) >= maxPromises {
			l.abort(hostErr("The number of promises within a FunctionCall %d exceeds the limit %d", len(l.promises)+1, maxPromises))
		}
		l.chargeFee(FeeActionReceipt)
		l.chargeFee(FeeDataReceiptBase)
		id := l.host.NewDataID()
		l.receipts = append(l.receipts, Receipt{Receiver: l.ctx.CurrentAccount, InputDataIDs: [][32]byte{id}, IsYield: true})
		l.promises = append(l.promises, promise{receipt: len(l.receipts) - 1})
		idx := uint64(len(l.promises) - 1)
		l.appendAction(idx, Action{Kind: ActFunctionCall, Method: method, Args: args, Gas: a[4], GasWeight: a[5]})
		if l.createdYields == nil {
			l.createdYields = map[[32]byte]bool{}
		}
		l.createdYields[id] = true
		l.writeRegister(a[6], id[:])
		return idx
	}),
	{name: "promise_yield_resume", params: i64s(4), results: []api.ValueType{i32}, view: piv, fn: func(l *logic, a []uint64) uint64 {
		if a[2] != noRegister {
			l.charge(yieldResumeBase + yieldResumeByte*a[2])
			if a[2] > MaxYieldPayload {
				l.abort(hostErr("Yield resumption payload is %d bytes which exceeds the %d byte limit", a[2], MaxYieldPayload))
			}
		}
		id := l.memOrRegister(a[1], a[0])
		if len(id) != 32 {
			l.abort(errDataIDMalformed)
		}
		payload := l.memOrRegister(a[3], a[2])
		if len(payload) > MaxYieldPayload {
			l.abort(hostErr("Yield resumption payload is %d bytes which exceeds the %d byte limit", len(payload), MaxYieldPayload))
		}
		var did [32]byte
		copy(did[:], id)
		if !l.createdYields[did] && !l.host.YieldPending(did) {
			return 0
		}
		l.dataReceipts = append(l.dataReceipts, DataReceipt{DataID: did, Receiver: l.ctx.CurrentAccount, Data: payload, IsResume: true})
		return 1
	}},
	notSupported("promise_yield_create_with_id", 9, true, piv),
	{name: "promise_yield_resume_with_yield_id", params: i64s(4), results: []api.ValueType{i32}, view: piv, fn: func(l *logic, _ []uint64) uint64 {
		l.abort(unsupported("promise_yield_resume_with_yield_id"))
		return 0
	}},

	// Storage.
	fn("storage_write", 5, true, piv, func(l *logic, a []uint64) uint64 {
		key := l.storageKey(a[0], a[1])
		val := l.memOrRegister(a[3], a[2])
		if len(val) > maxStorageValue {
			l.abort(hostErr("The length of a storage value %d exceeds the limit %d", len(val), maxStorageValue))
		}
		l.charge(storageWriteBase + storageWriteKeyByte*uint64(len(key)) + storageWriteValByte*uint64(len(val)))
		old, had := l.host.StorageRead(key)
		l.host.StorageWrite(key, val)
		if had {
			l.storageUsage = l.storageUsage - uint64(len(old)) + uint64(len(val))
			l.writeRegister(a[4], old)
			return 1
		}
		l.storageUsage += uint64(len(key)+len(val)) + storageEntryExtra
		return 0
	}),
	fn("storage_read", 3, true, allowedInView, func(l *logic, a []uint64) uint64 {
		key := l.storageKey(a[0], a[1])
		l.charge(storageReadBase + storageReadKeyByte*uint64(len(key)))
		v, ok := l.host.StorageRead(key)
		if !ok {
			return 0
		}
		l.charge(storageReadValByte * uint64(len(v)))
		l.writeRegister(a[2], v)
		return 1
	}),
	fn("storage_remove", 3, true, piv, func(l *logic, a []uint64) uint64 {
		key := l.storageKey(a[0], a[1])
		l.charge(storageRemoveBase + storageRemoveKey*uint64(len(key)))
		old, had := l.host.StorageRead(key)
		if !had {
			return 0
		}
		l.host.StorageRemove(key)
		l.storageUsage -= uint64(len(key)+len(old)) + storageEntryExtra
		l.writeRegister(a[2], old)
		return 1
	}),
	fn("storage_has_key", 2, true, allowedInView, func(l *logic, a []uint64) uint64 {
		key := l.storageKey(a[0], a[1])
		l.charge(storageHasKeyBase + storageHasKeyByte*uint64(len(key)))
		if _, ok := l.host.StorageRead(key); ok {
			return 1
		}
		return 0
	}),
	deprecated("storage_iter_prefix", 2, true),
	deprecated("storage_iter_range", 4, true),
	deprecated("storage_iter_next", 3, true),

	// Validators: the devchain has none with stake.
	fn("validator_stake", 3, false, allowedInView, func(l *logic, a []uint64) uint64 {
		_ = l.accountID(a[0], a[1])
		l.memWriteU128(a[2], near.U128{})
		return 0
	}),
	fn("validator_total_stake", 1, false, allowedInView, func(l *logic, a []uint64) uint64 {
		l.memWriteU128(a[0], near.U128{})
		return 0
	}),
}

func deprecated(name string, n int, result bool) hostFunction {
	return fn(name, n, result, allowedInView, func(l *logic, _ []uint64) uint64 {
		l.abort(hostErr("Attempted to call deprecated host function %s", name))
		return 0
	})
}

// asString reads an AssemblyScript string: UTF-16 bytes with their u32 byte
// length stored just before ptr.
func (l *logic) asString(ptr uint32) string {
	if ptr < 4 {
		l.abort(errMemoryAccess)
	}
	n := binary.LittleEndian.Uint32(l.memRead(uint64(ptr-4), 4))
	return l.utf16String(uint64(n), uint64(ptr))
}

// ecRecover recovers the 64-byte uncompressed public key (without the 0x04
// prefix) from a secp256k1 signature r‖s with recovery id v.
func ecRecover(hash, sig []byte, v byte, rejectMalleable bool) ([]byte, bool) {
	compact := make([]byte, 65)
	compact[0] = 27 + v // decred's compact form: 27 + recovery id (0-3), uncompressed
	copy(compact[1:], sig)
	if rejectMalleable {
		var s secp256k1.ModNScalar
		s.SetByteSlice(sig[32:])
		if s.IsOverHalfOrder() {
			return nil, false
		}
	}
	pub, _, err := ecdsa.RecoverCompact(compact, hash)
	if err != nil {
		return nil, false
	}
	return pub.SerializeUncompressed()[1:], true
}
