//! Native unit tests of the result claim: every vector the Go side wrote
//! (contracts/testdata/claim_vectors.json, checked by contracts'
//! TestClaimVectors) is recomputed here from the same request record and
//! response with the contract's own parsing and encoding. Run with
//! `contracts/build.sh --test`.

#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;
mod claim;
mod types;

use common::base64::{hex_decode, hex_encode};
use common::json::{parse, Value};
use types::{CodeSource, ExecutionResponse, SecretsRef};

const VECTORS: &str = include_str!("../../testdata/claim_vectors.json");

/// FIPS 180-4 SHA-256, for the test only (the contract uses the host's).
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7].wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), v[0], v[1], v[2], v[3].wrapping_add(t1), v[4], v[5], v[6]];
        }
        for i in 0..8 {
            h[i] = h[i].wrapping_add(v[i]);
        }
    }
    let mut out = [0u8; 32];
    for i in 0..8 {
        out[4 * i..4 * i + 4].copy_from_slice(&h[i].to_be_bytes());
    }
    out
}

#[test]
fn sha256_known_answers() {
    assert_eq!(hex_encode(&sha256(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(hex_encode(&sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    let long = [b'a'; 1000];
    assert_eq!(hex_encode(&sha256(&long)), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(|x| x.as_str()).unwrap_or_else(|| panic!("vector field {} missing", k))
}

fn h32(v: &Value, k: &str) -> [u8; 32] {
    let raw = hex_decode(s(v, k)).expect("hex");
    let mut out = [0u8; 32];
    out.copy_from_slice(&raw);
    out
}

#[test]
fn claim_vectors_match_the_go_side() {
    let vectors = parse(VECTORS.as_bytes()).expect("vectors parse");
    let list = vectors.as_array().expect("a list of vectors");
    assert!(list.len() >= 5, "too few vectors");
    for v in list {
        let name = s(v, "name");
        let code = CodeSource::parse(v.get("code_source").unwrap(), "code_source");
        let secrets = match v.get("secrets_ref") {
            Some(Value::Null) | None => None,
            Some(r) => Some(SecretsRef::parse(r, "secrets_ref")),
        };
        let resp = ExecutionResponse::parse(v.get("response").unwrap(), "response");
        let data_id = h32(v, "data_id");
        let project = v.get("project_id").and_then(|x| x.as_str());
        let rec = claim::ClaimRecord {
            chain_id: s(v, "chain_id"),
            contract: s(v, "contract"),
            request_id: v.get("request_id").and_then(|x| x.as_u64()).unwrap(),
            data_id: &data_id,
            sender: s(v, "sender"),
            code_source: &code,
            input_data: s(v, "input_data"),
            secrets_ref: secrets.as_ref(),
            project_id: project,
        };
        assert_eq!(hex_encode(&claim::outcome_preimage(&resp, None)), s(v, "outcome_preimage"), "{}: outcome preimage", name);
        assert_eq!(hex_encode(&claim::secrets_id(&code, project, secrets.as_ref(), sha256)), s(v, "secrets_id"), "{}: secrets id", name);
        let enc = claim::encode(&rec, &h32(v, "wasm_sha256"), &resp, None, sha256);
        assert_eq!(hex_encode(&enc), s(v, "encoding"), "{}: encoding", name);
        assert_eq!(hex_encode(&sha256(&enc)), s(v, "hash"), "{}: hash", name);
    }
}

#[test]
fn a_stored_output_is_what_the_claim_binds() {
    let resp = ExecutionResponse::parse(
        &parse(br#"{"success":true,"output":null,"resources_used":{"instructions":1,"time_ms":1}}"#).unwrap(),
        "response",
    );
    let stored = types::ExecutionOutput::Text(String::from("big"));
    assert_eq!(claim::outcome_preimage(&resp, Some(&stored)), b"\x03big".to_vec());
    assert_eq!(claim::outcome_preimage(&resp, None), vec![claim::OUTCOME_NONE]);
}
