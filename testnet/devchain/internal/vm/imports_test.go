package vm

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"
)

// A tiny WASM assembler, enough to build test modules that import host
// functions and call them from an exported method.

func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func vec(items ...[]byte) []byte {
	out := uleb(uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func section(id byte, body []byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(body)))...), body...)
}

func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func valType(t api.ValueType) byte { return t }

// module builds a module importing the given host functions (in order, so
// import i is function index i) plus one exported method with body code, a
// 1-page memory exported as "memory", and data at offset 0.
func module(imports []*hostFunction, method string, code []byte, data []byte) []byte {
	var types, imps [][]byte
	for i, hf := range imports {
		var ps, rs []byte
		for _, p := range hf.params {
			ps = append(ps, valType(p))
		}
		for _, r := range hf.results {
			rs = append(rs, valType(r))
		}
		types = append(types, append(append([]byte{0x60}, append(uleb(uint64(len(ps))), ps...)...), append(uleb(uint64(len(rs))), rs...)...))
		imps = append(imps, append(append(name("env"), name(hf.name)...), append([]byte{0x00}, uleb(uint64(i))...)...))
	}
	methodType := uint64(len(types))
	types = append(types, []byte{0x60, 0, 0})
	body := append([]byte{0x00}, code...) // no locals
	body = append(body, 0x0b)
	mod := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	mod = append(mod, section(1, vec(types...))...)
	mod = append(mod, section(2, vec(imps...))...)
	mod = append(mod, section(3, vec(uleb(methodType)))...)
	mod = append(mod, section(5, vec([]byte{0x00, 0x01}))...)
	mod = append(mod, section(7, vec(
		append(name(method), append([]byte{0x00}, uleb(uint64(len(imports)))...)...),
		append(name("memory"), 0x02, 0x00),
	))...)
	mod = append(mod, section(10, vec(append(uleb(uint64(len(body))), body...)))...)
	if data != nil {
		seg := append([]byte{0x00, 0x41, 0x00, 0x0b}, append(uleb(uint64(len(data))), data...)...)
		mod = append(mod, section(11, vec(seg))...)
	}
	return mod
}

func hostFn(t *testing.T, n string) *hostFunction {
	t.Helper()
	for i := range hostFunctions {
		if hostFunctions[i].name == n {
			return &hostFunctions[i]
		}
	}
	t.Fatalf("host function %s is not defined", n)
	return nil
}

func i64c(v int64) []byte { return append([]byte{0x42}, sleb(v)...) }
func call(i int) []byte   { return append([]byte{0x10}, uleb(uint64(i))...) }

// Every import of NEAR's table links, so any contract instantiates.
func TestEveryNEARImportLinks(t *testing.T) {
	// The names near-sys 0.2.13 and nearcore 2.13 define (reference §1.2).
	want := strings.Fields(`read_register register_len write_register current_account_id signer_account_id
	signer_account_pk predecessor_account_id refund_to_account_id input block_index block_timestamp epoch_height
	storage_usage chain_id current_contract_code account_balance account_locked_balance attached_deposit prepaid_gas
	used_gas random_seed sha256 keccak256 keccak512 ripemd160 ecrecover ed25519_verify p256_verify
	alt_bn128_g1_multiexp alt_bn128_g1_sum alt_bn128_pairing_check bls12381_p1_sum bls12381_p2_sum
	bls12381_g1_multiexp bls12381_g2_multiexp bls12381_map_fp_to_g1 bls12381_map_fp2_to_g2 bls12381_pairing_check
	bls12381_p1_decompress bls12381_p2_decompress value_return panic panic_utf8 log_utf8 log_utf16 abort gas
	promise_create promise_then promise_and promise_batch_create promise_batch_then promise_set_refund_to
	promise_return promise_results_count promise_result promise_batch_action_create_account
	promise_batch_action_deploy_contract promise_batch_action_function_call promise_batch_action_function_call_weight
	promise_batch_action_transfer promise_batch_action_stake promise_batch_action_add_key_with_full_access
	promise_batch_action_add_key_with_function_call promise_batch_action_delete_key promise_batch_action_delete_account
	promise_batch_action_deploy_global_contract promise_batch_action_deploy_global_contract_by_account_id
	promise_batch_action_use_global_contract promise_batch_action_use_global_contract_by_account_id
	promise_batch_action_state_init promise_batch_action_state_init_by_account_id set_state_init_data_entry
	promise_batch_action_transfer_to_gas_key promise_batch_action_add_gas_key_with_full_access
	promise_batch_action_add_gas_key_with_function_call promise_yield_create promise_yield_resume
	promise_yield_create_with_id promise_yield_resume_with_yield_id storage_write storage_read storage_remove
	storage_has_key storage_iter_prefix storage_iter_range storage_iter_next validator_stake validator_total_stake
	sandbox_debug_log`)
	var all []*hostFunction
	for _, n := range want {
		all = append(all, hostFn(t, n))
	}
	e := newEngine(t)
	out := e.Run(context.Background(), module(all, "noop", nil, nil), "noop", callCtx("", false), newMapHost())
	if out.Err != nil {
		t.Fatalf("a module importing all %d host functions: %v", len(all), out.Err)
	}
	// Calling an unsupported one is a host error, not a crash.
	bls := []*hostFunction{hostFn(t, "bls12381_pairing_check")}
	out = e.Run(context.Background(), module(bls, "m", append(append(i64c(0), i64c(0)...), append(call(0), 0x1a)...), nil), "m", callCtx("", false), newMapHost())
	if out.Err == nil || !strings.Contains(out.Err.Text, "not supported by the devchain") {
		t.Fatalf("unsupported host function: %v", out.Err)
	}
	// A module importing something else does not link.
	bogus := &hostFunction{name: "no_such_function"}
	out = e.Run(context.Background(), module([]*hostFunction{bogus}, "m", nil, nil), "m", callCtx("", false), newMapHost())
	if out.Err == nil || !strings.HasPrefix(out.Err.Text, "Link Error") {
		t.Fatalf("unknown import: %v", out.Err)
	}
}

// sha256 and ed25519_verify compute what Go computes.
func TestCryptoHostFunctions(t *testing.T) {
	e := newEngine(t)
	fns := []*hostFunction{hostFn(t, "sha256"), hostFn(t, "value_return"), hostFn(t, "ed25519_verify")}
	msg := []byte("devchain")
	// sha256(memory[0..8]) into register 1, then value_return(register 1).
	code := append(append(append(i64c(int64(len(msg))), i64c(0)...), i64c(1)...), call(0)...)
	code = append(append(append(code, i64c(-1)...), i64c(1)...), call(1)...)
	out := e.Run(context.Background(), module(fns, "hash", code, msg), "hash", callCtx("", true), newMapHost())
	want := sha256.Sum256(msg)
	if out.Err != nil || hex.EncodeToString(out.ReturnData) != hex.EncodeToString(want[:]) {
		t.Fatalf("sha256 = %x, %v; want %x", out.ReturnData, out.Err, want)
	}

	pub, priv, _ := ed25519.GenerateKey(nil)
	sig := ed25519.Sign(priv, msg)
	data := append(append(append([]byte{}, sig...), pub...), msg...) // sig @0, key @64, msg @96
	verify := func(d []byte) uint64 {
		// ed25519_verify(sig @0, msg @96, key @64); trap unless it returned 1.
		code := append(append(append(i64c(64), i64c(0)...), append(i64c(int64(len(msg))), i64c(96)...)...), append(append(i64c(32), i64c(64)...), call(2)...)...)
		code = append(code, 0x50)                   // i64.eqz
		code = append(code, 0x04, 0x40, 0x00, 0x0b) // if (zero) unreachable end
		out := e.Run(context.Background(), module(fns, "verify", code, d), "verify", callCtx("", true), newMapHost())
		if out.Err != nil {
			return 0
		}
		return 1
	}
	if verify(data) != 1 {
		t.Fatal("a valid ed25519 signature did not verify")
	}
	data[0] ^= 1
	if verify(data) != 0 {
		t.Fatal("a corrupted ed25519 signature verified")
	}
}
