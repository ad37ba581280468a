//! vrfcheck: verifies an OutLayer VRF draw on chain, as a contract that
//! consumes one would (a lottery, a game). The cluster's VRF public key is
//! kept in state and set only by the contract's own account; a draw is
//! valid when its signature is the key's Ed25519 signature of the alpha
//! (`ed25519_verify`) and its output is the SHA-256 of that signature.
//!
//! set_pubkey({"pubkey_hex"}) -> null           only the contract's account
//! verify({"alpha", "signature_hex", "output_hex"}) -> bool   view

#[path = "../../../../contracts/rust/common/mod.rs"]
mod common;

use common::base64::hex_decode;
use common::env;
use common::json::{Args, Value};

const KEY: &[u8] = b"pubkey";

#[no_mangle]
pub extern "C" fn set_pubkey() {
    if env::predecessor_account_id() != env::current_account_id() {
        env::panic_str("only the contract's own account may set the VRF public key");
    }
    let args = Args::from_input();
    let pk = match hex_decode(&args.string("pubkey_hex")) {
        Some(b) if b.len() == 32 => b,
        _ => env::panic_str("pubkey_hex must be 32 bytes of hex"),
    };
    env::storage_write(KEY, &pk);
    env::value_return(Value::Null.to_string().as_bytes());
}

#[no_mangle]
pub extern "C" fn verify() {
    let args = Args::from_input();
    let pk = match env::storage_read(KEY) {
        Some(b) if b.len() == 32 => b,
        _ => env::panic_str("no VRF public key is set"),
    };
    let sig = match hex_decode(&args.string("signature_hex")) {
        Some(b) if b.len() == 64 => b,
        _ => env::panic_str("signature_hex must be 64 bytes of hex"),
    };
    let output = match hex_decode(&args.string("output_hex")) {
        Some(b) if b.len() == 32 => b,
        _ => env::panic_str("output_hex must be 32 bytes of hex"),
    };
    let alpha = args.string("alpha");
    let mut sig64 = [0u8; 64];
    sig64.copy_from_slice(&sig);
    let mut pk32 = [0u8; 32];
    pk32.copy_from_slice(&pk);
    let ok = env::ed25519_verify(&sig64, alpha.as_bytes(), &pk32) && env::sha256(&sig)[..] == output[..];
    env::value_return(if ok { b"true" } else { b"false" });
}
