package vm

import (
	"encoding/binary"
	"math"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/outlayer/outlayer/contracts/near"
)

// NEAR's VM limits (nearcore parameters.yaml).
const (
	maxRegisters        = 100
	maxRegisterSize     = 100 << 20
	maxRegistersMemory  = 1 << 30
	maxLogs             = 100
	maxTotalLogLength   = 16384
	maxStorageKey       = 2048
	maxStorageValue     = 4 << 20
	maxReturnedData     = 4 << 20
	maxPromises         = 1024
	maxInputDataDeps    = 128
	maxMethodNameLength = 256
	maxArgumentsLength  = 4 << 20
	maxContractSize     = 4 << 20
	MaxYieldPayload     = 1024
	storageEntryExtra   = 40 // storage_num_extra_bytes_record
)

const noRegister = math.MaxUint64

// promise is a receipt the call created, or a joint promise (promise_and)
// over several receipts.
type promise struct {
	receipt int   // index in logic.receipts, or -1 for a joint promise
	joint   []int // receipt indices of a joint promise
}

// logic is the state of one contract call.
type logic struct {
	ctx      *Context
	host     Host
	mod      api.Module
	meter    instructionMeter
	maxBurnt uint64

	registers   map[uint64][]byte
	regMemTotal uint64

	returnData    []byte
	returnPromise int
	logs          []string
	logBytes      int

	hostBurnt         uint64
	prepaidToPromises uint64

	receipts      []Receipt
	promises      []promise
	dataReceipts  []DataReceipt
	createdYields map[[32]byte]bool

	balance      near.U128
	spent        near.U128
	storageUsage uint64

	err error
}

func newLogic(ctx *Context, host Host, maxBurnt uint64) *logic {
	return &logic{
		ctx: ctx, host: host, maxBurnt: maxBurnt,
		registers: map[uint64][]byte{}, returnPromise: -1,
		balance: ctx.AccountBalance, storageUsage: ctx.StorageUsage,
	}
}

// call runs one host function; a failure aborts the WASM call by panicking
// with the error, which wazero returns from Call.
func (l *logic) call(hf *hostFunction, mod api.Module, stack []uint64) {
	if l.err != nil {
		panic(l.err)
	}
	if l.mod == nil {
		l.mod = mod // host calls from the start function, before Run saw the instance
	}
	if hf.view == piv && l.ctx.View {
		l.abort(prohibitedInView(hf.name))
	}
	if err := l.chargeRaw(hostBase); err != nil {
		l.abort(err)
	}
	r := hf.fn(l, stack)
	if len(hf.results) == 1 {
		stack[0] = r
	}
}

func (l *logic) abort(err error) {
	if l.err == nil {
		l.err = err
	}
	panic(l.err)
}

// --- gas ---

func (l *logic) burntGas() uint64 {
	if l.mod == nil {
		return l.hostBurnt
	}
	return l.hostBurnt + l.meter.usedGas(l.mod)
}

// chargeRaw burns gas and reports GasExceeded/GasLimitExceeded.
func (l *logic) chargeRaw(g uint64) error {
	l.hostBurnt += g
	if l.hostBurnt < g {
		return errGasExceeded
	}
	burnt := l.burntGas()
	if burnt > l.maxBurnt {
		return errGasLimitExceeded
	}
	if burnt+l.prepaidToPromises > l.ctx.PrepaidGas {
		return errGasExceeded
	}
	if l.mod != nil {
		l.meter.setRemaining(l.mod, l.gasLeftForInstructions())
	}
	return nil
}

func (l *logic) gasLeftForInstructions() uint64 {
	used := l.burntGas() + l.prepaidToPromises
	limit := min(l.ctx.PrepaidGas, l.maxBurnt+l.prepaidToPromises)
	if used >= limit {
		return 0
	}
	return limit - used
}

func (l *logic) charge(g uint64) {
	if err := l.chargeRaw(g); err != nil {
		l.abort(err)
	}
}

// prepay reserves gas for a receipt the call creates.
func (l *logic) prepay(g uint64) {
	l.prepaidToPromises += g
	if l.prepaidToPromises < g || l.burntGas()+l.prepaidToPromises > l.ctx.PrepaidGas {
		l.abort(errGasExceeded)
	}
	if l.mod != nil {
		l.meter.setRemaining(l.mod, l.gasLeftForInstructions())
	}
}

// chargeFee burns the send part of a fee and prepays the execution part.
func (l *logic) chargeFee(f Fee) {
	l.charge(f.Send)
	l.prepay(f.Exec)
}

// --- memory and registers ---

func (l *logic) memRead(ptr, n uint64) []byte {
	l.charge(readMemoryBase + readMemoryByte*n)
	if ptr > math.MaxUint32 || n > math.MaxUint32 {
		l.abort(errMemoryAccess)
	}
	b, ok := l.mod.Memory().Read(uint32(ptr), uint32(n))
	if !ok {
		l.abort(errMemoryAccess)
	}
	return append([]byte(nil), b...)
}

func (l *logic) memWrite(ptr uint64, b []byte) {
	l.charge(writeMemoryBase + writeMemoryByte*uint64(len(b)))
	if ptr > math.MaxUint32 || !l.mod.Memory().Write(uint32(ptr), b) {
		l.abort(errMemoryAccess)
	}
}

func (l *logic) memReadU128(ptr uint64) near.U128 {
	return near.U128FromLittleEndian([16]byte(l.memRead(ptr, 16)))
}

func (l *logic) memWriteU128(ptr uint64, v near.U128) {
	b := v.LittleEndian()
	l.memWrite(ptr, b[:])
}

func (l *logic) readRegister(id uint64) []byte {
	b, ok := l.registers[id]
	if !ok {
		l.abort(hostErr("Accessed invalid register id: %d", id))
	}
	l.charge(readRegisterBase + readRegisterByte*uint64(len(b)))
	return b
}

func (l *logic) writeRegister(id uint64, b []byte) {
	l.charge(writeRegisterBase + writeRegisterByte*uint64(len(b)))
	if uint64(len(b)) > maxRegisterSize {
		l.abort(hostErr("The length of a register %d exceeds the limit %d", len(b), maxRegisterSize))
	}
	old, had := l.registers[id]
	if !had && len(l.registers) >= maxRegisters {
		l.abort(hostErr("The number of registers exceeds the limit %d", maxRegisters))
	}
	l.regMemTotal = l.regMemTotal - uint64(len(old)) + uint64(len(b))
	if l.regMemTotal > maxRegistersMemory {
		l.abort(hostErr("The total memory of registers exceeds the limit %d", maxRegistersMemory))
	}
	l.registers[id] = append([]byte(nil), b...)
}

// memOrRegister implements nearcore's get_memory_or_register: a length of
// u64::MAX means "ptr is a register id".
func (l *logic) memOrRegister(ptr, n uint64) []byte {
	if n == noRegister {
		return l.readRegister(ptr)
	}
	return l.memRead(ptr, n)
}

// utf8String reads a log or panic message; u64::MAX length means NUL-terminated.
func (l *logic) utf8String(n, ptr uint64) string {
	var b []byte
	if n == noRegister {
		b = l.nulTerminated(ptr, 1)
	} else {
		b = l.memRead(ptr, n)
	}
	l.charge(utf8DecodingBase + utf8DecodingByte*uint64(len(b)))
	if !utf8.Valid(b) {
		l.abort(errBadUTF8)
	}
	return string(b)
}

func (l *logic) nulTerminated(ptr uint64, width int) []byte {
	var out []byte
	for {
		if len(out) > maxTotalLogLength {
			l.abort(hostErr("The length of a log message %d exceeds the limit %d", len(out), maxTotalLogLength))
		}
		c := l.memRead(ptr+uint64(len(out)), uint64(width))
		if (width == 1 && c[0] == 0) || (width == 2 && c[0] == 0 && c[1] == 0) {
			return out
		}
		out = append(out, c...)
	}
}

func (l *logic) utf16String(n, ptr uint64) string {
	var b []byte
	if n == noRegister {
		b = l.nulTerminated(ptr, 2)
	} else {
		b = l.memRead(ptr, n)
	}
	if len(b)%2 != 0 {
		l.abort(errBadUTF16)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	for i := 0; i < len(u); i++ { // reject unpaired surrogates, as Rust's String::from_utf16 does
		switch {
		case utf16.IsSurrogate(rune(u[i])) && u[i] < 0xdc00 && i+1 < len(u) && u[i+1] >= 0xdc00 && u[i+1] <= 0xdfff:
			i++
		case utf16.IsSurrogate(rune(u[i])):
			l.abort(errBadUTF16)
		}
	}
	return string(utf16.Decode(u))
}

func (l *logic) accountID(n, ptr uint64) string {
	b := l.memOrRegister(ptr, n)
	s := string(b)
	if !ValidAccountID(s) {
		l.abort(errInvalidAccountID)
	}
	return s
}

func (l *logic) methodName(n, ptr uint64) string {
	b := l.memOrRegister(ptr, n)
	if len(b) == 0 {
		l.abort(errEmptyMethodName)
	}
	if len(b) > maxMethodNameLength {
		l.abort(hostErr("The length of a method name %d exceeds the limit %d", len(b), maxMethodNameLength))
	}
	if !utf8.Valid(b) {
		l.abort(hostErr("VM Logic returned an invalid method name"))
	}
	return string(b)
}

func (l *logic) publicKey(n, ptr uint64) []byte {
	b := l.memOrRegister(ptr, n)
	if !ValidBorshPublicKey(b) {
		l.abort(errInvalidPublicKey)
	}
	return b
}

func (l *logic) addLog(s string) {
	if len(l.logs) >= maxLogs {
		l.abort(hostErr("The number of logs will exceed the limit %d", maxLogs))
	}
	l.logBytes += len(s)
	if l.logBytes > maxTotalLogLength {
		l.abort(hostErr("The length of a log message %d exceeds the limit %d", l.logBytes, maxTotalLogLength))
	}
	l.charge(logBase + logByte*uint64(len(s)))
	l.logs = append(l.logs, s)
}

// --- promises ---

func (l *logic) newReceipt(receiver string, deps []int) uint64 {
	if len(l.promises) >= maxPromises {
		l.abort(hostErr("The number of promises within a FunctionCall %d exceeds the limit %d", len(l.promises)+1, maxPromises))
	}
	if len(deps) > maxInputDataDeps {
		l.abort(hostErr("The number of input data dependencies %d exceeds the limit %d", len(deps), maxInputDataDeps))
	}
	l.chargeFee(FeeActionReceipt)
	r := Receipt{Receiver: receiver}
	for _, d := range deps {
		l.chargeFee(FeeDataReceiptBase)
		id := l.host.NewDataID()
		dep := &l.receipts[d]
		dep.OutputDataReceivers = append(dep.OutputDataReceivers, DataReceiver{DataID: id, Receiver: receiver})
		r.InputDataIDs = append(r.InputDataIDs, id)
	}
	l.receipts = append(l.receipts, r)
	l.promises = append(l.promises, promise{receipt: len(l.receipts) - 1})
	return uint64(len(l.promises) - 1)
}

func (l *logic) promiseReceipts(idx uint64) []int {
	if idx >= uint64(len(l.promises)) {
		l.abort(hostErr("%d does not correspond to existing promises", idx))
	}
	p := l.promises[idx]
	if p.receipt < 0 {
		return p.joint
	}
	return []int{p.receipt}
}

func (l *logic) receiptFor(idx uint64) *Receipt {
	if idx >= uint64(len(l.promises)) {
		l.abort(hostErr("%d does not correspond to existing promises", idx))
	}
	p := l.promises[idx]
	if p.receipt < 0 {
		l.abort(errJointAppend)
	}
	return &l.receipts[p.receipt]
}

func (l *logic) appendAction(idx uint64, a Action) {
	r := l.receiptFor(idx)
	l.chargeFee(ActionFee(&a))
	if a.Kind == ActFunctionCall {
		l.prepay(a.Gas)
	}
	if a.Kind == ActFunctionCall || a.Kind == ActTransfer {
		rest, ok := l.balance.Sub(a.Deposit)
		if !ok {
			l.abort(errBalanceExceeded)
		}
		l.balance = rest
		l.spent, _ = l.spent.Add(a.Deposit)
	}
	r.Actions = append(r.Actions, a)
}

func (l *logic) functionCallAction(nameLen, namePtr, argsLen, argsPtr, amountPtr, gas, weight uint64) Action {
	method := l.methodName(nameLen, namePtr)
	args := l.memOrRegister(argsPtr, argsLen)
	if len(args) > maxArgumentsLength {
		l.abort(hostErr("The length of arguments %d exceeds the limit %d", len(args), maxArgumentsLength))
	}
	return Action{Kind: ActFunctionCall, Method: method, Args: args, Deposit: l.memReadU128(amountPtr), Gas: gas, GasWeight: weight}
}

// --- storage ---

func (l *logic) storageKey(n, ptr uint64) []byte {
	if n != noRegister && n > maxStorageKey {
		l.abort(hostErr("The length of a storage key %d exceeds the limit %d", n, maxStorageKey))
	}
	k := l.memOrRegister(ptr, n)
	if len(k) > maxStorageKey {
		l.abort(hostErr("The length of a storage key %d exceeds the limit %d", len(k), maxStorageKey))
	}
	return k
}

// ValidAccountID applies NEAR's account id rules (length 2-64, lowercase
// alphanumerics separated by single '-', '_' or '.').
func ValidAccountID(s string) bool {
	if len(s) < 2 || len(s) > 64 {
		return false
	}
	prevSep := true // the first character may not be a separator
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			prevSep = false
		case c == '-' || c == '_' || c == '.':
			if prevSep {
				return false
			}
			prevSep = true
		default:
			return false
		}
	}
	return !prevSep
}

// ValidBorshPublicKey accepts borsh ed25519 (0 + 32 bytes) and secp256k1 (1 +
// 64 bytes) keys.
func ValidBorshPublicKey(b []byte) bool {
	return len(b) > 0 && ((b[0] == 0 && len(b) == 33) || (b[0] == 1 && len(b) == 65))
}

func splitMethodNames(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
