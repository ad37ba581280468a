package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/internal/httpjson"
)

// Health is what GET /health answers: "ok" (HTTP 200) or "degraded" (HTTP
// 503) with the reasons, one per failing check.
type Health struct {
	Status   string         `json:"status"`
	Reasons  []HealthReason `json:"reasons,omitempty"`
	PeerID   string         `json:"peer_id"`
	Leader   bool           `json:"leader"`
	LeaderID string         `json:"leader_id"`
}

// HealthReason is one failing check.
type HealthReason struct {
	// Check is leader, disk, apply, keystore or chain.
	Check   string `json:"check"`
	Message string `json:"message"`
}

// The checks, in the order /health lists them.
var healthChecks = []string{"leader", "disk", "apply", "keystore", "chain"}

// HealthConfig tunes the health checks. Zero fields take the defaults.
type HealthConfig struct {
	// Interval is how often the disk and chain probes run (default 2s).
	Interval time.Duration
	// StallAfter: the replica is stalled when one batch has been applying
	// this long, or the commit index moved and nothing was applied for
	// this long (default 15s).
	StallAfter time.Duration
	// ChainDownAfter: the chain is unreachable when every RPC probe failed
	// for this long (default 30s).
	ChainDownAfter time.Duration
}

func (c *HealthConfig) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = 2 * time.Second
	}
	if c.StallAfter <= 0 {
		c.StallAfter = 15 * time.Second
	}
	if c.ChainDownAfter <= 0 {
		c.ChainDownAfter = 30 * time.Second
	}
}

// healthProbeFile is written, fsynced and removed in the data directory at
// every probe.
const healthProbeFile = ".health-probe"

// health keeps the probes' results and the replica's progress between
// looks. The probes run on their own loop; /health and the gauge read the
// latest results and the live state.
type health struct {
	cfg     HealthConfig
	dataDir string
	chain   *near.Client
	gauge   *prometheus.GaugeVec

	mu      sync.Mutex
	diskErr error
	// chainErr is the last probe's error; chainDownSince the first failure
	// of the current run of failures (zero: the last probe answered).
	chainErr       error
	chainDownSince time.Time
	// Progress: the last handed and commit indexes seen, and when each
	// last moved.
	handed, commit           uint64
	handedMoved, commitMoved time.Time
}

func newHealth(cfg HealthConfig, dataDir, rpcURL string, reg prometheus.Registerer) *health {
	cfg.setDefaults()
	h := &health{cfg: cfg, dataDir: dataDir,
		// Its own client without retries: a probe is one call.
		chain: near.NewClient(rpcURL, near.WithRetries(0, 0)),
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "outlayer_health_degraded",
			Help: "1 while the named health check fails (leader, disk, apply, keystore, chain), else 0; /health lists the reasons.",
		}, []string{"check"}),
	}
	for _, c := range healthChecks {
		h.gauge.WithLabelValues(c).Set(0)
	}
	reg.MustRegister(h.gauge)
	return h
}

// run probes the disk and the chain every Interval, samples the replica's
// progress and keeps the gauge current, until ctx ends.
func (n *Node) runHealth(ctx context.Context) {
	h := n.health
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		h.probe(ctx)
		n.Health()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *health) probe(ctx context.Context) {
	diskErr := h.probeDisk()
	pctx, cancel := context.WithTimeout(ctx, min(h.cfg.Interval, 5*time.Second))
	_, chainErr := h.chain.Status(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.diskErr = diskErr
	h.chainErr = chainErr
	switch {
	case chainErr == nil:
		h.chainDownSince = time.Time{}
	case h.chainDownSince.IsZero():
		h.chainDownSince = time.Now()
	}
}

// probeDisk writes a small file in the data directory, fsyncs it and
// removes it: a full or read-only disk, or an I/O error, fails it.
func (h *health) probeDisk() error {
	path := filepath.Join(h.dataDir, healthProbeFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(make([]byte, 4096))
	serr := f.Sync()
	cerr := f.Close()
	rerr := os.Remove(path)
	for _, err := range []error{werr, serr, cerr, rerr} {
		if err != nil {
			return err
		}
	}
	return nil
}

// Health evaluates every check now and updates the gauge.
func (n *Node) Health() Health {
	h := n.health
	now := time.Now()
	leader := n.cons.Leader().String()
	out := Health{Status: "ok", PeerID: n.PeerID(), Leader: n.cons.IsLeader(), LeaderID: leader}
	failing := map[string]string{}
	if leader == "" {
		failing["leader"] = "no leader known: this node cannot reach a quorum of the cluster"
	}
	as := n.cons.ApplyState()

	h.mu.Lock()
	if as.Handed != h.handed {
		h.handed, h.handedMoved = as.Handed, now
	}
	if as.Commit != h.commit {
		h.commit, h.commitMoved = as.Commit, now
	}
	var disk []string
	if h.diskErr != nil {
		disk = append(disk, fmt.Sprintf("cannot write to the data directory: %v", publicErr(h.diskErr)))
	}
	if as.StoreError != nil {
		disk = append(disk, fmt.Sprintf("a store write failed at log index %d (%v, %s): this replica misses entries of its log until the node restarts and rebuilds it",
			as.StoreErrorIndex, publicErr(as.StoreError), as.StoreErrorAt.UTC().Format(time.RFC3339)))
	}
	if len(disk) > 0 {
		failing["disk"] = strings.Join(disk, "; ")
	}
	switch {
	case !as.BusySince.IsZero() && now.Sub(as.BusySince) >= h.cfg.StallAfter:
		failing["apply"] = fmt.Sprintf("stalled: one batch of log entries has been applying to the store for %s (applied index %d, commit index %d)",
			now.Sub(as.BusySince).Round(time.Second), as.Applied, as.Commit)
	case as.Commit > as.Handed && h.commitMoved.After(h.handedMoved) && now.Sub(h.handedMoved) >= h.cfg.StallAfter:
		failing["apply"] = fmt.Sprintf("stalled: the commit index moved to %d but nothing was applied for %s (applied index %d)",
			as.Commit, now.Sub(h.handedMoved).Round(time.Second), as.Handed)
	}
	if !h.chainDownSince.IsZero() && now.Sub(h.chainDownSince) >= h.cfg.ChainDownAfter {
		failing["chain"] = fmt.Sprintf("the NEAR RPC (%s) has not answered for %s: %v", rpcHost(n.cfg.RPCURL), now.Sub(h.chainDownSince).Round(time.Second), publicErr(h.chainErr))
	}
	h.mu.Unlock()

	if n.keys != nil {
		switch ks := n.keys.Status(); {
		case ks.Lost:
			failing["keystore"] = ks.Error
		case !ks.Ready && ks.Error != "":
			failing["keystore"] = "not ready: " + ks.Error
		case !ks.Ready:
			failing["keystore"] = "not ready: the master secret has not been received from a member yet; requests that name secrets run on other nodes"
		}
	}
	for _, c := range healthChecks {
		msg, bad := failing[c]
		if bad {
			out.Reasons = append(out.Reasons, HealthReason{Check: c, Message: msg})
			h.gauge.WithLabelValues(c).Set(1)
		} else {
			h.gauge.WithLabelValues(c).Set(0)
		}
	}
	if len(out.Reasons) > 0 {
		out.Status = "degraded"
	}
	return out
}

func (n *Node) handleHealth(w http.ResponseWriter, _ *http.Request) {
	h := n.Health()
	code := http.StatusOK
	if h.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	httpjson.Write(w, code, h)
}

// publicErr is err as /health may show it: /health is public, so neither
// the host's file paths (the file's base name is kept) nor the RPC URL,
// which may carry an API key, appear.
func publicErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %w", pe.Op, filepath.Base(pe.Path), pe.Err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// rpcHost is the RPC endpoint's host, without path or query (which may
// carry an API key).
func rpcHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "configured endpoint"
	}
	return u.Host
}
