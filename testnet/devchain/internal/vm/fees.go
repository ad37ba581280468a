package vm

// Gas is counted in NEAR's units. The numbers below are nearcore's mainnet
// parameters (rounded, 2026 snapshot) so gas_burnt and tokens_burnt look like
// NEAR's; the devchain does not promise to match NEAR gas exactly.
const (
	// InstructionGas is NEAR's regular_op_cost: the gas of one WASM
	// instruction counted by the metering pass.
	InstructionGas = 822_756

	hostBase            = 264_768_111
	readMemoryBase      = 2_609_863_200
	readMemoryByte      = 3_801_333
	writeMemoryBase     = 2_803_794_861
	writeMemoryByte     = 2_723_772
	readRegisterBase    = 2_517_165_186
	readRegisterByte    = 98_562
	writeRegisterBase   = 2_865_522_486
	writeRegisterByte   = 3_801_564
	storageWriteBase    = 64_196_736_000
	storageWriteKeyByte = 70_482_867
	storageWriteValByte = 31_018_539
	storageReadBase     = 56_356_845_750
	storageReadKeyByte  = 30_952_533
	storageReadValByte  = 5_611_005
	storageRemoveBase   = 53_473_030_500
	storageRemoveKey    = 38_220_384
	storageHasKeyBase   = 54_039_896_625
	storageHasKeyByte   = 30_790_845
	logBase             = 3_543_313_050
	logByte             = 13_198_791
	utf8DecodingBase    = 3_111_779_061
	utf8DecodingByte    = 291_580_479
	sha256Base          = 4_540_970_250
	sha256Byte          = 24_117_351
	keccak256Base       = 5_879_491_275
	keccak256Byte       = 21_471_105
	keccak512Base       = 5_811_388_236
	keccak512Byte       = 36_649_701
	ripemd160Base       = 853_675_086
	ripemd160Block      = 680_107_584
	ed25519VerifyBase   = 210_000_000_000
	ed25519VerifyByte   = 9_000_000
	ecrecoverBase       = 278_821_988_457
	promiseAndBase      = 1_465_013_400
	promiseAndPerPromis = 5_452_176
	promiseReturn       = 560_152_386
	yieldCreateBase     = 153_411_779_276
	yieldCreateByte     = 15_643_988
	yieldResumeBase     = 1_195_627_285_210
	yieldResumeByte     = 47_683_715
	contractLoadBase    = 35_445_963
	contractLoadByte    = 1_089_295
)

// Fee is the send and execution cost of one action or receipt.
type Fee struct{ Send, Exec uint64 }

// Action and receipt fees (nearcore RuntimeFeesConfig).
var (
	FeeActionReceipt     = Fee{108_059_500_000, 108_059_500_000}
	FeeDataReceiptBase   = Fee{36_486_732_312, 36_486_732_312}
	FeeDataReceiptByte   = Fee{17_212_011, 17_212_011}
	FeeCreateAccount     = Fee{3_850_000_000_000, 3_850_000_000_000}
	FeeDeployBase        = Fee{184_765_750_000, 184_765_750_000}
	FeeDeployByte        = Fee{6_812_999, 64_572_944}
	FeeFunctionCallBase  = Fee{200_000_000_000, 780_000_000_000}
	FeeFunctionCallByte  = Fee{2_235_934, 2_235_934}
	FeeTransfer          = Fee{115_123_062_500, 115_123_062_500}
	FeeStake             = Fee{141_715_687_500, 102_217_625_000}
	FeeAddKeyFull        = Fee{101_765_125_000, 101_765_125_000}
	FeeAddKeyFuncCall    = Fee{102_217_625_000, 102_217_625_000}
	FeeAddKeyFuncCallPer = Fee{1_925_331, 1_925_331}
	FeeDeleteKey         = Fee{94_946_625_000, 94_946_625_000}
	FeeDeleteAccount     = Fee{147_489_000_000, 147_489_000_000}
	FeeDelegate          = Fee{200_000_000_000, 200_000_000_000}
)

// ActionFee is the fee of one action (without its receipt).
func ActionFee(a *Action) Fee {
	switch a.Kind {
	case ActCreateAccount:
		return FeeCreateAccount
	case ActDeployContract:
		n := uint64(len(a.Code))
		return Fee{FeeDeployBase.Send + n*FeeDeployByte.Send, FeeDeployBase.Exec + n*FeeDeployByte.Exec}
	case ActFunctionCall:
		n := uint64(len(a.Method) + len(a.Args))
		return Fee{FeeFunctionCallBase.Send + n*FeeFunctionCallByte.Send, FeeFunctionCallBase.Exec + n*FeeFunctionCallByte.Exec}
	case ActTransfer:
		return FeeTransfer
	case ActStake:
		return FeeStake
	case ActAddKey:
		if a.FullAccess {
			return FeeAddKeyFull
		}
		n := uint64(len(a.KeyMethods))
		for _, m := range a.KeyMethods {
			n += uint64(len(m))
		}
		return Fee{FeeAddKeyFuncCall.Send + n*FeeAddKeyFuncCallPer.Send, FeeAddKeyFuncCall.Exec + n*FeeAddKeyFuncCallPer.Exec}
	case ActDeleteKey:
		return FeeDeleteKey
	case ActDeleteAccount:
		return FeeDeleteAccount
	case ActDelegate:
		// The relayer prepays the receipt the delegate action becomes.
		inner := ReceiptFees(a.DelegateActions)
		return Fee{FeeDelegate.Send + inner.Send, FeeDelegate.Exec + inner.Exec}
	}
	return Fee{}
}

// ReceiptFees is the send and execution fee of a whole receipt: the receipt
// itself plus its actions. Attached function-call gas is not included.
func ReceiptFees(actions []Action) Fee {
	f := FeeActionReceipt
	for i := range actions {
		af := ActionFee(&actions[i])
		f.Send += af.Send
		f.Exec += af.Exec
	}
	return f
}

// DataReceiptFee is the fee of one data dependency carrying n bytes.
func DataReceiptFee(n int) Fee {
	return Fee{FeeDataReceiptBase.Send + uint64(n)*FeeDataReceiptByte.Send, FeeDataReceiptBase.Exec + uint64(n)*FeeDataReceiptByte.Exec}
}
