package daemon

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

// k-of-n agreement, the coordinator's side (see DESIGN.md, "Agreement"):
// how many executors a request needs, which nodes may execute, and what
// happens to a request no remaining node can run.

// executorPool is, for one scheduling round, the members and the ones no
// longer assigned because they keep dissenting.
type executorPool struct {
	all []string
	// excluded are members outvoted DissentLimit times in a row.
	excluded map[string]bool
}

// executorPool reads the members and the agreement counters. A member is
// excluded once its dissent streak reaches cfg.DissentLimit, unless that
// would leave no member to run anything.
func (s *scheduler) executorPool() (executorPool, error) {
	all, err := s.members.All()
	if err != nil {
		return executorPool{}, err
	}
	stats, err := s.replica.NodeAgreements()
	if err != nil {
		return executorPool{}, err
	}
	return executorPool{all: all, excluded: dissenters(all, stats, s.cfg.DissentLimit)}, nil
}

// dissenters are the members whose dissent streak reached limit, unless
// that is every member.
func dissenters(all []string, stats map[string]store.NodeAgreement, limit int) map[string]bool {
	out := map[string]bool{}
	for _, id := range all {
		if st, ok := stats[id]; ok && st.Streak >= uint64(limit) {
			out[id] = true
		}
	}
	if len(out) >= len(all) {
		return map[string]bool{}
	}
	return out
}

// agreementStatus fills /status's agreement fields: per member its
// counters and whether it is still assigned requests.
func (n *Node) agreementStatus(s *Status) error {
	stats, err := n.cons.Store().NodeAgreements()
	if err != nil {
		return err
	}
	all := make([]string, 0, len(s.Nodes))
	for _, sn := range s.Nodes {
		all = append(all, sn.PeerID)
	}
	out := dissenters(all, stats, n.cfg.DissentLimit)
	for i := range s.Nodes {
		sn := &s.Nodes[i]
		if a, ok := stats[sn.PeerID]; ok {
			sn.Agreement = &a
		}
		sn.Assigned = !out[sn.PeerID]
		sn.ExecutorKey = peerExecutorKey(sn.PeerID)
	}
	s.ExecutorKey = executorKey(n.execKey).String()
	s.ClaimChainID, _ = n.claims.cached()
	s.OperatorKey = n.keyWatch.status()
	s.Agreement = n.cfg.Agreement
	s.DissentLimit = n.cfg.DissentLimit
	return nil
}

// size is how many members may execute.
func (p executorPool) size() int { return len(p.all) - len(p.excluded) }

// agreeFor is the k a request is assigned with: the k its first assignment
// fixed; else the larger of the k the contract recorded for it
// (required_signatures, the signatures the chain checks: at least 1, the
// contract's default when the request named none) and the cluster's own
// (Config.Agreement); capped by the members that may execute. (A contract
// k above the cap cannot be met: the resolve is refused and the yield
// timeout refunds the caller.)
func (p executorPool) agreeFor(j *store.Job, cluster int) int {
	if j.Agreement != nil {
		return j.Agreement.K
	}
	want := max(cluster, int(min(j.RequiredSignatures, store.MaxAgreement)))
	return max(1, min(want, p.size(), store.MaxAgreement))
}

// executorsWanted is how many executors a request that needs k agreeing
// ones should have running now beside the results it has: all k at once
// at first; after results, as many as could still make some outcome win
// (k of them and a strict majority) if they all agreed with the largest
// group so far — one more after a 1 + 1 split with k = 2.
func executorsWanted(a *store.Agreement, k int) int {
	if a == nil || len(a.Results) == 0 {
		return k
	}
	best := 0
	for i := range a.Results {
		n := 0
		for j := range a.Results {
			if store.SameOutcome(&a.Results[i], &a.Results[j]) {
				n++
			}
		}
		best = max(best, n)
	}
	return max(k-best, len(a.Results)-2*best+1, 0)
}

// canRun reports whether some member that may execute has not yet run j.
func (p executorPool) canRun(j *store.Job) bool {
	if j.Agreement == nil {
		return p.size() > 0
	}
	for _, id := range p.all {
		if !p.excluded[id] && !j.Agreement.Ran(id) {
			return true
		}
	}
	return false
}

// failStuck fails requests whose executors disagreed with no member left
// to break the tie: the caller is refunded now rather than at the yield
// deadline.
func (s *scheduler) failStuck(ctx context.Context, stuck []*store.Job) error {
	var errs []error
	for _, j := range stuck {
		reason := "no member of the cluster may execute this request"
		if j.Agreement != nil {
			reason = fmt.Sprintf("the %d executors that ran this request disagreed (%s) and no other node can break the tie: no result was returned by %d of them and by a strict majority",
				len(j.Agreement.Results), outcomeSummary(j.Agreement), j.Agreement.K)
		}
		if _, err := s.propose.Apply(ctx, &consensus.Fail{ID: j.ID, Reason: reason}); err != nil && !errors.Is(err, store.ErrInvalidTransition) {
			errs = append(errs, fmt.Errorf("failing request %d: %w", j.ID, err))
			continue
		}
		s.metrics.noMajority.Inc()
		s.log.Warn("request failed: its executors disagreed and no node is left to break the tie", "request_id", j.ID, "reason", reason)
	}
	return errors.Join(errs...)
}

// outcomeSummary says how many executors returned each distinct outcome,
// e.g. "2 outcomes: 1 + 1".
func outcomeSummary(a *store.Agreement) string {
	var groups []int
	seen := make([]bool, len(a.Results))
	for i := range a.Results {
		if seen[i] {
			continue
		}
		n := 0
		for k := i; k < len(a.Results); k++ {
			if !seen[k] && store.SameOutcome(&a.Results[i], &a.Results[k]) {
				seen[k] = true
				n++
			}
		}
		groups = append(groups, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(groups)))
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = fmt.Sprint(g)
	}
	return fmt.Sprintf("%d outcomes: %s", len(groups), strings.Join(parts, " + "))
}

// anyFree reports whether some live node has a free slot.
func anyFree(live map[string]int, slots int) bool {
	for _, load := range live {
		if load < slots {
			return true
		}
	}
	return false
}

// resultSigner signs a result's claim with this node's executor key,
// setting res.Signature and res.SignerKey.
type resultSigner interface {
	signResult(ctx context.Context, j *store.Job, res *store.Result) error
}

// signResult signs res when this node can; a result that cannot be signed
// still goes out (it counts toward no agreement the contract checks, and
// the log says why).
func (w *worker) signResult(ctx context.Context, log *slog.Logger, j *store.Job, res *store.Result) {
	if w.signer == nil {
		return
	}
	if err := w.signer.signResult(ctx, j, res); err != nil {
		log.Error("the result goes out unsigned", "err", err)
	}
}

// agreementCollector exports the replicated per-node agreement counters
// (every node serves the same numbers, whoever led when they were counted).
type agreementCollector struct {
	replica interface {
		NodeAgreements() (map[string]store.NodeAgreement, error)
	}
}

var (
	dissentsDesc = prometheus.NewDesc("outlayer_node_dissents_total",
		"Times a node's result was outvoted by the majority of a k-of-n agreement, from the replicated counters.", []string{"node"}, nil)
	agreedDesc = prometheus.NewDesc("outlayer_node_agreements_total",
		"Times a node's result was in the majority of a k-of-n agreement, from the replicated counters.", []string{"node"}, nil)
	streakDesc = prometheus.NewDesc("outlayer_node_dissent_streak",
		"Dissents in a row since the node last agreed; at Config.DissentLimit it is no longer assigned.", []string{"node"}, nil)
)

func (c agreementCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dissentsDesc
	ch <- agreedDesc
	ch <- streakDesc
}

func (c agreementCollector) Collect(ch chan<- prometheus.Metric) {
	m, err := c.replica.NodeAgreements()
	if err != nil {
		return
	}
	for node, a := range m {
		ch <- prometheus.MustNewConstMetric(dissentsDesc, prometheus.CounterValue, float64(a.Dissented), node)
		ch <- prometheus.MustNewConstMetric(agreedDesc, prometheus.CounterValue, float64(a.Agreed), node)
		ch <- prometheus.MustNewConstMetric(streakDesc, prometheus.GaugeValue, float64(a.Streak), node)
	}
}

// peerExecutorKey is the executor key a member's peer id embeds ("" when
// it embeds none: not an ed25519 identity).
func peerExecutorKey(id string) string {
	pid, err := peer.Decode(id)
	if err != nil {
		return ""
	}
	pub, err := pid.ExtractPublicKey()
	if err != nil {
		return ""
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return ""
	}
	return near.PublicKeyFromEd25519(ed25519.PublicKey(raw)).String()
}
