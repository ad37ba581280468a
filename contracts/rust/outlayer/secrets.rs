//! Encrypted secrets, keyed by (accessor, profile, owner), with a storage
//! deposit that pays for exactly the bytes they occupy.
//!
//! Layout:
//!   "s:" + id  -> the secret record (JSON)
//!   "u:" + owner -> JSON array of the owner's ids (for list_user_secrets)
//! where id is the canonical JSON `[accessor, profile, owner]`.
//!
//! NEAR charges `len(key) + len(value) + 40` bytes per entry. A new secret's
//! deposit is its record entry plus what it adds to the owner's index; an
//! update re-prices the record and keeps the index share; a delete refunds
//! the recorded deposit. Over the life of an owner's index the deposits
//! paid equal the bytes stored. (Upstream priced an estimate unrelated to
//! the real layout, §7.3, and gave the index share back on first update.)

use crate::common::base64;
use crate::common::env;
use crate::common::json::{invalid, Args, Value};
use crate::common::num;
use crate::types::{is_hex64, join, require_account, valid_profile};

/// NEAR's storage price (protocol constant `storage_amount_per_byte`).
pub const STORAGE_PRICE_PER_BYTE: u128 = 10_000_000_000_000_000_000;

/// Per-entry overhead NEAR adds to `len(key) + len(value)`.
const ENTRY_OVERHEAD: u64 = 40;

const MAX_CIPHERTEXT_BYTES: usize = 64 * 1024;
const MAX_ACCESS_DEPTH: usize = 8;

// ---------------------------------------------------------------------------
// Accessor.

#[derive(Clone)]
pub enum Accessor {
    /// A repository: every commit of it (no branch, no commit), one branch,
    /// or one commit (`commit`: 40 lowercase hex digits, only requests
    /// naming exactly that commit match it).
    Repo { repo: String, branch: Option<String>, commit: Option<String> },
    WasmHash { hash: String },
    /// Every version of a project (upstream HEAD's `Project` accessor).
    Project { project_id: String },
}

/// Strip the scheme and trailing slashes, so `https://github.com/a/b/` and
/// `github.com/a/b` name the same secrets (the keystore looks secrets up
/// scheme-less; upstream stored whatever it was given, §13.17).
fn normalise_repo(repo: &str) -> String {
    let r = repo.strip_prefix("https://").or_else(|| repo.strip_prefix("http://")).unwrap_or(repo);
    String::from(r.trim_end_matches('/'))
}

fn printable(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

impl Accessor {
    pub fn parse(v: &Value, path: &str) -> Accessor {
        let (tag, inner) = match v.as_variant() {
            Some(x) => x,
            None => invalid(path, "expected {\"Repo\":{...}}, {\"WasmHash\":{...}} or {\"Project\":{...}}"),
        };
        match tag {
            "Repo" => {
                let p = join(path, "Repo");
                let repo = match inner.get("repo").and_then(|x| x.as_str()) {
                    Some(r) => normalise_repo(r),
                    None => invalid(&join(&p, "repo"), "expected a string"),
                };
                if repo.is_empty() || repo.len() > 512 || !printable(&repo) {
                    invalid(&join(&p, "repo"), "expected a repository of 1-512 characters without spaces");
                }
                let branch = match inner.get("branch") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(b)) if !b.is_empty() && b.len() <= 255 && printable(b) => Some(b.clone()),
                    Some(_) => invalid(&join(&p, "branch"), "expected null or a branch name of 1-255 characters"),
                };
                let commit = match inner.get("commit") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(c)) if c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        Some(c.to_ascii_lowercase())
                    }
                    Some(_) => invalid(&join(&p, "commit"), "expected null or a full commit hash (40 hex characters)"),
                };
                if branch.is_some() && commit.is_some() {
                    invalid(&p, "give a branch or a commit, not both");
                }
                Accessor::Repo { repo, branch, commit }
            }
            "WasmHash" => {
                let p = join(path, "WasmHash");
                match inner.get("hash").and_then(|x| x.as_str()) {
                    Some(h) if is_hex64(h) => Accessor::WasmHash { hash: h.to_ascii_lowercase() },
                    _ => invalid(&join(&p, "hash"), "expected 64 hex characters"),
                }
            }
            "Project" => {
                let p = join(path, "Project");
                match inner.get("project_id").and_then(|x| x.as_str()) {
                    Some(id) if id.contains('/') && id.len() <= 256 && printable(id) => {
                        Accessor::Project { project_id: String::from(id) }
                    }
                    _ => invalid(&join(&p, "project_id"), "expected \"<owner>/<name>\""),
                }
            }
            "System" => invalid(
                path,
                "the System accessor is not stored as a secret here: payment keys are created with create_payment_key",
            ),
            _ => invalid(path, "unknown variant, expected `Repo`, `WasmHash` or `Project`"),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Accessor::Repo { repo, branch, commit } => {
                let mut fields = vec![("repo", Value::str(repo)), ("branch", Value::opt_str(branch))];
                // Only when set, so the ids of repository and branch secrets
                // stored before commit binding existed stay the same.
                if let Some(c) = commit {
                    fields.push(("commit", Value::str(c)));
                }
                Value::tagged("Repo", Value::object(fields))
            }
            Accessor::WasmHash { hash } => Value::tagged("WasmHash", Value::object(vec![("hash", Value::str(hash))])),
            Accessor::Project { project_id } => {
                Value::tagged("Project", Value::object(vec![("project_id", Value::str(project_id))]))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Access conditions: validated, then stored in canonical JSON.

fn op(v: Option<&Value>, path: &str) -> Value {
    match v.and_then(|x| x.as_str()) {
        Some(s @ ("Gte" | "Lte" | "Gt" | "Lt" | "Eq" | "Ne")) => Value::str(s),
        _ => invalid(&join(path, "operator"), "expected one of Gte, Lte, Gt, Lt, Eq, Ne"),
    }
}

fn account_field(v: &Value, path: &str, key: &str) -> Value {
    match v.get(key).and_then(|x| x.as_str()) {
        Some(a) => {
            require_account(&join(path, key), a);
            Value::str(a)
        }
        None => invalid(&join(path, key), "expected an account id"),
    }
}

fn amount_field(v: &Value, path: &str) -> Value {
    match v.get("value").and_then(|x| x.as_str()) {
        Some(s) if num::parse_u128(s).is_some() => Value::str(s),
        _ => invalid(&join(path, "value"), "expected a decimal string (yoctoNEAR or token units)"),
    }
}

/// Validate an AccessCondition and return its canonical form.
pub fn access_condition(v: &Value, path: &str, depth: usize) -> Value {
    if depth > MAX_ACCESS_DEPTH {
        invalid(path, "access condition nested too deeply");
    }
    let (tag, inner) = match v.as_variant() {
        Some(x) => x,
        None => invalid(path, "expected an AccessCondition such as \"AllowAll\" or {\"Whitelist\":{...}}"),
    };
    let p = join(path, tag);
    let body = match tag {
        "AllowAll" => return Value::str("AllowAll"),
        "Whitelist" => {
            let accounts = match inner.get("accounts").and_then(|x| x.as_array()) {
                Some(a) if a.len() <= 1000 => a,
                _ => invalid(&join(&p, "accounts"), "expected an array of at most 1000 account ids"),
            };
            let mut out = Vec::new();
            for a in accounts {
                match a.as_str() {
                    Some(id) => {
                        require_account(&join(&p, "accounts"), id);
                        out.push(Value::str(id));
                    }
                    None => invalid(&join(&p, "accounts"), "expected account id strings"),
                }
            }
            Value::object(vec![("accounts", Value::Array(out))])
        }
        "AccountPattern" => match inner.get("pattern").and_then(|x| x.as_str()) {
            Some(s) if !s.is_empty() && s.len() <= 256 => Value::object(vec![("pattern", Value::str(s))]),
            _ => invalid(&join(&p, "pattern"), "expected a regular expression of 1-256 characters"),
        },
        "NearBalance" => {
            Value::object(vec![("operator", op(inner.get("operator"), &p)), ("value", amount_field(inner, &p))])
        }
        "FtBalance" => Value::object(vec![
            ("contract", account_field(inner, &p, "contract")),
            ("operator", op(inner.get("operator"), &p)),
            ("value", amount_field(inner, &p)),
        ]),
        "NftOwned" => {
            let token = match inner.get("token_id") {
                None | Some(Value::Null) => Value::Null,
                Some(Value::String(t)) => Value::str(t),
                Some(_) => invalid(&join(&p, "token_id"), "expected a string or null"),
            };
            Value::object(vec![("contract", account_field(inner, &p, "contract")), ("token_id", token)])
        }
        "DaoMember" => {
            let role = match inner.get("role").and_then(|x| x.as_str()) {
                Some(r) => Value::str(r),
                None => invalid(&join(&p, "role"), "expected a string"),
            };
            Value::object(vec![("dao_contract", account_field(inner, &p, "dao_contract")), ("role", role)])
        }
        "Logic" => {
            let operator = match inner.get("operator").and_then(|x| x.as_str()) {
                Some(s @ ("And" | "Or")) => Value::str(s),
                _ => invalid(&join(&p, "operator"), "expected \"And\" or \"Or\""),
            };
            let conds = match inner.get("conditions").and_then(|x| x.as_array()) {
                Some(c) if !c.is_empty() && c.len() <= 32 => c,
                _ => invalid(&join(&p, "conditions"), "expected 1-32 conditions"),
            };
            let out = conds.iter().map(|c| access_condition(c, &join(&p, "conditions"), depth + 1)).collect();
            Value::object(vec![("operator", operator), ("conditions", Value::Array(out))])
        }
        "Not" => match inner.get("condition") {
            Some(c) => Value::object(vec![("condition", access_condition(c, &join(&p, "condition"), depth + 1))]),
            None => invalid(&join(&p, "condition"), "missing"),
        },
        _ => invalid(
            path,
            "unknown variant, expected AllowAll, Whitelist, AccountPattern, NearBalance, FtBalance, NftOwned, DaoMember, Logic or Not",
        ),
    };
    Value::tagged(tag, body)
}

// ---------------------------------------------------------------------------
// Records.

struct Secret {
    accessor: Accessor,
    profile: String,
    owner: String,
    encrypted_secrets: String,
    access: Value,
    created_at: u64,
    updated_at: u64,
    /// The part of the deposit paid for the owner's index entry.
    index_bytes: u64,
    storage_deposit: u128,
}

fn secret_id(accessor: &Accessor, profile: &str, owner: &str) -> String {
    Value::Array(vec![accessor.to_json(), Value::str(profile), Value::str(owner)]).to_string()
}

fn secret_key(id: &str) -> Vec<u8> {
    let mut k = b"s:".to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

fn index_key(owner: &str) -> Vec<u8> {
    let mut k = b"u:".to_vec();
    k.extend_from_slice(owner.as_bytes());
    k
}

impl Secret {
    fn to_json(&self) -> Value {
        Value::object(vec![
            ("accessor", self.accessor.to_json()),
            ("profile", Value::str(&self.profile)),
            ("owner", Value::str(&self.owner)),
            ("encrypted_secrets", Value::str(&self.encrypted_secrets)),
            ("access", self.access.clone()),
            ("created_at", Value::u64(self.created_at)),
            ("updated_at", Value::u64(self.updated_at)),
            ("index_bytes", Value::u64(self.index_bytes)),
            ("storage_deposit", Value::u128_string(self.storage_deposit)),
        ])
    }

    fn from_json(v: &Value) -> Secret {
        let corrupt = || -> ! { env::panic_str("Corrupt secret in contract storage") };
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(String::from).unwrap_or_else(|| corrupt());
        let u = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or_else(|| corrupt());
        Secret {
            accessor: Accessor::parse(v.get("accessor").unwrap_or(&Value::Null), "accessor"),
            profile: s("profile"),
            owner: s("owner"),
            encrypted_secrets: s("encrypted_secrets"),
            access: v.get("access").cloned().unwrap_or(Value::Null),
            created_at: u("created_at"),
            updated_at: u("updated_at"),
            index_bytes: u("index_bytes"),
            storage_deposit: v.get("storage_deposit").and_then(|x| x.as_u128()).unwrap_or_else(|| corrupt()),
        }
    }

    fn load(id: &str) -> Option<Secret> {
        env::storage_read_json(&secret_key(id)).map(|v| Secret::from_json(&v))
    }

    /// Set `storage_deposit` to the price of the record entry plus the index
    /// share. The deposit's own digits are part of the record, so iterate to
    /// the fixed point (two or three rounds).
    fn price(&mut self, key_len: usize) {
        self.storage_deposit = 0;
        for _ in 0..8 {
            let bytes = key_len as u64 + self.to_json().to_string().len() as u64 + ENTRY_OVERHEAD + self.index_bytes;
            let d = bytes as u128 * STORAGE_PRICE_PER_BYTE;
            if d == self.storage_deposit {
                return;
            }
            self.storage_deposit = d;
        }
    }

    /// `SecretProfileView`, as returned by get_secrets.
    fn view(&self) -> Value {
        Value::object(vec![
            ("encrypted_secrets", Value::str(&self.encrypted_secrets)),
            ("access", self.access.clone()),
            ("created_at", Value::u64(self.created_at)),
            ("updated_at", Value::u64(self.updated_at)),
            ("storage_deposit", Value::u128_string(self.storage_deposit)),
            ("accessor", self.accessor.to_json()),
        ])
    }

    /// `UserSecretInfo`, as returned by list_user_secrets.
    fn info(&self) -> Value {
        Value::object(vec![
            ("accessor", self.accessor.to_json()),
            ("profile", Value::str(&self.profile)),
            ("created_at", Value::u64(self.created_at)),
            ("updated_at", Value::u64(self.updated_at)),
            ("storage_deposit", Value::u128_string(self.storage_deposit)),
            ("access", self.access.clone()),
        ])
    }
}

fn load_index(owner: &str) -> Option<Vec<Value>> {
    env::storage_read_json(&index_key(owner)).map(|v| match v {
        Value::Array(a) => a,
        _ => env::panic_str("Corrupt secrets index in contract storage"),
    })
}

/// Bytes the index grows by when `id` is added to `owner`'s list.
fn index_growth(owner: &str, id: &str) -> (u64, Vec<Value>) {
    let old = load_index(owner);
    let mut list = old.clone().unwrap_or_default();
    list.push(Value::str(id));
    let new_len = Value::Array(list.clone()).to_string().len() as u64;
    let growth = match old {
        Some(o) => new_len - Value::Array(o).to_string().len() as u64,
        None => ENTRY_OVERHEAD + index_key(owner).len() as u64 + new_len,
    };
    (growth, list)
}

fn parse_profile(args: &Args) -> String {
    let p = args.string("profile");
    if !valid_profile(&p) {
        invalid("profile", "expected 1-64 characters of [A-Za-z0-9_-]");
    }
    p
}

fn parse_ciphertext(args: &Args, key: &str) -> String {
    let c = args.string(key);
    if c.is_empty() || c.len() > MAX_CIPHERTEXT_BYTES || base64::decode(&c).is_none() {
        invalid(key, "expected non-empty standard base64 of at most 65536 characters");
    }
    c
}

/// The record a store/update would write, priced; plus the index list to
/// write when the secret is new.
fn prepare(
    accessor: Accessor,
    profile: String,
    owner: String,
    encrypted_secrets: String,
    access: Value,
) -> (Secret, Option<Secret>, Option<Vec<Value>>) {
    let id = secret_id(&accessor, &profile, &owner);
    let now = env::block_timestamp();
    let existing = Secret::load(&id);
    let (index_bytes, new_index, created_at) = match &existing {
        Some(old) => (old.index_bytes, None, old.created_at),
        None => {
            let (growth, list) = index_growth(&owner, &id);
            (growth, Some(list), now)
        }
    };
    let mut s = Secret {
        accessor,
        profile,
        owner,
        encrypted_secrets,
        access,
        created_at,
        updated_at: now,
        index_bytes,
        storage_deposit: 0,
    };
    s.price(secret_key(&id).len());
    (s, existing, new_index)
}

/// Write `s`, settle the deposit against `attached` (plus the old deposit
/// on update), refund the excess to the caller.
fn commit(s: Secret, existing: Option<Secret>, new_index: Option<Vec<Value>>, attached: u128) {
    let available = attached + existing.as_ref().map(|o| o.storage_deposit).unwrap_or(0);
    if available < s.storage_deposit {
        let mut m = String::from("Insufficient storage deposit: required ");
        m.push_str(&num::u128_to_string(s.storage_deposit));
        m.push_str(" yoctoNEAR, available ");
        m.push_str(&num::u128_to_string(available));
        if existing.is_some() {
            m.push_str(" (attached plus the current deposit)");
        }
        env::panic_str(&m);
    }
    let id = secret_id(&s.accessor, &s.profile, &s.owner);
    env::storage_write_json(&secret_key(&id), &s.to_json());
    if let Some(list) = new_index {
        env::storage_write_json(&index_key(&s.owner), &Value::Array(list));
    }
    env::transfer(&s.owner, available - s.storage_deposit);
    let mut m = String::from(if existing.is_some() { "Secrets updated for profile " } else { "Secrets stored for profile " });
    m.push_str(&s.profile);
    m.push_str(", storage deposit ");
    m.push_str(&num::u128_to_string(s.storage_deposit));
    env::log(&m);
}

// ---------------------------------------------------------------------------
// Methods.

/// store_secrets({"accessor", "profile", "encrypted_secrets_base64", "access"}), payable.
#[no_mangle]
pub extern "C" fn store_secrets() {
    let args = Args::from_input();
    let accessor = Accessor::parse(args.value("accessor"), "accessor");
    if let Accessor::Project { project_id } = &accessor {
        if crate::projects::Project::load(project_id).is_none() {
            let mut m = String::from("Project '");
            m.push_str(project_id);
            m.push_str("' does not exist");
            env::panic_str(&m);
        }
    }
    let profile = parse_profile(&args);
    let ciphertext = parse_ciphertext(&args, "encrypted_secrets_base64");
    let access = access_condition(args.value("access"), "access", 0);
    let owner = env::predecessor_account_id();
    let (s, existing, index) = prepare(accessor, profile, owner, ciphertext, access);
    commit(s, existing, index, env::attached_deposit());
}

/// update_access({"accessor", "profile", "new_access"}), payable: replaces
/// the access condition and re-prices storage (upstream did not, §13.16).
#[no_mangle]
pub extern "C" fn update_access() {
    let args = Args::from_input();
    let accessor = Accessor::parse(args.value("accessor"), "accessor");
    let profile = parse_profile(&args);
    let access = access_condition(args.value("new_access"), "new_access", 0);
    let owner = env::predecessor_account_id();
    let old = match Secret::load(&secret_id(&accessor, &profile, &owner)) {
        Some(s) => s,
        None => env::panic_str("Secrets not found"),
    };
    let (s, existing, index) = prepare(accessor, profile, owner, old.encrypted_secrets, access);
    commit(s, existing, index, env::attached_deposit());
}

/// delete_secrets({"accessor", "profile"}): the caller's own secret; refunds its deposit.
#[no_mangle]
pub extern "C" fn delete_secrets() {
    env::assert_no_deposit("delete_secrets");
    let args = Args::from_input();
    let accessor = Accessor::parse(args.value("accessor"), "accessor");
    let profile = parse_profile(&args);
    let owner = env::predecessor_account_id();
    let id = secret_id(&accessor, &profile, &owner);
    let s = match Secret::load(&id) {
        Some(s) => s,
        None => env::panic_str("Secrets not found"),
    };
    env::storage_remove(&secret_key(&id));
    let list: Vec<Value> =
        load_index(&owner).unwrap_or_default().into_iter().filter(|v| v.as_str() != Some(id.as_str())).collect();
    if list.is_empty() {
        env::storage_remove(&index_key(&owner));
    } else {
        env::storage_write_json(&index_key(&owner), &Value::Array(list));
    }
    env::transfer(&owner, s.storage_deposit);
    let mut m = String::from("Secrets deleted for profile ");
    m.push_str(&profile);
    m.push_str(", refunded ");
    m.push_str(&num::u128_to_string(s.storage_deposit));
    env::log(&m);
}

fn return_json(v: &Value) {
    env::value_return(v.to_string().as_bytes());
}

fn owner_arg(args: &Args, key: &str) -> String {
    let o = args.string(key);
    require_account(key, &o);
    o
}

/// get_secrets({"accessor", "profile", "owner"}) -> SecretProfileView|null.
/// A Repo accessor with a branch or a commit falls back to the same repo
/// with neither.
#[no_mangle]
pub extern "C" fn get_secrets() {
    let args = Args::from_input();
    let accessor = Accessor::parse(args.value("accessor"), "accessor");
    let profile = parse_profile(&args);
    let owner = owner_arg(&args, "owner");
    let mut found = Secret::load(&secret_id(&accessor, &profile, &owner));
    if found.is_none() {
        // A branch or a commit falls back to the repository-wide entry.
        if let Accessor::Repo { repo, branch, commit } = &accessor {
            if branch.is_some() || commit.is_some() {
                let wildcard = Accessor::Repo { repo: repo.clone(), branch: None, commit: None };
                found = Secret::load(&secret_id(&wildcard, &profile, &owner));
            }
        }
    }
    return_json(&found.map(|s| s.view()).unwrap_or(Value::Null));
}

/// secrets_exist({"accessor", "profile", "owner"}) -> bool (exact key only).
#[no_mangle]
pub extern "C" fn secrets_exist() {
    let args = Args::from_input();
    let accessor = Accessor::parse(args.value("accessor"), "accessor");
    let profile = parse_profile(&args);
    let owner = owner_arg(&args, "owner");
    let id = secret_id(&accessor, &profile, &owner);
    return_json(&Value::Bool(env::storage_has_key(&secret_key(&id))));
}

/// list_user_secrets({"account_id"}) -> UserSecretInfo[].
#[no_mangle]
pub extern "C" fn list_user_secrets() {
    let args = Args::from_input();
    let owner = owner_arg(&args, "account_id");
    let out: Vec<Value> = load_index(&owner)
        .unwrap_or_default()
        .iter()
        .filter_map(|id| id.as_str().and_then(Secret::load))
        .map(|s| s.info())
        .collect();
    return_json(&Value::Array(out));
}

/// estimate_storage_cost({"accessor", "profile", "owner",
/// "encrypted_secrets_base64", "access"}) -> U128: the storage_deposit a
/// store_secrets call with these arguments would record.
#[no_mangle]
pub extern "C" fn estimate_storage_cost() {
    let args = Args::from_input();
    let accessor = Accessor::parse(args.value("accessor"), "accessor");
    let profile = parse_profile(&args);
    let owner = owner_arg(&args, "owner");
    let ciphertext = parse_ciphertext(&args, "encrypted_secrets_base64");
    let access = access_condition(args.value("access"), "access", 0);
    let (s, _, _) = prepare(accessor, profile, owner, ciphertext, access);
    return_json(&Value::u128_string(s.storage_deposit));
}

/// list_profiles: kept for interface compatibility; upstream's is a stub
/// that always returns [] and so is this one.
#[no_mangle]
pub extern "C" fn list_profiles() {
    return_json(&Value::Array(Vec::new()));
}
