package vm

import (
	"math"

	"github.com/tetratelabs/wazero/api"

	"github.com/outlayer/outlayer/exec/meter"
)

// instructionMeter turns the instructions a contract executes into gas,
// through exec/meter's instrumentation: the module holds its remaining
// instruction budget in an exported global and traps when it runs out.
// One instructionMeter serves one call.
type instructionMeter struct {
	budget   uint64 // instructions granted at the last (re)set
	consumed uint64 // instructions used before the last (re)set
}

// instrumentCode prepares code for counting.
func instrumentCode(code []byte) ([]byte, error) { return meter.Instrument(code, meter.Options{}) }

func (m *instructionMeter) set(mod api.Module, gas uint64) {
	n := min(gas/InstructionGas, math.MaxInt64)
	if err := meter.SetBudget(mod, n); err == nil {
		m.budget = n
	}
}

// start gives a fresh instance gas worth of instructions.
func (m *instructionMeter) start(mod api.Module, gas uint64) {
	m.consumed = 0
	m.set(mod, gas)
}

func (m *instructionMeter) instructions(mod api.Module) uint64 {
	used, err := meter.Used(mod, m.budget)
	if err != nil {
		return m.consumed
	}
	return m.consumed + used
}

// usedGas is the gas of the instructions executed since start.
func (m *instructionMeter) usedGas(mod api.Module) uint64 {
	return m.instructions(mod) * InstructionGas
}

// setRemaining lowers what is left after host functions charged gas.
func (m *instructionMeter) setRemaining(mod api.Module, gas uint64) {
	m.consumed = m.instructions(mod)
	m.set(mod, gas)
}

// exhausted reports whether the instance trapped for lack of gas.
func (m *instructionMeter) exhausted(mod api.Module) bool { return meter.Exhausted(mod) }

// stop makes the instance trap at its next loop head or function entry
// (the call's safety timeout); safe from another goroutine on wazero's
// compiler.
func (m *instructionMeter) stop(mod api.Module) { _ = meter.Stop(mod) }

// stopped reports whether stop was called on the instance.
func (m *instructionMeter) stopped(mod api.Module) bool { return meter.Stopped(mod) }
