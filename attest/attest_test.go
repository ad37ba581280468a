package attest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tdxtesting "github.com/google/go-tdx-guest/testing"
	"github.com/google/go-tdx-guest/testing/testdata"

	"github.com/outlayer/outlayer/attest"
)

// The sample quote and collateral that ship with go-tdx-guest were valid
// on this date; verification pins its clock there.
var sampleTime = time.Date(2023, time.July, 1, 1, 0, 0, 0, time.UTC)

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

// Offsets in a TDX v4 quote (Intel spec; reference B.7).
const (
	offMRTD       = 184
	offRTMR0      = 376
	offReportData = 568
	offSignedData = 632
)

func sampleQuote() []byte { return append([]byte(nil), testdata.RawQuote...) }

func sampleReportData() attest.ReportData {
	var rd attest.ReportData
	copy(rd[:], testdata.RawQuote[offReportData:offReportData+64])
	return rd
}

func sampleMeasurements() attest.Measurements {
	var m attest.Measurements
	copy(m.MRTD[:], testdata.RawQuote[offMRTD:])
	for i := range m.RTMR {
		copy(m.RTMR[i][:], testdata.RawQuote[offRTMR0+48*i:])
	}
	return m
}

func tdxEvidence(q []byte) attest.Evidence { return attest.Evidence{Kind: attest.KindTDX, Quote: q} }

func TestSampleQuoteVerifiesOffline(t *testing.T) {
	v := attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime), AcceptAnyMeasurement: true})
	r, err := v.Verify(context.Background(), tdxEvidence(sampleQuote()), sampleReportData())
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != attest.KindTDX || r.TCBStatus != attest.TCBNotChecked || r.PolicyChecked {
		t.Fatalf("report = %+v", r)
	}
	// The verdict says what it did not check.
	if c := strings.Join(r.Caveats(), "\n"); !strings.Contains(c, "TCB was NOT checked") || !strings.Contains(c, "measurements were NOT checked") {
		t.Fatalf("caveats %q: want the unchecked TCB and measurements named", c)
	}
	if s := r.String(); !strings.Contains(s, "CAVEAT:") {
		t.Fatalf("the printed report hides its caveats:\n%s", s)
	}
	if b, _ := json.Marshal(r); !strings.Contains(string(b), `"caveats"`) {
		t.Fatalf("the JSON report hides its caveats: %s", b)
	}
	if r.Measurements != sampleMeasurements() {
		t.Fatalf("measurements %+v are not the quote's bytes at the spec offsets", r.Measurements)
	}
	if strings.Contains(r.String(), "simulated") {
		t.Fatalf("a TDX report must not call itself simulated:\n%s", r)
	}
}

func TestTamperedQuotesAreRefused(t *testing.T) {
	v := attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime)})
	flip := func(off int) []byte {
		q := sampleQuote()
		q[off] ^= 0x01
		return q
	}
	for _, tc := range []struct {
		name  string
		quote []byte
		want  error
	}{
		{"body: rtmr3", flip(offRTMR0 + 3*48 + 5), attest.ErrSignature},
		{"body: mrtd", flip(offMRTD), attest.ErrSignature},
		{"body: report data", flip(offReportData + 10), attest.ErrSignature},
		{"quote signature", flip(offSignedData + 4 + 10), attest.ErrSignature},
		{"truncated", sampleQuote()[:600], attest.ErrMalformed},
		{"not a quote", []byte(strings.Repeat("x", 700)), attest.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tdxEvidence(tc.quote), sampleReportData())
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestTDXWithoutPolicyIsRefused: a valid signature only proves that some
// TD made the quote; without a policy, and without the explicit opt-in, the
// verifier refuses it.
func TestTDXWithoutPolicyIsRefused(t *testing.T) {
	ctx := context.Background()
	for _, check := range []func(*attest.Verifier) error{
		func(v *attest.Verifier) error {
			_, err := v.Verify(ctx, tdxEvidence(sampleQuote()), sampleReportData())
			return err
		},
		func(v *attest.Verifier) error { _, err := v.Inspect(ctx, tdxEvidence(sampleQuote())); return err },
	} {
		if err := check(attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime)})); !errors.Is(err, attest.ErrNoPolicy) {
			t.Errorf("no policy: got %v, want ErrNoPolicy", err)
		}
		if err := check(attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime), DevMode: true})); !errors.Is(err, attest.ErrNoPolicy) {
			t.Errorf("no policy, dev mode: got %v, want ErrNoPolicy", err)
		}
	}
}

func TestWrongReportDataIsRefused(t *testing.T) {
	v := attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime), AcceptAnyMeasurement: true})
	key := make([]byte, 32)
	_, err := v.Verify(context.Background(), tdxEvidence(sampleQuote()), attest.NodeKeyReportData(key, []byte("nonce")))
	if !errors.Is(err, attest.ErrReportData) {
		t.Fatalf("got %v, want ErrReportData", err)
	}
}

func TestMeasurementPolicy(t *testing.T) {
	m := sampleMeasurements()
	other := m.RTMR[1]
	other[0] ^= 0xff
	policyJSON := func(mrtd, rtmr1 attest.Measurement) []byte {
		b, _ := json.Marshal(map[string]any{"mrtd": []attest.Measurement{mrtd}, "rtmr1": []attest.Measurement{rtmr1}, "allow_debug": true})
		return b
	}
	allow, err := attest.ParsePolicy(policyJSON(m.MRTD, m.RTMR[1]))
	if err != nil {
		t.Fatal(err)
	}
	deny, err := attest.ParsePolicy(policyJSON(m.MRTD, other))
	if err != nil {
		t.Fatal(err)
	}

	r, err := attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime), Policy: allow}).
		Verify(context.Background(), tdxEvidence(sampleQuote()), sampleReportData())
	if err != nil {
		t.Fatal(err)
	}
	if !r.PolicyChecked {
		t.Fatal("policy was given but the report says it was not checked")
	}
	_, err = attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime), Policy: deny}).
		Verify(context.Background(), tdxEvidence(sampleQuote()), sampleReportData())
	if !errors.Is(err, attest.ErrMeasurement) || !strings.Contains(err.Error(), "rtmr1") {
		t.Fatalf("got %v, want ErrMeasurement naming rtmr1", err)
	}
}

func TestPolicyFileIsStrict(t *testing.T) {
	for name, doc := range map[string]string{
		"typo in a field": `{"mrtd":["` + strings.Repeat("00", 48) + `"],"rtrm1":[]}`,
		"no mrtd":         `{"rtmr0":["` + strings.Repeat("00", 48) + `"]}`,
		"short hash":      `{"mrtd":["abcd"]}`,
	} {
		if _, err := attest.ParsePolicy([]byte(doc)); err == nil {
			t.Errorf("%s: accepted %s", name, doc)
		}
	}
	if _, err := attest.ParsePolicy([]byte(`{"allow_any_measurement":true}`)); err != nil {
		t.Errorf("explicit allow_any_measurement refused: %v", err)
	}
}

func TestDebugTDNeedsPolicyConsent(t *testing.T) {
	r, err := attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime), AcceptAnyMeasurement: true}).Inspect(context.Background(), tdxEvidence(sampleQuote()))
	if err != nil {
		t.Fatal(err)
	}
	if r.Debug {
		t.Fatal("the sample quote's TDATTRIBUTES has DEBUG clear, but the report says debug")
	}
	m := sampleMeasurements()
	strict, _ := attest.ParsePolicy([]byte(`{"mrtd":["` + m.MRTD.String() + `"]}`))
	if err := strict.Check(m, false); err != nil {
		t.Fatalf("production TD refused: %v", err)
	}
	if err := strict.Check(m, true); !errors.Is(err, attest.ErrMeasurement) || !strings.Contains(err.Error(), "debug") {
		t.Fatalf("debug TD: got %v, want a debug refusal", err)
	}
	lax, _ := attest.ParsePolicy([]byte(`{"mrtd":["` + m.MRTD.String() + `"],"allow_debug":true}`))
	if err := lax.Check(m, true); err != nil {
		t.Fatalf("allow_debug policy refused a debug TD: %v", err)
	}
}

// writeCollateral lays the sample PCS responses out as a collateral dir.
func writeCollateral(t *testing.T, withCRLs bool, edit func(name string, b []byte) []byte) string {
	t.Helper()
	dir := t.TempDir()
	chain := func(h map[string][]string, k string) []byte {
		s, err := url.QueryUnescape(h[k][0])
		if err != nil {
			t.Fatal(err)
		}
		return []byte(s)
	}
	files := map[string][]byte{
		"tcb_info.json":                testdata.TcbInfoBody,
		"tcb_info_issuer_chain.pem":    chain(tdxtesting.TcbInfoHeader, "Tcb-Info-Issuer-Chain"),
		"qe_identity.json":             testdata.QeIdentityBody,
		"qe_identity_issuer_chain.pem": chain(tdxtesting.QeIdentityHeader, "Sgx-Enclave-Identity-Issuer-Chain"),
	}
	if withCRLs {
		files["pck_crl_platform.der"] = testdata.PckCrlBody
		files["pck_crl_issuer_chain.pem"] = chain(tdxtesting.PckCrlHeader, "Sgx-Pck-Crl-Issuer-Chain")
		files["root_ca_crl.der"] = testdata.RootCrlBody
	}
	for name, b := range files {
		b = append([]byte(nil), b...)
		if edit != nil {
			b = edit(name, b)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCollateralTCBEvaluation(t *testing.T) {
	for _, crls := range []bool{false, true} {
		c, err := attest.LoadCollateral(writeCollateral(t, crls, nil))
		if err != nil {
			t.Fatal(err)
		}
		v := attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime), Collateral: c})
		// go-tdx-guest's sample TCB info lists SVNs newer than its sample
		// quote's (on purpose, see its verify tests), so the platform is
		// out of date: the full collateral path runs and says so.
		_, err = v.Verify(context.Background(), tdxEvidence(sampleQuote()), sampleReportData())
		if !errors.Is(err, attest.ErrTCBStatus) {
			t.Fatalf("crls=%v: got %v, want ErrTCBStatus", crls, err)
		}
	}
}

func TestCollateralIsVerifiedNotTrusted(t *testing.T) {
	tampered := writeCollateral(t, false, func(name string, b []byte) []byte {
		if name == "tcb_info.json" {
			return []byte(strings.Replace(string(b), `"tcbEvaluationDataNumber":15`, `"tcbEvaluationDataNumber":16`, 1))
		}
		return b
	})
	c, err := attest.LoadCollateral(tampered)
	if err != nil {
		t.Fatal(err)
	}
	_, err = attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime), Collateral: c}).
		Verify(context.Background(), tdxEvidence(sampleQuote()), sampleReportData())
	if !errors.Is(err, attest.ErrCollateral) {
		t.Fatalf("tampered TCB info: got %v, want ErrCollateral", err)
	}

	good, err := attest.LoadCollateral(writeCollateral(t, false, nil))
	if err != nil {
		t.Fatal(err)
	}
	// After the TCB info's nextUpdate (2023-07-18) but while the quote's
	// certificates are still valid.
	_, err = attest.NewVerifier(attest.VerifierConfig{Now: at(time.Date(2023, time.August, 1, 0, 0, 0, 0, time.UTC)), Collateral: good}).
		Verify(context.Background(), tdxEvidence(sampleQuote()), sampleReportData())
	if !errors.Is(err, attest.ErrCollateral) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired collateral: got %v, want ErrCollateral (expired)", err)
	}
}

func TestLoadCollateralErrors(t *testing.T) {
	dir := writeCollateral(t, false, nil)
	os.Remove(filepath.Join(dir, "qe_identity.json"))
	if _, err := attest.LoadCollateral(dir); err == nil || !strings.Contains(err.Error(), "qe_identity.json") {
		t.Fatalf("missing qe_identity.json: got %v", err)
	}
	dir = writeCollateral(t, true, nil)
	os.Remove(filepath.Join(dir, "pck_crl_platform.der"))
	if _, err := attest.LoadCollateral(dir); err == nil || !strings.Contains(err.Error(), "pck_crl") {
		t.Fatalf("incomplete CRLs: got %v", err)
	}
}

func TestCertificatesExpire(t *testing.T) {
	v := attest.NewVerifier(attest.VerifierConfig{Now: at(time.Date(2053, 1, 1, 0, 0, 0, 0, time.UTC))})
	_, err := v.Verify(context.Background(), tdxEvidence(sampleQuote()), sampleReportData())
	if !errors.Is(err, attest.ErrSignature) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("got %v, want an expired-certificate refusal", err)
	}
}

func TestTDXDetection(t *testing.T) {
	dir := t.TempDir()
	cfg := attest.TDXConfig{ConfigFSDir: filepath.Join(dir, "tsm", "report"), DevicePath: filepath.Join(dir, "tdx_guest")}
	_, err := attest.NewTDX(cfg)
	if !errors.Is(err, attest.ErrTDXUnavailable) || !strings.Contains(err.Error(), "simulated") {
		t.Fatalf("got %v, want ErrTDXUnavailable pointing at simulated mode", err)
	}
	// This machine is not a TDX guest: the default paths say so too.
	if _, err := os.Stat("/dev/tdx_guest"); err == nil {
		t.Skip("running inside a TDX guest")
	}
	if _, err := os.Stat("/sys/kernel/config/tsm/report"); err == nil {
		t.Skip("configfs-tsm present")
	}
	if _, err := attest.NewTDX(attest.TDXConfig{}); !errors.Is(err, attest.ErrTDXUnavailable) {
		t.Fatalf("got %v, want ErrTDXUnavailable", err)
	}
}

func TestReportDataBinding(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	a := attest.NodeKeyReportData(pub, []byte("nonce-1"))
	if a != attest.NodeKeyReportData(pub, []byte("nonce-1")) {
		t.Fatal("not deterministic")
	}
	other, _, _ := ed25519.GenerateKey(nil)
	for name, b := range map[string]attest.ReportData{
		"other nonce":   attest.NodeKeyReportData(pub, []byte("nonce-2")),
		"other key":     attest.NodeKeyReportData(other, []byte("nonce-1")),
		"shifted split": attest.NodeKeyReportData(append(append([]byte(nil), pub...), 'n'), []byte("once-1")),
		"other purpose": attest.BindReportData("result", pub, []byte("nonce-1")),
	} {
		if a == b {
			t.Errorf("%s gives the same report data", name)
		}
		if err := attest.CheckReportData(b, a); !errors.Is(err, attest.ErrReportData) {
			t.Errorf("%s: CheckReportData = %v", name, err)
		}
	}
}

func TestSimulatedAttestation(t *testing.T) {
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(nil)
	devPub, devKey, _ := ed25519.GenerateKey(nil)
	m := attest.Measurements{}
	m.MRTD[0] = 0xaa
	a, err := attest.NewSimulated(devKey, m)
	if err != nil {
		t.Fatal(err)
	}
	_ = priv
	rd := attest.NodeKeyReportData(pub, []byte("leader nonce"))
	ev, err := a.Quote(ctx, rd)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := attest.MarshalEvidence(ev)
	if err != nil {
		t.Fatal(err)
	}
	ev, err = attest.ParseEvidence(wire)
	if err != nil {
		t.Fatal(err)
	}

	dev := attest.NewVerifier(attest.VerifierConfig{DevMode: true, DevKeys: []ed25519.PublicKey{devPub}})
	r, err := dev.Verify(ctx, ev, rd)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != attest.KindSimulated || r.Measurements != m || r.TCBStatus != attest.TCBSimulated {
		t.Fatalf("report = %+v", r)
	}
	js, _ := json.Marshal(r)
	for name, text := range map[string]string{"String": r.String(), "JSON": string(js), "evidence": string(wire)} {
		if !strings.Contains(strings.ToLower(text), "simulated attestation") {
			t.Errorf("%s rendering does not say simulated attestation:\n%s", name, text)
		}
	}

	prod := attest.NewVerifier(attest.VerifierConfig{})
	if _, err := prod.Verify(ctx, ev, rd); !errors.Is(err, attest.ErrSimulatedRefused) {
		t.Errorf("production verifier: got %v, want ErrSimulatedRefused", err)
	}
	if _, err := dev.Verify(ctx, ev, attest.NodeKeyReportData(pub, []byte("old nonce"))); !errors.Is(err, attest.ErrReportData) {
		t.Errorf("replayed to another nonce: got %v, want ErrReportData", err)
	}
	otherDev, _, _ := ed25519.GenerateKey(nil)
	if _, err := attest.NewVerifier(attest.VerifierConfig{DevMode: true, DevKeys: []ed25519.PublicKey{otherDev}}).Verify(ctx, ev, rd); !errors.Is(err, attest.ErrSignature) {
		t.Errorf("unknown dev key: got %v, want ErrSignature", err)
	}

	forged := *ev.Simulated
	forged.Body = []byte(strings.Replace(string(forged.Body), `"mrtd":"aa`, `"mrtd":"bb`, 1))
	if _, err := dev.Verify(ctx, attest.Evidence{Kind: attest.KindSimulated, Simulated: &forged}, rd); !errors.Is(err, attest.ErrSignature) {
		t.Errorf("edited measurements: got %v, want ErrSignature", err)
	}

	strict, _ := attest.ParsePolicy([]byte(`{"mrtd":["` + strings.Repeat("00", 48) + `"]}`))
	if _, err := attest.NewVerifier(attest.VerifierConfig{DevMode: true, Policy: strict}).Verify(ctx, ev, rd); !errors.Is(err, attest.ErrMeasurement) {
		t.Errorf("policy on simulated evidence: got %v, want ErrMeasurement", err)
	}
}

func TestParseEvidence(t *testing.T) {
	ev, err := attest.ParseEvidence(testdata.RawQuote)
	if err != nil || ev.Kind != attest.KindTDX {
		t.Fatalf("a raw quote file: %v %v", ev.Kind, err)
	}
	for _, bad := range []string{`{"kind":"sgx","quote":"AA=="}`, `{"kind":"tdx"}`, `{"kind":"tdx","quote":"AA==","extra":1}`, `{`} {
		if _, err := attest.ParseEvidence([]byte(bad)); !errors.Is(err, attest.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", bad, err)
		}
	}
}

func TestJoinRoundTrip(t *testing.T) {
	ctx := context.Background()
	nodePub, _, _ := ed25519.GenerateKey(nil)
	_, devKey, _ := ed25519.GenerateKey(nil)
	a, err := attest.NewSimulated(devKey, attest.Measurements{})
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte("leader-chosen nonce")
	ev, err := a.Quote(ctx, attest.NodeKeyReportData(nodePub, nonce))
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := attest.MarshalEvidence(ev)
	got, err := attest.ParseEvidence(wire)
	if err != nil {
		t.Fatal(err)
	}
	v := attest.NewVerifier(attest.VerifierConfig{DevMode: true})
	if _, err := v.VerifyNodeKey(ctx, got, nodePub, nonce); err != nil {
		t.Fatalf("honest join refused: %v", err)
	}
	impostor, _, _ := ed25519.GenerateKey(nil)
	if _, err := v.VerifyNodeKey(ctx, got, impostor, nonce); !errors.Is(err, attest.ErrReportData) {
		t.Fatalf("evidence replayed for another key: got %v, want ErrReportData", err)
	}

	// A TDX quote survives the evidence encoding byte for byte.
	wire, _ = attest.MarshalEvidence(tdxEvidence(sampleQuote()))
	back, err := attest.ParseEvidence(wire)
	if err != nil || !bytes.Equal(back.Quote, testdata.RawQuote) {
		t.Fatalf("tdx evidence round trip: %v", err)
	}
}

func BenchmarkVerifyTDXQuote(b *testing.B) {
	v := attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime)})
	ev, rd := tdxEvidence(sampleQuote()), sampleReportData()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, ev, rd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyTDXQuoteWithPolicy(b *testing.B) {
	m := sampleMeasurements()
	p, _ := attest.ParsePolicy([]byte(`{"mrtd":["` + m.MRTD.String() + `"]}`))
	v := attest.NewVerifier(attest.VerifierConfig{Now: at(sampleTime), Policy: p})
	ev, rd := tdxEvidence(sampleQuote()), sampleReportData()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, ev, rd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifySimulated(b *testing.B) {
	_, devKey, _ := ed25519.GenerateKey(nil)
	a, _ := attest.NewSimulated(devKey, attest.Measurements{})
	rd := attest.NodeKeyReportData(make([]byte, 32), []byte("n"))
	ev, _ := a.Quote(context.Background(), rd)
	v := attest.NewVerifier(attest.VerifierConfig{DevMode: true})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, ev, rd); err != nil {
			b.Fatal(err)
		}
	}
}
