package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/daemon/hostcall"
	"github.com/outlayer/outlayer/egress"
	"github.com/outlayer/outlayer/exec"
	"github.com/outlayer/outlayer/exec/hostabi"
	"github.com/outlayer/outlayer/store"
)

// The host-call side of `outlayerd exec`: the services a program's
// outlayer_v1 calls reach locally (HTTP, a storage file, a VRF key, an RPC
// URL), recording a run, and replaying one — from a record file, or a
// finished request fetched from a node.

func execHostFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "allow-host", Usage: "the program may fetch only from `HOST` (repeatable; default: the hosts its manifest declares, or any public host)"},
		&cli.BoolFlag{Name: "allow-loopback", Usage: "let the program fetch from this machine (127.0.0.1, ::1) and over plain http, as a dev-mode cluster does"},
		&cli.StringFlag{Name: "storage", Usage: "keep the program's storage in the bbolt file `PATH` (created if missing); a successful run's writes are saved there"},
		&cli.StringFlag{Name: "vrf-key", Usage: "the VRF key: a 32-byte Ed25519 seed in `HEX` (default: no VRF)"},
		&cli.StringFlag{Name: "rpc", Usage: "NEAR RPC `URL` for the program's chain views (default: no views)"},
		&cli.StringFlag{Name: "record", Usage: "write the run's record (every host call and its answer) to `PATH`"},
		&cli.StringFlag{Name: "replay", Usage: "answer the program's host calls from the record in `PATH` instead of the world"},
		&cli.StringFlag{Name: "node", Usage: "with --request: the node API `URL` to fetch a finished request and its record from"},
		&cli.Uint64Flag{Name: "request", Usage: "replay finished request `ID` from --node: FILE.wasm must be its program; exit 1 unless the output, success and instruction count match the cluster's"},
	}
}

// execHost is the host side of one local run.
type execHost struct {
	session  *hostcall.Session
	rec      *hostabi.Recorder
	replayer *hostabi.Replayer
	storage  *store.Store
	// want is the cluster's result for --request.
	want *store.Result
}

func (h *execHost) close() {
	if h.storage != nil {
		h.storage.Close()
	}
}

// setupHost prepares the host calls for req (whose Wasm is set) from the
// flags. With --request it replaces req with the finished request's own.
func setupHost(c *cli.Context, req *exec.Request) (*execHost, error) {
	h := &execHost{}
	switch {
	case c.IsSet("request"):
		if !c.IsSet("node") {
			return nil, usageError("--request needs --node, the node API to fetch it from")
		}
		if c.IsSet("replay") || c.IsSet("record") {
			return nil, usageError("--request replays the cluster's record; it cannot be combined with --replay or --record")
		}
		return h, h.fetchRequest(c, req)
	case c.IsSet("replay"):
		raw, err := os.ReadFile(c.String("replay"))
		if err != nil {
			return nil, usageError("--replay: %v", err)
		}
		rec, err := hostabi.ParseRecord(raw)
		if err != nil {
			return nil, usageError("--replay %s: %v", c.String("replay"), err)
		}
		h.replayer = hostabi.NewReplayer(rec)
		req.Host = h.replayer.Handle
		return h, nil
	}
	sum := sha256.Sum256(req.Wasm)
	cfg := hostcall.Config{RequestID: req.Context.RequestID, Sender: req.Context.SenderID, Code: hex.EncodeToString(sum[:]),
		HTTP: egress.New(egress.Config{AllowHTTP: c.Bool("allow-loopback"), AllowLoopback: c.Bool("allow-loopback")})}
	declared, hasManifest, err := hostcall.Manifest(req.Wasm)
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "warning: %v\n", err)
	}
	if !hasManifest {
		declared = nil
	}
	var node []string
	if c.IsSet("allow-host") {
		node = c.StringSlice("allow-host")
	}
	cfg.Hosts = hostcall.NarrowHosts(declared, node)
	if path := c.String("storage"); path != "" {
		st, err := store.Open(path, store.Options{})
		if err != nil {
			return nil, usageError("--storage: %v", err)
		}
		h.storage, cfg.Storage = st, st
	}
	if k := c.String("vrf-key"); k != "" {
		seed, err := hex.DecodeString(strings.TrimPrefix(k, "0x"))
		if err == nil {
			cfg.VRF, err = hostcall.NewVRF(seed)
		}
		if err != nil {
			h.close()
			return nil, usageError("--vrf-key: %v", err)
		}
	}
	if u := c.String("rpc"); u != "" {
		cfg.Chain = near.NewClient(u)
	}
	h.session = hostcall.New(cfg)
	h.rec = hostabi.NewRecorder(h.session.Handle)
	req.Host = h.rec.Handle
	return h, nil
}

// finish saves a successful run's storage writes and the record, and
// checks a replay; it returns a line for the summary and an error that
// fails the command.
func (h *execHost) finish(c *cli.Context, res exec.Result, runErr error) (string, error) {
	switch {
	case h.want != nil:
		return h.compare(res, runErr)
	case h.replayer != nil:
		if err := h.replayer.Check(); err != nil {
			return "", err
		}
		return "replayed: every host call was answered from the record", nil
	}
	rec := h.rec.Record()
	var notes []string
	if len(rec.Entries) > 0 {
		notes = append(notes, fmt.Sprintf("%d host calls, record %s", len(rec.Entries), rec.HashHex()))
	}
	if path := c.String("record"); path != "" {
		if err := os.WriteFile(path, rec.Marshal(), 0o644); err != nil {
			return "", fmt.Errorf("writing the record: %w", err)
		}
		notes = append(notes, "record written to "+path)
	}
	if e := h.session.Effects(); e != nil && runErr == nil && h.storage != nil {
		if err := h.storage.Update(func(tx *store.Tx) error { return tx.ApplyProgEffects(e) }); err != nil {
			return "", fmt.Errorf("saving the run's storage writes: %w", err)
		}
		notes = append(notes, fmt.Sprintf("%d storage writes saved", len(e.Writes)))
	}
	return strings.Join(notes, "; "), nil
}

// compare checks a replayed request against the cluster's result.
func (h *execHost) compare(res exec.Result, runErr error) (string, error) {
	if err := h.replayer.Check(); err != nil {
		return "", err
	}
	w := h.want
	var diffs []string
	if (runErr == nil) != w.Success {
		diffs = append(diffs, fmt.Sprintf("success %v, the cluster's %v", runErr == nil, w.Success))
	}
	if runErr == nil && !bytes.Equal(res.Output, w.Output) {
		diffs = append(diffs, "the output differs")
	}
	if res.Instructions != w.Instructions {
		diffs = append(diffs, fmt.Sprintf("%d instructions, the cluster's %d", res.Instructions, w.Instructions))
	}
	if len(diffs) > 0 {
		return "", fmt.Errorf("the replay does not match the cluster's result: %s", strings.Join(diffs, "; "))
	}
	return fmt.Sprintf("replay matches the cluster's result (%d instructions, record %s)", w.Instructions, w.RecordHash), nil
}

// fetchRequest loads finished request --request from --node: its job, the
// cluster's contract and its record, and makes req the request the node
// ran (keeping FILE.wasm, which must be the program that ran, and --env
// secrets).
func (h *execHost) fetchRequest(c *cli.Context, req *exec.Request) error {
	base := strings.TrimRight(c.String("node"), "/")
	id := c.Uint64("request")
	ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
	defer cancel()
	var job store.Job
	if err := getJSONInto(ctx, fmt.Sprintf("%s/requests/%d", base, id), &job); err != nil {
		return err
	}
	if job.Result == nil {
		return fmt.Errorf("request %d has no result yet (status %s)", id, job.Status)
	}
	var status struct {
		Contract string `json:"contract"`
	}
	if err := getJSONInto(ctx, base+"/status", &status); err != nil {
		return err
	}
	sum := sha256.Sum256(req.Wasm)
	if got := hex.EncodeToString(sum[:]); job.Result.WasmHash != "" && got != job.Result.WasmHash {
		return usageError("the program given has sha256 %s, but request %d ran %s", got, id, job.Result.WasmHash)
	}
	record, err := getRaw(ctx, fmt.Sprintf("%s/requests/%d/record", base, id))
	if err != nil {
		return err
	}
	format, err := exec.ParseFormat(job.ResponseFormat)
	if err != nil {
		return err
	}
	nreq := daemon.ExecRequest(&job, status.Contract, req.Wasm, sum, format)
	nreq.Secrets = req.Secrets
	// The cluster's seed is private (derived from its keystore master):
	// the replay uses --seed, so a program that reads random numbers
	// replays only with the seed it ran with.
	nreq.Seed = req.Seed
	rec := &hostabi.Record{}
	if len(record) > 0 {
		if rec, err = hostabi.ParseRecord(record); err != nil {
			return fmt.Errorf("the record of request %d: %w", id, err)
		}
	}
	if rec.HashHex() != job.Result.RecordHash {
		return fmt.Errorf("the record served for request %d hashes to %q, its result says %q", id, rec.HashHex(), job.Result.RecordHash)
	}
	h.replayer = hostabi.NewReplayer(rec)
	nreq.Host = h.replayer.Handle
	h.want = job.Result
	*req = nreq
	return nil
}

func getJSONInto(ctx context.Context, url string, v any) error {
	b, err := getRaw(ctx, url)
	if err != nil {
		return err
	}
	if b == nil {
		return fmt.Errorf("GET %s: not found", url)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// getRaw fetches url; a 404 is nil, nil.
func getRaw(ctx context.Context, url string) ([]byte, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, store.MaxRecordBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}
