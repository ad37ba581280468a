package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-tdx-guest/testing/testdata"
)

// outlayerd runs the app in-process: exit status, stdout, stderr.
func outlayerd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, "", args...)
}

func TestAttestCommand(t *testing.T) {
	dir := t.TempDir()
	pub, _, _ := ed25519.GenerateKey(nil)
	keyFile := filepath.Join(dir, "node.pub")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(pub)), 0o644); err != nil {
		t.Fatal(err)
	}
	devPub, devKey, _ := ed25519.GenerateKey(nil)
	devKeyFile := filepath.Join(dir, "dev.key")
	if err := os.WriteFile(devKeyFile, []byte(hex.EncodeToString(devKey.Seed())), 0o600); err != nil {
		t.Fatal(err)
	}
	ev := filepath.Join(dir, "evidence.json")

	code, _, stderr := outlayerd(t, "attest", "quote", "--key-file", keyFile, "--nonce", "0102", "--simulated", "--dev-key", devKeyFile, "-o", ev)
	if code != exitOK || !strings.Contains(stderr, "simulated attestation") {
		t.Fatalf("quote: exit %d, stderr %q", code, stderr)
	}

	code, stdout, stderr := outlayerd(t, "attest", "verify", ev, "--dev", "--dev-key", hex.EncodeToString(devPub), "--key-file", keyFile, "--nonce", "0102")
	if code != exitOK || !strings.Contains(strings.ToLower(stdout), "simulated attestation") || !strings.Contains(stdout, "report data matches") {
		t.Fatalf("verify --dev: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, _, stderr = outlayerd(t, "attest", "verify", ev, "--key-file", keyFile, "--nonce", "0102")
	if code != exitFailure || !strings.Contains(stderr, "not in dev mode") {
		t.Fatalf("verify without --dev: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = outlayerd(t, "attest", "verify", ev, "--dev", "--key-file", keyFile, "--nonce", "0103")
	if code != exitFailure || !strings.Contains(stderr, "report data mismatch") {
		t.Fatalf("verify with another nonce: exit %d, stderr %q", code, stderr)
	}

	quote := filepath.Join(dir, "quote.dat")
	if err := os.WriteFile(quote, testdata.RawQuote, 0o644); err != nil {
		t.Fatal(err)
	}
	// Without a policy, a validly signed quote is refused: the signature
	// says nothing about the code in the TD.
	if code, _, stderr = outlayerd(t, "attest", "verify", quote, "--at", "2023-07-01T00:00:00Z"); code != exitFailure || !strings.Contains(stderr, "no measurement policy") {
		t.Fatalf("sample quote without a policy: exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr = outlayerd(t, "attest", "verify", quote, "--at", "2023-07-01T00:00:00Z", "--json", "--insecure-accept-any-measurement")
	if code != exitOK || !strings.Contains(stdout, `"kind": "tdx"`) || !strings.Contains(stdout, `"report_data_checked": false`) ||
		!strings.Contains(stdout, "TCB was NOT checked") || !strings.Contains(stderr, "WARNING") {
		t.Fatalf("verify sample quote: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	// With a policy that lists its MRTD it verifies, and still says the TCB
	// was not checked.
	var rep struct {
		Measurements struct {
			MRTD string `json:"mrtd"`
		} `json:"measurements"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Measurements.MRTD == "" {
		t.Fatalf("the JSON report has no mrtd: %v\n%s", err, stdout)
	}
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"mrtd":["`+rep.Measurements.MRTD+`"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = outlayerd(t, "attest", "verify", quote, "--at", "2023-07-01T00:00:00Z", "--policy", policy)
	if code != exitOK || !strings.Contains(stdout, "measurements allowed") || !strings.Contains(stdout, "CAVEAT:      the platform's TCB was NOT checked") {
		t.Fatalf("verify sample quote with a policy: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	tampered := append([]byte(nil), testdata.RawQuote...)
	tampered[520] ^= 1 // RTMR3
	if err := os.WriteFile(quote, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr = outlayerd(t, "attest", "verify", quote, "--at", "2023-07-01T00:00:00Z"); code != exitFailure || !strings.Contains(stderr, "signature") {
		t.Fatalf("tampered quote: exit %d, stderr %q", code, stderr)
	}

	if _, err := os.Stat("/dev/tdx_guest"); err != nil {
		code, _, stderr = outlayerd(t, "attest", "quote", "--report-data", strings.Repeat("00", 64))
		if code != exitFailure || !strings.Contains(stderr, "not an Intel TDX guest") {
			t.Fatalf("TDX quote on a non-TDX machine: exit %d, stderr %q", code, stderr)
		}
	}
	if code, _, _ = outlayerd(t, "attest", "quote", "--report-data", "abcd"); code != exitUsage {
		t.Fatalf("short report data: exit %d, want %d", code, exitUsage)
	}
}
