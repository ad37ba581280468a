package near

import (
	"encoding/json"
	"fmt"

	"github.com/outlayer/outlayer/internal/textcut"
)

// Logs returns the logs of the transaction and of all its receipts, in the
// order the node lists the outcomes.
func (o *FinalExecutionOutcome) Logs() []string {
	var logs []string
	if o.TransactionOutcome != nil {
		logs = append(logs, o.TransactionOutcome.Outcome.Logs...)
	}
	for _, r := range o.ReceiptsOutcome {
		logs = append(logs, r.Outcome.Logs...)
	}
	return logs
}

// Err is the transaction's failure as a *TxExecutionError, or nil if it
// succeeded or has not finished.
func (o *FinalExecutionOutcome) Err() error {
	if o.Status != nil && o.Status.Kind == StatusFailure && o.Status.Failure != nil {
		return o.Status.Failure
	}
	return nil
}

// Result returns the transaction's return value (SuccessValue, decoded from
// base64), nil for SuccessReceiptId, the *TxExecutionError on failure, or an
// error if the outcome is not final yet.
func (o *FinalExecutionOutcome) Result() ([]byte, error) {
	if o.Status == nil {
		return nil, fmt.Errorf("transaction has no final status yet (reached %s)", o.FinalExecutionStatus)
	}
	switch o.Status.Kind {
	case StatusSuccessValue:
		return o.Status.Value, nil
	case StatusSuccessReceiptID:
		return nil, nil
	case StatusFailure:
		return nil, o.Err()
	}
	return nil, fmt.Errorf("transaction is not finished (status %s)", o.Status.Kind)
}

// DecodeResult unmarshals the JSON return value into out.
func (o *FinalExecutionOutcome) DecodeResult(out any) error {
	v, err := o.Result()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(v, out); err != nil {
		return fmt.Errorf("return value %q is not the expected JSON: %w", textcut.Head(string(v), 200), err)
	}
	return nil
}

// ReceiptFailure is a receipt that failed inside a transaction whose final
// status may still be a success (a failed cross-contract call whose callback
// handled the failure).
type ReceiptFailure struct {
	ReceiptID  CryptoHash
	ExecutorID string
	Err        *TxExecutionError
}

// ReceiptFailures lists the receipts whose outcome is a Failure.
func (o *FinalExecutionOutcome) ReceiptFailures() []ReceiptFailure {
	var out []ReceiptFailure
	for _, r := range o.ReceiptsOutcome {
		if r.Outcome.Status.Kind == StatusFailure {
			out = append(out, ReceiptFailure{ReceiptID: r.ID, ExecutorID: r.Outcome.ExecutorID, Err: r.Outcome.Status.Failure})
		}
	}
	return out
}

// TxHash is the transaction hash, when the outcome carries the transaction.
func (o *FinalExecutionOutcome) TxHash() (CryptoHash, bool) {
	if o.Transaction != nil {
		return o.Transaction.Hash, true
	}
	if o.TransactionOutcome != nil {
		return o.TransactionOutcome.ID, true
	}
	return CryptoHash{}, false
}
