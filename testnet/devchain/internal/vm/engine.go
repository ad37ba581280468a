package vm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/outlayer/outlayer/contracts/near"
)

// Config bounds every call.
type Config struct {
	// MaxGasBurnt caps the gas one call may burn (NEAR's max_gas_burnt).
	MaxGasBurnt uint64
	// Timeout is a wall-clock safety net on top of gas metering.
	Timeout time.Duration
	// MemoryLimitPages caps linear memory (64 KiB pages); NEAR allows 2048.
	MemoryLimitPages uint32
	// CacheSize is how many compiled contracts are kept.
	CacheSize int
}

// DefaultConfig mirrors NEAR's limits.
func DefaultConfig() Config {
	return Config{MaxGasBurnt: 300_000_000_000_000, Timeout: 10 * time.Second, MemoryLimitPages: 2048, CacheSize: 128}
}

// Engine compiles and runs contracts. It is safe for concurrent use.
type Engine struct {
	cfg      Config
	rt       wazero.Runtime
	mu       sync.Mutex
	compiled map[[32]byte]*compiledContract
	memory   memoryPool
}

type compiledContract struct {
	mod wazero.CompiledModule
	err *FunctionCallError // a contract that does not compile fails the same way every time
	// peakMemory is the largest linear memory (bytes) a call of this code
	// has used; new instances start with that much capacity.
	peakMemory atomic.Uint64
}

type logicKey struct{}

// NewEngine starts a wazero runtime with the NEAR `env` host module.
func NewEngine(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = 2048
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 128
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxGasBurnt == 0 {
		cfg.MaxGasBurnt = DefaultConfig().MaxGasBurnt
	}
	// The safety timeout reaches running code through exec/meter's stop
	// global, which the meter's check at every loop head and function
	// entry reads (Run), not wazero's WithCloseOnContextDone, which calls
	// into Go at every loop iteration (DESIGN.md, Performance).
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(cfg.MemoryLimitPages).
		WithCoreFeatures(api.CoreFeaturesV2)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	e := &Engine{cfg: cfg, rt: rt, compiled: map[[32]byte]*compiledContract{}}
	b := rt.NewHostModuleBuilder("env")
	for i := range hostFunctions {
		hf := &hostFunctions[i]
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				l, _ := ctx.Value(logicKey{}).(*logic)
				if l == nil {
					panic(errors.New("devchain vm: host function called outside a contract call"))
				}
				l.call(hf, mod, stack)
			}), hf.params, hf.results).
			Export(hf.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("devchain vm: define NEAR host functions: %w", err)
	}
	return e, nil
}

// Close releases the runtime and every compiled contract.
func (e *Engine) Close(ctx context.Context) error { return e.rt.Close(ctx) }

func (e *Engine) compile(ctx context.Context, code []byte) *compiledContract {
	hash := sha256.Sum256(code)
	e.mu.Lock()
	c, ok := e.compiled[hash]
	e.mu.Unlock()
	if ok {
		return c
	}
	c = &compiledContract{}
	prepared, err := instrumentCode(code)
	if err != nil {
		c.err = PrepareError("Deserialization")
	} else if mod, err := e.rt.CompileModule(ctx, prepared); err != nil {
		c.err = PrepareError("Deserialization")
	} else if len(mod.ImportedMemories()) > 0 {
		c.err = PrepareError("Memory")
		_ = mod.Close(ctx)
	} else {
		c.mod = mod
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev, ok := e.compiled[hash]; ok { // another call compiled it meanwhile
		if c.mod != nil {
			_ = c.mod.Close(ctx)
		}
		return prev
	}
	if len(e.compiled) >= e.cfg.CacheSize {
		for h, old := range e.compiled { // evict an arbitrary entry; compiled code is cheap to rebuild
			if old.mod != nil {
				_ = old.mod.Close(ctx)
			}
			delete(e.compiled, h)
			break
		}
	}
	e.compiled[hash] = c
	return c
}

// Run executes method of the contract code with the given context.
func (e *Engine) Run(ctx context.Context, code []byte, method string, vctx *Context, host Host) *Outcome {
	l := newLogic(vctx, host, e.cfg.MaxGasBurnt)
	if method == "" {
		return l.fail(methodResolveError("MethodEmptyName"))
	}
	if err := l.chargeRaw(contractLoadBase + contractLoadByte*uint64(len(code))); err != nil {
		return l.fail(l.toFunctionCallError(err))
	}
	c := e.compile(ctx, code)
	if c.err != nil {
		return l.fail(c.err)
	}
	def, ok := c.mod.ExportedFunctions()[method]
	if !ok {
		return l.fail(methodResolveError("MethodNotFound"))
	}
	if len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0 {
		return l.fail(methodResolveError("MethodInvalidSignature"))
	}

	callCtx, cancel := context.WithTimeout(context.WithValue(ctx, logicKey{}, l), e.cfg.Timeout)
	defer cancel()
	memCtx := experimental.WithMemoryAllocator(callCtx, e.memory.allocator(&c.peakMemory))
	mod, err := e.rt.InstantiateModule(memCtx, c.mod, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	instantiated := err == nil
	if err != nil && l.err == nil && isLinkError(err) {
		return l.fail(ExecutionError("Link Error: " + firstLine(err.Error())))
	}
	if err == nil {
		defer mod.Close(context.Background())
		l.mod = mod
		l.meter.start(mod, l.gasLeftForInstructions())
		stop := context.AfterFunc(callCtx, func() { l.meter.stop(mod) })
		_, err = mod.ExportedFunction(method).Call(callCtx)
		stop()
	}
	if err != nil {
		if l.err == nil && instantiated && l.meter.exhausted(mod) {
			l.err = errGasExceeded
		}
		if l.err == nil && callCtx.Err() != nil && ctx.Err() == nil {
			l.err = hostErr("WebAssembly trap: the call ran longer than the devchain's %s safety timeout.", e.cfg.Timeout)
		}
		if l.err == nil && instantiated && l.meter.stopped(mod) {
			l.err = hostErr("WebAssembly trap: the call was cancelled: %v", ctx.Err())
		}
		if l.err == nil {
			l.err = trapError(err)
		}
		return l.fail(l.toFunctionCallError(l.err))
	}
	return l.finish()
}

// trapError turns a wazero failure into nearcore's error text.
func trapError(err error) *hostError {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unreachable"):
		return hostErr("WebAssembly trap: An `unreachable` opcode was executed.")
	case strings.Contains(msg, "out of bounds memory access"):
		return hostErr("WebAssembly trap: Memory out of bounds trap.")
	case strings.Contains(msg, "integer divide by zero"), strings.Contains(msg, "integer overflow"):
		return hostErr("WebAssembly trap: An arithmetic exception, e.g. divided by zero.")
	case strings.Contains(msg, "stack overflow"):
		return hostErr("WebAssembly trap: Call stack exhausted.")
	case strings.Contains(msg, "invalid table access"):
		return hostErr("WebAssembly trap: Call indirect out of bounds.")
	case strings.Contains(msg, "indirect call type mismatch"):
		return hostErr("WebAssembly trap: Call indirect incorrect signature trap.")
	case strings.Contains(msg, "invalid conversion to integer"):
		return hostErr("WebAssembly trap: An arithmetic exception, e.g. divided by zero.")
	}
	return hostErr("WebAssembly trap: %s", firstLine(msg))
}

// isLinkError recognises wazero's failures to resolve an import.
func isLinkError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "is not exported in module") || strings.Contains(msg, "import func[") ||
		strings.Contains(msg, "module[") && strings.Contains(msg, "not instantiated")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (l *logic) toFunctionCallError(err error) *FunctionCallError {
	var he *hostError
	if errors.As(err, &he) {
		fe := ExecutionError(he.text)
		fe.GasExceeded = he.gasExceeded
		return fe
	}
	return ExecutionError(err.Error())
}

// fail builds the outcome of a failed call: nothing created, gas burnt.
func (l *logic) fail(fe *FunctionCallError) *Outcome {
	burnt := l.burntGas()
	if fe.GasExceeded {
		burnt = min(l.ctx.PrepaidGas, l.maxBurnt)
	}
	if burnt > l.ctx.PrepaidGas {
		burnt = l.ctx.PrepaidGas
	}
	return &Outcome{ReturnPromise: -1, Logs: l.logs, BurntGas: burnt, UsedGas: burnt, StorageUsage: l.ctx.StorageUsage, Err: fe}
}

func (l *logic) finish() *Outcome {
	burnt := l.burntGas()
	used := burnt + l.prepaidToPromises
	// Split the unused gas among weighted function calls (near-sdk's default
	// for cross-contract calls is static gas 0 with weight 1).
	var totalWeight uint64
	for ri := range l.receipts {
		for ai := range l.receipts[ri].Actions {
			totalWeight += l.receipts[ri].Actions[ai].GasWeight
		}
	}
	if totalWeight > 0 && used < l.ctx.PrepaidGas {
		unused := l.ctx.PrepaidGas - used
		var given uint64
		var last *Action
		for ri := range l.receipts {
			for ai := range l.receipts[ri].Actions {
				a := &l.receipts[ri].Actions[ai]
				if a.GasWeight == 0 {
					continue
				}
				// unused*weight/total <= unused, so the quotient fits in 64 bits.
				share, _ := near.U128Product(unused, a.GasWeight).DivMod64(totalWeight)
				a.Gas += share.Lo
				given += share.Lo
				last = a
			}
		}
		last.Gas += unused - given
		used = l.ctx.PrepaidGas
	}
	return &Outcome{
		ReturnData:    l.returnData,
		ReturnPromise: l.returnPromise,
		Logs:          l.logs,
		Receipts:      l.receipts,
		DataReceipts:  l.dataReceipts,
		BurntGas:      burnt,
		UsedGas:       used,
		BalanceSpent:  l.spent,
		StorageUsage:  l.storageUsage,
	}
}
