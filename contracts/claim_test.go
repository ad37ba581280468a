package contracts

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/attest"
)

// claimVectorsFile is shared with the contract's Rust unit test
// (contracts/rust/outlayer/claim_tests.rs, run by contracts/build.sh
// --test), which recomputes every encoding and hash from the same inputs.
// Regenerate with OUTLAYER_UPDATE_VECTORS=1 go test ./contracts -run ClaimVectors.
const claimVectorsFile = "testdata/claim_vectors.json"

type claimVector struct {
	Name       string            `json:"name"`
	ChainID    string            `json:"chain_id"`
	Contract   string            `json:"contract"`
	RequestID  uint64            `json:"request_id"`
	DataID     string            `json:"data_id"`
	Sender     string            `json:"sender"`
	CodeSource CodeSource        `json:"code_source"`
	InputData  string            `json:"input_data"`
	SecretsRef *SecretsRef       `json:"secrets_ref"`
	ProjectID  string            `json:"project_id,omitempty"`
	WasmSHA256 string            `json:"wasm_sha256"`
	Response   ExecutionResponse `json:"response"`
	// What both sides must compute.
	OutcomePreimage string `json:"outcome_preimage"`
	SecretsID       string `json:"secrets_id"`
	Encoding        string `json:"encoding"`
	Hash            string `json:"hash"`
}

func strp(s string) *string { return &s }

func claimVectors(t *testing.T) []claimVector {
	t.Helper()
	wasm := sha256.Sum256([]byte("\x00asm\x01\x00\x00\x00"))
	dataID := sha256.Sum256([]byte("data id"))
	git := CodeSource{GitHub: &GitHubSource{Repo: "github.com/alice/echo", Commit: "main"}}
	byURL := CodeSource{WasmURL: &WasmURLSource{URL: "https://example.com/a.wasm", Hash: hex.EncodeToString(wasm[:])}}
	base := func(name string, code CodeSource, resp ExecutionResponse) claimVector {
		return claimVector{Name: name, ChainID: "localnet", Contract: "outlayer.test.near", RequestID: 7,
			DataID: hex.EncodeToString(dataID[:]), Sender: "user.test.near", CodeSource: code,
			InputData: `{"n":7}`, WasmSHA256: hex.EncodeToString(wasm[:]), Response: resp}
	}
	used := ResourceMetrics{Instructions: 123456789, TimeMs: 5}
	vs := []claimVector{
		base("text success, git source, no secrets", git, ExecutionResponse{Success: true, Output: TextOutput("héllo \"world\"\n\u2028"), ResourcesUsed: used}),
		base("bytes success with secrets", git, ExecutionResponse{Success: true, Output: BytesOutput([]byte{0, 1, 0xff, 0xfe}), ResourcesUsed: used}),
		base("json success", byURL, ExecutionResponse{Success: true,
			Output: JSONOutput(json.RawMessage(" {\"b\" : [1, -0, 1.5e3, 18446744073709551616, true, null], \"a\":\"<&>\\u0001\\u00e9\\ud83d\\ude00\", \"c\": {}}")), ResourcesUsed: used}),
		base("failure with error, wasm source, secrets", byURL, ExecutionResponse{Success: false, Error: strp("Execution failed: trap: unreachable"), ResourcesUsed: used}),
		base("failure without error text", git, ExecutionResponse{Success: false, ResourcesUsed: ResourceMetrics{}}),
		base("compile-only success without output, no wasm", git, ExecutionResponse{Success: true, ResourcesUsed: ResourceMetrics{TimeMs: 1}}),
		base("text with invalid UTF-8 (sent as U+FFFD)", git, ExecutionResponse{Success: true, Output: TextOutput("a\xffb\xc3"), ResourcesUsed: used}),
		base("project run with the project's secrets", git, ExecutionResponse{Success: true, Output: TextOutput("ok"), ResourcesUsed: used}),
	}
	vs[1].SecretsRef = &SecretsRef{Profile: "default", AccountID: "alice.test.near"}
	vs[3].SecretsRef = &SecretsRef{Profile: "prod-1", AccountID: "bob.test.near"}
	vs[3].InputData = ""
	vs[5].WasmSHA256 = hex.EncodeToString(make([]byte, 32))
	vs[5].InputData = ""
	vs[6].RequestID = 1<<63 + 5
	vs[7].SecretsRef = &SecretsRef{Profile: "default", AccountID: "alice.test.near"}
	vs[7].ProjectID = "alice.test.near/echo"
	for i := range vs {
		v := &vs[i]
		var w, d [32]byte
		mustHex(t, v.WasmSHA256, w[:])
		mustHex(t, v.DataID, d[:])
		req := ClaimRequest{ChainID: v.ChainID, Contract: v.Contract, RequestID: v.RequestID, DataID: DataID(d),
			Sender: v.Sender, CodeSource: v.CodeSource, InputData: v.InputData, SecretsRef: v.SecretsRef, ProjectID: v.ProjectID}
		c, err := req.Claim(w, v.Response)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		kind, payload, err := claimOutcome(v.Response)
		if err != nil {
			t.Fatal(err)
		}
		v.OutcomePreimage = hex.EncodeToString(append([]byte{kind}, payload...))
		if attest.OutcomeSHA256(kind, payload) != c.OutputSHA256 {
			t.Fatalf("%s: output hash is not the outcome preimage's", v.Name)
		}
		v.SecretsID = hex.EncodeToString(c.SecretsID[:])
		v.Encoding = hex.EncodeToString(c.Encode())
		h := c.Hash()
		v.Hash = hex.EncodeToString(h[:])
	}
	return vs
}

func mustHex(t *testing.T, s string, dst []byte) {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(dst) {
		t.Fatalf("bad hex %q", s)
	}
	copy(dst, b)
}

// TestClaimVectors pins the claim encoding: the committed vectors must be
// exactly what this code computes (the Rust side checks the same file).
func TestClaimVectors(t *testing.T) {
	got, err := json.MarshalIndent(claimVectors(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if os.Getenv("OUTLAYER_UPDATE_VECTORS") == "1" {
		if err := os.WriteFile(claimVectorsFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(claimVectorsFile)
	if err != nil {
		t.Fatalf("%v (generate it with OUTLAYER_UPDATE_VECTORS=1)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what the code computes: the claim encoding changed. If that is intended, bump attest.ClaimDomain, regenerate with OUTLAYER_UPDATE_VECTORS=1 and rebuild the contract", claimVectorsFile)
	}
}

func TestClaimLayout(t *testing.T) {
	v := claimVectors(t)[0]
	enc, _ := hex.DecodeString(v.Encoding)
	if !bytes.HasPrefix(enc, []byte(attest.ClaimDomain)) {
		t.Fatal("encoding does not start with the domain tag")
	}
	// domain + 3 length-prefixed strings + 2 u64 + 5 hashes + success byte.
	want := len(attest.ClaimDomain) + 3*4 + len(v.ChainID) + len(v.Contract) + len(v.Sender) + 16 + 5*32 + 1
	if len(enc) != want {
		t.Fatalf("encoding is %d bytes, want %d", len(enc), want)
	}
	// Secrets: zero exactly when none were named; the owner, profile and
	// code each change it.
	if v.SecretsID != strings.Repeat("0", 64) {
		t.Fatal("a request without secrets has a non-zero secrets id")
	}
	ref := &SecretsRef{Profile: "default", AccountID: "alice.test.near"}
	git := CodeSource{GitHub: &GitHubSource{Repo: "github.com/alice/echo", Commit: "main"}}
	id := ClaimSecretsID(git, "", ref)
	for name, other := range map[string][32]byte{
		"owner":   ClaimSecretsID(git, "", &SecretsRef{Profile: "default", AccountID: "bob.test.near"}),
		"profile": ClaimSecretsID(git, "", &SecretsRef{Profile: "prod", AccountID: "alice.test.near"}),
		"commit":  ClaimSecretsID(CodeSource{GitHub: &GitHubSource{Repo: "github.com/alice/echo", Commit: "dev"}}, "", ref),
		"repo":    ClaimSecretsID(CodeSource{GitHub: &GitHubSource{Repo: "github.com/alice/ech", Commit: "omain"}}, "", ref),
		"project": ClaimSecretsID(git, "alice.test.near/echo", ref),
	} {
		if other == id {
			t.Errorf("changing the %s leaves the secrets id unchanged", name)
		}
	}
	// A project's run: the project, whatever version's code runs.
	p := ClaimSecretsID(git, "alice.test.near/echo", ref)
	if other := ClaimSecretsID(CodeSource{GitHub: &GitHubSource{Repo: "github.com/alice/echo", Commit: "v2"}}, "alice.test.near/echo", ref); other != p {
		t.Error("another version of the same project has another secrets id")
	}
	if p != attest.SecretsIdentity("alice.test.near", "default", "Project", "alice.test.near/echo") {
		t.Error("a project's secrets id is not SecretsIdentity(owner, profile, \"Project\", project id)")
	}
}

func TestClaimBindsEveryField(t *testing.T) {
	v := claimVectors(t)
	var d DataID
	mustHex(t, v[0].DataID, d[:])
	req := ClaimRequest{ChainID: "localnet", Contract: "outlayer.test.near", RequestID: 7, DataID: d, Sender: "user.test.near",
		CodeSource: v[0].CodeSource, InputData: "in"}
	resp := ExecutionResponse{Success: true, Output: TextOutput("out"), ResourcesUsed: ResourceMetrics{Instructions: 9, TimeMs: 3}}
	c, err := req.Claim([32]byte{1}, resp)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	sig := SignClaim(c, key)
	if err := VerifyClaimSignature(c, sig); err != nil {
		t.Fatalf("own signature: %v", err)
	}
	// Time and the compilation note are not bound: they differ per executor.
	resp2 := resp
	resp2.ResourcesUsed.TimeMs = 99
	resp2.CompilationNote = strp("cached")
	if c2, _ := req.Claim([32]byte{1}, resp2); c2 != c {
		t.Fatal("time or compilation note changed the claim")
	}
	mutations := map[string]func() attest.ResultClaim{
		"chain": func() attest.ResultClaim {
			r := req
			r.ChainID = "mainnet"
			x, _ := r.Claim([32]byte{1}, resp)
			return x
		},
		"contract": func() attest.ResultClaim {
			r := req
			r.Contract = "other.near"
			x, _ := r.Claim([32]byte{1}, resp)
			return x
		},
		"request": func() attest.ResultClaim { r := req; r.RequestID++; x, _ := r.Claim([32]byte{1}, resp); return x },
		"data id": func() attest.ResultClaim { r := req; r.DataID[0] ^= 1; x, _ := r.Claim([32]byte{1}, resp); return x },
		"sender": func() attest.ResultClaim {
			r := req
			r.Sender = "eve.near"
			x, _ := r.Claim([32]byte{1}, resp)
			return x
		},
		"input": func() attest.ResultClaim { r := req; r.InputData = "in2"; x, _ := r.Claim([32]byte{1}, resp); return x },
		"secrets": func() attest.ResultClaim {
			r := req
			r.SecretsRef = &SecretsRef{Profile: "p", AccountID: "a.near"}
			x, _ := r.Claim([32]byte{1}, resp)
			return x
		},
		"wasm": func() attest.ResultClaim { x, _ := req.Claim([32]byte{2}, resp); return x },
		"output": func() attest.ResultClaim {
			r := resp
			r.Output = TextOutput("0ut")
			x, _ := req.Claim([32]byte{1}, r)
			return x
		},
		"output kind": func() attest.ResultClaim {
			r := resp
			r.Output = BytesOutput([]byte("out"))
			x, _ := req.Claim([32]byte{1}, r)
			return x
		},
		"success": func() attest.ResultClaim {
			r := resp
			r.Success = false
			r.Error = strp("out")
			x, _ := req.Claim([32]byte{1}, r)
			return x
		},
		"instructions": func() attest.ResultClaim {
			r := resp
			r.ResourcesUsed.Instructions++
			x, _ := req.Claim([32]byte{1}, r)
			return x
		},
	}
	for name, m := range mutations {
		other := m()
		if other == c {
			t.Errorf("changing the %s leaves the claim unchanged", name)
			continue
		}
		if err := VerifyClaimSignature(other, sig); !errors.Is(err, attest.ErrClaimSignature) {
			t.Errorf("a signature of the original verifies for a changed %s: %v", name, err)
		}
	}
}

// An error over MaxErrorBytes is cut before hashing, as ResolveCallSigned
// cuts it, so the claim matches what the contract receives.
func TestClaimHashesTheSubmittedError(t *testing.T) {
	long := strings.Repeat("e", 3000)
	req := ClaimRequest{ChainID: "c", Contract: "o.near", Sender: "s.near", CodeSource: CodeSource{GitHub: &GitHubSource{Repo: "r", Commit: "c"}}}
	resp := ExecutionResponse{Success: false, Error: &long}
	c, err := req.Claim([32]byte{}, resp)
	if err != nil {
		t.Fatal(err)
	}
	_, args, err := ResolveCallSigned(0, resp, [32]byte{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sent := args.(ResolveExecutionArgs).Response.Error
	if len(*sent) >= len(long) || c.OutputSHA256 != attest.OutcomeSHA256(attest.OutcomeError, []byte(*sent)) {
		t.Fatalf("claim does not hash the %d-byte error that is sent", len(*sent))
	}
}

func TestContractJSON(t *testing.T) {
	for in, want := range map[string]string{
		` {"b" : 1 , "a" : [ true , false , null , -0.5e+3 ] } `:  `{"b":1,"a":[true,false,null,-0.5e+3]}`,
		`"a\"b\\c\/d\n\t\r\b\f\u0001\u00e9\ud83d\ude00<>&\u2028"`: "\"a\\\"b\\\\c/d\\n\\t\\r\\b\\f\\u0001é😀<>&\u2028\"",
		`[[],{},[{}]]`:                  `[[],{},[{}]]`,
		`{"a":{"b":[1,{"c":2}]},"d":3}`: `{"a":{"b":[1,{"c":2}]},"d":3}`,
	} {
		got, err := ContractJSON([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("ContractJSON(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{`{"a":`, `[1] 2`, ``, `[1,]`} {
		if _, err := ContractJSON([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
