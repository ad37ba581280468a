package attest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Kind says what produced a piece of evidence.
type Kind string

const (
	KindTDX       Kind = "tdx"
	KindSimulated Kind = "simulated"
)

// SimulatedNotice is part of every rendering of simulated evidence.
const SimulatedNotice = "simulated attestation: NOT produced by a TEE, proves nothing about the node"

// Attester produces evidence over report data.
type Attester interface {
	Kind() Kind
	Quote(ctx context.Context, reportData ReportData) (Evidence, error)
}

// Evidence is what a node sends to prove itself: a raw TDX quote, or a
// simulated report signed by a dev key.
type Evidence struct {
	Kind Kind `json:"kind"`
	// Quote is the raw TDX quote (v4) for KindTDX.
	Quote []byte `json:"quote,omitempty"`
	// Simulated is the signed report for KindSimulated.
	Simulated *SimulatedQuote `json:"simulated,omitempty"`
}

// MarshalEvidence encodes evidence for the wire and for files (JSON).
func MarshalEvidence(ev Evidence) ([]byte, error) {
	return json.Marshal(ev)
}

// ParseEvidence decodes MarshalEvidence's output. A file holding a bare
// TDX quote (binary, as the TDX tools write it) is accepted too.
func ParseEvidence(data []byte) (Evidence, error) {
	trimmed := strings.TrimSpace(string(data))
	if !strings.HasPrefix(trimmed, "{") {
		if len(data) < 48 {
			return Evidence{}, fmt.Errorf("%w: %d bytes is neither evidence JSON nor a TDX quote", ErrMalformed, len(data))
		}
		return Evidence{Kind: KindTDX, Quote: data}, nil
	}
	var ev Evidence
	dec := json.NewDecoder(strings.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return Evidence{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch ev.Kind {
	case KindTDX:
		if len(ev.Quote) == 0 || ev.Simulated != nil {
			return Evidence{}, fmt.Errorf("%w: tdx evidence needs a quote and nothing else", ErrMalformed)
		}
	case KindSimulated:
		if ev.Simulated == nil || len(ev.Quote) != 0 {
			return Evidence{}, fmt.Errorf("%w: simulated evidence needs a simulated report and nothing else", ErrMalformed)
		}
	default:
		return Evidence{}, fmt.Errorf("%w: unknown evidence kind %q", ErrMalformed, ev.Kind)
	}
	return ev, nil
}

// Measurement is one 48-byte TDX measurement register (SHA-384).
type Measurement [48]byte

func (m Measurement) String() string { return hex.EncodeToString(m[:]) }

func (m Measurement) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

func (m *Measurement) UnmarshalText(b []byte) error {
	s := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(string(b))), "0x")
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != len(m) {
		return fmt.Errorf("a measurement is 96 hex characters (48 bytes), got %q", b)
	}
	copy(m[:], raw)
	return nil
}

// Measurements are the registers a policy checks: MRTD (the TD's initial
// contents: firmware) and RTMR0–3 (firmware config, kernel, command line
// and initrd, and whatever the OS extends at runtime).
type Measurements struct {
	MRTD Measurement    `json:"mrtd"`
	RTMR [4]Measurement `json:"rtmr"`
}

// Report is what a verifier established about evidence: store it in the
// node table, show it in status.
type Report struct {
	Kind         Kind         `json:"kind"`
	Measurements Measurements `json:"measurements"`
	ReportData   ReportData   `json:"-"`
	// TCBStatus is "UpToDate" when collateral was checked, otherwise says
	// why it was not.
	TCBStatus string `json:"tcb_status"`
	// Debug is set for a debug TD (its memory is readable by the host).
	Debug bool `json:"debug,omitempty"`
	// PolicyChecked: the measurements were checked against a policy.
	PolicyChecked bool `json:"policy_checked"`
	// Signer is the dev key that signed simulated evidence (hex).
	Signer string `json:"signer,omitempty"`
}

// TCB status texts when no Intel TCB evaluation happened.
const (
	TCBNotChecked = "not checked (no collateral supplied)"
	TCBSimulated  = "none (simulated attestation)"
)

// MarshalJSON adds the report data in hex and, for simulated evidence, the
// notice, so no JSON view of a simulated report can omit it.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	out := struct {
		plain
		ReportData string   `json:"report_data"`
		Notice     string   `json:"notice,omitempty"`
		Caveats    []string `json:"caveats,omitempty"`
	}{plain: plain(r), ReportData: hex.EncodeToString(r.ReportData[:]), Caveats: r.Caveats()}
	if r.Kind == KindSimulated {
		out.Notice = SimulatedNotice
	}
	return json.Marshal(out)
}

func (r Report) String() string {
	var b strings.Builder
	if r.Kind == KindSimulated {
		fmt.Fprintf(&b, "%s\n", strings.ToUpper(SimulatedNotice[:1])+SimulatedNotice[1:])
		fmt.Fprintf(&b, "signer:      %s\n", r.Signer)
	} else {
		fmt.Fprintf(&b, "Intel TDX attestation (quote signature verified to the Intel root)\n")
	}
	fmt.Fprintf(&b, "tcb status:  %s\n", r.TCBStatus)
	if r.Debug {
		fmt.Fprintf(&b, "debug TD:    yes (the host can read its memory)\n")
	}
	fmt.Fprintf(&b, "mrtd:        %s\n", r.Measurements.MRTD)
	for i, m := range r.Measurements.RTMR {
		fmt.Fprintf(&b, "rtmr%d:       %s\n", i, m)
	}
	fmt.Fprintf(&b, "report data: %x\n", r.ReportData[:])
	if r.PolicyChecked {
		fmt.Fprintf(&b, "policy:      measurements allowed\n")
	} else {
		fmt.Fprintf(&b, "policy:      measurements NOT checked (no policy)\n")
	}
	if r.Kind != KindSimulated { // the simulated notice heads the report already
		for _, c := range r.Caveats() {
			fmt.Fprintf(&b, "CAVEAT:      %s\n", c)
		}
	}
	return b.String()
}

// Caveats lists, in words for the person reading a verdict, what this
// report does not establish: an unchecked TCB, unchecked measurements, a
// debug TD, simulated evidence. Empty means nothing was left unchecked.
func (r Report) Caveats() []string {
	var out []string
	if r.Kind == KindSimulated {
		return append(out, SimulatedNotice)
	}
	if r.TCBStatus == TCBNotChecked {
		out = append(out, "the platform's TCB was NOT checked (no collateral): the machine's firmware or microcode may be out of date or revoked")
	}
	if !r.PolicyChecked {
		out = append(out, "the measurements were NOT checked against a policy: any code in any TD could have made this quote")
	}
	if r.Debug {
		out = append(out, "this is a debug TD: the host can read and change its memory")
	}
	return out
}
