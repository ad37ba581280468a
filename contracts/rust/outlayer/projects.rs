//! Projects and their versions (upstream HEAD's `projects.rs` interface).
//!
//! A project is `"<owner>/<name>"`, created by its owner with a first
//! version that becomes active. A version is a CodeSource keyed by its wasm
//! hash (WasmUrl) or `"<repo>@<commit>"` (GitHub). `request_execution` with
//! `{"Project":{"project_id","version_key"?}}` runs the active or the named
//! version; secrets stored under the `Project` accessor serve every version.
//!
//! Layout (JSON values):
//!   "p:" + project_id            -> the project record
//!   "pv:" + uuid + "/" + key     -> a version record
//!   "pvi:" + uuid                -> JSON array of the project's version keys, in add order
//!   "up:" + owner                -> JSON array of the owner's project names, in create order
//!   "pn"                         -> the last project number issued (u64 LE)
//!
//! Storage is paid by the owner for exactly the bytes a call adds, measured
//! with `storage_usage` around the writes, plus, for each version, the
//! length of its key: the project record names the active version, so a
//! version pays up front for the bytes it occupies there once activated.
//! Deposits are recorded per project and per version and refunded in full
//! when the version is removed or the project deleted (upstream kept every
//! version deposit on delete_project and left the version entries behind).

use crate::common::env;
use crate::common::json::{invalid, Args, Value};
use crate::common::num;
use crate::secrets::STORAGE_PRICE_PER_BYTE;
use crate::types::{CodeSource, ExecutionSource};

const NEXT_KEY: &[u8] = b"pn";
const MAX_NAME_CHARS: usize = 64;
const MAX_VERSIONS_PAGE: u64 = 100;

pub const EVENT_STANDARD: &str = "near-outlayer";
pub const EVENT_VERSION: &str = "1.0.0";

// ---------------------------------------------------------------------------
// Records.

pub struct Project {
    pub uuid: String,
    pub owner: String,
    pub name: String,
    pub active_version: String,
    pub created_at: u64,
    /// yoctoNEAR held for the project record and the owner's index entry.
    pub storage_deposit: u128,
}

struct Version {
    key: String,
    source: CodeSource,
    added_at: u64,
    storage_deposit: u128,
}

fn project_key(project_id: &str) -> Vec<u8> {
    let mut k = b"p:".to_vec();
    k.extend_from_slice(project_id.as_bytes());
    k
}

fn version_key(uuid: &str, key: &str) -> Vec<u8> {
    let mut k = b"pv:".to_vec();
    k.extend_from_slice(uuid.as_bytes());
    k.push(b'/');
    k.extend_from_slice(key.as_bytes());
    k
}

fn versions_index_key(uuid: &str) -> Vec<u8> {
    let mut k = b"pvi:".to_vec();
    k.extend_from_slice(uuid.as_bytes());
    k
}

fn user_index_key(owner: &str) -> Vec<u8> {
    let mut k = b"up:".to_vec();
    k.extend_from_slice(owner.as_bytes());
    k
}

fn cat(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts {
        s.push_str(p);
    }
    s
}

pub fn project_id_of(owner: &str, name: &str) -> String {
    cat(&[owner, "/", name])
}

impl Project {
    fn to_json(&self) -> Value {
        Value::object(vec![
            ("uuid", Value::str(&self.uuid)),
            ("owner", Value::str(&self.owner)),
            ("name", Value::str(&self.name)),
            ("active_version", Value::str(&self.active_version)),
            ("created_at", Value::u64(self.created_at)),
            ("storage_deposit", Value::u128_string(self.storage_deposit)),
        ])
    }

    fn from_json(v: &Value) -> Project {
        let corrupt = || -> ! { env::panic_str("Corrupt project in contract state") };
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(String::from).unwrap_or_else(|| corrupt());
        Project {
            uuid: s("uuid"),
            owner: s("owner"),
            name: s("name"),
            active_version: s("active_version"),
            created_at: v.get("created_at").and_then(|x| x.as_u64()).unwrap_or_else(|| corrupt()),
            storage_deposit: v.get("storage_deposit").and_then(|x| x.as_u128()).unwrap_or_else(|| corrupt()),
        }
    }

    pub fn load(project_id: &str) -> Option<Project> {
        env::storage_read_json(&project_key(project_id)).map(|v| Project::from_json(&v))
    }

    fn save(&self) {
        env::storage_write_json(&project_key(&self.project_id()), &self.to_json());
    }

    pub fn project_id(&self) -> String {
        project_id_of(&self.owner, &self.name)
    }

    /// `ProjectView`: upstream's fields in upstream's order. storage_deposit
    /// is everything held for the project, its versions included.
    fn view(&self) -> Value {
        let mut total = self.storage_deposit;
        for k in version_keys(&self.uuid) {
            if let Some(v) = Version::load(&self.uuid, &k) {
                total = total.saturating_add(v.storage_deposit);
            }
        }
        Value::object(vec![
            ("uuid", Value::str(&self.uuid)),
            ("owner", Value::str(&self.owner)),
            ("name", Value::str(&self.name)),
            ("project_id", Value::String(self.project_id())),
            ("active_version", Value::str(&self.active_version)),
            ("created_at", Value::u64(self.created_at)),
            ("storage_deposit", Value::u128_string(total)),
        ])
    }
}

impl Version {
    fn to_json(&self) -> Value {
        Value::object(vec![
            ("source", self.source.to_json()),
            ("added_at", Value::u64(self.added_at)),
            ("storage_deposit", Value::u128_string(self.storage_deposit)),
        ])
    }

    fn load(uuid: &str, key: &str) -> Option<Version> {
        env::storage_read_json(&version_key(uuid, key)).map(|v| {
            let corrupt = || -> ! { env::panic_str("Corrupt project version in contract state") };
            Version {
                key: String::from(key),
                source: CodeSource::parse(v.get("source").unwrap_or(&Value::Null), "source"),
                added_at: v.get("added_at").and_then(|x| x.as_u64()).unwrap_or_else(|| corrupt()),
                storage_deposit: v.get("storage_deposit").and_then(|x| x.as_u128()).unwrap_or_else(|| corrupt()),
            }
        })
    }

    fn save(&self, uuid: &str) {
        env::storage_write_json(&version_key(uuid, &self.key), &self.to_json());
    }

    /// `VersionView`: upstream calls the version key `wasm_hash`.
    fn view(&self, active: &str) -> Value {
        Value::object(vec![
            ("wasm_hash", Value::str(&self.key)),
            ("source", self.source.to_json()),
            ("added_at", Value::u64(self.added_at)),
            ("is_active", Value::Bool(self.key == active)),
            ("storage_deposit", Value::u128_string(self.storage_deposit)),
        ])
    }
}

fn read_list(key: &[u8]) -> Vec<String> {
    match env::storage_read_json(key) {
        None => Vec::new(),
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        Some(_) => env::panic_str("Corrupt index in contract state"),
    }
}

fn write_list(key: &[u8], list: &[String]) {
    if list.is_empty() {
        env::storage_remove(key);
    } else {
        env::storage_write_json(key, &Value::Array(list.iter().map(|s| Value::str(s)).collect()));
    }
}

fn version_keys(uuid: &str) -> Vec<String> {
    read_list(&versions_index_key(uuid))
}

// ---------------------------------------------------------------------------
// Validation and deposits.

/// Upstream's name rule: 1-64 characters, each alphanumeric (Unicode
/// letters and digits pass), `-` or `_`.
fn check_name(name: &str) {
    if name.is_empty() {
        invalid("name", "Project name cannot be empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        invalid("name", "Project name too long (max 64 characters)");
    }
    if !name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
        invalid("name", "Project name may contain only letters, digits, '-' and '_'");
    }
}

fn load_owned(project_name: &str) -> Project {
    let owner = env::predecessor_account_id();
    match Project::load(&project_id_of(&owner, project_name)) {
        Some(p) => p,
        None => env::panic_str(&cat(&["Project not found: ", &owner, "/", project_name, " (only its owner can change a project)"])),
    }
}

fn yocto(bytes: u64) -> u128 {
    bytes as u128 * STORAGE_PRICE_PER_BYTE
}

fn grown_since(before: u64) -> u64 {
    env::storage_usage().saturating_sub(before)
}

/// Check `attached` covers `required` and refund the excess to the caller.
fn settle_deposit(required: u128, attached: u128) {
    if attached < required {
        env::panic_str(&cat(&[
            "Insufficient storage deposit. Required: ",
            &num::u128_to_string(required),
            " yoctoNEAR, attached: ",
            &num::u128_to_string(attached),
        ]));
    }
    env::transfer(&env::predecessor_account_id(), attached - required);
}

/// Write a new version and its index entry; returns its deposit (bytes
/// added plus the key's length, reserved for the active-version field).
fn add_version_record(uuid: &str, source: CodeSource) -> (String, u128) {
    let key = source.version_key();
    if env::storage_has_key(&version_key(uuid, &key)) {
        env::panic_str(&cat(&["Version '", &key, "' already exists in project"]));
    }
    let before = env::storage_usage();
    let mut list = version_keys(uuid);
    list.push(key.clone());
    write_list(&versions_index_key(uuid), &list);
    let mut v = Version { key: key.clone(), source, added_at: env::block_timestamp(), storage_deposit: 0 };
    v.save(uuid);
    // The deposit's own digits are part of the record: price to the fixed point.
    for _ in 0..4 {
        let d = yocto(grown_since(before) + key.len() as u64);
        if d == v.storage_deposit {
            break;
        }
        v.storage_deposit = d;
        v.save(uuid);
    }
    (key, v.storage_deposit)
}

fn emit(event: &str, data: Value) {
    env::log_event(EVENT_STANDARD, EVENT_VERSION, event, data);
}

fn project_event(p: &Project, extra: Vec<(&str, Value)>) -> Value {
    let mut fields = vec![
        ("project_id", Value::String(p.project_id())),
        ("project_uuid", Value::str(&p.uuid)),
        ("owner", Value::str(&p.owner)),
    ];
    fields.extend(extra);
    Value::object(fields)
}

// ---------------------------------------------------------------------------
// Resolution for request_execution.

/// What a Project source resolved to.
pub struct ProjectRef {
    pub project_id: String,
    pub project_uuid: String,
}

/// Resolve an ExecutionSource to the CodeSource that runs, with upstream's
/// messages for a missing project or version.
pub fn resolve(source: &ExecutionSource) -> (CodeSource, Option<ProjectRef>) {
    match source {
        ExecutionSource::Code(c) => (c.clone(), None),
        ExecutionSource::Project { project_id, version_key: vk } => {
            let p = match Project::load(project_id) {
                Some(p) => p,
                None => env::panic_str(&cat(&["Project not found: ", project_id])),
            };
            let key = match vk {
                Some(k) => k.clone(),
                None if p.active_version.is_empty() => env::panic_str("Project has no active version"),
                None => p.active_version.clone(),
            };
            let v = match Version::load(&p.uuid, &key) {
                Some(v) => v,
                None => env::panic_str(&cat(&["Version not found: '", &key, "' in project ", project_id])),
            };
            (v.source, Some(ProjectRef { project_id: p.project_id(), project_uuid: p.uuid }))
        }
    }
}

// ---------------------------------------------------------------------------
// Change methods.

fn next_uuid() -> String {
    let n = env::storage_read_u64(NEXT_KEY) + 1;
    env::storage_write_u64(NEXT_KEY, n);
    let hex = crate::common::base64::hex_encode(&n.to_be_bytes());
    cat(&["p", &hex])
}

fn assert_not_paused() {
    if crate::is_paused_state() {
        env::panic_str("Contract is paused");
    }
}

/// create_project({"name", "source": CodeSource}), payable: the caller
/// becomes the owner of "<caller>/<name>"; the version becomes active.
#[no_mangle]
pub extern "C" fn create_project() {
    assert_not_paused();
    let args = Args::from_input();
    let name = args.string("name");
    check_name(&name);
    let source = CodeSource::parse(args.value("source"), "source");
    let owner = env::predecessor_account_id();
    let project_id = project_id_of(&owner, &name);
    if env::storage_has_key(&project_key(&project_id)) {
        env::panic_str(&cat(&["Project '", &project_id, "' already exists"]));
    }
    // The counter is the contract's: written before measuring.
    let uuid = next_uuid();
    let before = env::storage_usage();
    let mut p = Project {
        uuid,
        owner: owner.clone(),
        name: name.clone(),
        active_version: source.version_key(),
        created_at: env::block_timestamp(),
        storage_deposit: 0,
    };
    let mut names = read_list(&user_index_key(&owner));
    names.push(name);
    write_list(&user_index_key(&owner), &names);
    p.save();
    for _ in 0..4 {
        let d = yocto(grown_since(before));
        if d == p.storage_deposit {
            break;
        }
        p.storage_deposit = d;
        p.save();
    }
    let (key, version_deposit) = add_version_record(&p.uuid, source);
    let required = p.storage_deposit + version_deposit;
    settle_deposit(required, env::attached_deposit());
    env::log(&cat(&["Project ", &project_id, " created with version ", &key]));
    emit(
        "project_created",
        project_event(&p, vec![("version_key", Value::str(&key)), ("storage_deposit", Value::u128_string(required))]),
    );
    crate::return_json(&Value::String(project_id));
}

/// add_version({"project_name", "source", "set_active"?: bool}), payable.
#[no_mangle]
pub extern "C" fn add_version() {
    assert_not_paused();
    let args = Args::from_input();
    let mut p = load_owned(&args.string("project_name"));
    let source = CodeSource::parse(args.value("source"), "source");
    let set_active = args.opt_bool("set_active").unwrap_or(false);
    let (key, deposit) = add_version_record(&p.uuid, source);
    if set_active {
        p.active_version = key.clone();
        p.save();
    }
    settle_deposit(deposit, env::attached_deposit());
    env::log(&cat(&["Version ", &key, " added to ", &p.project_id()]));
    emit(
        "project_version_added",
        project_event(
            &p,
            vec![
                ("version_key", Value::str(&key)),
                ("is_active", Value::Bool(set_active)),
                ("storage_deposit", Value::u128_string(deposit)),
            ],
        ),
    );
}

/// set_active_version({"project_name", "version_key"}).
#[no_mangle]
pub extern "C" fn set_active_version() {
    env::assert_no_deposit("set_active_version");
    let args = Args::from_input();
    let mut p = load_owned(&args.string("project_name"));
    let key = args.string("version_key");
    if Version::load(&p.uuid, &key).is_none() {
        env::panic_str(&cat(&["Version '", &key, "' not found in project"]));
    }
    p.active_version = key.clone();
    p.save();
    env::log(&cat(&["Active version of ", &p.project_id(), " set to ", &key]));
    emit("project_active_version_changed", project_event(&p, vec![("version_key", Value::str(&key))]));
}

/// remove_version({"project_name", "version_key"}): refunds the version's deposit.
#[no_mangle]
pub extern "C" fn remove_version() {
    env::assert_no_deposit("remove_version");
    let args = Args::from_input();
    let p = load_owned(&args.string("project_name"));
    let key = args.string("version_key");
    if key == p.active_version {
        env::panic_str("Cannot remove active version. Switch to another version first.");
    }
    let v = match Version::load(&p.uuid, &key) {
        Some(v) => v,
        None => env::panic_str(&cat(&["Version not found: '", &key, "'"])),
    };
    env::storage_remove(&version_key(&p.uuid, &key));
    let list: Vec<String> = version_keys(&p.uuid).into_iter().filter(|k| *k != key).collect();
    write_list(&versions_index_key(&p.uuid), &list);
    env::transfer(&p.owner, v.storage_deposit);
    env::log(&cat(&["Version ", &key, " removed from ", &p.project_id()]));
    emit(
        "project_version_removed",
        project_event(&p, vec![("version_key", Value::str(&key)), ("refunded", Value::u128_string(v.storage_deposit))]),
    );
}

/// delete_project({"project_name"}): removes the project and every version
/// and refunds all their deposits. Logs upstream's ProjectStorageCleanup.
#[no_mangle]
pub extern "C" fn delete_project() {
    env::assert_no_deposit("delete_project");
    let args = Args::from_input();
    let p = load_owned(&args.string("project_name"));
    let mut refund = p.storage_deposit;
    for k in version_keys(&p.uuid) {
        if let Some(v) = Version::load(&p.uuid, &k) {
            refund = refund.saturating_add(v.storage_deposit);
        }
        env::storage_remove(&version_key(&p.uuid, &k));
    }
    env::storage_remove(&versions_index_key(&p.uuid));
    env::storage_remove(&project_key(&p.project_id()));
    let names: Vec<String> = read_list(&user_index_key(&p.owner)).into_iter().filter(|n| *n != p.name).collect();
    write_list(&user_index_key(&p.owner), &names);
    env::transfer(&p.owner, refund);
    let now = env::block_timestamp();
    env::log(&cat(&["Project ", &p.project_id(), " deleted, refunded ", &num::u128_to_string(refund)]));
    emit(
        "system_event",
        Value::tagged(
            "ProjectStorageCleanup",
            Value::object(vec![
                ("project_id", Value::String(p.project_id())),
                ("project_uuid", Value::str(&p.uuid)),
                ("timestamp", Value::u64(now)),
            ]),
        ),
    );
    emit("project_deleted", project_event(&p, vec![("refunded", Value::u128_string(refund))]));
}

/// transfer_project({"project_name", "new_owner"}), payable: re-keys the
/// project to "<new_owner>/<name>", keeping its uuid (and so its storage
/// and version history). Bytes the move adds are paid from the attached
/// deposit; bytes it frees are refunded to the old owner.
#[no_mangle]
pub extern "C" fn transfer_project() {
    let args = Args::from_input();
    let mut p = load_owned(&args.string("project_name"));
    let new_owner = args.string("new_owner");
    crate::types::require_account("new_owner", &new_owner);
    let old_id = p.project_id();
    let new_id = project_id_of(&new_owner, &p.name);
    if env::storage_has_key(&project_key(&new_id)) {
        env::panic_str(&cat(&["Project '", &new_id, "' already exists"]));
    }
    let before = env::storage_usage();
    env::storage_remove(&project_key(&old_id));
    let old_names: Vec<String> = read_list(&user_index_key(&p.owner)).into_iter().filter(|n| *n != p.name).collect();
    write_list(&user_index_key(&p.owner), &old_names);
    let mut new_names = read_list(&user_index_key(&new_owner));
    new_names.push(p.name.clone());
    write_list(&user_index_key(&new_owner), &new_names);
    let old_owner = p.owner.clone();
    p.owner = new_owner.clone();
    p.save();
    let after = env::storage_usage();
    let attached = env::attached_deposit();
    if after > before {
        let grown = yocto(after - before);
        p.storage_deposit += grown;
        p.save();
        settle_deposit(grown, attached);
    } else {
        let freed = yocto(before - after).min(p.storage_deposit);
        p.storage_deposit -= freed;
        p.save();
        env::transfer(&old_owner, freed + attached);
    }
    env::log(&cat(&["Project ", &old_id, " transferred to ", &new_owner, " as ", &new_id]));
    emit("project_transferred", project_event(&p, vec![("old_project_id", Value::String(old_id))]));
}

// ---------------------------------------------------------------------------
// Views.

/// get_project({"project_id"}) -> ProjectView|null.
#[no_mangle]
pub extern "C" fn get_project() {
    let args = Args::from_input();
    let v = Project::load(&args.string("project_id")).map(|p| p.view()).unwrap_or(Value::Null);
    crate::return_json(&v);
}

/// list_user_projects({"account_id", "from_index"?, "limit"?}) -> ProjectView[]
/// in creation order (upstream ignores the page arguments; here they work,
/// default everything, at most 100 per page when a limit is given).
#[no_mangle]
pub extern "C" fn list_user_projects() {
    let args = Args::from_input();
    let owner = args.string("account_id");
    let from = args.opt_u64("from_index").unwrap_or(0) as usize;
    let limit = args.opt_u64("limit").map(|l| l.min(MAX_VERSIONS_PAGE) as usize).unwrap_or(usize::MAX);
    let out: Vec<Value> = read_list(&user_index_key(&owner))
        .iter()
        .skip(from)
        .take(limit)
        .filter_map(|n| Project::load(&project_id_of(&owner, n)))
        .map(|p| p.view())
        .collect();
    crate::return_json(&Value::Array(out));
}

/// get_version({"project_id", "version_key"}) -> VersionView|null.
#[no_mangle]
pub extern "C" fn get_version() {
    let args = Args::from_input();
    let key = args.string("version_key");
    let v = Project::load(&args.string("project_id"))
        .and_then(|p| Version::load(&p.uuid, &key).map(|v| v.view(&p.active_version)))
        .unwrap_or(Value::Null);
    crate::return_json(&v);
}

/// list_versions({"project_id", "from_index"? = 0, "limit"? = 50 (max 100)})
/// -> VersionView[] in the order they were added; [] for an unknown project.
#[no_mangle]
pub extern "C" fn list_versions() {
    let args = Args::from_input();
    let from = args.opt_u64("from_index").unwrap_or(0) as usize;
    let limit = args.opt_u64("limit").unwrap_or(50).min(MAX_VERSIONS_PAGE) as usize;
    let out: Vec<Value> = match Project::load(&args.string("project_id")) {
        None => Vec::new(),
        Some(p) => version_keys(&p.uuid)
            .iter()
            .skip(from)
            .take(limit)
            .filter_map(|k| Version::load(&p.uuid, k))
            .map(|v| v.view(&p.active_version))
            .collect(),
    };
    crate::return_json(&Value::Array(out));
}

/// get_version_count({"project_id"}) -> u64 (0 for an unknown project).
#[no_mangle]
pub extern "C" fn get_version_count() {
    let args = Args::from_input();
    let n = Project::load(&args.string("project_id")).map(|p| version_keys(&p.uuid).len() as u64).unwrap_or(0);
    crate::return_json(&Value::u64(n));
}
