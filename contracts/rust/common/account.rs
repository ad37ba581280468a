//! NEAR account id validation (near-account-id rules).

/// 2–64 characters of `a-z 0-9` separated by single `-`, `_` or `.`, with
/// no separator at either end. Implicit (64-hex) ids satisfy this too.
pub fn is_valid(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() < 2 || b.len() > 64 {
        return false;
    }
    let mut prev_sep = true; // a leading separator is invalid
    for &c in b {
        let sep = c == b'-' || c == b'_' || c == b'.';
        if sep {
            if prev_sep {
                return false;
            }
        } else if !(c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return false;
        }
        prev_sep = sep;
    }
    !prev_sep
}
