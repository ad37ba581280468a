package hostabi

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/outlayer/outlayer/exec/meter"
)

// Trap is a Reply code that never reaches the program: the host function
// traps instead, with the Reply's data as the message. A replay that
// diverged from its record and a node that lost its sandbox pipe answer it.
const Trap Code = 1 << 20

// What a host call costs, in instructions taken from the run's budget after
// the call (so a replay, which gets the same answers, is charged the same).
// Every call pays CallCost plus ByteCost per byte of arguments and answer;
// the calls that reach outside the node pay more on top.
const (
	CallCost     = 10_000
	ByteCost     = 4
	HTTPCost     = 2_000_000
	ViewCost     = 500_000
	VRFCost      = 200_000
	ListKeysCost = 20_000
)

// extraCost is what fn pays on top of CallCost.
func extraCost(fn Fn) uint64 {
	switch fn {
	case FnHTTPFetch:
		return HTTPCost
	case FnNearView:
		return ViewCost
	case FnVRFGenerate:
		return VRFCost
	case FnStorageList:
		return ListKeysCost
	}
	return 0
}

// run is one run's state, carried in the context the program is called
// with.
type run struct {
	handler Handler
	last    []byte // the last call's answer or error message
}

type runKey struct{}

// WithHandler returns a context for one run whose host calls h answers
// (nil: every call answers Unavailable).
func WithHandler(ctx context.Context, h Handler) context.Context {
	return context.WithValue(ctx, runKey{}, &run{handler: h})
}

func runOf(ctx context.Context) *run {
	if r, ok := ctx.Value(runKey{}).(*run); ok {
		return r
	}
	return &run{}
}

// Instantiate defines ModuleName in rt. Programs that import it get these
// functions; each run's calls go to the Handler of its context
// (WithHandler).
func Instantiate(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(ModuleName)
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	def := func(name Fn, params []api.ValueType, f api.GoModuleFunc) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, []api.ValueType{i64}).Export(string(name))
	}
	def(FnResultRead, []api.ValueType{i32, i32}, resultRead)
	def(FnHTTPFetch, []api.ValueType{i32, i32, i32, i32}, func(ctx context.Context, m api.Module, s []uint64) {
		req := read(m, FnHTTPFetch, "request", s[0], s[1])
		s[0] = call(ctx, m, FnHTTPFetch, answerBytes(s[2], s[3]), req)
	})
	def(FnStorageGet, []api.ValueType{i32, i32, i32, i32, i32}, func(ctx context.Context, m api.Module, s []uint64) {
		key := read(m, FnStorageGet, "key", s[1], s[2])
		s[0] = call(ctx, m, FnStorageGet, answerBytes(s[3], s[4]), PutU32(uint32(s[0])), key)
	})
	def(FnStorageSet, []api.ValueType{i32, i32, i32, i32, i32}, func(ctx context.Context, m api.Module, s []uint64) {
		key := read(m, FnStorageSet, "key", s[1], s[2])
		val := read(m, FnStorageSet, "value", s[3], s[4])
		s[0] = call(ctx, m, FnStorageSet, answerNone, PutU32(uint32(s[0])), key, val)
	})
	def(FnStorageHas, []api.ValueType{i32, i32, i32}, func(ctx context.Context, m api.Module, s []uint64) {
		key := read(m, FnStorageHas, "key", s[1], s[2])
		s[0] = call(ctx, m, FnStorageHas, answerBool, PutU32(uint32(s[0])), key)
	})
	def(FnStorageDelete, []api.ValueType{i32, i32, i32}, func(ctx context.Context, m api.Module, s []uint64) {
		key := read(m, FnStorageDelete, "key", s[1], s[2])
		s[0] = call(ctx, m, FnStorageDelete, answerBool, PutU32(uint32(s[0])), key)
	})
	def(FnStorageSetIfAbsent, []api.ValueType{i32, i32, i32, i32, i32}, func(ctx context.Context, m api.Module, s []uint64) {
		key := read(m, FnStorageSetIfAbsent, "key", s[1], s[2])
		val := read(m, FnStorageSetIfAbsent, "value", s[3], s[4])
		s[0] = call(ctx, m, FnStorageSetIfAbsent, answerBool, PutU32(uint32(s[0])), key, val)
	})
	def(FnStorageSetIfEquals, []api.ValueType{i32, i32, i32, i32, i32, i32, i32}, func(ctx context.Context, m api.Module, s []uint64) {
		key := read(m, FnStorageSetIfEquals, "key", s[1], s[2])
		exp := read(m, FnStorageSetIfEquals, "expected value", s[3], s[4])
		val := read(m, FnStorageSetIfEquals, "new value", s[5], s[6])
		s[0] = call(ctx, m, FnStorageSetIfEquals, answerBool, PutU32(uint32(s[0])), key, exp, val)
	})
	def(FnStorageIncrement, []api.ValueType{i32, i32, i32, i64, i32}, func(ctx context.Context, m api.Module, s []uint64) {
		key := read(m, FnStorageIncrement, "key", s[1], s[2])
		s[0] = call(ctx, m, FnStorageIncrement, answerI64(s[4]), PutU32(uint32(s[0])), key, PutI64(int64(s[3])))
	})
	def(FnStorageList, []api.ValueType{i32, i32, i32, i32, i32, i32, i32, i32}, func(ctx context.Context, m api.Module, s []uint64) {
		prefix := read(m, FnStorageList, "prefix", s[1], s[2])
		after := read(m, FnStorageList, "start-after key", s[3], s[4])
		s[0] = call(ctx, m, FnStorageList, answerBytes(s[6], s[7]), PutU32(uint32(s[0])), prefix, after, PutU32(uint32(s[5])))
	})
	def(FnVRFGenerate, []api.ValueType{i32, i32, i32, i32}, func(ctx context.Context, m api.Module, s []uint64) {
		seed := read(m, FnVRFGenerate, "seed", s[0], s[1])
		s[0] = call(ctx, m, FnVRFGenerate, answerBytes(s[2], s[3]), seed)
	})
	def(FnVRFPubkey, []api.ValueType{i32, i32}, func(ctx context.Context, m api.Module, s []uint64) {
		s[0] = call(ctx, m, FnVRFPubkey, answerBytes(s[0], s[1]))
	})
	def(FnNearView, []api.ValueType{i32, i32, i32, i32}, func(ctx context.Context, m api.Module, s []uint64) {
		req := read(m, FnNearView, "request", s[0], s[1])
		s[0] = call(ctx, m, FnNearView, answerBytes(s[2], s[3]), req)
	})
	_, err := b.Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("hostabi: defining %s: %w", ModuleName, err)
	}
	return nil
}

// trap stops the program with a message (wazero turns a host function's
// panic into the call's error, which exec reports as a trap).
func trap(fn Fn, format string, args ...any) {
	panic(fmt.Errorf("%s.%s: %s", ModuleName, fn, fmt.Sprintf(format, args...)))
}

// read copies len bytes at ptr out of the program's memory; a range
// outside it traps.
func read(m api.Module, fn Fn, what string, ptr, n uint64) []byte {
	if m == nil {
		return nil
	}
	p, l := uint32(ptr), uint32(n)
	b, ok := m.Memory().Read(p, l)
	if !ok {
		trap(fn, "the %s (%d bytes at %#x) is outside the program's memory", what, l, p)
	}
	return append([]byte(nil), b...)
}

// An answer writes a successful Reply into the program's memory and
// returns the function's result. check runs before the call, so a bad
// buffer traps before anything happens outside.
type answer struct {
	check func(m api.Module, fn Fn)
	write func(m api.Module, fn Fn, data []byte) uint64
}

// answerBytes: the answer goes to out_ptr if it fits out_cap; the result
// is its full length either way (result_read gets it otherwise).
func answerBytes(outPtr, outCap uint64) answer {
	p, c := uint32(outPtr), uint32(outCap)
	return answer{
		check: func(m api.Module, fn Fn) {
			if _, ok := m.Memory().Read(p, c); !ok {
				trap(fn, "the output buffer (%d bytes at %#x) is outside the program's memory", c, p)
			}
		},
		write: func(m api.Module, fn Fn, data []byte) uint64 {
			if uint64(len(data)) <= uint64(c) {
				m.Memory().Write(p, data)
			}
			return uint64(len(data))
		},
	}
}

// answerNone: success returns 0.
var answerNone = answer{
	check: func(api.Module, Fn) {},
	write: func(api.Module, Fn, []byte) uint64 { return 0 },
}

// answerBool: the answer is one byte, returned as 0 or 1.
var answerBool = answer{
	check: func(api.Module, Fn) {},
	write: func(_ api.Module, fn Fn, data []byte) uint64 {
		if len(data) != 1 || data[0] > 1 {
			trap(fn, "the node answered %d bytes where one boolean byte was expected", len(data))
		}
		return uint64(data[0])
	},
}

// answerI64: the answer is 8 bytes written at outPtr; the result is 0.
func answerI64(outPtr uint64) answer {
	p := uint32(outPtr)
	return answer{
		check: func(m api.Module, fn Fn) {
			if _, ok := m.Memory().Read(p, 8); !ok {
				trap(fn, "the 8-byte output (at %#x) is outside the program's memory", p)
			}
		},
		write: func(m api.Module, fn Fn, data []byte) uint64 {
			if len(data) != 8 {
				trap(fn, "the node answered %d bytes where an 8-byte integer was expected", len(data))
			}
			m.Memory().Write(p, data)
			return 0
		},
	}
}

// call sends one call to the run's handler, charges it, and returns what
// the function returns: the answer's result or the negated error code.
func call(ctx context.Context, m api.Module, fn Fn, a answer, args ...[]byte) uint64 {
	a.check(m, fn)
	r := runOf(ctx)
	var rep Reply
	if r.handler == nil {
		rep = Errorf(Unavailable, "this run offers no host functions")
	} else {
		rep = r.handler(ctx, Call{Fn: fn, Args: args})
	}
	if rep.Code == Trap {
		trap(fn, "%s", rep.Data)
	}
	size := uint64(len(rep.Data))
	for _, arg := range args {
		size += uint64(len(arg))
	}
	charge(m, fn, CallCost+extraCost(fn)+ByteCost*size)
	r.last = rep.Data
	if rep.Code != OK {
		if rep.Code < 0 || rep.Code >= Trap {
			trap(fn, "the node answered the invalid code %d", rep.Code)
		}
		return uint64(-int64(rep.Code))
	}
	return a.write(m, fn, rep.Data)
}

// charge takes n instructions from the run's budget; past it the program
// stops with the meter's own verdict (instruction limit exceeded).
func charge(m api.Module, fn Fn, n uint64) {
	ok, err := meter.Charge(m, n)
	if err != nil {
		trap(fn, "charging the call: %v", err)
	}
	if !ok {
		trap(fn, "the call's cost of %d instructions exceeds what is left of the budget", n)
	}
}

// resultRead copies the last call's answer (or error message) to out_ptr
// if it fits out_cap and returns its full length.
func resultRead(ctx context.Context, m api.Module, s []uint64) {
	r := runOf(ctx)
	a := answerBytes(s[0], s[1])
	a.check(m, FnResultRead)
	charge(m, FnResultRead, ByteCost*uint64(len(r.last)))
	s[0] = a.write(m, FnResultRead, r.last)
}
