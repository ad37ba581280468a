//! Decimal parsing and formatting for u64 and u128.
//!
//! `core::fmt` pulls several kilobytes into a wasm module; these few loops do
//! the only number formatting the contracts need, with overflow checks.

/// Decimal text of `n`.
pub fn u128_to_string(mut n: u128) -> String {
    if n == 0 {
        return String::from("0");
    }
    let mut digits = [0u8; 40];
    let mut i = digits.len();
    while n > 0 {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    // Only ASCII digits were written.
    String::from_utf8(digits[i..].to_vec()).unwrap_or_default()
}

pub fn u64_to_string(n: u64) -> String {
    u128_to_string(n as u128)
}

/// Parse a plain decimal integer ("0", "123"; no sign, no spaces, no leading
/// '+', leading zeros allowed). None on anything else or on overflow.
pub fn parse_u128(s: &str) -> Option<u128> {
    if s.is_empty() {
        return None;
    }
    let mut n: u128 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add((b - b'0') as u128)?;
    }
    Some(n)
}

pub fn parse_u64(s: &str) -> Option<u64> {
    let n = parse_u128(s)?;
    if n > u64::MAX as u128 {
        None
    } else {
        Some(n as u64)
    }
}
