//! panicker: a devchain test contract for failures.
//!
//! panic_msg({"message"?: string})   panic_utf8 -> "Smart contract panicked: <message>"
//!                                   (default message "panicked on purpose")
//! abort()                           the bare `panic` host function -> "explicit guest panic"
//! trap()                            a wasm `unreachable` trap
//! loop_forever()                    never returns; only the gas limit stops it
//! write_then_panic({"key": string, "value": string})
//!                                   writes storage, logs, then panics: nothing may persist
//! set({"key": string, "value": string})   writes storage (to compare against the above)
//! get({"key": string}) -> string|null      view

#[path = "../../../../contracts/rust/common/mod.rs"]
mod common;

use common::env;
use common::json::{Args, Value};

#[no_mangle]
pub extern "C" fn panic_msg() {
    let args = Args::from_input();
    let msg = args.opt_string("message").unwrap_or_else(|| String::from("panicked on purpose"));
    env::panic_str(&msg);
}

#[no_mangle]
pub extern "C" fn abort() {
    env::abort();
}

#[no_mangle]
pub extern "C" fn trap() {
    core::arch::wasm32::unreachable();
}

#[no_mangle]
pub extern "C" fn loop_forever() {
    #[allow(clippy::empty_loop)]
    loop {}
}

fn key_value(args: &Args) -> (Vec<u8>, Vec<u8>) {
    let mut key = b"kv:".to_vec();
    key.extend_from_slice(args.string("key").as_bytes());
    (key, args.string("value").into_bytes())
}

#[no_mangle]
pub extern "C" fn set() {
    let args = Args::from_input();
    let (k, v) = key_value(&args);
    env::storage_write(&k, &v);
}

#[no_mangle]
pub extern "C" fn write_then_panic() {
    let args = Args::from_input();
    let (k, v) = key_value(&args);
    env::storage_write(&k, &v);
    env::log("wrote the key, now panicking");
    env::panic_str("write_then_panic: this write must be rolled back");
}

#[no_mangle]
pub extern "C" fn get() {
    let args = Args::from_input();
    let mut key = b"kv:".to_vec();
    key.extend_from_slice(args.string("key").as_bytes());
    let v = match env::storage_read(&key) {
        Some(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        None => Value::Null,
    };
    env::value_return(v.to_string().as_bytes());
}
