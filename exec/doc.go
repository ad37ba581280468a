// Package exec runs OutLayer programs: WASI preview 1 command modules (what
// `GOOS=wasip1 GOARCH=wasm go build` produces) in a deterministic, metered
// wazero sandbox, the way the cluster runs every paid request.
//
// A [Runner] is created once per process with [NewRunner] and closed with
// [Runner.Close]. [Runner.Run] takes a [Request] (the WASM, the input, the
// [Limits], the NEAR [Context], secrets, a clock start and a random seed) and
// returns a [Result]: stdout as the output, stderr (capped), and the
// instructions and wall time used, which are filled in on failure too.
//
// The program sees its input on stdin, writes its output to stdout, and finds
// the NEAR_* and OUTLAYER_* context variables and the request's secrets in
// its environment.
// It sees no host filesystem, no sockets and no arguments beyond the program
// name; its clock and random numbers come from the request, so two nodes
// running the same request produce the same bytes and the same instruction
// count.
//
// Programs reach the world only through the outlayer_v1 host functions
// (exec/hostabi: HTTP, storage, VRF, NEAR views), which exec carries to
// Request.Host in the caller's process, across the sandbox pipe when
// isolated; the answers, and so the run, are whatever that handler (a live
// session or a record's replay) says.
//
// Every failure that is the program's (or the request's) own doing is an
// [*Error] whose [Kind] can be tested with errors.Is, for example
// errors.Is(err, exec.ErrInstructionLimit). A [*NodeError] ([ErrSandboxCrashed],
// [ErrNodeStalled]) is a node-side event to retry on another node. Any other
// error means the node could not run the request (it was cancelled, or the
// runner is closed) and says nothing about the program.
//
// With Config.Isolate each program runs in a sandbox child process (this
// executable re-executed through internal/reexec, served from this
// package's init function, so no main needs a hook), so nothing a program
// does can end or starve the node.
// See DESIGN.md for the limits, the error kinds, isolation, fair time
// limits, the determinism story and the module cache.
//
// Building programs from source lives in exec/build; instruction metering in
// exec/meter.
package exec
