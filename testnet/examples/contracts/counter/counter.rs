//! counter: a devchain test contract. One signed 64-bit counter in storage.
//!
//! increment({"by"?: u64}) -> i64   adds `by` (default 1), logs, returns the new value
//! decrement({"by"?: u64}) -> i64   subtracts, logs, returns the new value
//! get_num() -> i64                 view
//! reset() -> null                  sets 0, logs

#[path = "../../../../contracts/rust/common/mod.rs"]
mod common;

use common::env;
use common::json::{Args, Value};
use common::num;

const KEY: &[u8] = b"num";

fn load() -> i64 {
    env::storage_read_u64(KEY) as i64
}

fn store(n: i64) {
    env::storage_write_u64(KEY, n as u64);
}

fn i64_to_string(n: i64) -> String {
    if n < 0 {
        let mut s = String::from("-");
        s.push_str(&num::u128_to_string(n.unsigned_abs() as u128));
        s
    } else {
        num::u64_to_string(n as u64)
    }
}

fn return_num(n: i64) {
    env::value_return(i64_to_string(n).as_bytes());
}

fn step(args: &Args) -> i64 {
    let by = args.opt_u64("by").unwrap_or(1);
    if by > i64::MAX as u64 {
        env::panic_str("`by` is too large");
    }
    by as i64
}

#[no_mangle]
pub extern "C" fn increment() {
    let args = Args::from_input();
    let n = match load().checked_add(step(&args)) {
        Some(n) => n,
        None => env::panic_str("Counter overflow"),
    };
    store(n);
    let mut msg = String::from("Increased number to ");
    msg.push_str(&i64_to_string(n));
    env::log(&msg);
    return_num(n);
}

#[no_mangle]
pub extern "C" fn decrement() {
    let args = Args::from_input();
    let n = match load().checked_sub(step(&args)) {
        Some(n) => n,
        None => env::panic_str("Counter underflow"),
    };
    store(n);
    let mut msg = String::from("Decreased number to ");
    msg.push_str(&i64_to_string(n));
    env::log(&msg);
    return_num(n);
}

#[no_mangle]
pub extern "C" fn get_num() {
    return_num(load());
}

#[no_mangle]
pub extern "C" fn reset() {
    store(0);
    env::log("Reset counter to zero");
    env::value_return(Value::Null.to_string().as_bytes());
}
