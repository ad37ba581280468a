package near

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// EventPrefix starts a NEP-297 event log line.
const EventPrefix = "EVENT_JSON:"

// Event is a NEP-297 event: one log line "EVENT_JSON:{...}".
type Event struct {
	Standard string          `json:"standard"`
	Version  string          `json:"version"`
	Event    string          `json:"event"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// ParseEvent parses a log line as a NEP-297 event. It reports false for
// ordinary logs, invalid JSON and events missing standard, version or event.
func ParseEvent(log string) (Event, bool) {
	rest, ok := strings.CutPrefix(log, EventPrefix)
	if !ok {
		return Event{}, false
	}
	var e Event
	if err := json.Unmarshal([]byte(rest), &e); err != nil || e.Standard == "" || e.Version == "" || e.Event == "" {
		return Event{}, false
	}
	return e, true
}

// OutcomeEvent is an event with the receipt that emitted it.
type OutcomeEvent struct {
	Event
	ExecutorID string
	ReceiptID  CryptoHash
	// Succeeded is false when the emitting receipt failed: its state
	// changes were rolled back, so the event should not be trusted.
	Succeeded bool
}

// Events lists the NEP-297 events in a transaction's receipts, in order.
func (o *FinalExecutionOutcome) Events() []OutcomeEvent {
	var out []OutcomeEvent
	for _, r := range o.ReceiptsOutcome {
		for _, l := range r.Outcome.Logs {
			if e, ok := ParseEvent(l); ok {
				out = append(out, OutcomeEvent{Event: e, ExecutorID: r.Outcome.ExecutorID, ReceiptID: r.ID,
					Succeeded: r.Outcome.Status.IsSuccess()})
			}
		}
	}
	return out
}

// BlockTransactions fetches a block and the transactions of all its chunks:
// the first step of scanning a chain for a contract's activity on real NEAR,
// which has no "all outcomes of a block" method (follow up with
// TxStatusWithReceipts per interesting transaction, sender = signer_id).
func (c *Client) BlockTransactions(ctx context.Context, ref BlockReference) (*BlockView, []SignedTransactionView, error) {
	b, err := c.Block(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	var txs []SignedTransactionView
	for _, ch := range b.Chunks {
		if ch.HeightIncluded != b.Header.Height {
			continue // a missing chunk repeats the previous header: nothing new
		}
		chunk, err := c.Chunk(ctx, ch.ChunkHash)
		if err != nil {
			return nil, nil, fmt.Errorf("chunk %s of block %d: %w", ch.ChunkHash, b.Header.Height, err)
		}
		txs = append(txs, chunk.Transactions...)
	}
	return b, txs, nil
}
