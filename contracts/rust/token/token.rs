//! A sample NEP-141 fungible token with NEP-145 storage registration, for
//! the devchain and the testnet: OutLayer's payment keys are topped up with
//! it through `ft_transfer_call` → `ft_on_transfer`.
//!
//! new({"owner_id", "total_supply": U128, "metadata"?: {"spec"?, "name"?,
//!      "symbol"?, "decimals"?, "icon"?}})  the whole supply goes to owner_id
//! storage_deposit({"account_id"?, "registration_only"?}) payable -> StorageBalance
//! storage_balance_of({"account_id"}) -> StorageBalance|null
//! storage_balance_bounds() -> {"min", "max"}
//! ft_transfer({"receiver_id", "amount", "memo"?})  1 yoctoNEAR
//! ft_transfer_call({"receiver_id", "amount", "memo"?, "msg"}) -> U128 used  1 yoctoNEAR
//! ft_resolve_transfer({"sender_id", "receiver_id", "amount"}) -> U128 used  private
//! ft_total_supply() -> U128, ft_balance_of({"account_id"}) -> U128, ft_metadata()
//!
//! Balances are u128 under "b:" + account; an account is registered when
//! its entry exists. Registration costs STORAGE_DEPOSIT (the bytes of the
//! largest entry a 64-character account id takes), refunded above that.
//! Transfers log NEP-141 `ft_transfer` events (standard "nep141").

#[path = "../common/mod.rs"]
mod common;

use common::env::{self, PromiseResult, TGAS};
use common::json::{self, Args, Value};
use common::num;

const META_KEY: &[u8] = b"meta";
const SUPPLY_KEY: &[u8] = b"supply";

/// 125 bytes × 10^19: "b:" + a 64-character id + 16 bytes + 40 overhead = 122.
const STORAGE_DEPOSIT: u128 = 1_250_000_000_000_000_000_000;

const GAS_FOR_RESOLVE: u64 = 5 * TGAS;
const GAS_FOR_TRANSFER_CALL: u64 = 30 * TGAS;

fn cat(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts {
        s.push_str(p);
    }
    s
}

fn balance_key(account: &str) -> Vec<u8> {
    let mut k = b"b:".to_vec();
    k.extend_from_slice(account.as_bytes());
    k
}

fn balance(account: &str) -> Option<u128> {
    env::storage_read(&balance_key(account)).map(|b| {
        let mut buf = [0u8; 16];
        if b.len() == 16 {
            buf.copy_from_slice(&b);
        }
        u128::from_le_bytes(buf)
    })
}

fn set_balance(account: &str, v: u128) {
    env::storage_write(&balance_key(account), &v.to_le_bytes());
}

fn registered_balance(account: &str) -> u128 {
    match balance(account) {
        Some(b) => b,
        None => env::panic_str(&cat(&["The account ", account, " is not registered"])),
    }
}

fn return_json(v: &Value) {
    env::value_return(v.to_string().as_bytes());
}

fn require_account(key: &str, id: &str) {
    if !common::account::is_valid(id) {
        json::invalid(key, "not a valid NEAR account id");
    }
}

fn assert_one_yocto() {
    if env::attached_deposit() != 1 {
        env::panic_str("Requires attached deposit of exactly 1 yoctoNEAR");
    }
}

fn transfer_event(from: &str, to: &str, amount: u128, memo: &Option<String>) {
    let mut e = vec![
        ("old_owner_id", Value::str(from)),
        ("new_owner_id", Value::str(to)),
        ("amount", Value::u128_string(amount)),
    ];
    if let Some(m) = memo {
        e.push(("memo", Value::str(m)));
    }
    env::log_event("nep141", "1.0.0", "ft_transfer", Value::object(e));
}

/// Move `amount` from sender to receiver; both must be registered.
fn internal_transfer(sender: &str, receiver: &str, amount: u128, memo: &Option<String>) {
    if sender == receiver {
        env::panic_str("Sender and receiver should be different");
    }
    if amount == 0 {
        env::panic_str("The amount should be a positive number");
    }
    let from = registered_balance(sender);
    let to = registered_balance(receiver);
    if from < amount {
        env::panic_str("The account doesn't have enough balance");
    }
    let to_new = match to.checked_add(amount) {
        Some(v) => v,
        None => env::panic_str("Balance overflow"),
    };
    set_balance(sender, from - amount);
    set_balance(receiver, to_new);
    transfer_event(sender, receiver, amount, memo);
}

#[no_mangle]
pub extern "C" fn new() {
    if env::storage_has_key(SUPPLY_KEY) {
        env::panic_str("The contract has already been initialized");
    }
    if env::predecessor_account_id() != env::current_account_id() {
        env::panic_str("new must be called by the contract account itself");
    }
    let args = Args::from_input();
    let owner = args.string("owner_id");
    require_account("owner_id", &owner);
    let supply = args.u128("total_supply");
    let m = args.opt("metadata");
    let field = |k: &str, d: &str| m.and_then(|m| m.get(k)).and_then(|v| v.as_str()).map(Value::str).unwrap_or_else(|| Value::str(d));
    let decimals = m.and_then(|m| m.get("decimals")).and_then(|v| v.as_u64()).unwrap_or(6);
    if decimals > 38 {
        json::invalid("metadata.decimals", "expected at most 38");
    }
    let meta = Value::object(vec![
        ("spec", field("spec", "ft-1.0.0")),
        ("name", field("name", "OutLayer Test USD")),
        ("symbol", field("symbol", "TUSD")),
        ("icon", m.and_then(|m| m.get("icon")).and_then(|v| v.as_str()).map(Value::str).unwrap_or(Value::Null)),
        ("reference", Value::Null),
        ("reference_hash", Value::Null),
        ("decimals", Value::u64(decimals)),
    ]);
    env::storage_write_json(META_KEY, &meta);
    env::storage_write(SUPPLY_KEY, &supply.to_le_bytes());
    set_balance(&owner, supply);
    env::log_event(
        "nep141",
        "1.0.0",
        "ft_mint",
        Value::object(vec![("owner_id", Value::str(&owner)), ("amount", Value::u128_string(supply))]),
    );
}

fn storage_balance_view(registered: bool) -> Value {
    if !registered {
        return Value::Null;
    }
    Value::object(vec![("total", Value::u128_string(STORAGE_DEPOSIT)), ("available", Value::str("0"))])
}

#[no_mangle]
pub extern "C" fn storage_deposit() {
    let args = Args::from_input();
    let account = args.opt_string("account_id").unwrap_or_else(env::predecessor_account_id);
    require_account("account_id", &account);
    let attached = env::attached_deposit();
    let payer = env::predecessor_account_id();
    if balance(&account).is_some() {
        env::log("The account is already registered, refunding the deposit");
        env::transfer(&payer, attached);
    } else {
        if attached < STORAGE_DEPOSIT {
            env::panic_str(&cat(&[
                "The attached deposit is less than the minimum storage balance (",
                &num::u128_to_string(STORAGE_DEPOSIT),
                ")",
            ]));
        }
        set_balance(&account, 0);
        env::transfer(&payer, attached - STORAGE_DEPOSIT);
    }
    return_json(&storage_balance_view(true));
}

#[no_mangle]
pub extern "C" fn storage_balance_of() {
    let args = Args::from_input();
    return_json(&storage_balance_view(balance(&args.string("account_id")).is_some()));
}

#[no_mangle]
pub extern "C" fn storage_balance_bounds() {
    return_json(&Value::object(vec![
        ("min", Value::u128_string(STORAGE_DEPOSIT)),
        ("max", Value::u128_string(STORAGE_DEPOSIT)),
    ]));
}

#[no_mangle]
pub extern "C" fn ft_transfer() {
    assert_one_yocto();
    let args = Args::from_input();
    let receiver = args.string("receiver_id");
    require_account("receiver_id", &receiver);
    let amount = args.u128("amount");
    let memo = args.opt_string("memo");
    internal_transfer(&env::predecessor_account_id(), &receiver, amount, &memo);
}

#[no_mangle]
pub extern "C" fn ft_transfer_call() {
    assert_one_yocto();
    let args = Args::from_input();
    let receiver = args.string("receiver_id");
    require_account("receiver_id", &receiver);
    let amount = args.u128("amount");
    let memo = args.opt_string("memo");
    let msg = args.string("msg");
    let gas_left = env::prepaid_gas().saturating_sub(env::used_gas());
    if gas_left < GAS_FOR_TRANSFER_CALL + GAS_FOR_RESOLVE {
        env::panic_str("More gas is required: attach at least 50 Tgas");
    }
    let sender = env::predecessor_account_id();
    internal_transfer(&sender, &receiver, amount, &memo);
    let call_args = Value::object(vec![
        ("sender_id", Value::str(&sender)),
        ("amount", Value::u128_string(amount)),
        ("msg", Value::str(&msg)),
    ])
    .to_string();
    let call = env::promise_batch_create(&receiver);
    env::promise_batch_action_function_call_weight(call, "ft_on_transfer", call_args.as_bytes(), 0, gas_left - GAS_FOR_TRANSFER_CALL - GAS_FOR_RESOLVE, 1);
    let resolve_args = Value::object(vec![
        ("sender_id", Value::str(&sender)),
        ("receiver_id", Value::str(&receiver)),
        ("amount", Value::u128_string(amount)),
    ])
    .to_string();
    let me = env::current_account_id();
    let resolve = env::promise_then(call, &me, "ft_resolve_transfer", resolve_args.as_bytes(), 0, GAS_FOR_RESOLVE);
    env::promise_return(resolve);
}

/// NEP-141's resolution: the receiver returned the unused amount (or
/// failed, so all of it is unused); give that back to the sender, up to
/// what the receiver still holds. Returns the amount used.
#[no_mangle]
pub extern "C" fn ft_resolve_transfer() {
    env::assert_private("ft_resolve_transfer");
    let args = Args::from_input();
    let sender = args.string("sender_id");
    let receiver = args.string("receiver_id");
    let amount = args.u128("amount");
    let unused = match env::promise_result(0) {
        PromiseResult::Successful(raw) => match json::parse(&raw).ok().and_then(|v| v.as_u128()) {
            Some(u) => u.min(amount),
            None => amount,
        },
        PromiseResult::Failed => amount,
    };
    let mut used = amount;
    if unused > 0 {
        let receiver_balance = balance(&receiver).unwrap_or(0);
        let refund = unused.min(receiver_balance);
        if refund > 0 {
            set_balance(&receiver, receiver_balance - refund);
            match balance(&sender) {
                Some(b) => {
                    set_balance(&sender, b.saturating_add(refund));
                    transfer_event(&receiver, &sender, refund, &Some(String::from("refund")));
                }
                None => {
                    // The sender unregistered meanwhile: the tokens are burnt.
                    let supply = env::storage_read_u128(SUPPLY_KEY);
                    env::storage_write_u128(SUPPLY_KEY, supply.saturating_sub(refund));
                }
            }
            used = amount - refund;
        }
    }
    return_json(&Value::u128_string(used));
}

#[no_mangle]
pub extern "C" fn ft_total_supply() {
    return_json(&Value::u128_string(env::storage_read_u128(SUPPLY_KEY)));
}

#[no_mangle]
pub extern "C" fn ft_balance_of() {
    let args = Args::from_input();
    return_json(&Value::u128_string(balance(&args.string("account_id")).unwrap_or(0)));
}

#[no_mangle]
pub extern "C" fn ft_metadata() {
    return_json(&env::storage_read_json(META_KEY).unwrap_or(Value::Null));
}
