package near

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Variant is one value of a Rust enum as serde writes it externally tagged:
// a unit variant is the bare string "Name", any other is {"Name": body}.
// NEAR's error kinds (InvalidTxError, ActionErrorKind, FunctionCallError, …)
// are all of this shape; keeping the body raw makes them round-trip exactly,
// and typed accessors read the common ones.
type Variant struct {
	Name string
	Body json.RawMessage // nil for a unit variant
}

// UnitVariant is the variant "name".
func UnitVariant(name string) Variant { return Variant{Name: name} }

// NewVariant is {"name": body}. body must marshal to JSON.
func NewVariant(name string, body any) Variant {
	b, err := json.Marshal(body)
	if err != nil {
		// Only programmer error can get here (an unmarshalable body); keep
		// the name and record why the body is missing rather than panic.
		b, _ = json.Marshal(fmt.Sprintf("unencodable body: %v", err))
	}
	return Variant{Name: name, Body: b}
}

// MarshalJSON implements json.Marshaler.
func (v Variant) MarshalJSON() ([]byte, error) {
	name, err := json.Marshal(v.Name)
	if err != nil {
		return nil, err
	}
	if v.Body == nil {
		return name, nil
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	buf.Write(name)
	buf.WriteByte(':')
	buf.Write(v.Body)
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *Variant) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		v.Body = nil
		return json.Unmarshal(b, &v.Name)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("enum value is neither a string nor an object: %w", err)
	}
	if len(m) != 1 {
		return fmt.Errorf("enum object must have exactly one key, has %d", len(m))
	}
	for k, body := range m {
		v.Name, v.Body = k, append(json.RawMessage(nil), body...)
	}
	return nil
}

// Decode unmarshals the body into out.
func (v Variant) Decode(out any) error {
	if v.Body == nil {
		return fmt.Errorf("%s has no body", v.Name)
	}
	return json.Unmarshal(v.Body, out)
}

// Inner parses the body as a nested variant (e.g. the FunctionCallError
// inside an ActionErrorKind).
func (v Variant) Inner() (Variant, bool) {
	var in Variant
	if v.Body == nil || in.UnmarshalJSON(v.Body) != nil {
		return Variant{}, false
	}
	return in, true
}

// String is the JSON form, a compact description for error messages.
func (v Variant) String() string {
	b, err := v.MarshalJSON()
	if err != nil {
		return v.Name
	}
	return string(b)
}
