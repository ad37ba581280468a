package contracts

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Every committed artifact matches SHA256SUMS, and the embedded bytes are
// the committed files.
func TestEmbeddedWASMMatchesSHA256SUMS(t *testing.T) {
	for path, got := range map[string]string{
		OutLayerWASMPath: OutLayerWASMSHA256(),
		RegisterWASMPath: RegisterWASMSHA256(),
		TokenWASMPath:    sha256Hex(tokenWASM),
	} {
		want, err := CommittedSHA256(path)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: embedded sha256 %s, SHA256SUMS says %s", path, got, want)
		}
	}
	if _, err := CommittedSHA256("nope.wasm"); err == nil {
		t.Error("found a sum for a file that is not listed")
	}
}

// NEAR accepts MVP wasm (plus a few later features not every protocol
// version has). Compiling with wazero restricted to WebAssembly 1.0 proves
// no artifact uses sign-extension, bulk memory, reference types, SIMD or
// multi-value, and that each exports its memory and the expected methods.
func TestArtifactsAreMVPWasm(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(api.CoreFeaturesV1))
	defer rt.Close(ctx)

	read := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join("..", rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := map[string]struct {
		code    []byte
		exports []string
	}{
		"outlayer": {outlayerWASM, []string{"new", "request_execution", "resolve_execution", "submit_execution_output_and_resolve", "on_execution_response", "store_secrets", "get_pending_requests", "withdraw_fees", "create_project", "get_project", "create_payment_key", "ft_on_transfer", "delete_payment_key", "list_payment_keys"}},
		"register": {registerWASM, []string{"new", "register_node", "remove_node", "list_nodes", "get_node"}},
		"token":    {tokenWASM, []string{"new", "storage_deposit", "ft_transfer", "ft_transfer_call", "ft_resolve_transfer", "ft_balance_of", "ft_total_supply", "ft_metadata"}},
		"counter":  {read("testnet/examples/contracts/wasm/counter.wasm"), []string{"increment", "decrement", "get_num", "reset"}},
		"xcc":      {read("testnet/examples/contracts/wasm/xcc.wasm"), []string{"call", "on_result"}},
		"yield":    {read("testnet/examples/contracts/wasm/yieldpair.wasm"), []string{"start", "resume", "on_resume"}},
		"panicker": {read("testnet/examples/contracts/wasm/panicker.wasm"), []string{"panic_msg", "abort", "loop_forever"}},
		"caller":   {read("testnet/examples/contracts/wasm/caller.wasm"), []string{"run", "on_output"}},
	}
	for name, c := range cases {
		m, err := rt.CompileModule(ctx, c.code)
		if err != nil {
			t.Errorf("%s: not MVP wasm: %v", name, err)
			continue
		}
		if _, ok := m.ExportedMemories()["memory"]; !ok {
			t.Errorf("%s: does not export its memory", name)
		}
		fns := m.ExportedFunctions()
		for _, e := range c.exports {
			f, ok := fns[e]
			if !ok {
				t.Errorf("%s: missing export %s", name, e)
				continue
			}
			if len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 0 {
				t.Errorf("%s: %s is not () -> ()", name, e)
			}
		}
		for _, imp := range m.ImportedFunctions() {
			if mod, _, _ := imp.Import(); mod != "env" {
				t.Errorf("%s: imports from module %q, NEAR only provides env", name, mod)
			}
		}
		for _, imp := range m.ImportedMemories() {
			t.Errorf("%s: imports a memory (%v); NEAR refuses that", name, imp)
		}
	}
}
