package daemon

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/outlayer/outlayer/daemon/hostcall"
	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/exec/hostabi"
	"github.com/outlayer/outlayer/store"
)

// hostServices are what this node offers programs' host calls
// (outlayer_v1): the egress client for HTTP, the replica for storage reads,
// the keystore's VRF key, the NEAR RPC client for views. A nil
// *hostServices (the worker's unit tests) offers none of them: calls are
// answered Unavailable, and recorded like any other.
type hostServices struct {
	fetch   hostcall.Fetcher
	storage hostcall.StorageReader
	chain   hostcall.Chain
	// vrf returns the VRF key, or nil while the keystore is not ready.
	vrf func() *hostcall.VRF
	// records reads the record a request's earlier executor left.
	records interface {
		Record(id uint64) ([]byte, bool, error)
	}
	// hosts, when non-nil, narrows every program's hosts (node policy).
	hosts  []string
	limits hostcall.Limits
}

// hostRun is one run's host calls: the session that answers them and the
// recorder that keeps the run's record.
type hostRun struct {
	session *hostcall.Session
	rec     *hostabi.Recorder
	// replay, for a later executor of a k-of-n request, answers from the
	// first executor's record instead (replayed is that record).
	replay   *hostabi.Replayer
	replayed *hostabi.Record
	// await, for an executor of a k-of-n request that runs beside the
	// first (not after it), waits for the first executor's record at the
	// run's first host call: from then on the run replays it, so every
	// executor sees the same world (nil: this run records).
	await func(ctx context.Context) (*hostabi.Record, error)
}

// programIdentity names whose storage a run uses: a project's runs share
// the project's (by its contract-issued uuid, which a deleted and
// re-created project does not reuse), so every version sees what the
// earlier ones wrote; any other run's is its WASM's sha256 in hex.
func programIdentity(projectUUID string, wasmHash [32]byte) string {
	if projectUUID != "" {
		return "project:" + projectUUID
	}
	return hex.EncodeToString(wasmHash[:])
}

// start prepares the host calls of one run of j's program; first says
// whether this node holds j's first lease (the executor whose host calls
// the others replay when they run at the same time).
func (h *hostServices) start(j *store.Job, first bool, wasm []byte, hash [32]byte, log *slog.Logger) *hostRun {
	if rec := h.earlierRecord(j, log); rec != nil {
		return &hostRun{replay: hostabi.NewReplayer(rec), replayed: rec}
	}
	cfg := hostcall.Config{RequestID: j.ID, Sender: j.Sender, Code: programIdentity(j.ProjectUUID, hash)}
	if j.ProjectUUID != "" {
		cfg.ProjectID = j.ProjectID
	}
	if h != nil {
		declared, hasManifest, err := hostcall.Manifest(wasm)
		if err != nil {
			log.Warn("the program's manifest is unusable; it may reach no host", "err", err)
		}
		if !hasManifest {
			declared = nil
		}
		cfg.HTTP, cfg.Storage, cfg.Chain, cfg.Limits = h.fetch, h.storage, h.chain, h.limits
		cfg.Hosts = hostcall.NarrowHosts(declared, h.hosts)
		if h.vrf != nil {
			cfg.VRF = h.vrf()
		}
	}
	s := hostcall.New(cfg)
	run := &hostRun{session: s, rec: hostabi.NewRecorder(s.Handle)}
	if !first && j.Agreement != nil && h != nil && h.records != nil {
		run.await = func(ctx context.Context) (*hostabi.Record, error) { return h.awaitRecord(ctx, j.ID) }
	}
	return run
}

// awaitRecord waits until the first executor's record of request id is
// in the replica (until ctx, the run's lease, ends).
func (h *hostServices) awaitRecord(ctx context.Context, id uint64) (*hostabi.Record, error) {
	for {
		raw, ok, err := h.records.Record(id)
		if err != nil {
			return nil, err
		}
		if ok {
			return hostabi.ParseRecord(raw)
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return nil, fmt.Errorf("waiting for the first executor's host-call record: %w", ctx.Err())
		}
	}
}

// earlierRecord is the record of an earlier executor of j (a request that
// needs several agreeing executors), which this run replays so that every
// executor sees the same world; nil when this run is the first.
func (h *hostServices) earlierRecord(j *store.Job, log *slog.Logger) *hostabi.Record {
	if h == nil || h.records == nil || j.Agreement == nil || len(j.Agreement.Results) == 0 {
		return nil
	}
	raw, ok, err := h.records.Record(j.ID)
	if err != nil || !ok {
		return nil
	}
	rec, err := hostabi.ParseRecord(raw)
	if err != nil {
		log.Warn("the earlier executor's record does not parse; this run asks the world itself", "err", err)
		return nil
	}
	log.Debug("replaying the earlier executor's record", "calls", len(rec.Entries), "record", rec.HashHex())
	return rec
}

// handle is the run's exec.Request.Host.
func (r *hostRun) handle(ctx context.Context, c hostabi.Call) hostabi.Reply {
	if r.await != nil {
		rec, err := r.await(ctx)
		r.await = nil
		if err != nil {
			return hostabi.Errorf(hostabi.Unavailable, "%v", err)
		}
		r.replay, r.replayed = hostabi.NewReplayer(rec), rec
	}
	if r.replay != nil {
		return r.replay.Handle(ctx, c)
	}
	return r.rec.Handle(ctx, c)
}

// finish sets the result's record hash and returns what Complete carries:
// the encoded record (nil when the program made no host call) and the
// storage transaction (nil for a failed run, or one that used none).
func (r *hostRun) finish(res *store.Result) ([]byte, *store.ProgEffects) {
	if r == nil {
		return nil, nil
	}
	if r.replay != nil {
		// The record and the writes are the first executor's, already
		// kept; a run that diverged from them reports no record, so it
		// cannot agree with one that did not.
		res.RecordHash = r.replayed.HashHex()
		if r.replay.Check() != nil {
			res.RecordHash = ""
		}
		return nil, nil
	}
	rec := r.rec.Record()
	res.RecordHash = rec.HashHex()
	var encoded []byte
	if len(rec.Entries) > 0 {
		encoded = rec.Marshal()
	}
	if !res.Success {
		return encoded, nil
	}
	e := r.session.Effects()
	if e != nil {
		e.RecordHash = res.RecordHash
	}
	return encoded, e
}

// ExecRequest is the exec.Request a node runs for j, apart from its
// secrets, seed and host handler: everything a re-execution must
// reproduce (a local replay with `outlayerd exec --replay` builds its
// request here too). The seed is private to the cluster (derived from the
// keystore master, see Node.requestSeed), so a replay gets it from --seed.
func ExecRequest(j *store.Job, contract string, wasm []byte, hash [32]byte, format exec.Format) exec.Request {
	// Upstream HEAD: NEAR_SENDER_ID and NEAR_USER_ACCOUNT_ID are the signer,
	// NEAR_PREDECESSOR_ID the immediate caller.
	user := j.Sender
	if j.Signer != "" {
		user = j.Signer
	}
	execType := "NEAR"
	if j.Call != "" {
		execType = "HTTPS"
	}
	return exec.Request{
		Wasm:       wasm,
		WasmSHA256: hash,
		Input:      []byte(j.Input),
		Format:     format,
		Limits: exec.Limits{
			MaxInstructions: j.Limits.MaxInstructions,
			MaxMemoryMB:     j.Limits.MaxMemoryMB,
			Timeout:         time.Duration(j.Limits.MaxExecutionSeconds) * time.Second,
		},
		Context: exec.Context{
			RequestID:       j.ID,
			SenderID:        user,
			ContractID:      contract,
			BlockHeight:     j.BlockHeight,
			BlockTimestamp:  j.RequestedAtNs,
			ReceiptID:       j.ReceiptID,
			PredecessorID:   j.Sender,
			UserAccountID:   user,
			PaymentYocto:    j.Deposit,
			TransactionHash: j.TxHash,
			ExecutionType:   execType,
			CallID:          j.Call,
			ProjectID:       j.ProjectID,
			ProjectUUID:     j.ProjectUUID,
		},
	}
}
