package exec

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/outlayer/outlayer/exec/hostabi"
	"github.com/outlayer/outlayer/internal/reexec"
)

// The node's side of isolation: a pool of sandbox child processes (see
// child.go), each running one program at a time. A program that kills its
// sandbox (a Go fatal error, a wazero crash, an exhausted address space)
// ends that process only; the node answers ErrSandboxCrashed and starts a
// fresh sandbox for the next run.

// Defaults of the sandbox budgets.
const (
	defaultCompileTimeout  = 30 * time.Second
	defaultCompileMemoryMB = 2048
	// runGrace is how much CPU time past its wall-time limit a run may
	// use before the node decides the sandbox failed to stop it.
	runGrace = 5 * time.Second
	// budgetPoll is how often the node looks at a busy sandbox's CPU time.
	budgetPoll = 100 * time.Millisecond
)

type sandboxPool struct {
	hello  childHello
	cfg    Config
	logger *slog.Logger

	slots chan struct{} // one token per busy sandbox

	mu     sync.Mutex
	idle   []*sandbox
	busy   map[*sandbox]struct{}
	closed bool
	// compiling holds, per module being compiled in some sandbox for the
	// first time, a channel closed when that compilation ends: other runs
	// of the module wait for it and then load the machine code from the
	// shared disk cache instead of compiling it again in parallel.
	compiling map[[32]byte]chan struct{}
	compiled  map[[32]byte]bool // compiled by some sandbox (a hint, bounded)

	// spawns go through one goroutine locked to its OS thread, which lives
	// as long as the pool: a sandbox gets SIGKILL when the thread that
	// started it ends (Pdeathsig), and Go may end other threads.
	spawnReq chan spawnRequest
	stop     chan struct{}
}

type spawnRequest struct {
	cmd  *osexec.Cmd
	done chan error
}

func newSandboxPool(cfg Config, logger *slog.Logger) (*sandboxPool, error) {
	n := cfg.Sandboxes
	if n <= 0 {
		n = max(4, runtime.NumCPU())
	}
	p := &sandboxPool{
		hello: childHello{
			CacheDir:         cfg.CacheDir,
			MaxCachedModules: cfg.MaxCachedModules,
			Interpreter:      cfg.Interpreter,
			CompileMemoryMB:  cfg.CompileMemoryMB,
			// The interpreter stops itself at the deadline (wazero's
			// WithCloseOnContextDone); compiled code is stopped by the
			// node killing its sandbox.
			KillAtDeadline: !cfg.Interpreter,
		},
		cfg:       cfg,
		logger:    logger,
		slots:     make(chan struct{}, n),
		busy:      map[*sandbox]struct{}{},
		compiling: map[[32]byte]chan struct{}{},
		compiled:  map[[32]byte]bool{},
		spawnReq:  make(chan spawnRequest),
		stop:      make(chan struct{}),
	}
	if p.hello.CompileMemoryMB == 0 {
		p.hello.CompileMemoryMB = defaultCompileMemoryMB
	}
	if p.cfg.CompileTimeout <= 0 {
		p.cfg.CompileTimeout = defaultCompileTimeout
	}
	go p.spawner()
	return p, nil
}

func (p *sandboxPool) spawner() {
	runtime.LockOSThread() // never unlocked: see spawnReq
	for {
		select {
		case r := <-p.spawnReq:
			r.done <- r.cmd.Start()
		case <-p.stop:
			return
		}
	}
}

// sandbox is one child process.
type sandbox struct {
	cmd     *osexec.Cmd
	toChild *os.File
	enc     *gob.Encoder
	replies chan childReply // closed when the pipe ends
	exited  chan struct{}   // closed once the process is reaped
	stderr  *headBuffer
	// cached are the modules this sandbox compiled, as far as the node
	// knows (the child answers NeedWasm when it evicted one).
	cached map[[32]byte]bool
}

func (p *sandboxPool) spawn(ctx context.Context) (*sandbox, error) {
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("exec: creating a sandbox pipe: %w", err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, fmt.Errorf("exec: creating a sandbox pipe: %w", err)
	}
	// The node's own binary as the sandbox child (child.go), with nothing
	// of the node's environment.
	cmd := reexec.Command(context.Background(), sandboxEntry)
	cmd.ExtraFiles = []*os.File{reqR, repW}
	sb := &sandbox{cmd: cmd, toChild: reqW, enc: gob.NewEncoder(reqW),
		replies: make(chan childReply, 4), exited: make(chan struct{}),
		stderr: &headBuffer{max: 8 << 10}, cached: map[[32]byte]bool{}}
	cmd.Stderr = sb.stderr
	cmd.SysProcAttr = sandboxProcAttr()
	done := make(chan error, 1)
	select {
	case p.spawnReq <- spawnRequest{cmd: cmd, done: done}:
		err = <-done
	case <-p.stop:
		err = errRunnerClosed
	}
	reqR.Close()
	repW.Close()
	if err != nil {
		reqW.Close()
		repR.Close()
		return nil, fmt.Errorf("exec: starting a sandbox process (%s): %w", cmd.Path, err)
	}
	go func() {
		defer close(sb.replies)
		defer repR.Close()
		dec := gob.NewDecoder(repR)
		for {
			var m childReply
			if err := dec.Decode(&m); err != nil {
				return
			}
			sb.replies <- m
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(sb.exited)
	}()
	if err := sb.enc.Encode(p.hello); err != nil {
		sb.kill()
		return nil, p.handshakeError(sb, err)
	}
	timer := time.NewTimer(sandboxHandshakeTimeout)
	defer timer.Stop()
	select {
	case m, ok := <-sb.replies:
		if ok && m.Ready {
			return sb, nil
		}
		sb.kill()
		return nil, p.handshakeError(sb, errors.New("it did not answer the handshake"))
	case <-timer.C:
		sb.kill()
		return nil, p.handshakeError(sb, fmt.Errorf("it did not answer within %s", sandboxHandshakeTimeout))
	case <-ctx.Done():
		sb.kill()
		return nil, fmt.Errorf("exec: starting a sandbox: %w", ctx.Err())
	}
}

func (p *sandboxPool) handshakeError(sb *sandbox, err error) error {
	return fmt.Errorf("exec: the sandbox process %s failed to start: %w%s", sb.cmd.Path, err, sb.stderrSuffix())
}

// kill ends the process and waits until it is reaped.
func (sb *sandbox) kill() {
	if sb.cmd.Process != nil {
		_ = sb.cmd.Process.Kill()
	}
	sb.toChild.Close()
	<-sb.exited
}

func (sb *sandbox) stderrSuffix() string {
	s := strings.TrimSpace(sb.stderr.String())
	if s == "" {
		return ""
	}
	if i := strings.Index(s, "\n\ngoroutine "); i >= 0 {
		s = s[:i]
	}
	if len(s) > stderrMessageBytes {
		s = s[:stderrMessageBytes] + " […]"
	}
	return ": " + strings.ToValidUTF8(s, "\uFFFD")
}

// acquire waits for a free sandbox, preferring one that has the module.
func (p *sandboxPool) acquire(ctx context.Context, key [32]byte) (*sandbox, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("exec: waiting for a free sandbox: %w", ctx.Err())
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return nil, errRunnerClosed
	}
	var sb *sandbox
	for i, s := range p.idle {
		if s.cached[key] {
			sb = s
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	if sb == nil && len(p.idle) > 0 {
		sb = p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
	}
	p.mu.Unlock()
	if sb == nil {
		var err error
		if sb, err = p.spawn(ctx); err != nil {
			<-p.slots
			return nil, err
		}
	}
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.busy[sb] = struct{}{}
	}
	p.mu.Unlock()
	if closed {
		sb.kill()
		<-p.slots
		return nil, errRunnerClosed
	}
	return sb, nil
}

// firstCompile waits while another run compiles key for the first time.
// If no one has compiled key yet, this run becomes the one that does: it
// must call the returned function once its compilation ended, saying
// whether it succeeded (calls after the first are ignored).
func (p *sandboxPool) firstCompile(ctx context.Context, key [32]byte) (func(ok bool), error) {
	p.mu.Lock()
	if p.compiled[key] {
		p.mu.Unlock()
		return func(bool) {}, nil
	}
	if ch, ok := p.compiling[key]; ok {
		p.mu.Unlock()
		select {
		case <-ch:
			return func(bool) {}, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("exec: waiting for the module's compilation: %w", ctx.Err())
		}
	}
	ch := make(chan struct{})
	p.compiling[key] = ch
	p.mu.Unlock()
	var once sync.Once
	return func(ok bool) {
		once.Do(func() {
			p.mu.Lock()
			delete(p.compiling, key)
			if len(p.compiled) >= 4*max(p.hello.MaxCachedModules, defaultMaxCachedModules) {
				clear(p.compiled) // a hint only: bounded, not an LRU
			}
			if ok {
				p.compiled[key] = true
			}
			p.mu.Unlock()
			close(ch)
		})
	}, nil
}

// release returns a healthy sandbox to the pool, or kills a broken one.
func (p *sandboxPool) release(sb *sandbox, healthy bool) {
	p.mu.Lock()
	delete(p.busy, sb)
	keep := healthy && !p.closed
	if keep {
		p.idle = append(p.idle, sb)
	}
	p.mu.Unlock()
	if !keep {
		sb.kill()
	}
	<-p.slots
}

func (p *sandboxPool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// close kills every sandbox; runs in progress fail with errRunnerClosed.
func (p *sandboxPool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	all := p.idle
	p.idle = nil
	for sb := range p.busy {
		all = append(all, sb)
	}
	p.mu.Unlock()
	for _, sb := range all {
		sb.kill()
	}
	close(p.stop)
}

func (p *sandboxPool) cachedModules() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[[32]byte]bool{}
	for _, sb := range p.idle {
		for k := range sb.cached {
			seen[k] = true
		}
	}
	for sb := range p.busy {
		for k := range sb.cached {
			seen[k] = true
		}
	}
	return len(seen)
}

// run runs req in a sandbox and watches it: the caller's cancellation, the
// compile budget (CPU time and, in the child, address space) and a run
// that the child fails to stop end the sandbox.
func (p *sandboxPool) run(ctx context.Context, req Request, key [32]byte, limits Limits) (Result, error) {
	res := Result{Format: req.Format}
	compiledFirst, err := p.firstCompile(ctx, key)
	if err != nil {
		return res, err
	}
	defer compiledFirst(false)
	sb, err := p.acquire(ctx, key)
	if err != nil {
		return res, err
	}
	healthy := false
	defer func() { p.release(sb, healthy) }()

	send := func(withWasm bool) error {
		cr := childRequest{Req: req, Key: key}
		if !withWasm {
			cr.Req.Wasm = nil
		}
		return sb.enc.Encode(cr)
	}
	if err := send(!sb.cached[key]); err != nil {
		return res, p.crashed(sb, "compiling", fmt.Errorf("sending the request: %w", err))
	}
	pid := sb.cmd.Process.Pid
	phase := "compiling"
	phaseStart := time.Now()
	cpuStart, _ := processCPU(pid)
	tick := time.NewTicker(budgetPoll)
	defer tick.Stop()
	exited := sb.exited
	var deadline <-chan time.Time // the run's wall-time limit, once it runs
	var deadlineTimer *time.Timer
	defer func() {
		if deadlineTimer != nil {
			deadlineTimer.Stop()
		}
	}()
	for {
		select {
		case m, ok := <-sb.replies:
			switch {
			case !ok:
				return res, p.crashed(sb, phase, nil)
			case m.HostCall != nil:
				if err := sb.enc.Encode(childRequest{HostReply: answerHostCall(ctx, req.Host, *m.HostCall)}); err != nil {
					return res, p.crashed(sb, phase, fmt.Errorf("answering a host call: %w", err))
				}
			case m.NeedWasm:
				if err := send(true); err != nil {
					return res, p.crashed(sb, phase, fmt.Errorf("sending the request: %w", err))
				}
			case m.Compiled:
				sb.cached[key] = true
				compiledFirst(true)
				phase = "running"
				phaseStart = time.Now()
				cpuStart, _ = processCPU(pid)
				if p.hello.KillAtDeadline {
					deadlineTimer = time.NewTimer(limits.Timeout)
					deadline = deadlineTimer.C
				}
			case m.Done:
				err := m.Err.err()
				// A compile that ran into its address-space budget leaves
				// the sandbox's heap grown to the limit; the next compile
				// there would start with no room. Retire it: the next run
				// gets a fresh sandbox.
				healthy = !errors.Is(err, ErrCompileLimit)
				if len(sb.cached) > max(p.hello.MaxCachedModules, defaultMaxCachedModules) {
					clear(sb.cached) // only a routing hint; the child says NeedWasm
				}
				return m.Result, err
			}
		case <-deadline:
			// The program may have finished as the limit passed.
			select {
			case m, ok := <-sb.replies:
				if ok && m.Done {
					healthy = true
					return m.Result, m.Err.err()
				}
			default:
			}
			// Stop it: the sandbox is killed (by release) and the next
			// run starts a fresh one. What the program wrote and counted
			// so far dies with it.
			res.Time = time.Since(phaseStart)
			if used, ok := processCPU(pid); ok {
				if stall := stalled(used-cpuStart, res.Time, limits.Timeout); stall != nil {
					return res, stall
				}
			}
			return res, failure(ErrTimeLimit, "time limit exceeded: the program ran longer than %s", limits.Timeout)
		case <-ctx.Done():
			if p.isClosed() {
				return res, errRunnerClosed
			}
			return res, fmt.Errorf("exec: run cancelled: %w", ctx.Err())
		case <-exited:
			// The reply pipe may still hold the last messages: read on
			// until it ends.
			exited = nil
		case <-tick.C:
			if p.isClosed() {
				return res, errRunnerClosed
			}
			used, ok := processCPU(pid)
			if ok {
				used -= cpuStart
			} else {
				used = time.Since(phaseStart)
			}
			switch {
			case phase == "compiling" && used > p.cfg.CompileTimeout:
				res.CompileTime = time.Since(phaseStart)
				return res, failure(ErrCompileLimit, "compilation limit exceeded: instrumenting and compiling the module took more than %s of CPU time",
					p.cfg.CompileTimeout)
			case phase == "running" && used > limits.Timeout+runGrace:
				res.Time = time.Since(phaseStart)
				return res, p.crashed(sb, phase, fmt.Errorf("the sandbox did not stop the program at its time limit of %s (it used %s of CPU)",
					limits.Timeout, used.Round(time.Millisecond)))
			}
		}
	}
}

// answerHostCall answers a sandboxed program's host call in this process.
func answerHostCall(ctx context.Context, h hostabi.Handler, c hostabi.Call) *hostabi.Reply {
	if h == nil {
		r := hostabi.Errorf(hostabi.Unavailable, "this run offers no host functions")
		return &r
	}
	r := h(ctx, c)
	return &r
}

// crashed explains a sandbox that died or broke its protocol, and ends it.
// Dying of exhausted address space while compiling is the module's fault
// (a compile bomb); any other death is the node's event.
func (p *sandboxPool) crashed(sb *sandbox, phase string, cause error) error {
	sb.kill()
	how := "its process ended"
	if st := sb.cmd.ProcessState; st != nil {
		how = "its process ended: " + st.String()
	}
	if cause != nil {
		how = cause.Error()
	}
	if p.isClosed() {
		return errRunnerClosed
	}
	if phase == "compiling" && compileOutOfMemory(sb.stderr.String()) {
		return failure(ErrCompileLimit, "compilation limit exceeded: instrumenting and compiling the module needed more than %d MiB of memory",
			p.hello.CompileMemoryMB)
	}
	p.logger.Warn("exec: a sandbox process died", "phase", phase, "how", how, "stderr", sb.stderr.String())
	return nodeFailure(ErrSandboxCrashed, "the sandbox died while %s the program (%s)%s", phase, how, sb.stderrSuffix())
}

// compileOutOfMemory reports a sandbox's dying words that mean the
// address-space limit ran out while compiling: a Go allocation refused, or
// the Go runtime unable to start a thread (glibc's pthread_create answers
// EAGAIN when it cannot map the new thread's stack, which under
// RLIMIT_AS is the same exhaustion; seen in TestCompileBudget at an 8 MiB
// budget). A thread limit of the whole machine would say the same; that
// is rare enough to bill as the module's compile failing.
func compileOutOfMemory(stderr string) bool {
	return strings.Contains(stderr, "out of memory") || strings.Contains(stderr, "pthread_create failed")
}

// headBuffer keeps the first max bytes written to it (a sandbox is silent
// until it crashes, and a crash report starts with the reason) and drops
// the rest.
type headBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *headBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - len(t.b); room > 0 {
		t.b = append(t.b, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (t *headBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

var _ io.Writer = (*headBuffer)(nil)
