package near

import (
	"encoding/json"
	"testing"
)

// FuzzUnmarshalOutcome: hostile RPC responses never panic the client, and
// whatever decodes re-encodes to JSON that decodes to the same value.
func FuzzUnmarshalOutcome(f *testing.F) {
	f.Add(sampleOutcome)
	f.Add(`{"final_execution_status":"NONE"}`)
	f.Add(`{"status":{"Failure":{"InvalidTxError":{"InvalidNonce":{"tx_nonce":1,"ak_nonce":2}}}}}`)
	f.Add(`{"transaction":{"actions":["CreateAccount",{"Unknown":{}}]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		var o FinalExecutionOutcome
		if json.Unmarshal([]byte(s), &o) != nil {
			return
		}
		_ = o.Logs()
		_, _ = o.Result()
		_ = o.ReceiptFailures()
		if o.Status != nil && o.Status.Failure != nil {
			_ = o.Status.Failure.Error()
			_ = o.Status.Failure.Kind()
			_, _, _ = o.Status.Failure.InvalidNonce()
		}
		b, err := json.Marshal(&o)
		if err != nil {
			return // e.g. a Failure status without a body cannot be re-encoded
		}
		var again FinalExecutionOutcome
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("re-encoded outcome does not decode: %v\n%s", err, b)
		}
	})
}

// FuzzParseNEAR: amounts parse or fail cleanly, and formatting round-trips.
func FuzzParseNEAR(f *testing.F) {
	for _, s := range []string{"1", "1.5", ".5", "0.000000000000000000000001", "340282366920938.463463374607431768211455", "1e3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseNEAR(s)
		if err != nil {
			return
		}
		back, err := ParseNEAR(FormatNEAR(u))
		if err != nil || back != u {
			t.Fatalf("%q -> %s -> %q: %v", s, u, FormatNEAR(u), err)
		}
		if v, err := ParseU128(u.String()); err != nil || v != u {
			t.Fatalf("decimal round trip of %s: %v", u, err)
		}
	})
}
