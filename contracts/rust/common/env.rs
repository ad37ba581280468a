//! Safe wrappers over the host functions in `sys`.
//!
//! Everything that returns variable-length data goes through one scratch
//! register, `SCRATCH`; callers get owned `Vec<u8>`/`String` values back.

use super::sys;

/// Register used for every "write the answer to a register" host call.
const SCRATCH: u64 = 0;

/// The register `promise_yield_create` writes the 32-byte data id into.
const DATA_ID_REGISTER: u64 = 1;

/// A data id (the resumption token of a yield), raw bytes.
pub type DataId = [u8; 32];

/// 1 Tgas.
pub const TGAS: u64 = 1_000_000_000_000;

fn read_register(register_id: u64) -> Option<Vec<u8>> {
    let len = unsafe { sys::register_len(register_id) };
    if len == u64::MAX {
        return None;
    }
    let mut buf = vec![0u8; len as usize];
    unsafe { sys::read_register(register_id, buf.as_mut_ptr() as u64) };
    Some(buf)
}

fn scratch() -> Vec<u8> {
    read_register(SCRATCH).unwrap_or_default()
}

fn scratch_string() -> String {
    // The host only writes valid UTF-8 account ids into these registers.
    String::from_utf8(scratch()).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Input, output, panics and logs.

/// The raw call arguments.
pub fn input() -> Vec<u8> {
    unsafe { sys::input(SCRATCH) };
    scratch()
}

/// Set the call's return value (raw bytes, usually JSON).
pub fn value_return(value: &[u8]) {
    unsafe { sys::value_return(value.len() as u64, value.as_ptr() as u64) }
}

/// Abort the call with a message; all state changes and promises of this
/// call are discarded. The caller sees "Smart contract panicked: <msg>".
pub fn panic_str(msg: &str) -> ! {
    unsafe { sys::panic_utf8(msg.len() as u64, msg.as_ptr() as u64) }
}

/// Abort the call with NEAR's bare "explicit guest panic".
pub fn abort() -> ! {
    unsafe { sys::panic() }
}

/// Panic with `msg` unless `cond` holds.
pub fn require(cond: bool, msg: &str) {
    if !cond {
        panic_str(msg)
    }
}

/// Append one log line to the call's outcome.
pub fn log(msg: &str) {
    unsafe { sys::log_utf8(msg.len() as u64, msg.as_ptr() as u64) }
}

/// Log a NEP-297 event: `EVENT_JSON:{"standard":..,"version":..,"event":..,"data":[data]}`.
pub fn log_event(standard: &str, version: &str, event: &str, data: super::json::Value) {
    log_event_list(standard, version, event, vec![data]);
}

/// Log one NEP-297 event whose `data` array has several entries.
pub fn log_event_list(standard: &str, version: &str, event: &str, data: Vec<super::json::Value>) {
    use super::json::Value;
    let body = Value::object(vec![
        ("standard", Value::str(standard)),
        ("version", Value::str(version)),
        ("event", Value::str(event)),
        ("data", Value::Array(data)),
    ]);
    let mut line = String::from("EVENT_JSON:");
    body.write(&mut line);
    log(&line);
}

// ---------------------------------------------------------------------------
// Context.

pub fn current_account_id() -> String {
    unsafe { sys::current_account_id(SCRATCH) };
    scratch_string()
}

pub fn predecessor_account_id() -> String {
    unsafe { sys::predecessor_account_id(SCRATCH) };
    scratch_string()
}

pub fn signer_account_id() -> String {
    unsafe { sys::signer_account_id(SCRATCH) };
    scratch_string()
}

/// The borsh-encoded public key of the access key that signed the
/// transaction (`0x00` + 32 bytes for ed25519).
pub fn signer_account_pk() -> Vec<u8> {
    unsafe { sys::signer_account_pk(SCRATCH) };
    scratch()
}

pub fn block_height() -> u64 {
    unsafe { sys::block_index() }
}

/// Block timestamp in nanoseconds since the Unix epoch.
pub fn block_timestamp() -> u64 {
    unsafe { sys::block_timestamp() }
}

pub fn storage_usage() -> u64 {
    unsafe { sys::storage_usage() }
}

pub fn prepaid_gas() -> u64 {
    unsafe { sys::prepaid_gas() }
}

pub fn used_gas() -> u64 {
    unsafe { sys::used_gas() }
}

pub fn attached_deposit() -> u128 {
    let mut buf = [0u8; 16];
    unsafe { sys::attached_deposit(buf.as_mut_ptr() as u64) };
    u128::from_le_bytes(buf)
}

pub fn account_balance() -> u128 {
    let mut buf = [0u8; 16];
    unsafe { sys::account_balance(buf.as_mut_ptr() as u64) };
    u128::from_le_bytes(buf)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    unsafe { sys::sha256(data.len() as u64, data.as_ptr() as u64, SCRATCH) };
    let v = scratch();
    let mut out = [0u8; 32];
    if v.len() == 32 {
        out.copy_from_slice(&v);
    }
    out
}

/// Whether `sig` is `public_key`'s ed25519 signature of `msg`.
pub fn ed25519_verify(sig: &[u8; 64], msg: &[u8], public_key: &[u8; 32]) -> bool {
    unsafe {
        sys::ed25519_verify(64, sig.as_ptr() as u64, msg.len() as u64, msg.as_ptr() as u64, 32, public_key.as_ptr() as u64) == 1
    }
}

/// Panic unless the caller is this contract itself (a callback).
pub fn assert_private(method: &str) {
    if predecessor_account_id() != current_account_id() {
        let mut msg = String::from("Method ");
        msg.push_str(method);
        msg.push_str(" is private");
        panic_str(&msg);
    }
}

/// Panic if any deposit is attached (near-sdk's check for non-payable methods).
pub fn assert_no_deposit(method: &str) {
    if attached_deposit() != 0 {
        let mut msg = String::from("Method ");
        msg.push_str(method);
        msg.push_str(" doesn't accept deposit");
        panic_str(&msg);
    }
}

// ---------------------------------------------------------------------------
// Storage.

pub fn storage_read(key: &[u8]) -> Option<Vec<u8>> {
    let found = unsafe { sys::storage_read(key.len() as u64, key.as_ptr() as u64, SCRATCH) };
    if found == 1 {
        Some(scratch())
    } else {
        None
    }
}

/// Write a value; returns true if the key already existed.
pub fn storage_write(key: &[u8], value: &[u8]) -> bool {
    unsafe {
        sys::storage_write(
            key.len() as u64,
            key.as_ptr() as u64,
            value.len() as u64,
            value.as_ptr() as u64,
            SCRATCH,
        ) == 1
    }
}

/// Remove a key; returns true if it existed.
pub fn storage_remove(key: &[u8]) -> bool {
    unsafe { sys::storage_remove(key.len() as u64, key.as_ptr() as u64, SCRATCH) == 1 }
}

pub fn storage_has_key(key: &[u8]) -> bool {
    unsafe { sys::storage_has_key(key.len() as u64, key.as_ptr() as u64) == 1 }
}

/// Read a stored u64 (8 bytes little-endian), 0 when absent.
pub fn storage_read_u64(key: &[u8]) -> u64 {
    match storage_read(key) {
        Some(v) if v.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v);
            u64::from_le_bytes(b)
        }
        _ => 0,
    }
}

pub fn storage_write_u64(key: &[u8], value: u64) {
    storage_write(key, &value.to_le_bytes());
}

/// Read a stored u128 (16 bytes little-endian), 0 when absent.
pub fn storage_read_u128(key: &[u8]) -> u128 {
    match storage_read(key) {
        Some(v) if v.len() == 16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&v);
            u128::from_le_bytes(b)
        }
        _ => 0,
    }
}

pub fn storage_write_u128(key: &[u8], value: u128) {
    storage_write(key, &value.to_le_bytes());
}

/// Read a stored JSON document; a corrupt entry is a contract bug, so it
/// panics with the key's name rather than pretending the key is absent.
pub fn storage_read_json(key: &[u8]) -> Option<super::json::Value> {
    let raw = storage_read(key)?;
    match super::json::parse(&raw) {
        Ok(v) => Some(v),
        Err(_) => panic_str("Corrupt JSON in contract storage"),
    }
}

pub fn storage_write_json(key: &[u8], value: &super::json::Value) {
    storage_write(key, value.to_string().as_bytes());
}

// ---------------------------------------------------------------------------
// Promises.

/// The result a callback sees for one of the promises it depends on.
pub enum PromiseResult {
    Successful(Vec<u8>),
    Failed,
}

/// A new receipt calling `method` on `account` with `args`.
pub fn promise_create(account: &str, method: &str, args: &[u8], amount: u128, gas: u64) -> u64 {
    let amount = amount.to_le_bytes();
    unsafe {
        sys::promise_create(
            account.len() as u64,
            account.as_ptr() as u64,
            method.len() as u64,
            method.as_ptr() as u64,
            args.len() as u64,
            args.as_ptr() as u64,
            amount.as_ptr() as u64,
            gas,
        )
    }
}

/// A receipt calling `method` on `account` once promise `after` has finished.
pub fn promise_then(after: u64, account: &str, method: &str, args: &[u8], amount: u128, gas: u64) -> u64 {
    let amount = amount.to_le_bytes();
    unsafe {
        sys::promise_then(
            after,
            account.len() as u64,
            account.as_ptr() as u64,
            method.len() as u64,
            method.as_ptr() as u64,
            args.len() as u64,
            args.as_ptr() as u64,
            amount.as_ptr() as u64,
            gas,
        )
    }
}

pub fn promise_batch_create(account: &str) -> u64 {
    unsafe { sys::promise_batch_create(account.len() as u64, account.as_ptr() as u64) }
}

pub fn promise_batch_then(after: u64, account: &str) -> u64 {
    unsafe { sys::promise_batch_then(after, account.len() as u64, account.as_ptr() as u64) }
}

/// Append a function call that gets `gas` plus a `weight` share of the gas
/// left over when this call ends.
pub fn promise_batch_action_function_call_weight(
    promise: u64,
    method: &str,
    args: &[u8],
    amount: u128,
    gas: u64,
    weight: u64,
) {
    let amount = amount.to_le_bytes();
    unsafe {
        sys::promise_batch_action_function_call_weight(
            promise,
            method.len() as u64,
            method.as_ptr() as u64,
            args.len() as u64,
            args.as_ptr() as u64,
            amount.as_ptr() as u64,
            gas,
            weight,
        )
    }
}

pub fn promise_batch_action_transfer(promise: u64, amount: u128) {
    let amount = amount.to_le_bytes();
    unsafe { sys::promise_batch_action_transfer(promise, amount.as_ptr() as u64) }
}

/// Append AddKey for a function-call access key. `public_key` is borsh
/// (`0x00` + 32 bytes for ed25519); `methods` is comma-separated.
pub fn promise_batch_action_add_key_with_function_call(
    promise: u64,
    public_key: &[u8],
    nonce: u64,
    allowance: u128,
    receiver_id: &str,
    methods: &str,
) {
    let allowance = allowance.to_le_bytes();
    unsafe {
        sys::promise_batch_action_add_key_with_function_call(
            promise,
            public_key.len() as u64,
            public_key.as_ptr() as u64,
            nonce,
            allowance.as_ptr() as u64,
            receiver_id.len() as u64,
            receiver_id.as_ptr() as u64,
            methods.len() as u64,
            methods.as_ptr() as u64,
        )
    }
}

pub fn promise_batch_action_delete_key(promise: u64, public_key: &[u8]) {
    unsafe { sys::promise_batch_action_delete_key(promise, public_key.len() as u64, public_key.as_ptr() as u64) }
}

/// Make `promise`'s eventual result this call's result.
pub fn promise_return(promise: u64) {
    unsafe { sys::promise_return(promise) }
}

pub fn promise_results_count() -> u64 {
    unsafe { sys::promise_results_count() }
}

pub fn promise_result(index: u64) -> PromiseResult {
    match unsafe { sys::promise_result(index, SCRATCH) } {
        1 => PromiseResult::Successful(scratch()),
        _ => PromiseResult::Failed,
    }
}

/// Send `amount` to `account`; a zero amount sends nothing.
pub fn transfer(account: &str, amount: u128) {
    if amount == 0 {
        return;
    }
    let p = promise_batch_create(account);
    promise_batch_action_transfer(p, amount);
}

// ---------------------------------------------------------------------------
// Yield / resume.

/// Create a yielded callback to `method` on this contract with `args`. It
/// runs when `promise_yield_resume` delivers a payload, or with a failed
/// result after the protocol's timeout (200 blocks). Returns the promise
/// index and the data id to resume with.
pub fn promise_yield_create(method: &str, args: &[u8], gas: u64, weight: u64) -> (u64, DataId) {
    let index = unsafe {
        sys::promise_yield_create(
            method.len() as u64,
            method.as_ptr() as u64,
            args.len() as u64,
            args.as_ptr() as u64,
            gas,
            weight,
            DATA_ID_REGISTER,
        )
    };
    let raw = read_register(DATA_ID_REGISTER).unwrap_or_default();
    let mut id = [0u8; 32];
    if raw.len() != 32 {
        panic_str("promise_yield_create returned a data id that is not 32 bytes");
    }
    id.copy_from_slice(&raw);
    (index, id)
}

/// Deliver `payload` (at most 1024 bytes) to the yield `data_id`. Returns
/// false when no such yield is pending (unknown, already resumed and run,
/// or timed out).
pub fn promise_yield_resume(data_id: &DataId, payload: &[u8]) -> bool {
    unsafe {
        sys::promise_yield_resume(
            data_id.len() as u64,
            data_id.as_ptr() as u64,
            payload.len() as u64,
            payload.as_ptr() as u64,
        ) == 1
    }
}

/// Maximum payload `promise_yield_resume` accepts.
pub const MAX_YIELD_PAYLOAD: usize = 1024;
