//! Payment keys for the HTTPS API (upstream HEAD §3), on chain.
//!
//! A key is `<owner>:<nonce>:<secret>`. The owner registers it with
//! `create_payment_key`, giving only `key_hash` = hex(SHA-256(secret)); the
//! secret never reaches the chain. Top-ups arrive as NEP-141
//! `ft_transfer_call`s of the configured payment token with msg
//! `{"action":"top_up_payment_key","nonce":N,"owner"?}`: the contract keeps
//! the tokens and adds the amount to the key's `initial_balance` (the total
//! ever topped up). Spending is tracked by the cluster off chain.
//!
//! Layout:
//!   "pk:" + owner + ":" + nonce -> the key record (JSON)
//!   "pkid:" + id (8 bytes BE)   -> owner + ":" + nonce
//!   "pkids"                     -> ids of live keys, 8 bytes LE each, ascending
//!   "pku:" + owner              -> highest nonce the owner has used (u64 LE)
//!   "pkseq"                     -> change counter (u64 LE), bumped on every change
//!   "pkn"                       -> last key id issued
//!   "ptc"                       -> the payment token contract
//!   "ptr", "ptw"                -> tokens received / withdrawn (u128 LE)
//!
//! The owner pays for the bytes a key adds (measured with storage_usage)
//! and gets exactly that back on delete.

use crate::common::env::{self, PromiseResult, TGAS};
use crate::common::json::{self, invalid, Args, Value};
use crate::common::num;
use crate::secrets::STORAGE_PRICE_PER_BYTE;
use crate::types::{is_hex64, require_account};

const EVENT_STANDARD: &str = "near-outlayer";
const EVENT_VERSION: &str = "1.0.0";

const IDS_KEY: &[u8] = b"pkids";
const SEQ_KEY: &[u8] = b"pkseq";
const NEXT_ID_KEY: &[u8] = b"pkn";
const TOKEN_KEY: &[u8] = b"ptc";
const RECEIVED_KEY: &[u8] = b"ptr";
const WITHDRAWN_KEY: &[u8] = b"ptw";

/// Upstream's MIN_TOP_UP_AMOUNT: $0.01 of a 6-decimal stablecoin.
const MIN_TOP_UP_AMOUNT: u128 = 10_000;
const MAX_NONCE: u64 = (1u64 << 31) - 1;
const MAX_PROJECTS: usize = 32;

fn cat(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts {
        s.push_str(p);
    }
    s
}

fn record_key(owner: &str, nonce: u64) -> Vec<u8> {
    let mut k = b"pk:".to_vec();
    k.extend_from_slice(owner.as_bytes());
    k.push(b':');
    k.extend_from_slice(num::u64_to_string(nonce).as_bytes());
    k
}

fn id_key(id: u64) -> Vec<u8> {
    let mut k = b"pkid:".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn user_key(owner: &str) -> Vec<u8> {
    let mut k = b"pku:".to_vec();
    k.extend_from_slice(owner.as_bytes());
    k
}

struct Key {
    id: u64,
    owner: String,
    nonce: u64,
    key_hash: String,
    project_ids: Vec<String>,
    max_per_call: u128,
    initial_balance: u128,
    top_ups: u64,
    created_at: u64,
    updated_at: u64,
    storage_deposit: u128,
}

impl Key {
    fn to_json(&self) -> Value {
        Value::object(vec![
            ("id", Value::u64(self.id)),
            ("owner", Value::str(&self.owner)),
            ("nonce", Value::u64(self.nonce)),
            ("key_hash", Value::str(&self.key_hash)),
            ("project_ids", Value::Array(self.project_ids.iter().map(|p| Value::str(p)).collect())),
            ("max_per_call", Value::u128_string(self.max_per_call)),
            ("initial_balance", Value::u128_string(self.initial_balance)),
            ("top_ups", Value::u64(self.top_ups)),
            ("created_at", Value::u64(self.created_at)),
            ("updated_at", Value::u64(self.updated_at)),
            ("storage_deposit", Value::u128_string(self.storage_deposit)),
        ])
    }

    fn from_json(v: &Value) -> Key {
        let corrupt = || -> ! { env::panic_str("Corrupt payment key in contract state") };
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(String::from).unwrap_or_else(|| corrupt());
        let u = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or_else(|| corrupt());
        let b = |k: &str| v.get(k).and_then(|x| x.as_u128()).unwrap_or_else(|| corrupt());
        Key {
            id: u("id"),
            owner: s("owner"),
            nonce: u("nonce"),
            key_hash: s("key_hash"),
            project_ids: v
                .get("project_ids")
                .and_then(|x| x.as_array())
                .map(|a| a.iter().filter_map(|p| p.as_str().map(String::from)).collect())
                .unwrap_or_default(),
            max_per_call: b("max_per_call"),
            initial_balance: b("initial_balance"),
            top_ups: u("top_ups"),
            created_at: u("created_at"),
            updated_at: u("updated_at"),
            storage_deposit: b("storage_deposit"),
        }
    }

    fn load(owner: &str, nonce: u64) -> Option<Key> {
        env::storage_read_json(&record_key(owner, nonce)).map(|v| Key::from_json(&v))
    }

    fn save(&self) {
        env::storage_write_json(&record_key(&self.owner, self.nonce), &self.to_json());
    }
}

fn ids() -> Vec<u64> {
    env::storage_read(IDS_KEY)
        .unwrap_or_default()
        .chunks(8)
        .filter(|c| c.len() == 8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect()
}

fn save_ids(list: &[u64]) {
    if list.is_empty() {
        env::storage_remove(IDS_KEY);
        return;
    }
    let mut raw = Vec::with_capacity(list.len() * 8);
    for id in list {
        raw.extend_from_slice(&id.to_le_bytes());
    }
    env::storage_write(IDS_KEY, &raw);
}

fn bump_seq() -> u64 {
    let n = env::storage_read_u64(SEQ_KEY) + 1;
    env::storage_write_u64(SEQ_KEY, n);
    n
}

fn emit(event: &str, data: Value) {
    env::log_event(EVENT_STANDARD, EVENT_VERSION, event, data);
}

fn token_contract() -> Option<String> {
    env::storage_read(TOKEN_KEY).map(|b| String::from_utf8(b).unwrap_or_default())
}

fn nonce_arg(args: &Args) -> u64 {
    let n = args.u64("nonce");
    if n == 0 || n > MAX_NONCE {
        invalid("nonce", "expected an integer from 1 to 2147483647");
    }
    n
}

// ---------------------------------------------------------------------------
// Change methods.

/// create_payment_key({"nonce"?, "key_hash", "project_ids"?, "max_per_call"?}),
/// payable for storage; the excess is refunded. Returns the nonce.
#[no_mangle]
pub extern "C" fn create_payment_key() {
    if crate::is_paused_state() {
        env::panic_str("Contract is paused");
    }
    let args = Args::from_input();
    let owner = env::predecessor_account_id();
    let highest = env::storage_read_u64(&user_key(&owner));
    let nonce = match args.opt("nonce") {
        None => highest + 1,
        Some(_) => nonce_arg(&args),
    };
    if nonce > MAX_NONCE {
        invalid("nonce", "expected an integer from 1 to 2147483647");
    }
    if Key::load(&owner, nonce).is_some() {
        env::panic_str(&cat(&["Payment key already exists for nonce ", &num::u64_to_string(nonce)]));
    }
    if nonce <= highest {
        env::panic_str(&cat(&[
            "Nonce ",
            &num::u64_to_string(nonce),
            " was used before; nonces are never reused (the next is ",
            &num::u64_to_string(highest + 1),
            ")",
        ]));
    }
    let key_hash = args.string("key_hash");
    if !is_hex64(&key_hash) {
        invalid("key_hash", "expected the hex SHA-256 of the key's secret (64 hex characters), never the secret itself");
    }
    let mut project_ids = Vec::new();
    if let Some(v) = args.opt("project_ids") {
        let list = match v.as_array() {
            Some(a) if a.len() <= MAX_PROJECTS => a,
            _ => invalid("project_ids", "expected an array of at most 32 project ids"),
        };
        for p in list {
            match p.as_str() {
                Some(id) if id.contains('/') && id.len() <= 256 && !id.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                    project_ids.push(String::from(id))
                }
                _ => invalid("project_ids", "expected project ids of the form \"<owner>/<name>\""),
            }
        }
    }
    let max_per_call = args.opt_u128("max_per_call").unwrap_or(0);

    // The id counter is the contract's (written before measuring, so the
    // first key does not pay for it and a delete never refunds it).
    let id = env::storage_read_u64(NEXT_ID_KEY) + 1;
    env::storage_write_u64(NEXT_ID_KEY, id);
    let before = env::storage_usage();
    env::storage_write_u64(&user_key(&owner), nonce);
    let mut list = ids();
    list.push(id);
    save_ids(&list);
    let mut addr = owner.clone();
    addr.push(':');
    addr.push_str(&num::u64_to_string(nonce));
    env::storage_write(&id_key(id), addr.as_bytes());
    let now = env::block_timestamp();
    let mut k = Key {
        id,
        owner: owner.clone(),
        nonce,
        key_hash: key_hash.to_ascii_lowercase(),
        project_ids,
        max_per_call,
        initial_balance: 0,
        top_ups: 0,
        created_at: now,
        updated_at: now,
        storage_deposit: 0,
    };
    k.save();
    // The deposit's digits are in the record: price to the fixed point,
    // leaving room for initial_balance to grow to u128's 39 digits.
    for _ in 0..4 {
        let bytes = env::storage_usage().saturating_sub(before) + 38;
        let d = bytes as u128 * STORAGE_PRICE_PER_BYTE;
        if d == k.storage_deposit {
            break;
        }
        k.storage_deposit = d;
        k.save();
    }
    let attached = env::attached_deposit();
    if attached < k.storage_deposit {
        env::panic_str(&cat(&[
            "Insufficient storage deposit. Required: ",
            &num::u128_to_string(k.storage_deposit),
            " yoctoNEAR, attached: ",
            &num::u128_to_string(attached),
        ]));
    }
    env::transfer(&owner, attached - k.storage_deposit);
    let seq = bump_seq();
    emit(
        "payment_key_created",
        Value::object(vec![
            ("id", Value::u64(id)),
            ("owner", Value::str(&owner)),
            ("nonce", Value::u64(nonce)),
            ("key_hash", Value::str(&k.key_hash)),
            ("project_ids", Value::Array(k.project_ids.iter().map(|p| Value::str(p)).collect())),
            ("max_per_call", Value::u128_string(max_per_call)),
            ("storage_deposit", Value::u128_string(k.storage_deposit)),
            ("seq", Value::u64(seq)),
        ]),
    );
    crate::return_json(&Value::u64(nonce));
}

/// delete_payment_key({"nonce"}): the owner, with at least 1 yoctoNEAR
/// attached (as upstream). Removes the key at once and refunds its storage
/// deposit (and the attachment). The unspent token balance stays with the
/// contract, as upstream: the chain does not know what was spent.
#[no_mangle]
pub extern "C" fn delete_payment_key() {
    let attached = env::attached_deposit();
    if attached == 0 {
        env::panic_str("Requires attached deposit of at least 1 yoctoNEAR");
    }
    let args = Args::from_input();
    let owner = env::predecessor_account_id();
    let nonce = nonce_arg(&args);
    let k = match Key::load(&owner, nonce) {
        Some(k) => k,
        None => env::panic_str(&cat(&["Payment key not found: ", &owner, ":", &num::u64_to_string(nonce)])),
    };
    env::storage_remove(&record_key(&owner, nonce));
    env::storage_remove(&id_key(k.id));
    let mut list = ids();
    if let Ok(pos) = list.binary_search(&k.id) {
        list.remove(pos);
        save_ids(&list);
    }
    env::transfer(&owner, k.storage_deposit + attached);
    let seq = bump_seq();
    emit(
        "payment_key_deleted",
        Value::object(vec![
            ("id", Value::u64(k.id)),
            ("owner", Value::str(&owner)),
            ("nonce", Value::u64(nonce)),
            ("key_hash", Value::str(&k.key_hash)),
            ("initial_balance", Value::u128_string(k.initial_balance)),
            ("refunded", Value::u128_string(k.storage_deposit)),
            ("seq", Value::u64(seq)),
        ]),
    );
}

/// ft_on_transfer({"sender_id", "amount", "msg"}) -> U128 (unused amount):
/// NEP-141 receiver, for the payment token only. A panic makes the token
/// refund the whole transfer.
#[no_mangle]
pub extern "C" fn ft_on_transfer() {
    let token = match token_contract() {
        Some(t) => t,
        None => env::panic_str("Payment token contract not configured"),
    };
    let predecessor = env::predecessor_account_id();
    if predecessor != token {
        env::panic_str(&cat(&["Only the payment token ", &token, " is accepted, not ", &predecessor]));
    }
    let args = Args::from_input();
    let sender_id = args.string("sender_id");
    let amount = args.u128("amount");
    let msg_text = args.string("msg");
    let msg = match json::parse(msg_text.as_bytes()) {
        Ok(v @ Value::Object(_)) => v,
        _ => env::panic_str("msg must be a JSON object such as {\"action\":\"top_up_payment_key\",\"nonce\":1}"),
    };
    match msg.get("action").and_then(|a| a.as_str()) {
        Some("top_up_payment_key") => {}
        Some("deposit_balance") | Some("buy_subscription") => env::panic_str(
            "This contract keeps no stablecoin balances or subscriptions; the only action is top_up_payment_key",
        ),
        _ => env::panic_str("Unknown action: expected \"top_up_payment_key\""),
    }
    if crate::is_paused_state() {
        env::panic_str("Contract is paused");
    }
    let nonce = match msg.get("nonce").and_then(|n| n.as_u64()) {
        Some(n) if n >= 1 && n <= MAX_NONCE => n,
        _ => env::panic_str("msg.nonce: expected an integer from 1 to 2147483647"),
    };
    let owner = match msg.get("owner") {
        None | Some(Value::Null) => sender_id.clone(),
        Some(Value::String(o)) => {
            require_account("msg.owner", o);
            o.clone()
        }
        Some(_) => env::panic_str("msg.owner: expected an account id"),
    };
    if amount < MIN_TOP_UP_AMOUNT {
        env::panic_str(&cat(&["Minimum top-up is ", &num::u128_to_string(MIN_TOP_UP_AMOUNT), ", got ", &num::u128_to_string(amount)]));
    }
    let mut k = match Key::load(&owner, nonce) {
        Some(k) => k,
        None => env::panic_str(&cat(&["Payment key not found: ", &owner, ":", &num::u64_to_string(nonce)])),
    };
    k.initial_balance = match k.initial_balance.checked_add(amount) {
        Some(b) => b,
        None => env::panic_str("The key's balance would overflow u128"),
    };
    k.top_ups += 1;
    k.updated_at = env::block_timestamp();
    k.save();
    env::storage_write_u128(RECEIVED_KEY, env::storage_read_u128(RECEIVED_KEY).saturating_add(amount));
    let seq = bump_seq();
    emit(
        "payment_key_topped_up",
        Value::object(vec![
            ("id", Value::u64(k.id)),
            ("owner", Value::str(&owner)),
            ("nonce", Value::u64(nonce)),
            ("amount", Value::u128_string(amount)),
            ("initial_balance", Value::u128_string(k.initial_balance)),
            ("token", Value::str(&token)),
            ("sender_id", Value::str(&sender_id)),
            ("seq", Value::u64(seq)),
        ]),
    );
    crate::return_json(&Value::str("0"));
}

/// top_up_payment_key_with_near: upstream swaps NEAR for the stablecoin
/// through an intents project on mainnet. Refused here: see DESIGN.md.
#[no_mangle]
pub extern "C" fn top_up_payment_key_with_near() {
    env::panic_str(
        "Top-ups in NEAR are not supported: a key's balance is in payment-token units and this contract has no sound NEAR price; send the payment token with ft_transfer_call",
    );
}

/// set_payment_token_contract({"token_contract": AccountId|null}): owner.
#[no_mangle]
pub extern "C" fn set_payment_token_contract() {
    env::assert_no_deposit("set_payment_token_contract");
    crate::assert_owner_caller();
    let args = Args::from_input();
    match args.opt_string("token_contract") {
        Some(t) => {
            require_account("token_contract", &t);
            env::storage_write(TOKEN_KEY, t.as_bytes());
            env::log(&cat(&["Payment token contract set to ", &t]));
        }
        None => {
            env::storage_remove(TOKEN_KEY);
            env::log("Payment token contract cleared: token top-ups are off");
        }
    }
}

/// withdraw_payment_tokens({"amount"?, "receiver_id"?}) -> U128: owner, 1
/// yoctoNEAR attached. ft_transfers received tokens not yet withdrawn; a
/// private callback restores the count if the transfer fails.
#[no_mangle]
pub extern "C" fn withdraw_payment_tokens() {
    if env::attached_deposit() != 1 {
        env::panic_str("Requires attached deposit of exactly 1 yoctoNEAR");
    }
    let owner = crate::assert_owner_caller();
    let token = match token_contract() {
        Some(t) => t,
        None => env::panic_str("Payment token contract not configured"),
    };
    let args = Args::from_input();
    let received = env::storage_read_u128(RECEIVED_KEY);
    let withdrawn = env::storage_read_u128(WITHDRAWN_KEY);
    let available = received - withdrawn;
    let amount = args.opt_u128("amount").unwrap_or(available);
    let receiver = args.opt_string("receiver_id").unwrap_or(owner);
    require_account("receiver_id", &receiver);
    if amount == 0 || amount > available {
        env::panic_str(&cat(&[
            "Cannot withdraw ",
            &num::u128_to_string(amount),
            ": ",
            &num::u128_to_string(available),
            " payment-token units are available",
        ]));
    }
    env::storage_write_u128(WITHDRAWN_KEY, withdrawn + amount);
    let transfer_args = Value::object(vec![
        ("receiver_id", Value::str(&receiver)),
        ("amount", Value::u128_string(amount)),
        ("memo", Value::str("OutLayer payment-key revenue")),
    ])
    .to_string();
    let t = env::promise_create(&token, "ft_transfer", transfer_args.as_bytes(), 1, 10 * TGAS);
    let cb_args = Value::object(vec![("receiver_id", Value::str(&receiver)), ("amount", Value::u128_string(amount))]).to_string();
    let me = env::current_account_id();
    let cb = env::promise_then(t, &me, "on_payment_tokens_withdrawn", cb_args.as_bytes(), 0, 5 * TGAS);
    env::promise_return(cb);
}

/// on_payment_tokens_withdrawn({"receiver_id", "amount"}): private.
#[no_mangle]
pub extern "C" fn on_payment_tokens_withdrawn() {
    env::assert_private("on_payment_tokens_withdrawn");
    let args = Args::from_input();
    let amount = args.u128("amount");
    let receiver = args.string("receiver_id");
    match env::promise_result(0) {
        PromiseResult::Successful(_) => {
            emit(
                "payment_tokens_withdrawn",
                Value::object(vec![("receiver_id", Value::str(&receiver)), ("amount", Value::u128_string(amount))]),
            );
            crate::return_json(&Value::u128_string(amount));
        }
        PromiseResult::Failed => {
            let w = env::storage_read_u128(WITHDRAWN_KEY);
            env::storage_write_u128(WITHDRAWN_KEY, w.saturating_sub(amount));
            env::log("Payment-token withdrawal failed; the amount is available again");
            crate::return_json(&Value::str("0"));
        }
    }
}

// ---------------------------------------------------------------------------
// Views.

/// get_payment_key({"owner", "nonce"}) -> PaymentKeyView|null.
#[no_mangle]
pub extern "C" fn get_payment_key() {
    let args = Args::from_input();
    let v = Key::load(&args.string("owner"), args.u64("nonce")).map(|k| k.to_json()).unwrap_or(Value::Null);
    crate::return_json(&v);
}

/// list_payment_keys({"from_index"?: key id (inclusive), "limit"? = 50, at
/// most 100}) -> PaymentKeyView[] in id (creation) order.
#[no_mangle]
pub extern "C" fn list_payment_keys() {
    let args = Args::from_input();
    let from = args.opt_u64("from_index").unwrap_or(0);
    let limit = args.opt_u64("limit").unwrap_or(50).min(100) as usize;
    let out: Vec<Value> = ids()
        .into_iter()
        .filter(|&id| id >= from)
        .take(limit)
        .filter_map(|id| env::storage_read(&id_key(id)))
        .filter_map(|addr| {
            let s = String::from_utf8(addr).ok()?;
            let (owner, nonce) = s.rsplit_once(':')?;
            Key::load(owner, num::parse_u64(nonce)?)
        })
        .map(|k| k.to_json())
        .collect();
    crate::return_json(&Value::Array(out));
}

/// list_user_payment_keys({"account_id"}) -> PaymentKeyView[] in nonce order.
#[no_mangle]
pub extern "C" fn list_user_payment_keys() {
    let args = Args::from_input();
    let owner = args.string("account_id");
    let mut prefix = owner.clone();
    prefix.push(':');
    let mut out: Vec<Key> = ids()
        .into_iter()
        .filter_map(|id| env::storage_read(&id_key(id)))
        .filter_map(|addr| String::from_utf8(addr).ok())
        .filter_map(|s| s.strip_prefix(&prefix).and_then(num::parse_u64))
        .filter_map(|n| Key::load(&owner, n))
        .collect();
    out.sort_by_key(|k| k.nonce);
    crate::return_json(&Value::Array(out.iter().map(|k| k.to_json()).collect()));
}

/// get_next_payment_key_nonce({"account_id"}) -> u32: one above every nonce
/// the account has used.
#[no_mangle]
pub extern "C" fn get_next_payment_key_nonce() {
    let args = Args::from_input();
    crate::return_json(&Value::u64(env::storage_read_u64(&user_key(&args.string("account_id"))) + 1));
}

/// get_payment_token_contract() -> AccountId|null.
#[no_mangle]
pub extern "C" fn get_payment_token_contract() {
    crate::return_json(&token_contract().map(|t| Value::String(t)).unwrap_or(Value::Null));
}

/// get_payment_keys_seq() -> u64: bumped by every create, top-up and delete.
#[no_mangle]
pub extern "C" fn get_payment_keys_seq() {
    crate::return_json(&Value::u64(env::storage_read_u64(SEQ_KEY)));
}

/// get_payment_token_accounting() -> {"token_contract", "received", "withdrawn"}.
#[no_mangle]
pub extern "C" fn get_payment_token_accounting() {
    crate::return_json(&Value::object(vec![
        ("token_contract", token_contract().map(|t| Value::String(t)).unwrap_or(Value::Null)),
        ("received", Value::u128_string(env::storage_read_u128(RECEIVED_KEY))),
        ("withdrawn", Value::u128_string(env::storage_read_u128(WITHDRAWN_KEY))),
    ]));
}
