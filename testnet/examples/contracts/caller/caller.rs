//! caller: a sample contract that uses OutLayer the way upstream's
//! integration example does: call `request_execution` with a deposit, and
//! receive the program's output in a callback.
//!
//! run({"outlayer": AccountId, "source": ExecutionSource | "code_source": CodeSource,
//!      "resource_limits"?, "input_data"?, "secrets_ref"?, "response_format"?,
//!      "payer_account_id"?, "params"?, "gas_tgas"?: u64 (default 150)})  payable
//!     Forwards the whole attached deposit, and exactly the request
//!     arguments it was given (upstream HEAD's `source` or the older
//!     `code_source`, unchanged), to outlayer.request_execution
//!     (with `gas_tgas` Tgas plus a weight-1 share of unused gas), then
//!     calls back `on_output` on itself (10 Tgas). Returns the callback's
//!     result. Refunds go to `payer_account_id`, which defaults to this
//!     contract (the request's sender), as on upstream.
//! on_output({"n": u64})  private
//!     promise_result(0) is the OutLayer callback's return value: a JSON
//!     string for Text, the JSON value for Json, a base64 string for Bytes,
//!     or null when the execution failed or timed out. Records
//!     {"n", "success": bool, "output": <that value>|null}, logs
//!     "caller received: <raw JSON>" (or "caller: OutLayer call failed"),
//!     and returns the output.
//! get_last() -> record|null, get_result({"n"}) -> record|null,
//! get_count() -> u64    views

#[path = "../../../../contracts/rust/common/mod.rs"]
mod common;

use common::env::{self, PromiseResult, TGAS};
use common::json::{self, Args, Value};
use common::num;

const COUNT: &[u8] = b"count";
const LAST: &[u8] = b"last";

fn result_key(n: u64) -> Vec<u8> {
    let mut k = b"res:".to_vec();
    k.extend_from_slice(num::u64_to_string(n).as_bytes());
    k
}

#[no_mangle]
pub extern "C" fn run() {
    let args = Args::from_input();
    let outlayer = args.string("outlayer");
    if !common::account::is_valid(&outlayer) {
        env::panic_str("`outlayer` is not a valid account id");
    }
    let gas = args.opt_u64("gas_tgas").unwrap_or(150).saturating_mul(TGAS);

    // Pass through exactly the request_execution arguments that were given.
    // `source` is upstream HEAD's name, `code_source` the older one; the
    // caller forwards whichever it was given, under that name.
    let mut fields: Vec<(&str, Value)> = Vec::new();
    for key in ["source", "code_source", "resource_limits", "input_data", "secrets_ref", "response_format", "payer_account_id", "params"] {
        if let Some(v) = args.opt(key) {
            fields.push((key, v.clone()));
        }
    }
    let request_args = Value::object(fields).to_string();

    let n = env::storage_read_u64(COUNT) + 1;
    env::storage_write_u64(COUNT, n);

    let me = env::current_account_id();
    let call = env::promise_batch_create(&outlayer);
    env::promise_batch_action_function_call_weight(
        call,
        "request_execution",
        request_args.as_bytes(),
        env::attached_deposit(),
        gas,
        1,
    );
    let cb_args = Value::object(vec![("n", Value::u64(n))]).to_string();
    let cb = env::promise_then(call, &me, "on_output", cb_args.as_bytes(), 0, 10 * TGAS);
    env::promise_return(cb);
}

#[no_mangle]
pub extern "C" fn on_output() {
    env::assert_private("on_output");
    let args = Args::from_input();
    let n = args.u64("n");
    let (success, output) = match env::promise_result(0) {
        PromiseResult::Successful(raw) => {
            let mut m = String::from("caller received: ");
            m.push_str(&String::from_utf8_lossy(&raw));
            env::log(&m);
            let v = if raw.is_empty() { Value::Null } else { json::parse(&raw).unwrap_or(Value::Null) };
            (true, v)
        }
        PromiseResult::Failed => {
            env::log("caller: OutLayer call failed");
            (false, Value::Null)
        }
    };
    let record = Value::object(vec![("n", Value::u64(n)), ("success", Value::Bool(success)), ("output", output.clone())]);
    env::storage_write_json(&result_key(n), &record);
    env::storage_write_json(LAST, &record);
    env::value_return(output.to_string().as_bytes());
}

#[no_mangle]
pub extern "C" fn get_last() {
    let v = env::storage_read_json(LAST).unwrap_or(Value::Null);
    env::value_return(v.to_string().as_bytes());
}

#[no_mangle]
pub extern "C" fn get_result() {
    let args = Args::from_input();
    let v = env::storage_read_json(&result_key(args.u64("n"))).unwrap_or(Value::Null);
    env::value_return(v.to_string().as_bytes());
}

#[no_mangle]
pub extern "C" fn get_count() {
    env::value_return(num::u64_to_string(env::storage_read_u64(COUNT)).as_bytes());
}
