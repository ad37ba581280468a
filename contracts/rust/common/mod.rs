//! Shared support code for OutLayer's NEAR contracts.
//!
//! There is no cargo and no near-sdk here: every contract is one rustc
//! invocation that pulls this module in with
//! `#[path = ".../contracts/rust/common/mod.rs"] mod common;`.
//!
//! - `sys`    raw `env` host-function imports, exactly as NEAR declares them;
//! - `env`    safe wrappers: input, return, panic, logs, context, storage,
//!            promises and yield/resume;
//! - `json`   a small order-preserving JSON value, parser and writer, plus an
//!            argument reader that panics with a readable message;
//! - `num`    decimal u64/u128 parsing and formatting without `core::fmt`;
//! - `base64` standard-alphabet base64, hex, and base58 decoding;
//! - `account` NEAR account id validation.
//!
//! Contracts never use `panic!`/`unwrap` for bad input: they call
//! `env::panic_str`, so the caller sees "Smart contract panicked: <message>".

#![allow(dead_code)]

pub mod account;
pub mod base64;
pub mod env;
pub mod json;
pub mod num;
pub mod sys;
