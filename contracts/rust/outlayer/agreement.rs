//! Agreement: which executor keys may sign results, how many signatures a
//! request needs, and the check the resolve methods run before resuming.
//! contracts/DESIGN.md, "Executor signatures", says what each k trusts.
//!
//! State: `agreement` (the configuration JSON), `e:` + 32-byte key (one
//! executor record), `executors` (the registered keys, 32 bytes each, in
//! registration order), `executor_key_nonce` (u64: key changes so far, the
//! replay guard of vouched changes).

use crate::claim::{self, ClaimRecord};
use crate::common::base64::{base58_decode, hex_decode, hex_encode};
use crate::common::env;
use crate::common::json::{Args, Value};
use crate::types::{require_account, CodeSource, ExecutionOutput, ExecutionResponse};
use crate::{emit, msg, return_json, u64s, Request, State};

const AGREEMENT_KEY: &[u8] = b"agreement";
const EXECUTORS_KEY: &[u8] = b"executors";
const KEY_NONCE_KEY: &[u8] = b"executor_key_nonce";

/// The domain of a vouched executor-key change (contracts/DESIGN.md,
/// "Vouched executor keys").
pub const VOUCH_DOMAIN: &[u8] = b"outlayer-executor-key-v1";
const VOUCH_ADD: u8 = 1;
const VOUCH_REMOVE: u8 = 2;

/// Most executor keys the contract holds, and so the largest k.
pub const MAX_EXECUTOR_KEYS: u64 = 64;
/// Most signatures one resolve may carry.
pub const MAX_SIGNATURES: usize = 16;

pub struct Agreement {
    /// The NEAR chain id bound into every claim.
    pub chain_id: String,
    /// Signatures a request needs when it does not say: at least 1, and 1
    /// when `new` is not given one. 0 (the operator account alone
    /// resolves) is refused; a stored 0 from an older version reads as 1.
    pub default_signatures: u64,
    /// The most signatures a request may ask for.
    pub max_signatures: u64,
    /// An account besides the owner that may add and remove executor keys
    /// (the registration contract's account), if any.
    pub registrar_id: Option<String>,
    /// Raises the vouchers a vouched key change needs: it needs
    /// max(vouch_signatures, default_signatures, 1) (0: the default k).
    pub vouch_signatures: u64,
}

impl Agreement {
    pub fn load() -> Agreement {
        let v = env::storage_read_json(AGREEMENT_KEY);
        let get = |k: &str| v.as_ref().and_then(|v| v.get(k));
        Agreement {
            chain_id: String::from(get("chain_id").and_then(|x| x.as_str()).unwrap_or("")),
            default_signatures: get("default_signatures").and_then(|x| x.as_u64()).unwrap_or(1).max(1),
            max_signatures: get("max_signatures").and_then(|x| x.as_u64()).unwrap_or(MAX_SIGNATURES as u64),
            registrar_id: get("registrar_id").and_then(|x| x.as_str()).map(String::from),
            vouch_signatures: get("vouch_signatures").and_then(|x| x.as_u64()).unwrap_or(0),
        }
    }

    /// Distinct registered executor keys a vouched key change needs.
    pub fn vouchers_needed(&self) -> u64 {
        self.vouch_signatures.max(self.default_signatures).max(1)
    }

    fn to_json(&self) -> Value {
        Value::object(vec![
            ("chain_id", Value::str(&self.chain_id)),
            ("default_signatures", Value::u64(self.default_signatures)),
            ("max_signatures", Value::u64(self.max_signatures)),
            ("registrar_id", Value::opt_str(&self.registrar_id)),
            ("vouch_signatures", Value::u64(self.vouch_signatures)),
        ])
    }

    /// Apply the optional fields of `args` (new or set_agreement), check
    /// them together, and save.
    pub fn update(args: &Args) {
        let mut a = Agreement::load();
        if let Some(c) = args.opt_string("chain_id") {
            if c.is_empty() || c.len() > 64 || !c.bytes().all(|b| b.is_ascii_graphic()) {
                env::panic_str("chain_id must be 1-64 printable characters, e.g. mainnet");
            }
            a.chain_id = c;
        }
        if let Some(n) = args.opt_u64("default_signatures") {
            if n == 0 {
                env::panic_str("default_signatures must be at least 1: with 0 the operator account alone would decide every result, and one stolen node key could forge any of them");
            }
            a.default_signatures = n;
        }
        if let Some(n) = args.opt_u64("max_signatures") {
            a.max_signatures = n;
        }
        if let Some(r) = args.opt_string("registrar_id") {
            if r.is_empty() {
                a.registrar_id = None;
            } else {
                require_account("registrar_id", &r);
                a.registrar_id = Some(r);
            }
        }
        if let Some(n) = args.opt_u64("vouch_signatures") {
            if n > MAX_SIGNATURES as u64 {
                env::panic_str("vouch_signatures must be at most 16");
            }
            a.vouch_signatures = n;
        }
        if a.max_signatures == 0 || a.max_signatures > MAX_SIGNATURES as u64 {
            env::panic_str("max_signatures must be between 1 and 16");
        }
        if a.default_signatures > a.max_signatures {
            env::panic_str("default_signatures must not exceed max_signatures");
        }
        env::storage_write_json(AGREEMENT_KEY, &a.to_json());
    }

    /// The k a new request gets: its `required_signatures`, else the
    /// default (always at least 1). A request is refused while the contract
    /// has no chain_id or knows fewer executor keys than its k, so no
    /// request waits for signatures that cannot exist.
    pub fn required_for_request(&self, args: &Args) -> u64 {
        let k = match args.opt_u64("required_signatures") {
            None => self.default_signatures,
            Some(0) => env::panic_str("required_signatures must be at least 1 (omit it for the contract's default)"),
            Some(k) if k > self.max_signatures => env::panic_str(&msg(&[
                "required_signatures is ",
                &u64s(k),
                "; this contract allows at most ",
                &u64s(self.max_signatures),
            ])),
            Some(k) => k,
        };
        if self.chain_id.is_empty() {
            env::panic_str("This contract has no chain_id configured, so it cannot check the executor signatures every result needs; the owner must first call set_agreement({\"chain_id\": ...}) with the chain's id (e.g. mainnet)");
        }
        let registered = executor_keys().len() as u64;
        if k > registered {
            env::panic_str(&msg(&[
                "The request needs ",
                &u64s(k),
                " executor signatures, but only ",
                &u64s(registered),
                " executor keys are registered; the owner registers the nodes' keys with add_executor_key (`outlayerd node executor-key` prints a node's)",
            ]));
        }
        k
    }
}

// ---------------------------------------------------------------------------
// Executor keys.

fn executor_key(pk: &[u8; 32]) -> Vec<u8> {
    let mut k = b"e:".to_vec();
    k.extend_from_slice(pk);
    k
}

fn executor_keys() -> Vec<[u8; 32]> {
    let raw = env::storage_read(EXECUTORS_KEY).unwrap_or_default();
    raw.chunks(32)
        .filter(|c| c.len() == 32)
        .map(|c| {
            let mut k = [0u8; 32];
            k.copy_from_slice(c);
            k
        })
        .collect()
}

fn save_executor_keys(keys: &[[u8; 32]]) {
    if keys.is_empty() {
        env::storage_remove(EXECUTORS_KEY);
        return;
    }
    let mut raw = Vec::with_capacity(keys.len() * 32);
    for k in keys {
        raw.extend_from_slice(k);
    }
    env::storage_write(EXECUTORS_KEY, &raw);
}

/// "ed25519:<base58>" (or bare base58) into 32 bytes.
fn parse_public_key(field: &str, s: &str) -> [u8; 32] {
    let body = s.strip_prefix("ed25519:").unwrap_or(s);
    match base58_decode(body) {
        Some(b) if b.len() == 32 => {
            let mut k = [0u8; 32];
            k.copy_from_slice(&b);
            k
        }
        _ => env::panic_str(&msg(&[field, " must be an ed25519 public key, \"ed25519:<base58 of 32 bytes>\""])),
    }
}

fn parse_signature(field: &str, s: &str) -> [u8; 64] {
    let body = s.strip_prefix("ed25519:").unwrap_or(s);
    match base58_decode(body) {
        Some(b) if b.len() == 64 => {
            let mut k = [0u8; 64];
            k.copy_from_slice(&b);
            k
        }
        _ => env::panic_str(&msg(&[field, " must be an ed25519 signature, \"ed25519:<base58 of 64 bytes>\""])),
    }
}

/// The common start of the key methods: no deposit, the owner or the
/// registrar, then the arguments and the named key (text and bytes).
fn key_admin_call(method: &str) -> (Args, String, [u8; 32]) {
    env::assert_no_deposit(method);
    let state = State::load();
    let a = Agreement::load();
    let caller = env::predecessor_account_id();
    if caller != state.owner_id && a.registrar_id.as_deref() != Some(caller.as_str()) {
        env::panic_str("Only the owner or the registrar may change executor keys");
    }
    let args = Args::from_input();
    let text = args.string("public_key");
    let pk = parse_public_key("public_key", &text);
    (args, text, pk)
}

/// add_executor_key({"public_key": "ed25519:…", "node_id"?}): the owner or
/// the registrar registers an executor's node key.
#[no_mangle]
pub extern "C" fn add_executor_key() {
    let (args, text, pk) = key_admin_call("add_executor_key");
    let node_id = args.opt_string("node_id").unwrap_or_else(|| text.clone());
    register_key(&pk, &text, node_id, Vec::new());
}

/// remove_executor_key({"public_key"}): the owner (or the registrar)
/// removes a key; pending results it signed no longer count.
#[no_mangle]
pub extern "C" fn remove_executor_key() {
    let (_, text, pk) = key_admin_call("remove_executor_key");
    unregister_key(&pk, &text, Vec::new());
}

fn key_nonce() -> u64 {
    env::storage_read_u64(KEY_NONCE_KEY)
}

/// Every key change, by whomever, moves the nonce: a vouch signed for
/// one nonce is good for one change.
fn bump_key_nonce() {
    env::storage_write_u64(KEY_NONCE_KEY, key_nonce() + 1);
}

fn register_key(pk: &[u8; 32], text: &str, node_id: String, vouchers: Vec<Value>) {
    if node_id.is_empty() || node_id.len() > 128 {
        env::panic_str("node_id must be 1-128 characters");
    }
    let mut keys = executor_keys();
    if keys.contains(pk) {
        env::panic_str(&msg(&["Executor key ", text, " is already registered"]));
    }
    if keys.len() as u64 >= MAX_EXECUTOR_KEYS {
        env::panic_str("The contract already holds 64 executor keys; remove one first");
    }
    keys.push(*pk);
    save_executor_keys(&keys);
    bump_key_nonce();
    let record = Value::object(vec![
        ("public_key", Value::str(text)),
        ("node_id", Value::String(node_id)),
        ("added_by", Value::String(env::predecessor_account_id())),
        ("added_at", Value::u64(env::block_timestamp())),
    ]);
    env::storage_write_json(&executor_key(pk), &record);
    emit("executor_key_added", with_vouchers(record, vouchers));
}

fn unregister_key(pk: &[u8; 32], text: &str, vouchers: Vec<Value>) {
    let mut keys = executor_keys();
    let pos = match keys.iter().position(|k| k == pk) {
        Some(p) => p,
        None => env::panic_str(&msg(&["Executor key ", text, " is not registered"])),
    };
    keys.remove(pos);
    save_executor_keys(&keys);
    bump_key_nonce();
    env::storage_remove(&executor_key(pk));
    let ev = Value::object(vec![("public_key", Value::str(text))]);
    emit("executor_key_removed", with_vouchers(ev, vouchers));
}

/// ev with a "vouchers" field when the change was vouched.
fn with_vouchers(ev: Value, vouchers: Vec<Value>) -> Value {
    match ev {
        Value::Object(mut fields) if !vouchers.is_empty() => {
            fields.push((String::from("vouchers"), Value::Array(vouchers)));
            Value::Object(fields)
        }
        other => other,
    }
}

/// The bytes the vouchers of a key change sign the sha256 of (version 1;
/// contracts.VouchMessage on the Go side): the domain, then length-prefixed
/// chain id and contract, the action (1 add, 2 remove), the 32-byte key,
/// the length-prefixed node_id ("" for a removal) and the nonce (8 bytes,
/// big endian).
pub fn vouch_message(chain_id: &str, contract: &str, action: u8, pk: &[u8; 32], node_id: &str, nonce: u64) -> Vec<u8> {
    let mut out = VOUCH_DOMAIN.to_vec();
    claim::put_str(&mut out, chain_id.as_bytes());
    claim::put_str(&mut out, contract.as_bytes());
    out.push(action);
    out.extend_from_slice(pk);
    claim::put_str(&mut out, node_id.as_bytes());
    out.extend_from_slice(&nonce.to_be_bytes());
    out
}

/// vouch_executor_key({"action": "add"|"remove", "public_key", "node_id"?,
/// "nonce", "vouchers": [{public_key, signature}]}): the operator account
/// adds or removes an executor key that at least vouchers_needed() distinct
/// registered executor keys (other than the key itself) signed, over
/// vouch_message with this contract's chain id and account and the
/// current key nonce. contracts/DESIGN.md, "Vouched executor keys", says
/// why this trusts nothing the k-of-n check does not already trust.
#[no_mangle]
pub extern "C" fn vouch_executor_key() {
    env::assert_no_deposit("vouch_executor_key");
    State::load().assert_operator();
    let a = Agreement::load();
    if a.chain_id.is_empty() {
        env::panic_str("This contract has no chain_id configured, so it cannot check vouched key changes");
    }
    let args = Args::from_input();
    let action_text = args.string("action");
    let action = match action_text.as_str() {
        "add" => VOUCH_ADD,
        "remove" => VOUCH_REMOVE,
        _ => env::panic_str("action must be \"add\" or \"remove\""),
    };
    let text = args.string("public_key");
    let pk = parse_public_key("public_key", &text);
    let node_id = match (action, args.opt_string("node_id")) {
        (VOUCH_ADD, Some(n)) => n,
        (VOUCH_ADD, None) => env::panic_str("a vouched add names the node_id its vouchers signed"),
        (_, Some(_)) => env::panic_str("a vouched remove takes no node_id"),
        (_, None) => String::new(),
    };
    let nonce = args.u64("nonce");
    let current = key_nonce();
    if nonce != current {
        env::panic_str(&msg(&[
            "The vouch is for key nonce ",
            &u64s(nonce),
            ", but the contract is at ",
            &u64s(current),
            " (another key change came first); collect the vouchers again",
        ]));
    }
    let list = match args.opt("vouchers").and_then(|v| v.as_array()) {
        Some(l) => l,
        None => env::panic_str("vouchers is missing: a list of {public_key, signature}"),
    };
    if list.len() > MAX_SIGNATURES {
        env::panic_str("A vouched key change may carry at most 16 vouchers");
    }
    let contract = env::current_account_id();
    let hash = env::sha256(&vouch_message(&a.chain_id, &contract, action, &pk, &node_id, nonce));
    let mut seen: Vec<[u8; 32]> = Vec::new();
    let mut vouchers = Vec::new();
    for v in list {
        let vtext = match v.get("public_key").and_then(|x| x.as_str()) {
            Some(t) => t,
            None => env::panic_str("vouchers[].public_key is missing"),
        };
        let vpk = parse_public_key("vouchers[].public_key", vtext);
        let sig = match v.get("signature").and_then(|x| x.as_str()) {
            Some(t) => parse_signature("vouchers[].signature", t),
            None => env::panic_str("vouchers[].signature is missing"),
        };
        if vpk == pk {
            env::panic_str("An executor key cannot vouch for its own change");
        }
        if seen.contains(&vpk) {
            env::panic_str(&msg(&["Executor key ", vtext, " vouched more than once; vouchers must be distinct executors"]));
        }
        if !env::storage_has_key(&executor_key(&vpk)) {
            env::panic_str(&msg(&["Voucher ", vtext, " is not a registered executor key"]));
        }
        if !env::ed25519_verify(&sig, &hash, &vpk) {
            env::panic_str(&msg(&["The signature by ", vtext, " is not over this key change"]));
        }
        seen.push(vpk);
        vouchers.push(Value::str(vtext));
    }
    let need = a.vouchers_needed();
    if (seen.len() as u64) < need {
        env::panic_str(&msg(&[
            "A vouched key change needs ",
            &u64s(need),
            " registered executors' vouchers; it carries ",
            &u64s(seen.len() as u64),
        ]));
    }
    if action == VOUCH_ADD {
        register_key(&pk, &text, node_id, vouchers);
    } else {
        unregister_key(&pk, &text, vouchers);
    }
}

/// set_agreement({"chain_id"?, "default_signatures"?, "max_signatures"?,
/// "registrar_id"?, "vouch_signatures"?}): owner. Pending requests keep the k they were made with.
#[no_mangle]
pub extern "C" fn set_agreement() {
    env::assert_no_deposit("set_agreement");
    State::load().assert_owner();
    Agreement::update(&Args::from_input());
    env::log("Agreement settings updated");
}

/// get_agreement() -> {chain_id, default_signatures, max_signatures,
/// registrar_id, vouch_signatures, vouchers_needed, executor_key_nonce}
#[no_mangle]
pub extern "C" fn get_agreement() {
    let a = Agreement::load();
    let v = match a.to_json() {
        Value::Object(mut fields) => {
            fields.push((String::from("vouchers_needed"), Value::u64(a.vouchers_needed())));
            fields.push((String::from("executor_key_nonce"), Value::u64(key_nonce())));
            Value::Object(fields)
        }
        other => other,
    };
    return_json(&v);
}

/// list_executor_keys() -> [{public_key, node_id, added_by, added_at}]
#[no_mangle]
pub extern "C" fn list_executor_keys() {
    let list = executor_keys().iter().filter_map(|k| env::storage_read_json(&executor_key(k))).collect();
    return_json(&Value::Array(list));
}

// ---------------------------------------------------------------------------
// The resolve check.

/// Refuse the resolve unless it carries `req.required_signatures` valid
/// signatures, by distinct registered executor keys, of the claim the
/// contract computes from `req` and the submitted result. `stored` is the
/// output kept in state for this request (it is what the caller gets).
/// Every request needs at least one: a request recorded with k = 0 (by an
/// older version of this contract) needs one too.
pub(crate) fn check_signatures(req: &Request, args: &Args, resp: &ExecutionResponse, stored: Option<&ExecutionOutput>) {
    let k = req.required_signatures.max(1);
    let sigs = match args.opt("signatures").and_then(|v| v.as_array()) {
        Some(list) => list,
        None => env::panic_str(&msg(&[
            "This request needs ",
            &u64s(k),
            " executor signatures of its result claim; the resolve carries none",
        ])),
    };
    if sigs.len() > MAX_SIGNATURES {
        env::panic_str("A resolve may carry at most 16 signatures");
    }
    let wasm = match args.opt_string("wasm_sha256") {
        None => [0u8; 32],
        Some(h) => match hex_decode(&h) {
            Some(b) if b.len() == 32 => {
                let mut w = [0u8; 32];
                w.copy_from_slice(&b);
                w
            }
            _ => env::panic_str("wasm_sha256 must be 64 hex characters"),
        },
    };
    if let CodeSource::WasmUrl { hash, .. } = &req.code_source {
        let zero = wasm == [0u8; 32];
        if hex_encode(&wasm) != *hash && !(zero && !resp.success) {
            env::panic_str("wasm_sha256 is not the request's WASM hash (zeros are allowed only for a failure)");
        }
    }
    let a = Agreement::load();
    let contract = env::current_account_id();
    let rec = ClaimRecord {
        chain_id: &a.chain_id,
        contract: &contract,
        request_id: req.request_id,
        data_id: &req.data_id,
        sender: &req.sender_id,
        code_source: &req.code_source,
        input_data: req.input_data.as_deref().unwrap_or(""),
        secrets_ref: req.secrets_ref.as_ref(),
        project_id: req.project.as_ref().map(|p| p.project_id.as_str()),
    };
    let hash = env::sha256(&claim::encode(&rec, &wasm, resp, stored, env::sha256));
    let mut seen: Vec<[u8; 32]> = Vec::new();
    let mut signers = Vec::new();
    for s in sigs {
        let text = match s.get("public_key").and_then(|x| x.as_str()) {
            Some(t) => t,
            None => env::panic_str("signatures[].public_key is missing"),
        };
        let pk = parse_public_key("signatures[].public_key", text);
        let sig = match s.get("signature").and_then(|x| x.as_str()) {
            Some(t) => parse_signature("signatures[].signature", t),
            None => env::panic_str("signatures[].signature is missing"),
        };
        if seen.contains(&pk) {
            env::panic_str(&msg(&["Executor key ", text, " signed more than once; signatures must come from distinct executors"]));
        }
        if !env::storage_has_key(&executor_key(&pk)) {
            env::panic_str(&msg(&["Executor key ", text, " is not registered"]));
        }
        if !env::ed25519_verify(&sig, &hash, &pk) {
            env::panic_str(&msg(&["The signature by ", text, " is not over this result's claim"]));
        }
        seen.push(pk);
        signers.push(Value::str(text));
    }
    if (seen.len() as u64) < k {
        env::panic_str(&msg(&[
            "This request needs ",
            &u64s(k),
            " executor signatures; the resolve carries ",
            &u64s(seen.len() as u64),
        ]));
    }
    emit(
        "result_signed",
        Value::object(vec![
            ("request_id", Value::u64(req.request_id)),
            ("claim_hash", Value::String(hex_encode(&hash))),
            ("signers", Value::Array(signers)),
        ]),
    );
}
