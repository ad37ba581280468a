package contracts

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/outlayer/outlayer/contracts/near"
)

// Event standards and names the contracts log.
const (
	EventPrefix = "EVENT_JSON:"

	// OutLayer contract (NEP-297 standard "near-outlayer", version 1.0.0).
	OutLayerEventStandard   = "near-outlayer"
	OutLayerEventVersion    = "1.0.0"
	EventExecutionRequested = "execution_requested"
	EventExecutionCompleted = "execution_completed"
	EventExecutionCancelled = "execution_cancelled"
	EventFeesWithdrawn      = "fees_withdrawn"

	// Registration contract (standard "outlayer-register", version 1.0.0).
	RegisterEventStandard = "outlayer-register"
	RegisterEventVersion  = "1.0.0"
	EventNodeRegistered   = "node_registered"
	EventNodeRemoved      = "node_removed"
)

// ErrNotEvent is returned by ParseEvent for a log line that is not a
// NEP-297 event.
var ErrNotEvent = errors.New("not an EVENT_JSON log line")

// Event is one NEP-297 event log line.
type Event struct {
	Standard string            `json:"standard"`
	Version  string            `json:"version"`
	Event    string            `json:"event"`
	Data     []json.RawMessage `json:"data"`
}

// ParseEvent parses "EVENT_JSON:{...}". It returns ErrNotEvent (wrapped)
// for any other log line, and a descriptive error for a malformed event.
func ParseEvent(line string) (*Event, error) {
	rest, ok := strings.CutPrefix(line, EventPrefix)
	if !ok {
		return nil, ErrNotEvent
	}
	var e Event
	if err := json.Unmarshal([]byte(rest), &e); err != nil {
		return nil, fmt.Errorf("malformed NEP-297 event: %w", err)
	}
	if e.Standard == "" || e.Version == "" || e.Event == "" {
		return nil, fmt.Errorf("malformed NEP-297 event: standard, version and event are required: %.200s", rest)
	}
	return &e, nil
}

// OutLayerEvents returns the near-outlayer events among logs, in order,
// skipping plain log lines. A malformed event line is an error.
func OutLayerEvents(logs []string) ([]*Event, error) {
	var out []*Event
	for _, l := range logs {
		e, err := ParseEvent(l)
		if errors.Is(err, ErrNotEvent) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if e.Standard == OutLayerEventStandard {
			out = append(out, e)
		}
	}
	return out, nil
}

// Decode unmarshals data[0] into out after checking the event's name.
func (e *Event) Decode(name string, out any) error {
	if e.Event != name {
		return fmt.Errorf("event is %q, not %q", e.Event, name)
	}
	if len(e.Data) != 1 {
		return fmt.Errorf("%s event has %d data entries, want 1", name, len(e.Data))
	}
	if err := json.Unmarshal(e.Data[0], out); err != nil {
		return fmt.Errorf("decoding %s event: %w", name, err)
	}
	return nil
}

// DecodeList unmarshals the whole data array into out (a pointer to a
// slice) after checking the event's name. clear_all_pending_requests logs
// one execution_cancelled event listing every request it cancelled.
func (e *Event) DecodeList(name string, out any) error {
	if e.Event != name {
		return fmt.Errorf("event is %q, not %q", e.Event, name)
	}
	raw, err := json.Marshal(e.Data)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding %s event: %w", name, err)
	}
	return nil
}

// RequestData is the JSON object carried, as a string, in an
// execution_requested event: upstream HEAD's keys in HEAD's order, then
// payer_account_id. SenderID is the transaction's signer and PredecessorID
// the immediate caller (HEAD's meaning); InputDataInState is true when the
// input was too large for the log and must be read with get_request.
// CodeSource is the resolved source; ProjectID and ProjectUUID are set for
// a Project source only. AttachedUSD is always "0" and UseBoundIdentity
// false: this contract refuses both features.
type RequestData struct {
	RequestID        uint64         `json:"request_id"`
	SenderID         string         `json:"sender_id"`
	PredecessorID    string         `json:"predecessor_id"`
	CodeSource       CodeSource     `json:"code_source"`
	ResourceLimits   ResourceLimits `json:"resource_limits"`
	InputData        string         `json:"input_data"`
	InputDataInState bool           `json:"input_data_in_state"`
	SecretsRef       *SecretsRef    `json:"secrets_ref"`
	ResponseFormat   ResponseFormat `json:"response_format"`
	Payment          near.U128      `json:"payment"`
	AttachedUSD      near.U128      `json:"attached_usd"`
	Timestamp        uint64         `json:"timestamp"`
	CompileOnly      bool           `json:"compile_only"`
	ForceRebuild     bool           `json:"force_rebuild"`
	StoreOnFastFS    bool           `json:"store_on_fastfs"`
	UseBoundIdentity bool           `json:"use_bound_identity"`
	ProjectUUID      *string        `json:"project_uuid"`
	ProjectID        *string        `json:"project_id"`
	PayerAccountID   string         `json:"payer_account_id"`
}

// ExecutionRequested is the execution_requested event's data. The wire
// form of request_data is a JSON string holding RequestData's JSON.
type ExecutionRequested struct {
	RequestData RequestData
	DataID      DataID
	Timestamp   uint64
}

type executionRequestedWire struct {
	RequestData string `json:"request_data"`
	DataID      DataID `json:"data_id"`
	Timestamp   uint64 `json:"timestamp"`
}

// MarshalJSON implements json.Marshaler.
func (e ExecutionRequested) MarshalJSON() ([]byte, error) {
	rd, err := json.Marshal(e.RequestData)
	if err != nil {
		return nil, err
	}
	return json.Marshal(executionRequestedWire{string(rd), e.DataID, e.Timestamp})
}

// UnmarshalJSON implements json.Unmarshaler.
func (e *ExecutionRequested) UnmarshalJSON(b []byte) error {
	var w executionRequestedWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(w.RequestData), &e.RequestData); err != nil {
		return fmt.Errorf("decoding request_data string: %w", err)
	}
	e.DataID, e.Timestamp = w.DataID, w.Timestamp
	return nil
}

// ExecutionCompleted is the execution_completed event's data: upstream's
// fields (SenderID is the signer, as at HEAD), plus request_id first and
// payer_account_id, timed_out, predecessor_id and project_id last. It is
// logged for every settled request, timeouts included.
type ExecutionCompleted struct {
	RequestID       uint64          `json:"request_id"`
	SenderID        string          `json:"sender_id"`
	CodeSource      CodeSource      `json:"code_source"`
	ResourcesUsed   ResourceMetrics `json:"resources_used"`
	Success         bool            `json:"success"`
	ErrorMessage    *string         `json:"error_message"`
	PaymentCharged  near.U128       `json:"payment_charged"`
	PaymentRefunded near.U128       `json:"payment_refunded"`
	CompilationNote *string         `json:"compilation_note"`
	Timestamp       uint64          `json:"timestamp"`
	PayerAccountID  string          `json:"payer_account_id"`
	TimedOut        bool            `json:"timed_out"`
	PredecessorID   string          `json:"predecessor_id"`
	ProjectID       *string         `json:"project_id"`
}

// ExecutionCancelled is logged when a request is cancelled with a full
// refund (reason "stale", "emergency_cancel" or "clear_all").
type ExecutionCancelled struct {
	RequestID       uint64    `json:"request_id"`
	SenderID        string    `json:"sender_id"`
	PayerAccountID  string    `json:"payer_account_id"`
	PaymentRefunded near.U128 `json:"payment_refunded"`
	Reason          string    `json:"reason"`
	Timestamp       uint64    `json:"timestamp"`
}

// FeesWithdrawn is logged by withdraw_fees.
type FeesWithdrawn struct {
	ReceiverID string    `json:"receiver_id"`
	Amount     near.U128 `json:"amount"`
}

// NodeRegistered is logged by register_node.
type NodeRegistered struct {
	NodeID      string    `json:"node_id"`
	PublicKey   string    `json:"public_key"`
	ReceiverID  string    `json:"receiver_id"`
	MethodNames []string  `json:"method_names"`
	Allowance   near.U128 `json:"allowance"`
}

// NodeRemoved is logged by remove_node.
type NodeRemoved struct {
	PublicKey string `json:"public_key"`
}

// ChargedFromLogs finds the `[[yNEAR charged: "N"]]` line upstream's
// workers parse. ok is false when there is none.
func ChargedFromLogs(logs []string) (amount near.U128, ok bool, err error) {
	const pre, post = `[[yNEAR charged: "`, `"]]`
	for _, l := range logs {
		if s, found := strings.CutPrefix(l, pre); found {
			s, found = strings.CutSuffix(s, post)
			if !found {
				return near.U128{}, false, fmt.Errorf("malformed charged line %q", l)
			}
			u, err := near.ParseU128(s)
			if err != nil {
				return near.U128{}, false, fmt.Errorf("charged line %q: %w", l, err)
			}
			return u, true, nil
		}
	}
	return near.U128{}, false, nil
}
