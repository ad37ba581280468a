//! OutLayer host functions (import module `outlayer_v1`) for Rust programs
//! built for wasm32-wasi (wasm32-wasip1). A plain file with no
//! dependencies: copy it next to your main.rs and include it with
//! `mod outlayer;`. The exact ABI is in exec/hostabi/SPEC.md of the OutLayer
//! repository; everything a program learns here is recorded in its run's
//! record, so re-executions get the same answers.

#![allow(dead_code)]

#[link(wasm_import_module = "outlayer_v1")]
extern "C" {
    fn result_read(out_ptr: *mut u8, out_cap: u32) -> i64;
    fn http_fetch(req_ptr: *const u8, req_len: u32, out_ptr: *mut u8, out_cap: u32) -> i64;
    fn storage_get(scope: u32, key_ptr: *const u8, key_len: u32, out_ptr: *mut u8, out_cap: u32) -> i64;
    fn storage_set(scope: u32, key_ptr: *const u8, key_len: u32, val_ptr: *const u8, val_len: u32) -> i64;
    fn storage_has(scope: u32, key_ptr: *const u8, key_len: u32) -> i64;
    fn storage_delete(scope: u32, key_ptr: *const u8, key_len: u32) -> i64;
    fn storage_set_if_absent(scope: u32, key_ptr: *const u8, key_len: u32, val_ptr: *const u8, val_len: u32) -> i64;
    fn storage_set_if_equals(
        scope: u32,
        key_ptr: *const u8,
        key_len: u32,
        exp_ptr: *const u8,
        exp_len: u32,
        val_ptr: *const u8,
        val_len: u32,
    ) -> i64;
    fn storage_increment(scope: u32, key_ptr: *const u8, key_len: u32, delta: i64, out_ptr: *mut u8) -> i64;
    fn storage_list(
        scope: u32,
        prefix_ptr: *const u8,
        prefix_len: u32,
        after_ptr: *const u8,
        after_len: u32,
        limit: u32,
        out_ptr: *mut u8,
        out_cap: u32,
    ) -> i64;
    fn vrf_generate(seed_ptr: *const u8, seed_len: u32, out_ptr: *mut u8, out_cap: u32) -> i64;
    fn vrf_pubkey(out_ptr: *mut u8, out_cap: u32) -> i64;
    fn near_view(req_ptr: *const u8, req_len: u32, out_ptr: *mut u8, out_cap: u32) -> i64;
}

/// Error codes (the negated return values).
pub const NOT_FOUND: i32 = 1;
pub const DENIED: i32 = 2;
pub const LIMIT: i32 = 3;
pub const BAD_INPUT: i32 = 4;
pub const UNAVAILABLE: i32 = 5;
pub const FAILED: i32 = 6;

/// A host call's failure: its code and the node's message.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "outlayer error {}: {}", self.code, self.message)
    }
}

/// Storage scopes.
#[derive(Clone, Copy)]
pub enum Scope {
    /// Private to this program and the request's caller.
    User = 0,
    /// Shared by every caller of this program.
    Worker = 1,
    /// Shared, and readable by anyone through the node's API.
    Public = 2,
}

fn last() -> Vec<u8> {
    unsafe {
        let n = result_read(std::ptr::null_mut(), 0);
        if n <= 0 {
            return Vec::new();
        }
        let mut buf = vec![0u8; n as usize];
        result_read(buf.as_mut_ptr(), n as u32);
        buf
    }
}

fn fail(r: i64) -> Error {
    Error { code: (-r) as i32, message: String::from_utf8_lossy(&last()).into_owned() }
}

fn bytes_call(f: impl Fn(*mut u8, u32) -> i64) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; 4096];
    let n = f(buf.as_mut_ptr(), buf.len() as u32);
    if n < 0 {
        return Err(fail(n));
    }
    if n as usize <= buf.len() {
        buf.truncate(n as usize);
        return Ok(buf);
    }
    Ok(last())
}

fn bool_call(r: i64) -> Result<bool, Error> {
    if r < 0 {
        Err(fail(r))
    } else {
        Ok(r == 1)
    }
}

/// Encodes fields: each a u32 little-endian length and its bytes.
pub fn fields(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Decodes fields.
pub fn split_fields(mut b: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 4 {
            return None;
        }
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        b = &b[4..];
        if n > b.len() {
            return None;
        }
        out.push(b[..n].to_vec());
        b = &b[n..];
    }
    Some(out)
}

/// Returns key's value, None when it has none.
pub fn storage_get_value(scope: Scope, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    match bytes_call(|o, c| unsafe { storage_get(scope as u32, key.as_ptr(), key.len() as u32, o, c) }) {
        Err(e) if e.code == NOT_FOUND => Ok(None),
        Err(e) => Err(e),
        Ok(v) => Ok(Some(v)),
    }
}

/// Stores value under key (applied only if the run succeeds).
pub fn storage_set_value(scope: Scope, key: &[u8], value: &[u8]) -> Result<(), Error> {
    let r = unsafe { storage_set(scope as u32, key.as_ptr(), key.len() as u32, value.as_ptr(), value.len() as u32) };
    if r < 0 {
        return Err(fail(r));
    }
    Ok(())
}

/// Reports whether key has a value.
pub fn storage_has_key(scope: Scope, key: &[u8]) -> Result<bool, Error> {
    bool_call(unsafe { storage_has(scope as u32, key.as_ptr(), key.len() as u32) })
}

/// Deletes key; true if it had a value.
pub fn storage_delete_key(scope: Scope, key: &[u8]) -> Result<bool, Error> {
    bool_call(unsafe { storage_delete(scope as u32, key.as_ptr(), key.len() as u32) })
}

/// Stores value only if key has none; true if it did.
pub fn storage_set_value_if_absent(scope: Scope, key: &[u8], value: &[u8]) -> Result<bool, Error> {
    bool_call(unsafe { storage_set_if_absent(scope as u32, key.as_ptr(), key.len() as u32, value.as_ptr(), value.len() as u32) })
}

/// Stores value only if key's value is expected; true if it did.
pub fn storage_set_value_if_equals(scope: Scope, key: &[u8], expected: &[u8], value: &[u8]) -> Result<bool, Error> {
    bool_call(unsafe {
        storage_set_if_equals(
            scope as u32,
            key.as_ptr(),
            key.len() as u32,
            expected.as_ptr(),
            expected.len() as u32,
            value.as_ptr(),
            value.len() as u32,
        )
    })
}

/// Adds delta to key's 8-byte little-endian integer (missing: 0).
pub fn storage_add(scope: Scope, key: &[u8], delta: i64) -> Result<i64, Error> {
    let mut out = [0u8; 8];
    let r = unsafe { storage_increment(scope as u32, key.as_ptr(), key.len() as u32, delta, out.as_mut_ptr()) };
    if r < 0 {
        return Err(fail(r));
    }
    Ok(i64::from_le_bytes(out))
}

/// Lists up to limit keys with prefix, after `after` (empty: from the start).
pub fn storage_list_keys(scope: Scope, prefix: &[u8], after: &[u8], limit: u32) -> Result<Vec<Vec<u8>>, Error> {
    let ans = bytes_call(|o, c| unsafe {
        storage_list(scope as u32, prefix.as_ptr(), prefix.len() as u32, after.as_ptr(), after.len() as u32, limit, o, c)
    })?;
    split_fields(&ans).ok_or(Error { code: FAILED, message: "malformed answer".into() })
}

/// An HTTP response.
pub struct Response {
    pub status: u16,
    /// "Name: value" lines.
    pub headers: String,
    pub body: Vec<u8>,
}

/// Sends an HTTP request; headers are (name, value) pairs.
pub fn fetch(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response, Error> {
    let mut h = String::new();
    for (n, v) in headers {
        h.push_str(n);
        h.push_str(": ");
        h.push_str(v);
        h.push('\n');
    }
    let req = fields(&[method.as_bytes(), url.as_bytes(), h.as_bytes(), body]);
    let ans = bytes_call(|o, c| unsafe { http_fetch(req.as_ptr(), req.len() as u32, o, c) })?;
    let f = split_fields(&ans).ok_or(Error { code: FAILED, message: "malformed answer".into() })?;
    if f.len() != 3 {
        return Err(Error { code: FAILED, message: "malformed answer".into() });
    }
    let status = String::from_utf8_lossy(&f[0]).parse().unwrap_or(0);
    Ok(Response { status, headers: String::from_utf8_lossy(&f[1]).into_owned(), body: f[2].clone() })
}

/// A verifiable random draw.
pub struct Vrf {
    pub output_hex: String,
    pub signature_hex: String,
    pub alpha: String,
}

/// Draws the VRF output for seed (no ':').
pub fn vrf(seed: &str) -> Result<Vrf, Error> {
    let ans = bytes_call(|o, c| unsafe { vrf_generate(seed.as_ptr(), seed.len() as u32, o, c) })?;
    let f = split_fields(&ans).ok_or(Error { code: FAILED, message: "malformed answer".into() })?;
    if f.len() != 3 {
        return Err(Error { code: FAILED, message: "malformed answer".into() });
    }
    let s = |b: &Vec<u8>| String::from_utf8_lossy(b).into_owned();
    Ok(Vrf { output_hex: s(&f[0]), signature_hex: s(&f[1]), alpha: s(&f[2]) })
}

/// The VRF public key (hex).
pub fn vrf_public_key() -> Result<String, Error> {
    let ans = bytes_call(|o, c| unsafe { vrf_pubkey(o, c) })?;
    Ok(String::from_utf8_lossy(&ans).into_owned())
}

/// A NEAR view at the run's pinned block: ["call_function", contract,
/// method, args_json], ["view_account", account], ["block"], ...
pub fn view(parts: &[&[u8]]) -> Result<Vec<u8>, Error> {
    let req = fields(parts);
    bytes_call(|o, c| unsafe { near_view(req.as_ptr(), req.len() as u32, o, c) })
}
