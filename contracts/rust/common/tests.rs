//! Native unit tests for the shared contract code that does not touch the
//! host: JSON, numbers, base64/hex/base58 and account ids. Run with
//! `contracts/build.sh --test` (rustc --test for the host target; the `env`
//! imports are left unresolved because no test calls them).

#[path = "mod.rs"]
mod common;

use common::json::{parse, Value};
use common::{account, base64, num};

fn roundtrip(s: &str) -> String {
    match parse(s.as_bytes()) {
        Ok(v) => v.to_string(),
        Err(e) => panic!("parse {:?}: {}", s, e),
    }
}

#[test]
fn json_round_trips_compactly_and_keeps_key_order() {
    assert_eq!(roundtrip(r#" { "b" : 1 , "a" : [ true , false , null , -0.5e+3 ] } "#), r#"{"b":1,"a":[true,false,null,-0.5e+3]}"#);
    assert_eq!(roundtrip(r#"{"GitHub":{"repo":"r","commit":"c","build_target":null}}"#), r#"{"GitHub":{"repo":"r","commit":"c","build_target":null}}"#);
    assert_eq!(roundtrip("340282366920938463463374607431768211455"), "340282366920938463463374607431768211455");
}

#[test]
fn json_strings_escape_like_serde_json() {
    // Escapes are decoded on input and re-encoded the way serde_json writes them.
    assert_eq!(roundtrip(r#""a\"b\\c\/d\n\t\r\b\f\u0001\u00e9\ud83d\ude00""#), "\"a\\\"b\\\\c/d\\n\\t\\r\\b\\f\\u0001é😀\"");
    let mut out = String::new();
    common::json::write_string("\u{7f}</script>", &mut out);
    assert_eq!(out, "\"\u{7f}</script>\"");
}

#[test]
fn json_rejects_malformed_input() {
    for bad in [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "+1", "1e", "tru", "nul", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"a\nb\"", "{\"a\":1,\"a\":2}", "{a:1}", "[1] 2", "\"unterminated", "\u{0}",
    ] {
        assert!(parse(bad.as_bytes()).is_err(), "accepted {:?}", bad);
    }
    assert!(parse(&[b'"', 0xff, b'"']).is_err(), "accepted invalid UTF-8");
    let deep = "[".repeat(70) + &"]".repeat(70);
    assert!(parse(deep.as_bytes()).is_err(), "accepted 70 levels of nesting");
    let ok = "[".repeat(60) + &"]".repeat(60);
    assert!(parse(ok.as_bytes()).is_ok());
}

#[test]
fn json_accessors() {
    let v = parse(br#"{"n":18446744073709551615,"big":"340282366920938463463374607431768211455","f":1.5,"neg":-1,"s":"x","u":"Text"}"#).unwrap();
    assert_eq!(v.get("n").and_then(|x| x.as_u64()), Some(u64::MAX));
    assert_eq!(v.get("big").and_then(|x| x.as_u128()), Some(u128::MAX));
    assert_eq!(v.get("f").and_then(|x| x.as_u64()), None);
    assert_eq!(v.get("neg").and_then(|x| x.as_u64()), None);
    assert!(v.get("missing").is_none());
    assert!(matches!(v.get("u").and_then(|x| x.as_variant()), Some(("Text", Value::Null))));
    let tagged = parse(br#"{"Json":{"a":1}}"#).unwrap();
    let (tag, body) = tagged.as_variant().unwrap();
    assert_eq!(tag, "Json");
    assert_eq!(body.to_string(), r#"{"a":1}"#);
}

#[test]
fn numbers() {
    assert_eq!(num::u128_to_string(0), "0");
    assert_eq!(num::u128_to_string(u128::MAX), "340282366920938463463374607431768211455");
    assert_eq!(num::parse_u128("340282366920938463463374607431768211455"), Some(u128::MAX));
    assert_eq!(num::parse_u128("340282366920938463463374607431768211456"), None);
    assert_eq!(num::parse_u64("18446744073709551616"), None);
    assert_eq!(num::parse_u64("007"), Some(7));
    for bad in ["", "-1", "1 ", "0x10", "1e3"] {
        assert_eq!(num::parse_u128(bad), None, "{:?}", bad);
    }
}

#[test]
fn base64_hex_base58() {
    for (raw, enc) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
        assert_eq!(base64::encode(raw.as_bytes()), enc);
        assert_eq!(base64::decode(enc).unwrap(), raw.as_bytes());
    }
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(base64::decode(&base64::encode(&all)).unwrap(), all);
    for bad in ["Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "=AAA"] {
        assert!(base64::decode(bad).is_none(), "accepted {:?}", bad);
    }
    assert_eq!(base64::hex_encode(&[0, 0xab, 0xff]), "00abff");
    assert_eq!(base64::hex_decode("00ABff").unwrap(), vec![0, 0xab, 0xff]);
    assert!(base64::hex_decode("abc").is_none());
    assert!(base64::hex_decode("zz").is_none());
    // "1" is a leading zero byte; 32 zero bytes are 32 ones.
    assert_eq!(base64::base58_decode("1112").unwrap(), vec![0, 0, 0, 1]);
    assert_eq!(base64::base58_decode(&"1".repeat(32)).unwrap(), vec![0u8; 32]);
    assert_eq!(base64::base58_decode("5Q").unwrap(), vec![255]);
    assert!(base64::base58_decode("0OIl").is_none());
}

#[test]
fn account_ids() {
    for ok in ["ab", "alice.near", "a-b_c.d", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"] {
        assert!(account::is_valid(ok), "{:?}", ok);
    }
    for bad in ["a", "", "Alice.near", "a..b", ".a", "a.", "a b", "a@b", &"a".repeat(65)] {
        assert!(!account::is_valid(bad), "{:?}", bad);
    }
}
