package vm

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
)

// mapHost is an in-memory Host for tests.
type mapHost struct {
	data    map[string][]byte
	nextID  byte
	pending map[[32]byte]bool
}

func newMapHost() *mapHost { return &mapHost{data: map[string][]byte{}, pending: map[[32]byte]bool{}} }

func (h *mapHost) StorageRead(k []byte) ([]byte, bool) { v, ok := h.data[string(k)]; return v, ok }
func (h *mapHost) StorageWrite(k, v []byte)            { h.data[string(k)] = append([]byte(nil), v...) }
func (h *mapHost) StorageRemove(k []byte)              { delete(h.data, string(k)) }
func (h *mapHost) YieldPending(id [32]byte) bool       { return h.pending[id] }
func (h *mapHost) NewDataID() [32]byte                 { h.nextID++; return [32]byte{h.nextID} }

func contract(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "contracts", "wasm", name+".wasm"))
	if err != nil {
		t.Skipf("test contract %s not built: %v", name, err)
	}
	return b
}

func newEngine(t testing.TB) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Timeout = 30 * time.Second // gas must stop runaway code long before this
	e, err := NewEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func callCtx(input string, view bool) *Context {
	return &Context{
		CurrentAccount: "counter.test.near", Signer: "test.near", Predecessor: "test.near",
		Input: []byte(input), BlockHeight: 10, PrepaidGas: 30_000_000_000_000,
		AccountBalance: near.NewU128(1_000_000), View: view, ChainID: "localnet",
		RandomSeed: make([]byte, 32),
	}
}

func TestCounterStateAndViews(t *testing.T) {
	e, code, h := newEngine(t), contract(t, "counter"), newMapHost()
	var usage uint64
	for want := 1; want <= 3; want++ {
		c := callCtx(`{}`, false)
		c.StorageUsage = usage
		out := e.Run(context.Background(), code, "increment", c, h)
		if out.Err != nil {
			t.Fatalf("increment: %v", out.Err)
		}
		if got := string(out.ReturnData); got != string(rune('0'+want)) {
			t.Fatalf("increment returned %q, want %d", got, want)
		}
		if len(out.Logs) != 1 || !strings.Contains(out.Logs[0], "Increased number to") {
			t.Fatalf("logs = %q", out.Logs)
		}
		// One entry: key "num" (3 bytes) + u64 value (8 bytes) + 40 bytes of record overhead.
		if out.BurntGas == 0 || out.StorageUsage != 3+8+40 {
			t.Fatalf("gas %d storage %d: want gas > 0 and storage 51", out.BurntGas, out.StorageUsage)
		}
		usage = out.StorageUsage
	}
	out := e.Run(context.Background(), code, "get_num", callCtx(``, true), h)
	if out.Err != nil || string(out.ReturnData) != "3" {
		t.Fatalf("get_num view = %q, %v", out.ReturnData, out.Err)
	}
	// A state change in a view is refused with NEAR's ProhibitedInView.
	out = e.Run(context.Background(), code, "increment", callCtx(`{}`, true), h)
	if out.Err == nil || !strings.Contains(out.Err.Text, "storage_write is not allowed in view calls") {
		t.Fatalf("increment in a view: err = %v", out.Err)
	}
	out = e.Run(context.Background(), code, "no_such_method", callCtx(``, false), h)
	if out.Err == nil || out.Err.Text != "MethodResolveError(MethodNotFound)" {
		t.Fatalf("missing method: %v", out.Err)
	}
}

func TestPanicsAndRunaway(t *testing.T) {
	e, code, h := newEngine(t), contract(t, "panicker"), newMapHost()
	out := e.Run(context.Background(), code, "panic_msg", callCtx(`{"msg":"boom"}`, false), h)
	if out.Err == nil || !strings.HasPrefix(out.Err.Text, "Smart contract panicked: ") {
		t.Fatalf("panic_msg: %v", out.Err)
	}
	// Instruction metering stops a runaway loop with NEAR's error, burning
	// all the prepaid gas.
	c := callCtx(``, false)
	c.PrepaidGas = 1_000_000_000_000
	out = e.Run(context.Background(), code, "loop_forever", c, h)
	if out.Err == nil || out.Err.Text != "Exceeded the prepaid gas." || out.BurntGas != c.PrepaidGas {
		t.Fatalf("loop_forever: %v (burnt %d)", out.Err, out.BurntGas)
	}
}

// TestSafetyTimeoutStopsARunawayLoop: the wall-clock safety net reaches a
// loop that never calls out (through the meter's stop global), with its
// own error, not gas exhaustion.
func TestSafetyTimeoutStopsARunawayLoop(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Timeout = 500 * time.Millisecond
	cfg.MaxGasBurnt *= 100 // 36 G instructions: tens of seconds of looping
	e, err := NewEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	code, h := contract(t, "panicker"), newMapHost()
	c := callCtx(``, false)
	c.PrepaidGas = cfg.MaxGasBurnt
	// A garbage collection that starts while compiled WebAssembly loops
	// waits for it to return (the code has no preemption point), and so
	// does every goroutine, the one that raises the stop flag included:
	// the stop would then land only when the gas runs out (DESIGN.md).
	// That is the gas's job to bound; here the flag itself is tested.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	start := time.Now()
	out := e.Run(context.Background(), code, "loop_forever", c, h)
	if out.Err == nil || !strings.Contains(out.Err.Text, "safety timeout") {
		t.Fatalf("loop_forever under a %s timeout: %v", cfg.Timeout, out.Err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stopped after %s", d)
	}
	// The engine still runs calls normally afterwards.
	out = e.Run(context.Background(), code, "panic_msg", callCtx(`{"msg":"boom"}`, false), h)
	if out.Err == nil || !strings.HasPrefix(out.Err.Text, "Smart contract panicked: ") {
		t.Fatalf("panic_msg after a timeout: %v", out.Err)
	}
}

func TestCrossContractCallCreatesReceipts(t *testing.T) {
	e, code, h := newEngine(t), contract(t, "xcc"), newMapHost()
	c := callCtx(`{"contract":"counter.test.near","method":"increment","args":{}}`, false)
	c.PrepaidGas = 100_000_000_000_000
	out := e.Run(context.Background(), code, "call", c, h)
	if out.Err != nil {
		t.Fatalf("call: %v", out.Err)
	}
	if len(out.Receipts) != 2 || out.ReturnPromise != 1 {
		t.Fatalf("receipts %+v return %d", out.Receipts, out.ReturnPromise)
	}
	callee, cb := out.Receipts[0], out.Receipts[1]
	if callee.Receiver != "counter.test.near" || len(callee.OutputDataReceivers) != 1 || len(cb.InputDataIDs) != 1 ||
		callee.OutputDataReceivers[0].DataID != cb.InputDataIDs[0] {
		t.Fatalf("callee %+v callback %+v", callee, cb)
	}
	if out.UsedGas > c.PrepaidGas || out.UsedGas <= out.BurntGas {
		t.Fatalf("used %d burnt %d", out.UsedGas, out.BurntGas)
	}
}

// View calls word errors with nearcore's Debug form.
func TestDebugText(t *testing.T) {
	for text, want := range map[string]string{
		"Smart contract panicked: bad \"input\"\n":                `HostError(GuestPanic { panic_msg: "bad \"input\"\n" })`,
		"storage_write is not allowed in view calls":              `HostError(ProhibitedInView { method_name: "storage_write" })`,
		"Exceeded the prepaid gas.":                               `HostError(GasExceeded)`,
		"WebAssembly trap: An `unreachable` opcode was executed.": `WasmTrap(Unreachable)`,
		"The length of a storage key 5000 exceeds the limit 2048": `HostError(KeyLengthExceeded { length: 5000, limit: 2048 })`,
		"MethodResolveError(MethodNotFound)":                      `MethodResolveError(MethodNotFound)`,
	} {
		if got := (&FunctionCallError{Text: text}).DebugText(); got != want {
			t.Errorf("DebugText(%q) = %s, want %s", text, got, want)
		}
	}
}

// BenchmarkRunawayToGasLimit: a loop that runs until the most gas a call
// may burn is spent (300 Tgas: ~365 M instructions), the contracts'
// worst case.
//
//	go test -run '^$' -bench RunawayToGasLimit -benchtime 3x ./testnet/devchain/internal/vm
func BenchmarkRunawayToGasLimit(b *testing.B) {
	e, code, h := newEngine(b), contract(b, "panicker"), newMapHost()
	c := callCtx(``, false)
	c.PrepaidGas = e.cfg.MaxGasBurnt
	for i := 0; i < b.N; i++ {
		if out := e.Run(context.Background(), code, "loop_forever", c, h); out.Err == nil || out.Err.Text != "Exceeded the prepaid gas." {
			b.Fatalf("loop_forever: %v", out.Err)
		}
	}
}
