package exec

import (
	"context"
	"encoding/binary"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// WASI preview 1 errno values this file answers with (the ABI's numbers).
const (
	errnoSuccess  = 0
	errnoBadf     = 8
	errnoFault    = 21
	errnoInval    = 28
	errnoNotsock  = 57
	wasiEventFdRW = 32 // size of an event record
	wasiSubSize   = 48 // size of a subscription record
)

// WASI event types.
const (
	eventClock   = 0
	eventFdRead  = 1
	eventFdWrite = 2
)

// instantiateWASI instantiates wazero's WASI preview 1 with two functions
// replaced so they answer as wasmtime (the reference runtime of the WASI
// test suite) does, in this sandbox where a program has exactly stdin,
// stdout and stderr and no sockets:
//
//   - poll_oneoff: stdin is always readable and stdout/stderr always
//     writable (they are in-memory buffers), so a subscription on them is
//     ready at once with success; wazero answers ENOTSUP for writes. Clock
//     subscriptions (relative or absolute) advance the program's virtual
//     clock instead of sleeping.
//   - sock_shutdown: on stdio, which is not a socket, ENOTSOCK; wazero
//     answers EBADF.
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	i32 := api.ValueTypeI32
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(pollOneoff), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("in", "out", "nsubscriptions", "result.nevents").
		Export("poll_oneoff")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(sockShutdown), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("fd", "how").
		Export("sock_shutdown")
	_, err := b.Instantiate(ctx)
	return err
}

// isStdio reports whether fd is one of the three descriptors a program has.
// (A program that closed its own stdout still gets the answers for an open
// descriptor; nothing it could learn from that differs between nodes.)
func isStdio(fd uint32) bool { return fd <= 2 }

func sockShutdown(_ context.Context, _ api.Module, stack []uint64) {
	fd := uint32(stack[0])
	if isStdio(fd) {
		stack[0] = errnoNotsock
		return
	}
	stack[0] = errnoBadf
}

type clockKey struct{}

// withClock makes the run's virtual clock reachable from host functions,
// which receive the context the program was called with.
func withClock(ctx context.Context, c *virtualClock) context.Context {
	return context.WithValue(ctx, clockKey{}, c)
}

// pollOneoff waits for the first of its subscriptions to be ready. In this
// sandbox every descriptor subscription is ready at once, so a poll with
// any of them returns them (and any clock already due) without time
// passing; a poll with only clocks advances the virtual clock to the
// earliest deadline and returns the clocks due then.
func pollOneoff(ctx context.Context, mod api.Module, stack []uint64) {
	in, out, nsubs, neventsPtr := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	stack[0] = pollOneoffErrno(ctx, mod, in, out, nsubs, neventsPtr)
}

func pollOneoffErrno(ctx context.Context, mod api.Module, in, out, nsubs, neventsPtr uint32) uint64 {
	if nsubs == 0 {
		return errnoInval
	}
	mem := mod.Memory()
	if uint64(nsubs)*wasiSubSize > 1<<32 {
		return errnoFault
	}
	subs, ok := mem.Read(in, nsubs*wasiSubSize)
	if !ok {
		return errnoFault
	}
	// Copy: the events may overlap the subscriptions.
	subs = append([]byte(nil), subs...)
	events, ok := mem.Read(out, nsubs*wasiEventFdRW)
	if !ok {
		return errnoFault
	}
	clock, _ := ctx.Value(clockKey{}).(*virtualClock)
	if clock == nil {
		clock = &virtualClock{}
	}

	type sub struct {
		userdata []byte
		kind     byte
		wait     int64 // clocks: nanoseconds from now until due
		errno    uint16
	}
	le := binary.LittleEndian
	parsed := make([]sub, nsubs)
	anyFd := false
	minWait := int64(-1)
	for i := range parsed {
		s := subs[i*wasiSubSize : (i+1)*wasiSubSize]
		p := sub{userdata: s[0:8], kind: s[8]}
		switch p.kind {
		case eventClock:
			id, timeout, flags := le.Uint32(s[16:20]), le.Uint64(s[24:32]), le.Uint16(s[40:42])
			switch flags {
			case 0: // relative
				p.wait = int64(min(timeout, 1<<62))
			case 1: // absolute, on the clock it names
				now := uint64(clock.monotonicNow())
				if id == 0 { // realtime
					now = uint64(clock.wallNow())
				}
				if timeout > now {
					p.wait = int64(min(timeout-now, 1<<62))
				}
			default:
				return errnoInval
			}
			if minWait < 0 || p.wait < minWait {
				minWait = p.wait
			}
		case eventFdRead, eventFdWrite:
			anyFd = true
			if !isStdio(le.Uint32(s[16:20])) {
				p.errno = errnoBadf
			}
		default:
			return errnoInval
		}
		parsed[i] = p
	}

	due := int64(0) // clocks due at or before this wait are reported
	if !anyFd {
		due = minWait
		clock.nanosleep(minWait)
	}
	clear(events)
	n := uint32(0)
	for _, p := range parsed {
		if p.kind == eventClock && p.wait > due {
			continue
		}
		e := events[n*wasiEventFdRW : (n+1)*wasiEventFdRW]
		copy(e[0:8], p.userdata)
		le.PutUint16(e[8:10], p.errno)
		e[10] = p.kind
		n++
	}
	if !mem.WriteUint32Le(neventsPtr, n) {
		return errnoFault
	}
	return errnoSuccess
}
