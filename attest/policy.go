package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Policy says which measured code may join: allow-lists for MRTD and each
// RTMR. An empty RTMR list leaves that register unchecked (RTMR3 is often
// extended at runtime by software the policy does not pin); MRTD must be
// listed unless AllowAnyMeasurement says, in so many words, that anything
// goes.
type Policy struct {
	MRTD  []Measurement `json:"mrtd"`
	RTMR0 []Measurement `json:"rtmr0,omitempty"`
	RTMR1 []Measurement `json:"rtmr1,omitempty"`
	RTMR2 []Measurement `json:"rtmr2,omitempty"`
	RTMR3 []Measurement `json:"rtmr3,omitempty"`
	// AllowDebug admits debug TDs, whose memory the host can read. Only
	// for development clusters.
	AllowDebug bool `json:"allow_debug,omitempty"`
	// AllowAnyMeasurement admits any MRTD (development, simulated mode).
	AllowAnyMeasurement bool `json:"allow_any_measurement,omitempty"`
}

// ParsePolicy reads a policy from JSON. Unknown fields are an error, so a
// typo ("rtrm1") cannot silently disable a check.
func ParsePolicy(data []byte) (*Policy, error) {
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("measurement policy: %w", err)
	}
	if len(p.MRTD) == 0 && !p.AllowAnyMeasurement {
		return nil, fmt.Errorf("measurement policy lists no mrtd: list the allowed MRTD values, or set \"allow_any_measurement\": true to accept any (development only)")
	}
	return &p, nil
}

// LoadPolicy reads a policy file.
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("measurement policy: %w", err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Check returns nil when m (of a TD that is a debug TD or not) is allowed.
func (p *Policy) Check(m Measurements, debug bool) error {
	if debug && !p.AllowDebug {
		return fmt.Errorf("%w: the quote comes from a debug TD (its memory is readable by the host)", ErrMeasurement)
	}
	if !p.AllowAnyMeasurement || len(p.MRTD) > 0 {
		if err := allowed("mrtd", m.MRTD, p.MRTD); err != nil {
			return err
		}
	}
	for i, list := range [][]Measurement{p.RTMR0, p.RTMR1, p.RTMR2, p.RTMR3} {
		if len(list) == 0 {
			continue
		}
		if err := allowed(fmt.Sprintf("rtmr%d", i), m.RTMR[i], list); err != nil {
			return err
		}
	}
	return nil
}

func allowed(name string, got Measurement, list []Measurement) error {
	for _, want := range list {
		if got == want {
			return nil
		}
	}
	return fmt.Errorf("%w: %s %s is not in the allow-list (%d entries)", ErrMeasurement, name, got, len(list))
}
