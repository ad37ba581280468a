package daemon_test

import (
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/daemon/keystore"
)

// A secret encrypted to the cluster's public key (served by a node's HTTP
// API) reaches a program run for a requester the access condition allows,
// as an environment variable; another requester's run fails with a clear
// error and is refunded, and never runs without the secret.
func TestSecretsReachAllowedRunsOnly(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(3, nil)
	bob := w.account("bob", 10)
	code := w.wasmSource("secretenv")

	q := url.Values{"wasm_hash": {code.WasmURL.Hash}, "owner": {w.alice.AccountID()}, "profile": {keystore.DefaultProfile}}
	var pr keystore.PubkeyResponse
	w.eventually(30*time.Second, "a node's keystore to be ready", func() bool {
		return tryGetJSON("http://"+w.node(2).HTTPAddr()+keystore.HTTPPrefix+"pubkey?"+q.Encode(), &pr) == nil
	})
	pub, err := keystore.ParsePublicKey(pr.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := keystore.EncryptSecrets(rand.Reader, pub, []byte(`{"API_KEY":"sk-live-42"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keystore.StoreSecrets(w.ctx, w.alice, w.outlayer, contracts.StoreSecretsArgs{
		Accessor: pr.Accessor, Profile: keystore.DefaultProfile, EncryptedSecretsBase64: blob,
		Access: contracts.AccessCondition{Kind: contracts.AccessWhitelist, Accounts: []string{w.alice.AccountID()}},
	}); err != nil {
		t.Fatalf("storing the secrets: %v", err)
	}

	limits := contracts.ResourceLimits{MaxInstructions: 50_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 5}
	ref := &contracts.SecretsRef{Profile: keystore.DefaultProfile, AccountID: w.alice.AccountID()}
	ask := func(from string) outcome {
		s := w.alice
		if from == "bob" {
			s = bob
		}
		input := ""
		h := w.send(s, w.outlayer, contracts.MethodRequestExecution, contracts.RequestExecutionArgs{
			CodeSource: code, ResourceLimits: &limits, InputData: &input, ResponseFormat: contracts.FormatText, SecretsRef: ref,
		}, nearAmount(t, "1"))
		return parseOutcome(t, w.final(h, s.AccountID(), time.Minute))
	}

	allowed := ask("alice")
	var got string
	if err := allowed.out.DecodeResult(&got); err != nil || got != "key=sk-live-42" || len(allowed.completed) != 1 || !allowed.completed[0].Success {
		t.Fatalf("alice's run: %q %v %+v", got, err, allowed.completed)
	}

	denied := ask("bob")
	if len(denied.completed) != 1 || denied.completed[0].Success || denied.completed[0].ErrorMessage == nil ||
		!strings.Contains(*denied.completed[0].ErrorMessage, "denied") {
		t.Fatalf("bob's run: %+v", denied.completed)
	}
	c := denied.completed[0]
	if c.PaymentRefunded.IsZero() {
		t.Fatalf("bob was not refunded: %+v", c)
	}
	j := w.job(denied.requestID, 10*time.Second)
	if j.Result == nil || j.Result.ErrorKind != "access_denied" || len(j.Result.Output) != 0 || j.Result.Instructions != 0 {
		t.Fatalf("bob's job %+v (result %+v): want refused before running", j, j.Result)
	}
}
