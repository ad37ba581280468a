package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/outlayer/outlayer/contracts/near"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outlayer/outlayer/contracts"
)

// What a resolve costs the node's key (see DESIGN.md, "What a resolve
// costs"): its gas is sized from its payload (contracts.ResolveGas) instead
// of a flat 300 Tgas, and the key's allowance — which every in-flight
// transaction reserves at its attached gas — is watched and reported.

// isAllowanceAnswer reports whether err is the chain saying the key's
// allowance cannot pay for the transaction.
func isAllowanceAnswer(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NotEnoughAllowance")
}

// keyReader reads an access key. *near.Client implements it.
type keyReader interface {
	ViewAccessKey(ctx context.Context, accountID string, pk near.PublicKey, ref near.BlockReference) (*near.AccessKeyView, error)
}

// allowanceLowResolves: the node warns when its key's allowance pays for
// fewer resolves than this at the maximum gas (see lowAllowance).
const allowanceLowResolves = 100

// minGasPrice is NEAR's minimum gas price (yoctoNEAR per gas), what an
// allowance is charged at most of the time.
const minGasPrice = 100_000_000

// keyWatch watches this node's operator key on chain: its allowance (nil
// when unlimited, e.g. a full-access key), reported in /status, as a
// metric, and in the log when it runs low or out.
type keyWatch struct {
	chain   keyReader
	account string
	key     near.PublicKey
	every   time.Duration
	gauge   prometheus.Gauge
	log     *slog.Logger

	mu    sync.Mutex
	state KeyAllowance
}

// KeyAllowance is /status's view of the node's operator key.
type KeyAllowance struct {
	PublicKey string `json:"public_key"`
	// Allowance is the key's remaining allowance in yoctoNEAR; empty when
	// unlimited (or not read yet: see CheckedAt).
	Allowance string `json:"allowance,omitempty"`
	Unlimited bool   `json:"unlimited,omitempty"`
	// Warning says the allowance is low or exhausted, or the key could not
	// be read.
	Warning   string    `json:"warning,omitempty"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

// lowAllowance is the allowance below which the node warns: enough for
// allowanceLowResolves resolves at the maximum gas, at the minimum price.
func lowAllowance() near.U128 {
	v, _ := near.NewU128(contracts.MaxResolveGas).Mul64(minGasPrice * allowanceLowResolves)
	return v
}

func (w *keyWatch) run(ctx context.Context) {
	for {
		w.check(ctx)
		if !sleepCtx(ctx, w.every) {
			return
		}
	}
}

// check reads the key once and records what it found.
func (w *keyWatch) check(ctx context.Context) {
	st := KeyAllowance{PublicKey: w.key.String(), CheckedAt: time.Now().UTC()}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	v, err := w.chain.ViewAccessKey(rctx, w.account, w.key, near.Final())
	cancel()
	switch {
	case ctx.Err() != nil:
		return
	case err != nil:
		st.Warning = "could not read the operator key " + w.key.String() + " of " + w.account + ": " + err.Error()
		w.log.Warn("reading this node's operator key failed", "key", w.key.String(), "err", err)
	case v.Permission.FunctionCall == nil || v.Permission.FunctionCall.Allowance == nil:
		st.Unlimited = true
		w.gauge.Set(-1)
	default:
		a := *v.Permission.FunctionCall.Allowance
		st.Allowance = a.String()
		w.gauge.Set(yoctoToNEAR(a))
		if low := lowAllowance(); a.Cmp(low) < 0 {
			st.Warning = fmt.Sprintf("the operator key's allowance is %s NEAR, less than %d resolves at the maximum gas: add a new key for this node or one with a larger allowance",
				formatNEAR(a), allowanceLowResolves)
			w.log.Warn("this node's operator key is running out of allowance", "key", w.key.String(), "allowance_yocto", a.String())
		}
	}
	w.mu.Lock()
	w.state = st
	w.mu.Unlock()
}

func (w *keyWatch) status() KeyAllowance {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
}

// exhausted records that the chain refused a transaction for want of
// allowance: the status says so until the next read says otherwise.
func (w *keyWatch) exhausted(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.state.Warning = "the chain refused a resolve: the operator key's allowance cannot pay for it (" + err.Error() +
		"); add a new key for this node or one with a larger allowance"
}

func yoctoToNEAR(a near.U128) float64 {
	f, _ := new(big.Float).Quo(new(big.Float).SetInt(a.Big()), new(big.Float).SetInt(near.OneNEAR.Big())).Float64()
	return f
}

func formatNEAR(a near.U128) string { return fmt.Sprintf("%.4f", yoctoToNEAR(a)) }
