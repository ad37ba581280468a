package exec

import (
	"slices"
	"testing"
)

// The OUTLAYER_* context variables appear only when set, the project id is
// split at its first '/', and a secret cannot take a system name.
func TestOutLayerContextVariables(t *testing.T) {
	r := Request{Context: Context{RequestID: 1, ExecutionType: "NEAR", ProjectID: "alice.near/app", ProjectUUID: "p0000000000000001"}}
	env, err := r.environment(Limits{MaxInstructions: 1, MaxMemoryMB: 1, Timeout: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range env {
		got[kv.key] = kv.value
	}
	want := map[string]string{"OUTLAYER_EXECUTION_TYPE": "NEAR", "OUTLAYER_PROJECT_ID": "alice.near/app",
		"OUTLAYER_PROJECT_OWNER": "alice.near", "OUTLAYER_PROJECT_NAME": "app", "OUTLAYER_PROJECT_UUID": "p0000000000000001"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["OUTLAYER_CALL_ID"]; ok {
		t.Error("OUTLAYER_CALL_ID set for a request that is not a call")
	}
	plain := Request{Context: Context{RequestID: 1}}
	env, _ = plain.environment(Limits{MaxInstructions: 1, MaxMemoryMB: 1, Timeout: 1e9})
	if slices.ContainsFunc(env, func(kv envVar) bool { return kv.key[:4] == "OUTL" }) {
		t.Errorf("a request without project or type got OUTLAYER_* variables: %v", env)
	}
	for _, name := range []string{"OUTLAYER_PROJECT_UUID", "outlayer_project_id", "NEAR_X", "near_sender_id"} {
		r := Request{Secrets: map[string]string{name: "x"}}
		if _, err := r.environment(Limits{MaxInstructions: 1, MaxMemoryMB: 1, Timeout: 1e9}); err == nil {
			t.Errorf("secret %s accepted", name)
		}
	}
	if IsReservedEnvName("OUTLAYER_OTHER") || IsReservedEnvName("API_KEY") {
		t.Error("a name the system does not set is reserved")
	}
}
