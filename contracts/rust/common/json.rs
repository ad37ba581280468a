//! A small JSON value with an order-preserving object, a strict parser, a
//! compact writer, and `Args` for reading method arguments.
//!
//! Numbers are never rounded through a float: a plain non-negative integer
//! that fits u64 is kept as `Int` (no allocation, which matters for
//! `Vec<u8>` outputs written as arrays of numbers), anything else as its
//! validated source text; contracts read them as u64 or u128 explicitly. Objects are
//! a `Vec` of pairs so output keys come out in the order they were built,
//! which keeps events byte-compatible with upstream's `preserve_order`.

use super::env::panic_str;
use super::num;

#[derive(Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// A non-negative integer that fits u64.
    Int(u64),
    /// Any other number's validated source text.
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// Nesting deeper than this is rejected, so hostile input cannot exhaust
/// the wasm stack.
const MAX_DEPTH: usize = 64;

impl Value {
    pub fn str(s: &str) -> Value {
        Value::String(String::from(s))
    }

    pub fn u64(n: u64) -> Value {
        Value::Int(n)
    }

    /// A u128 as a JSON number (upstream's raw `Balance` fields).
    pub fn u128_number(n: u128) -> Value {
        if n <= u64::MAX as u128 {
            Value::Int(n as u64)
        } else {
            Value::Number(num::u128_to_string(n))
        }
    }

    /// A u128 as a decimal string (near-sdk's `U128`).
    pub fn u128_string(n: u128) -> Value {
        Value::String(num::u128_to_string(n))
    }

    pub fn opt_str(s: &Option<String>) -> Value {
        match s {
            Some(s) => Value::str(s),
            None => Value::Null,
        }
    }

    pub fn opt_u64(n: Option<u64>) -> Value {
        match n {
            Some(n) => Value::u64(n),
            None => Value::Null,
        }
    }

    pub fn object(pairs: Vec<(&str, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (String::from(k), v)).collect())
    }

    /// `{"tag": inner}`, an externally tagged enum variant.
    pub fn tagged(tag: &str, inner: Value) -> Value {
        Value::object(vec![(tag, inner)])
    }

    pub fn bytes_array(data: &[u8]) -> Value {
        Value::Array(data.iter().map(|&b| Value::u64(b as u64)).collect())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A non-negative integer number (no fraction, no exponent) that fits u64.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Number(s) => num::parse_u64(s),
            _ => None,
        }
    }

    /// A u128 given as a decimal string (near-sdk `U128`) or as a plain
    /// integer number.
    pub fn as_u128(&self) -> Option<u128> {
        match self {
            Value::Int(n) => Some(*n as u128),
            Value::String(s) | Value::Number(s) => num::parse_u128(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// For an externally tagged enum value: the variant name and its
    /// content (`Null` for a unit variant written as a bare string).
    pub fn as_variant(&self) -> Option<(&str, &Value)> {
        const NULL: Value = Value::Null;
        match self {
            Value::String(s) => Some((s, &NULL)),
            Value::Object(pairs) if pairs.len() == 1 => Some((&pairs[0].0, &pairs[0].1)),
            _ => None,
        }
    }

    /// Append the compact JSON text of this value to `out`.
    pub fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Int(n) => write_u64(*n, out),
            Value::Number(n) => out.push_str(n),
            Value::String(s) => write_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Value::Object(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    pub fn to_string(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

fn write_u64(mut n: u64, out: &mut String) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(d as char);
    }
}

/// Write `s` as a JSON string literal, escaping as serde_json does:
/// `"` `\` and control characters; everything else verbatim UTF-8.
pub fn write_string(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------
// Parser.

/// Parse one JSON document (surrounding whitespace allowed, nothing else).
pub fn parse(input: &[u8]) -> Result<Value, &'static str> {
    let mut p = Parser { s: input, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err("trailing characters after JSON value");
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, &'static str> {
        if self.s.len() >= self.i + word.len() && &self.s[self.i..self.i + word.len()] == word {
            self.i += word.len();
            Ok(v)
        } else {
            Err("invalid JSON literal")
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, &'static str> {
        if depth > MAX_DEPTH {
            return Err("JSON nested too deeply");
        }
        match self.peek() {
            None => Err("unexpected end of JSON"),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err("expected ',' or ']' in JSON array"),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut pairs: Vec<(String, Value)> = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Value::Object(pairs));
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err("expected a string key in JSON object");
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.peek() != Some(b':') {
                        return Err("expected ':' in JSON object");
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    if pairs.iter().any(|(pk, _)| *pk == k) {
                        return Err("duplicate key in JSON object");
                    }
                    pairs.push((k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Object(pairs));
                        }
                        _ => return Err("expected ',' or '}' in JSON object"),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err("unexpected character in JSON"),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Value, &'static str> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        if self.digits() == 0 {
            return Err("invalid JSON number");
        }
        if self.s[int_start] == b'0' && self.i - int_start > 1 {
            return Err("invalid JSON number (leading zero)");
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err("invalid JSON number");
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err("invalid JSON number");
            }
        }
        let bytes = &self.s[start..self.i];
        if bytes[0] != b'-' && bytes.len() <= 19 && bytes.iter().all(|b| b.is_ascii_digit()) {
            // At most 19 digits always fits u64; no leading zeros (checked above).
            let mut n = 0u64;
            for &b in bytes {
                n = n * 10 + (b - b'0') as u64;
            }
            return Ok(Value::Int(n));
        }
        // Only ASCII was consumed.
        let text = core::str::from_utf8(&self.s[start..self.i]).map_err(|_| "invalid JSON number")?;
        Ok(Value::Number(String::from(text)))
    }

    fn hex4(&mut self) -> Result<u32, &'static str> {
        if self.i + 4 > self.s.len() {
            return Err("truncated \\u escape in JSON string");
        }
        let mut n = 0u32;
        for k in 0..4 {
            let c = self.s[self.i + k];
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err("invalid \\u escape in JSON string"),
            };
            n = n * 16 + d as u32;
        }
        self.i += 4;
        Ok(n)
    }

    fn string(&mut self) -> Result<String, &'static str> {
        self.i += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = match self.peek() {
                None => return Err("unterminated JSON string"),
                Some(c) => c,
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or("unterminated JSON string")?;
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.s.get(self.i) != Some(&b'\\') || self.s.get(self.i + 1) != Some(&b'u') {
                                    return Err("unpaired surrogate in JSON string");
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("unpaired surrogate in JSON string");
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            } else if (0xDC00..0xE000).contains(&cp) {
                                return Err("unpaired surrogate in JSON string");
                            }
                            let ch = char::from_u32(cp).ok_or("invalid \\u escape in JSON string")?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err("invalid escape in JSON string"),
                    }
                }
                c if c < 0x20 => return Err("control character in JSON string"),
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| "invalid UTF-8 in JSON string")
    }
}

// ---------------------------------------------------------------------------
// Method arguments.

/// The JSON object a method was called with. Every accessor panics with
/// "Failed to deserialize input from JSON: <what>", near-sdk's wording, so
/// a bad call fails before the method changes anything.
pub struct Args(Value);

fn arg_error(key: &str, what: &str) -> ! {
    let mut msg = String::from("Failed to deserialize input from JSON: ");
    if !key.is_empty() {
        msg.push_str("field `");
        msg.push_str(key);
        msg.push_str("`: ");
    }
    msg.push_str(what);
    panic_str(&msg)
}

impl Args {
    /// Parse the call's input. Empty input counts as `{}`.
    pub fn from_input() -> Args {
        let raw = super::env::input();
        Args::parse(&raw)
    }

    pub fn parse(raw: &[u8]) -> Args {
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            return Args(Value::Object(Vec::new()));
        }
        match parse(raw) {
            Ok(v @ Value::Object(_)) => Args(v),
            Ok(_) => arg_error("", "arguments must be a JSON object"),
            Err(e) => arg_error("", e),
        }
    }

    pub fn root(&self) -> &Value {
        &self.0
    }

    /// The field, or None when it is missing or null.
    pub fn opt(&self, key: &str) -> Option<&Value> {
        match self.0.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    pub fn value(&self, key: &str) -> &Value {
        match self.opt(key) {
            Some(v) => v,
            None => arg_error(key, "missing"),
        }
    }

    pub fn opt_string(&self, key: &str) -> Option<String> {
        self.opt(key).map(|v| match v.as_str() {
            Some(s) => String::from(s),
            None => arg_error(key, "expected a string"),
        })
    }

    pub fn string(&self, key: &str) -> String {
        match self.opt_string(key) {
            Some(s) => s,
            None => arg_error(key, "missing"),
        }
    }

    pub fn opt_u64(&self, key: &str) -> Option<u64> {
        self.opt(key).map(|v| match v.as_u64() {
            Some(n) => n,
            None => arg_error(key, "expected a non-negative integer that fits in u64"),
        })
    }

    pub fn u64(&self, key: &str) -> u64 {
        match self.opt_u64(key) {
            Some(n) => n,
            None => arg_error(key, "missing"),
        }
    }

    /// A near-sdk `U128`: a decimal string. Plain numbers are refused, as
    /// near-sdk refuses them.
    pub fn opt_u128(&self, key: &str) -> Option<u128> {
        self.opt(key).map(|v| match v {
            Value::String(s) => match num::parse_u128(s) {
                Some(n) => n,
                None => arg_error(key, "expected a decimal string that fits in u128"),
            },
            _ => arg_error(key, "expected a decimal string (U128)"),
        })
    }

    pub fn u128(&self, key: &str) -> u128 {
        match self.opt_u128(key) {
            Some(n) => n,
            None => arg_error(key, "missing"),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Option<bool> {
        self.opt(key).map(|v| match v.as_bool() {
            Some(b) => b,
            None => arg_error(key, "expected true or false"),
        })
    }

    pub fn bool(&self, key: &str) -> bool {
        match self.opt_bool(key) {
            Some(b) => b,
            None => arg_error(key, "missing"),
        }
    }
}

/// Panic with near-sdk's deserialisation wording for a nested field.
pub fn invalid(path: &str, what: &str) -> ! {
    arg_error(path, what)
}
