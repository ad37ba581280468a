package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/contracts/near"
)

// roundTrip decodes literal (JSON exactly as the contract writes it) into a
// fresh T, re-encodes it, and requires the same bytes back.
func roundTrip[T any](t *testing.T, literal string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(literal), &v); err != nil {
		t.Fatalf("decode %s: %v", literal, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if !bytes.Equal(out, []byte(literal)) {
		t.Fatalf("round trip changed the JSON\n got %s\nwant %s", out, literal)
	}
	return v
}

func TestExecutionRequestRoundTrip(t *testing.T) {
	// get_request's output, byte for byte as outlayer.rs writes it.
	lit := `{"request_id":7,"data_id":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,255],` +
		`"sender_id":"caller.test.near","code_source":{"GitHub":{"repo":"https://github.com/a/b","commit":"main","build_target":null}},` +
		`"resource_limits":{"max_instructions":1000000000,"max_memory_mb":128,"max_execution_seconds":60},` +
		`"payment":340282366920938463463374607431768211455,"timestamp":1700000000000000000,` +
		`"secrets_ref":{"profile":"default","account_id":"alice.test.near"},"response_format":"Json","input_data":"{\"x\":1}",` +
		`"payer_account_id":"alice.test.near","pending_output":{"Bytes":[0,1,255]},"output_submitted":true,` +
		`"compile_only":false,"force_rebuild":false,"store_on_fastfs":false,"block_height":42,"resolved":false,` +
		`"pricing":["1000000000000000000000","100000000000000","100000000000000000","100000000000000000"],` +
		`"signer_id":"alice.test.near","execution_source":{"Project":{"project_id":"alice.test.near/app","version_key":null}},` +
		`"resolved_source":{"GitHub":{"repo":"https://github.com/a/b","commit":"main","build_target":null}},` +
		`"project_id":"alice.test.near/app","project_uuid":"p0000000000000001","required_signatures":0,"storage_bytes":0}`
	r := roundTrip[ExecutionRequest](t, lit)
	if r.ExecutionSource.Project == nil || r.ExecutionSource.Project.VersionKey != nil || *r.ProjectUUID != "p0000000000000001" {
		t.Errorf("project fields = %+v %v", r.ExecutionSource, r.ProjectUUID)
	}
	if r.Payment.String() != "340282366920938463463374607431768211455" {
		t.Errorf("payment = %s, want u128 max", r.Payment)
	}
	if r.DataID[31] != 255 || !strings.HasPrefix(r.DataID.Hex(), "0102") {
		t.Errorf("data id = %s", r.DataID.Hex())
	}
	if r.CodeSource.GitHub == nil || r.CodeSource.GitHub.Commit != "main" || r.CodeSource.GitHub.BuildTarget != nil {
		t.Errorf("code source = %+v", r.CodeSource.GitHub)
	}
	if r.PendingOutput == nil || r.PendingOutput.Format != FormatBytes || !bytes.Equal(r.PendingOutput.Bytes, []byte{0, 1, 255}) {
		t.Errorf("pending output = %+v", r.PendingOutput)
	}
	if r.Pricing != DefaultPricing() {
		t.Errorf("pricing = %+v", r.Pricing)
	}
}

func TestExecutionSourceAndProjectAccessor(t *testing.T) {
	p := roundTrip[ExecutionSource](t, `{"Project":{"project_id":"alice.near/app","version_key":"abc"}}`)
	if p.Project == nil || p.Code != nil || *p.Project.VersionKey != "abc" {
		t.Fatalf("project source = %+v", p)
	}
	g := roundTrip[ExecutionSource](t, `{"GitHub":{"repo":"https://github.com/a/b","commit":"main","build_target":null}}`)
	if g.Code == nil || g.Code.GitHub == nil || g.Code.VersionKey() != "https://github.com/a/b@main" {
		t.Fatalf("github source = %+v", g)
	}
	for _, bad := range []string{`{"Ipfs":{}}`, `{"Project":{},"GitHub":{}}`, `[]`} {
		var e ExecutionSource
		if err := json.Unmarshal([]byte(bad), &e); err == nil {
			t.Errorf("decoded malformed execution source %s", bad)
		}
	}
	if _, err := json.Marshal(ExecutionSource{}); err == nil {
		t.Error("encoded an empty execution source")
	}
	a := roundTrip[SecretAccessor](t, `{"Project":{"project_id":"alice.near/app"}}`)
	if a.Project == nil || a.Project.ProjectID != "alice.near/app" {
		t.Fatalf("project accessor = %+v", a)
	}
	if _, err := json.Marshal(SecretAccessor{Project: a.Project, WasmHash: &WasmHashAccessor{}}); err == nil {
		t.Error("encoded an accessor with two variants")
	}
}

func TestCodeSourceVariants(t *testing.T) {
	w := roundTrip[CodeSource](t, `{"WasmUrl":{"url":"https://x.example/a.wasm","hash":"`+strings.Repeat("ab", 32)+`","build_target":"wasm32-wasip1"}}`)
	if w.WasmURL == nil || *w.WasmURL.BuildTarget != "wasm32-wasip1" {
		t.Fatalf("wasm url = %+v", w.WasmURL)
	}
	for _, bad := range []string{`{"repo":"x","commit":"y"}`, `{"Git":{}}`, `"GitHub"`, `{"GitHub":{},"WasmUrl":{}}`} {
		var c CodeSource
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("decoded malformed code source %s", bad)
		}
	}
	if _, err := json.Marshal(CodeSource{}); err == nil {
		t.Error("encoded an empty code source")
	}
}

func TestExecutionOutputVariants(t *testing.T) {
	roundTrip[ExecutionOutput](t, `{"Text":"hi \"there\"\n"}`)
	j := roundTrip[ExecutionOutput](t, `{"Json":{"a":[1,2,{"b":null}],"c":"d"}}`)
	if string(j.JSON) != `{"a":[1,2,{"b":null}],"c":"d"}` {
		t.Errorf("json = %s", j.JSON)
	}
	roundTrip[ExecutionOutput](t, `{"Bytes":[]}`)
	var o ExecutionOutput
	if err := json.Unmarshal([]byte(`{"Bytes":[256]}`), &o); err == nil {
		t.Error("accepted 256 as a byte")
	}
	if _, err := json.Marshal(JSONOutput(json.RawMessage(`{bad`))); err == nil {
		t.Error("encoded invalid Json output")
	}
}

func TestExecutionResponseAndResolveArgs(t *testing.T) {
	lit := `{"request_id":3,"response":{"success":true,"output":{"Text":"42"},"error":null,` +
		`"resources_used":{"instructions":12345678,"time_ms":15,"compile_time_ms":null},"compilation_note":"cached"}}`
	a := roundTrip[ResolveExecutionArgs](t, lit)
	if ok, err := a.Response.FitsYieldPayload(); err != nil || !ok {
		t.Fatalf("small response does not fit: %v", err)
	}
	a.Response.Output = TextOutput(strings.Repeat("x", MaxYieldPayload))
	if ok, _ := a.Response.FitsYieldPayload(); ok {
		t.Fatal("a 1 KiB output fits the yield payload")
	}
	roundTrip[SubmitExecutionOutputAndResolveArgs](t, `{"request_id":1,"output":{"Bytes":[1]},"success":false,"error":"boom",`+
		`"resources_used":{"instructions":0,"time_ms":0,"compile_time_ms":5},"compilation_note":null}`)
}

func TestRequestExecutionArgsOmitOptional(t *testing.T) {
	args := RequestExecutionArgs{CodeSource: CodeSource{GitHub: &GitHubSource{Repo: "r", Commit: "c"}}}
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"code_source":{"GitHub":{"repo":"r","commit":"c","build_target":null}}}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
}

func TestViewsRoundTrip(t *testing.T) {
	s := roundTrip[Stats](t, `[5,"7000100000000000000000"]`)
	if s.TotalExecutions != 5 || s.TotalFeesCollected.String() != "7000100000000000000000" {
		t.Errorf("stats = %+v", s)
	}
	c := roundTrip[Config](t, `["owner.test.near","operator.test.near"]`)
	if c.OperatorID != "operator.test.near" {
		t.Errorf("config = %+v", c)
	}
	roundTrip[Pricing](t, `["1","2","3","4"]`)
	roundTrip[Fees](t, `{"total_fees_collected":"10","total_fees_withdrawn":"4","available":"6"}`)
	roundTrip[MaxLimits](t, `[500000000000,180,300]`)
	var bad Stats
	if err := json.Unmarshal([]byte(`[1]`), &bad); err == nil {
		t.Error("decoded a one-element stats")
	}
}

func u(t *testing.T, s string) near.U128 {
	t.Helper()
	v, err := near.ParseU128(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The worked numbers of the reference (§6.3), with upstream's default prices.
func TestPricingFormula(t *testing.T) {
	p := DefaultPricing()
	if got := p.ExecutionEstimate(DefaultResourceLimits()); got != u(t, "7000100000000000000000") {
		t.Errorf("default estimate = %s", got)
	}
	max := ResourceLimits{MaxInstructions, DefaultMaxMemoryMB, MaxExecutionSeconds}
	if got := p.ExecutionEstimate(max); got != u(t, "19050000000000000000000") {
		t.Errorf("max estimate = %s", got)
	}
	m := ResourceMetrics{Instructions: 10_000_000, TimeMs: 5000}
	if got := p.Cost(m, DefaultResourceLimits()); got != u(t, "1500001000000000000000") {
		t.Errorf("cost = %s", got)
	}
	compile := uint64(3000)
	m.CompileTimeMs = &compile
	if got := p.Cost(m, DefaultResourceLimits()); got != u(t, "1800001000000000000000") {
		t.Errorf("cost with compile = %s", got)
	}
	// Reported usage beyond the request's limits is clamped.
	huge := uint64(10_000_000)
	over := ResourceMetrics{Instructions: 1 << 62, TimeMs: 1 << 40, CompileTimeMs: &huge}
	want := p.Cost(ResourceMetrics{Instructions: DefaultMaxInstructions, TimeMs: 60_000, CompileTimeMs: ptr(uint64(300_000))}, DefaultResourceLimits())
	if got := p.Cost(over, DefaultResourceLimits()); got != want {
		t.Errorf("clamped cost = %s, want %s", got, want)
	}
	// The charge never exceeds the payment, and a failure costs the base fee.
	pay := u(t, "2000000000000000000000")
	if got := p.Charge(true, over, DefaultResourceLimits(), pay); got != pay {
		t.Errorf("charge = %s, want the whole payment", got)
	}
	if got := p.Charge(false, over, DefaultResourceLimits(), pay); got != p.BaseFee {
		t.Errorf("failure charge = %s", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAccessConditionsRoundTrip(t *testing.T) {
	for _, lit := range []string{
		`"AllowAll"`,
		`{"Whitelist":{"accounts":["a.near","b.near"]}}`,
		`{"AccountPattern":{"pattern":"^.*\\.near$"}}`,
		`{"NearBalance":{"operator":"Gte","value":"1000000000000000000000000"}}`,
		`{"FtBalance":{"contract":"usdc.near","operator":"Gt","value":"5"}}`,
		`{"NftOwned":{"contract":"nft.near","token_id":null}}`,
		`{"DaoMember":{"dao_contract":"dao.sputnik.near","role":"council"}}`,
		`{"Logic":{"operator":"And","conditions":["AllowAll",{"Not":{"condition":{"Whitelist":{"accounts":[]}}}}]}}`,
	} {
		roundTrip[AccessCondition](t, lit)
	}
	var c AccessCondition
	if err := json.Unmarshal([]byte(`{"Nope":{}}`), &c); err == nil {
		t.Error("decoded an unknown access condition")
	}
}

func TestSecretsViewsRoundTrip(t *testing.T) {
	v := roundTrip[SecretProfileView](t, `{"encrypted_secrets":"AAEC","access":"AllowAll","created_at":1,"updated_at":2,`+
		`"storage_deposit":"3170000000000000000000","accessor":{"Repo":{"repo":"github.com/a/b","branch":null}}}`)
	if v.Accessor.Repo == nil || v.Accessor.Repo.Repo != "github.com/a/b" {
		t.Errorf("accessor = %+v", v.Accessor)
	}
	roundTrip[[]UserSecretInfo](t, `[{"accessor":{"WasmHash":{"hash":"`+strings.Repeat("0f", 32)+`"}},"profile":"p",`+
		`"created_at":1,"updated_at":1,"storage_deposit":"1","access":{"Whitelist":{"accounts":["x.near"]}}}]`)
}

func TestRegisterTypesRoundTrip(t *testing.T) {
	roundTrip[RegisterConfig](t, `{"owner_id":"o.near","outlayer_contract_id":"outlayer.near",`+
		`"init_public_key":"ed25519:11111111111111111111111111111111","allowance":"1000000000000000000000000",`+
		`"method_names":["resolve_execution","submit_execution_output_and_resolve"]}`)
	roundTrip[NodeRecord](t, `{"node_id":"n1","public_key":"ed25519:x","attestation":"AAAA","registered_at":5,"block_height":6}`)
	roundTrip[[]NodeSummary](t, `[{"node_id":"n1","public_key":"ed25519:x","registered_at":5,"block_height":6,"attestation_len":4}]`)
}

func TestParseEvents(t *testing.T) {
	// execution_requested exactly as request_execution logs it.
	rd := `{"request_id":0,"sender_id":"alice.test.near","predecessor_id":"caller.test.near","code_source":{"WasmUrl":{"url":"https://h/x.wasm","hash":"` +
		strings.Repeat("ab", 32) + `","build_target":null}},"resource_limits":{"max_instructions":1000000000,"max_memory_mb":128,` +
		`"max_execution_seconds":60},"input_data":"in \"q\"","input_data_in_state":false,"secrets_ref":null,"response_format":"Text",` +
		`"payment":"7000100000000000000000","attached_usd":"0","timestamp":99,"compile_only":false,"force_rebuild":false,"store_on_fastfs":false,` +
		`"use_bound_identity":false,"project_uuid":"p000000000000000a","project_id":"alice.test.near/app","payer_account_id":"caller.test.near"}`
	rdString, _ := json.Marshal(rd)
	line := `EVENT_JSON:{"standard":"near-outlayer","version":"1.0.0","event":"execution_requested","data":[{"request_data":` +
		string(rdString) + `,"data_id":[` + strings.TrimSuffix(strings.Repeat("7,", 32), ",") + `],"timestamp":99}]}`

	evs, err := OutLayerEvents([]string{"plain log", `[[yNEAR charged: "1"]]`, line})
	if err != nil || len(evs) != 1 {
		t.Fatalf("events = %v, %v", evs, err)
	}
	var req ExecutionRequested
	if err := evs[0].Decode(EventExecutionRequested, &req); err != nil {
		t.Fatal(err)
	}
	if req.RequestData.InputData != `in "q"` || req.RequestData.Payment.String() != "7000100000000000000000" || req.DataID[0] != 7 {
		t.Fatalf("decoded %+v", req)
	}
	// Re-encoding gives the contract's bytes back.
	again, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, evs[0].Data[0]) {
		t.Fatalf("re-encoded event data\n got %s\nwant %s", again, evs[0].Data[0])
	}
	if err := evs[0].Decode(EventExecutionCompleted, &ExecutionCompleted{}); err == nil {
		t.Error("decoded an execution_requested event as execution_completed")
	}

	done := `{"request_id":0,"sender_id":"c.near","code_source":{"GitHub":{"repo":"r","commit":"c","build_target":null}},` +
		`"resources_used":{"instructions":0,"time_ms":0,"compile_time_ms":null},"success":false,"error_message":"Execution timed out",` +
		`"payment_charged":"1000000000000000000000","payment_refunded":"6000100000000000000000","compilation_note":null,"timestamp":5,` +
		`"payer_account_id":"c.near","timed_out":true,"predecessor_id":"c.near","project_id":null}`
	roundTrip[ExecutionCompleted](t, done)
	roundTrip[ExecutionCancelled](t, `{"request_id":1,"sender_id":"a.near","payer_account_id":"b.near","payment_refunded":"5","reason":"stale","timestamp":1}`)

	for _, bad := range []string{`EVENT_JSON:{`, `EVENT_JSON:{"standard":"x","event":"y"}`} {
		if _, err := ParseEvent(bad); err == nil || errors.Is(err, ErrNotEvent) {
			t.Errorf("ParseEvent(%q) = %v, want a malformed-event error", bad, err)
		}
	}
	if _, err := OutLayerEvents([]string{`EVENT_JSON:[]`}); err == nil {
		t.Error("OutLayerEvents accepted a malformed event")
	}
}

func TestChargedFromLogs(t *testing.T) {
	got, ok, err := ChargedFromLogs([]string{"x", `[[yNEAR charged: "1500001000000000000000"]]`})
	if err != nil || !ok || got.String() != "1500001000000000000000" {
		t.Fatalf("got %s %v %v", got, ok, err)
	}
	if _, ok, _ := ChargedFromLogs([]string{"x"}); ok {
		t.Error("found a charge in plain logs")
	}
	if _, _, err := ChargedFromLogs([]string{`[[yNEAR charged: "x"]]`}); err == nil {
		t.Error("accepted a malformed amount")
	}
}
