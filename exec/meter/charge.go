package meter

import (
	"math"

	"github.com/tetratelabs/wazero/api"
)

// Charge takes n instructions from the module's budget on behalf of a host
// function, so the program pays for what the host did for it. The running
// code reloads its counter from the budget after every call, so the charge
// counts exactly as if the program had executed n more instructions. It
// reports false when that overdrew the budget: Exhausted is then true, Used
// reports the whole budget, and the host function should trap.
func Charge(mod api.Module, n uint64) (bool, error) {
	g, err := budgetGlobal(mod)
	if err != nil {
		return false, err
	}
	rem := int64(g.Get())
	switch {
	case n > math.MaxInt64/2 || rem < 0:
		over := int64(-1)
		g.Set(uint64(over))
		return false, nil
	case int64(n) > rem:
		// Overdrawn by the charge's excess, as the meter's own traps are.
		g.Set(uint64(rem - int64(n)))
		return false, nil
	}
	g.Set(uint64(rem - int64(n)))
	return true, nil
}
