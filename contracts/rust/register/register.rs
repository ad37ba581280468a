//! The node-registration contract, deployed on the OutLayer operator account.
//!
//! A node that has produced an attestation (a TDX quote, or a report from
//! the simulated attester in dev mode) registers its ed25519 public key with
//! `register_node`, signed by the operator account's *init key*. The contract
//! records the attestation under the node's id and adds a function-call
//! access key for the node's public key to this account, limited to the
//! OutLayer contract's two resolve methods with a fixed gas allowance. Since
//! the key belongs to the operator account, transactions it signs pass the
//! OutLayer contract's operator check, and it can do nothing else.
//!
//! The attestation is stored, not verified: anyone can read it back with
//! `get_node` and audit which keys may resolve. On-chain quote verification
//! is a later step (see contracts/DESIGN.md).
//!
//! Methods
//!   new({"owner_id", "outlayer_contract_id", "init_public_key", "allowance"?})
//!   register_node({"public_key", "attestation", "node_id"?})   init key only
//!   on_node_key_added({"public_key"})                          private callback
//!   remove_node({"public_key"})                                owner
//!   set_owner({"new_owner_id"}), set_init_key({"init_public_key"})   owner
//!   views: get_config, list_nodes({"from_index"?, "limit"?}), get_node({"public_key"}),
//!          get_attestation({"public_key"})

#[path = "../common/mod.rs"]
mod common;

use common::account;
use common::base64::base58_decode;
use common::env::{self, PromiseResult, TGAS};
use common::json::{invalid, Args, Value};

const STATE_KEY: &[u8] = b"STATE";
const NODES_KEY: &[u8] = b"nodes";

/// The only methods a node key may call, on the OutLayer contract: the
/// resolves, and the vouched executor-key changes the cluster submits.
const RESOLVE_METHODS: &str = "resolve_execution,submit_execution_output_and_resolve,vouch_executor_key";

/// Default gas allowance of a node key: 1 NEAR.
const DEFAULT_ALLOWANCE: u128 = 1_000_000_000_000_000_000_000_000;

const MAX_ATTESTATION_BYTES: usize = 32 * 1024;
const MAX_NODE_ID_BYTES: usize = 128;

const EVENT_STANDARD: &str = "outlayer-register";
const EVENT_VERSION: &str = "1.0.0";

struct State {
    owner_id: String,
    outlayer_contract_id: String,
    init_public_key: String,
    allowance: u128,
}

impl State {
    fn load() -> State {
        let v = match env::storage_read_json(STATE_KEY) {
            Some(v) => v,
            None => env::panic_str("The contract is not initialized: call new first"),
        };
        let s = |k: &str| String::from(v.get(k).and_then(|x| x.as_str()).unwrap_or_default());
        State {
            owner_id: s("owner_id"),
            outlayer_contract_id: s("outlayer_contract_id"),
            init_public_key: s("init_public_key"),
            allowance: v.get("allowance").and_then(|x| x.as_u128()).unwrap_or(DEFAULT_ALLOWANCE),
        }
    }

    fn to_json(&self) -> Value {
        Value::object(vec![
            ("owner_id", Value::str(&self.owner_id)),
            ("outlayer_contract_id", Value::str(&self.outlayer_contract_id)),
            ("init_public_key", Value::str(&self.init_public_key)),
            ("allowance", Value::u128_string(self.allowance)),
            ("method_names", Value::Array(RESOLVE_METHODS.split(',').map(Value::str).collect())),
        ])
    }

    fn save(&self) {
        env::storage_write_json(STATE_KEY, &self.to_json());
    }

    fn assert_owner(&self) {
        if env::predecessor_account_id() != self.owner_id {
            env::panic_str("Only owner can call this method");
        }
    }
}

/// Parse "ed25519:<base58>" into NEAR's borsh form (0x00 + 32 bytes).
fn borsh_public_key(field: &str, s: &str) -> Vec<u8> {
    let raw = s.strip_prefix("ed25519:").and_then(base58_decode);
    match raw {
        Some(k) if k.len() == 32 => {
            let mut out = vec![0u8];
            out.extend_from_slice(&k);
            out
        }
        _ => invalid(field, "expected an ed25519 public key as \"ed25519:<base58 of 32 bytes>\""),
    }
}

fn node_key(public_key: &str) -> Vec<u8> {
    let mut k = b"n:".to_vec();
    k.extend_from_slice(public_key.as_bytes());
    k
}

fn node_list() -> Vec<Value> {
    match env::storage_read_json(NODES_KEY) {
        Some(Value::Array(a)) => a,
        Some(_) => env::panic_str("Corrupt node list in contract storage"),
        None => Vec::new(),
    }
}

fn save_node_list(list: Vec<Value>) {
    if list.is_empty() {
        env::storage_remove(NODES_KEY);
    } else {
        env::storage_write_json(NODES_KEY, &Value::Array(list));
    }
}

fn forget_node(public_key: &str) -> bool {
    let existed = env::storage_remove(&node_key(public_key));
    let list: Vec<Value> = node_list().into_iter().filter(|v| v.as_str() != Some(public_key)).collect();
    save_node_list(list);
    existed
}

fn return_json(v: &Value) {
    env::value_return(v.to_string().as_bytes());
}

fn emit(event: &str, data: Value) {
    env::log_event(EVENT_STANDARD, EVENT_VERSION, event, data);
}

/// new({"owner_id", "outlayer_contract_id", "init_public_key", "allowance"?: U128}):
/// once, from this account itself (deploy + init in one transaction).
#[no_mangle]
pub extern "C" fn new() {
    env::assert_no_deposit("new");
    if env::storage_has_key(STATE_KEY) {
        env::panic_str("The contract has already been initialized");
    }
    if env::predecessor_account_id() != env::current_account_id() {
        env::panic_str("new must be called by the contract account itself");
    }
    let args = Args::from_input();
    let owner_id = args.string("owner_id");
    let outlayer_contract_id = args.string("outlayer_contract_id");
    let init_public_key = args.string("init_public_key");
    if !account::is_valid(&owner_id) {
        invalid("owner_id", "not a valid NEAR account id");
    }
    if !account::is_valid(&outlayer_contract_id) {
        invalid("outlayer_contract_id", "not a valid NEAR account id");
    }
    borsh_public_key("init_public_key", &init_public_key);
    let allowance = args.opt_u128("allowance").unwrap_or(DEFAULT_ALLOWANCE);
    if allowance == 0 {
        // 0 would mean an unlimited allowance on NEAR.
        invalid("allowance", "must be greater than zero");
    }
    State { owner_id, outlayer_contract_id, init_public_key, allowance }.save();
}

/// register_node({"public_key": "ed25519:..", "attestation": string, "node_id"?: string}):
/// only through this account's init key.
#[no_mangle]
pub extern "C" fn register_node() {
    env::assert_no_deposit("register_node");
    let state = State::load();
    if env::predecessor_account_id() != env::current_account_id()
        || env::signer_account_pk() != borsh_public_key("init_public_key", &state.init_public_key)
    {
        env::panic_str("register_node must be signed by this account's init key");
    }
    let args = Args::from_input();
    let public_key = args.string("public_key");
    let pk = borsh_public_key("public_key", &public_key);
    let attestation = args.string("attestation");
    if attestation.is_empty() || attestation.len() > MAX_ATTESTATION_BYTES {
        invalid("attestation", "expected a non-empty string of at most 32768 bytes");
    }
    let node_id = args.opt_string("node_id").unwrap_or_else(|| public_key.clone());
    if node_id.is_empty() || node_id.len() > MAX_NODE_ID_BYTES || node_id.chars().any(|c| c.is_control()) {
        invalid("node_id", "expected 1-128 printable characters");
    }
    if public_key == state.init_public_key {
        env::panic_str("The init key cannot be registered as a node key");
    }
    if env::storage_has_key(&node_key(&public_key)) {
        env::panic_str("This public key is already registered");
    }

    let record = Value::object(vec![
        ("node_id", Value::str(&node_id)),
        ("public_key", Value::str(&public_key)),
        ("attestation", Value::str(&attestation)),
        ("registered_at", Value::u64(env::block_timestamp())),
        ("block_height", Value::u64(env::block_height())),
    ]);
    env::storage_write_json(&node_key(&public_key), &record);
    let mut list = node_list();
    list.push(Value::str(&public_key));
    save_node_list(list);

    let me = env::current_account_id();
    let add = env::promise_batch_create(&me);
    env::promise_batch_action_add_key_with_function_call(
        add,
        &pk,
        0,
        state.allowance,
        &state.outlayer_contract_id,
        RESOLVE_METHODS,
    );
    let cb_args = Value::object(vec![("public_key", Value::str(&public_key))]).to_string();
    let cb = env::promise_then(add, &me, "on_node_key_added", cb_args.as_bytes(), 0, 5 * TGAS);
    emit(
        "node_registered",
        Value::object(vec![
            ("node_id", Value::str(&node_id)),
            ("public_key", Value::str(&public_key)),
            ("receiver_id", Value::str(&state.outlayer_contract_id)),
            ("method_names", Value::Array(RESOLVE_METHODS.split(',').map(Value::str).collect())),
            ("allowance", Value::u128_string(state.allowance)),
        ]),
    );
    env::promise_return(cb);
}

/// on_node_key_added({"public_key"}) — private. If adding the access key
/// failed (e.g. the key already exists on the account), forget the record
/// so the registry never lists a key the account does not hold.
#[no_mangle]
pub extern "C" fn on_node_key_added() {
    env::assert_private("on_node_key_added");
    let args = Args::from_input();
    let public_key = args.string("public_key");
    match env::promise_result(0) {
        PromiseResult::Successful(_) => return_json(&Value::Bool(true)),
        PromiseResult::Failed => {
            forget_node(&public_key);
            let mut m = String::from("Adding the access key failed; registration of ");
            m.push_str(&public_key);
            m.push_str(" was rolled back");
            env::log(&m);
            return_json(&Value::Bool(false));
        }
    }
}

/// remove_node({"public_key"}): owner; deletes the record and the access key.
#[no_mangle]
pub extern "C" fn remove_node() {
    env::assert_no_deposit("remove_node");
    State::load().assert_owner();
    let args = Args::from_input();
    let public_key = args.string("public_key");
    let pk = borsh_public_key("public_key", &public_key);
    if !forget_node(&public_key) {
        env::panic_str("No node is registered with this public key");
    }
    let p = env::promise_batch_create(&env::current_account_id());
    env::promise_batch_action_delete_key(p, &pk);
    emit("node_removed", Value::object(vec![("public_key", Value::str(&public_key))]));
}

#[no_mangle]
pub extern "C" fn set_owner() {
    env::assert_no_deposit("set_owner");
    let mut state = State::load();
    state.assert_owner();
    let args = Args::from_input();
    let new_owner = args.string("new_owner_id");
    if !account::is_valid(&new_owner) {
        invalid("new_owner_id", "not a valid NEAR account id");
    }
    state.owner_id = new_owner;
    state.save();
}

/// set_init_key({"init_public_key"}): owner; the key that may register nodes.
#[no_mangle]
pub extern "C" fn set_init_key() {
    env::assert_no_deposit("set_init_key");
    let mut state = State::load();
    state.assert_owner();
    let args = Args::from_input();
    let key = args.string("init_public_key");
    borsh_public_key("init_public_key", &key);
    state.init_public_key = key;
    state.save();
}

// ---------------------------------------------------------------------------
// Views.

/// get_config() -> {"owner_id", "outlayer_contract_id", "init_public_key", "allowance", "method_names"}.
#[no_mangle]
pub extern "C" fn get_config() {
    return_json(&State::load().to_json());
}

/// list_nodes({"from_index"?: u64, "limit"?: u64 (default 50, max 100)}) ->
/// [{"node_id", "public_key", "registered_at", "block_height", "attestation_len"}],
/// in registration order.
#[no_mangle]
pub extern "C" fn list_nodes() {
    let args = Args::from_input();
    let from = args.opt_u64("from_index").unwrap_or(0) as usize;
    let limit = args.opt_u64("limit").unwrap_or(50).min(100) as usize;
    let out: Vec<Value> = node_list()
        .iter()
        .skip(from)
        .take(limit)
        .filter_map(|pk| pk.as_str().and_then(|k| env::storage_read_json(&node_key(k))))
        .map(|rec| {
            let get = |k: &str| rec.get(k).cloned().unwrap_or(Value::Null);
            let att_len = rec.get("attestation").and_then(|a| a.as_str()).map(|a| a.len() as u64).unwrap_or(0);
            Value::object(vec![
                ("node_id", get("node_id")),
                ("public_key", get("public_key")),
                ("registered_at", get("registered_at")),
                ("block_height", get("block_height")),
                ("attestation_len", Value::u64(att_len)),
            ])
        })
        .collect();
    return_json(&Value::Array(out));
}

/// get_node({"public_key"}) -> {"node_id", "public_key", "attestation", "registered_at", "block_height"}|null.
#[no_mangle]
pub extern "C" fn get_node() {
    let args = Args::from_input();
    let v = env::storage_read_json(&node_key(&args.string("public_key"))).unwrap_or(Value::Null);
    return_json(&v);
}

/// get_attestation({"public_key"}) -> string|null.
#[no_mangle]
pub extern "C" fn get_attestation() {
    let args = Args::from_input();
    let v = env::storage_read_json(&node_key(&args.string("public_key")))
        .and_then(|r| r.get("attestation").cloned())
        .unwrap_or(Value::Null);
    return_json(&v);
}
