//! xcc: a devchain test contract for cross-contract calls with a callback.
//!
//! call({"contract": AccountId, "method": string, "args"?: any JSON (default {}),
//!       "gas_tgas"?: u64 (default 20)})  payable
//!     Calls `method` on `contract` with `args`, forwarding the whole attached
//!     deposit, then calls back `on_result` on itself (10 Tgas). The call's
//!     result is the callback's result. If the callee fails, NEAR refunds the
//!     forwarded deposit to this contract (the callee's predecessor).
//! on_result({"contract": AccountId, "method": string, "deposit": U128})  private
//!     Reads promise_result(0); logs "xcc: <contract>.<method> succeeded: <raw>"
//!     or "xcc: <contract>.<method> failed"; stores and returns
//!     {"success": bool, "raw": string|null}, where raw is the callee's return
//!     bytes as UTF-8 text.
//! last_result() -> {"success","raw"}|null   view

#[path = "../../../../contracts/rust/common/mod.rs"]
mod common;

use common::env::{self, PromiseResult, TGAS};
use common::json::{Args, Value};

const LAST: &[u8] = b"last";

#[no_mangle]
pub extern "C" fn call() {
    let args = Args::from_input();
    let contract = args.string("contract");
    let method = args.string("method");
    if !common::account::is_valid(&contract) {
        env::panic_str("`contract` is not a valid account id");
    }
    let call_args = match args.opt("args") {
        Some(v) => v.to_string(),
        None => String::from("{}"),
    };
    let gas = args.opt_u64("gas_tgas").unwrap_or(20).saturating_mul(TGAS);
    let deposit = env::attached_deposit();

    let callee = env::promise_create(&contract, &method, call_args.as_bytes(), deposit, gas);
    let cb_args = Value::object(vec![
        ("contract", Value::str(&contract)),
        ("method", Value::str(&method)),
        ("deposit", Value::u128_string(deposit)),
    ]);
    let me = env::current_account_id();
    let cb = env::promise_then(callee, &me, "on_result", cb_args.to_string().as_bytes(), 0, 10 * TGAS);
    env::promise_return(cb);
}

#[no_mangle]
pub extern "C" fn on_result() {
    env::assert_private("on_result");
    let args = Args::from_input();
    let mut what = args.string("contract");
    what.push('.');
    what.push_str(&args.string("method"));

    let result = match env::promise_result(0) {
        PromiseResult::Successful(raw) => {
            let text = String::from_utf8_lossy(&raw).into_owned();
            let mut msg = String::from("xcc: ");
            msg.push_str(&what);
            msg.push_str(" succeeded: ");
            msg.push_str(&text);
            env::log(&msg);
            Value::object(vec![("success", Value::Bool(true)), ("raw", Value::String(text))])
        }
        PromiseResult::Failed => {
            let mut msg = String::from("xcc: ");
            msg.push_str(&what);
            msg.push_str(" failed");
            env::log(&msg);
            Value::object(vec![("success", Value::Bool(false)), ("raw", Value::Null)])
        }
    };
    env::storage_write_json(LAST, &result);
    env::value_return(result.to_string().as_bytes());
}

#[no_mangle]
pub extern "C" fn last_result() {
    let v = env::storage_read_json(LAST).unwrap_or(Value::Null);
    env::value_return(v.to_string().as_bytes());
}

