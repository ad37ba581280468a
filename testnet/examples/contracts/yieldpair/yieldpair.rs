//! yieldpair: a devchain test contract for yield/resume (NEP-519).
//!
//! start({"tag"?: string}) -> (the callback's result)
//!     promise_yield_create("on_resume", {"tag": tag}, 10 Tgas, weight 1),
//!     stores the data id (hex) under "data_id", logs "yield data_id: <hex>",
//!     and returns the yield promise, so the transaction finishes only when
//!     the callback has run (after a resume or the 200-block timeout).
//! start_detached({"tag"?: string}) -> string (data id hex)
//!     Same, but returns the data id at once; the callback still runs later.
//! resume({"data_id": hex string (64 chars), "payload": string}) -> bool
//!     promise_yield_resume(data_id, payload bytes). Returns true if a pending
//!     yield accepted it, false otherwise (logs "resume rejected"). Payloads
//!     over 1024 bytes fail in the host.
//! on_resume({"tag": string|null})  private (the yield callback)
//!     On success: records {"tag", "resumed": true, "payload": string} and
//!     returns the payload as a JSON string; logs "yield resumed with: <payload>".
//!     On a failed result (timeout): records {"tag", "resumed": false,
//!     "payload": null}, logs "yield timed out", returns null.
//! get_data_id() -> string|null    view: the last data id created (hex)
//! get_last() -> record|null       view: the last callback's record
//! get_count() -> {"resumed": u64, "timed_out": u64}   view

#[path = "../../../../contracts/rust/common/mod.rs"]
mod common;

use common::base64::{hex_decode, hex_encode};
use common::env::{self, PromiseResult, TGAS};
use common::json::{Args, Value};

const DATA_ID: &[u8] = b"data_id";
const LAST: &[u8] = b"last";
const RESUMED: &[u8] = b"n_resumed";
const TIMED_OUT: &[u8] = b"n_timed_out";

fn create() -> (u64, String) {
    let args = Args::from_input();
    let tag = args.opt_string("tag");
    let cb_args = Value::object(vec![("tag", Value::opt_str(&tag))]);
    let (promise, data_id) = env::promise_yield_create("on_resume", cb_args.to_string().as_bytes(), 10 * TGAS, 1);
    let hex = hex_encode(&data_id);
    env::storage_write(DATA_ID, hex.as_bytes());
    let mut msg = String::from("yield data_id: ");
    msg.push_str(&hex);
    env::log(&msg);
    (promise, hex)
}

#[no_mangle]
pub extern "C" fn start() {
    let (promise, _) = create();
    env::promise_return(promise);
}

#[no_mangle]
pub extern "C" fn start_detached() {
    let (_, hex) = create();
    env::value_return(Value::String(hex).to_string().as_bytes());
}

#[no_mangle]
pub extern "C" fn resume() {
    let args = Args::from_input();
    let hex = args.string("data_id");
    let payload = args.string("payload");
    let raw = match hex_decode(&hex) {
        Some(b) if b.len() == 32 => b,
        _ => env::panic_str("`data_id` must be 64 hex characters"),
    };
    let mut id = [0u8; 32];
    id.copy_from_slice(&raw);
    let ok = env::promise_yield_resume(&id, payload.as_bytes());
    if !ok {
        env::log("resume rejected: no pending yield with that data id");
    }
    env::value_return(Value::Bool(ok).to_string().as_bytes());
}

#[no_mangle]
pub extern "C" fn on_resume() {
    env::assert_private("on_resume");
    let args = Args::from_input();
    let tag = Value::opt_str(&args.opt_string("tag"));
    match env::promise_result(0) {
        PromiseResult::Successful(raw) => {
            let payload = String::from_utf8_lossy(&raw).into_owned();
            let mut msg = String::from("yield resumed with: ");
            msg.push_str(&payload);
            env::log(&msg);
            let rec = Value::object(vec![
                ("tag", tag),
                ("resumed", Value::Bool(true)),
                ("payload", Value::str(&payload)),
            ]);
            env::storage_write_json(LAST, &rec);
            env::storage_write_u64(RESUMED, env::storage_read_u64(RESUMED) + 1);
            env::value_return(Value::String(payload).to_string().as_bytes());
        }
        PromiseResult::Failed => {
            env::log("yield timed out");
            let rec = Value::object(vec![("tag", tag), ("resumed", Value::Bool(false)), ("payload", Value::Null)]);
            env::storage_write_json(LAST, &rec);
            env::storage_write_u64(TIMED_OUT, env::storage_read_u64(TIMED_OUT) + 1);
            env::value_return(b"null");
        }
    }
}

#[no_mangle]
pub extern "C" fn get_data_id() {
    let v = match env::storage_read(DATA_ID) {
        Some(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        None => Value::Null,
    };
    env::value_return(v.to_string().as_bytes());
}

#[no_mangle]
pub extern "C" fn get_last() {
    let v = env::storage_read_json(LAST).unwrap_or(Value::Null);
    env::value_return(v.to_string().as_bytes());
}

#[no_mangle]
pub extern "C" fn get_count() {
    let v = Value::object(vec![
        ("resumed", Value::u64(env::storage_read_u64(RESUMED))),
        ("timed_out", Value::u64(env::storage_read_u64(TIMED_OUT))),
    ]);
    env::value_return(v.to_string().as_bytes());
}
