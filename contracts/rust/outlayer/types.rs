//! The OutLayer contract's JSON types: parsing (with validation) and
//! serialisation in upstream's wire shapes (externally tagged enums, u64 as
//! numbers, U128 as strings).

use crate::common::account;
use crate::common::base64;
use crate::common::json::{invalid, Value};

// ---------------------------------------------------------------------------
// Limits and defaults (upstream's values).

pub const DEFAULT_MAX_INSTRUCTIONS: u64 = 1_000_000_000;
pub const DEFAULT_MAX_MEMORY_MB: u32 = 128;
pub const DEFAULT_MAX_EXECUTION_SECONDS: u64 = 60;

pub const MAX_INSTRUCTIONS: u64 = 500_000_000_000;
pub const MAX_EXECUTION_SECONDS: u64 = 180;
pub const MAX_COMPILATION_SECONDS: u64 = 300;
/// wasm32 cannot address more than 4 GiB; upstream had no cap at all.
pub const MAX_MEMORY_MB: u32 = 4096;

/// Largest `input_data` accepted. Upstream had no cap, but its event embeds
/// the input twice and NEAR caps a receipt's logs at 16 KiB, so larger
/// inputs failed there anyway (upstream §13.9).
pub const MAX_INPUT_DATA_BYTES: usize = 10 * 1024;

/// Largest output accepted through the large-output path. It sits in
/// contract state until the callback returns it.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// Small validation helpers.

fn field_str<'a>(obj: &'a Value, path: &str, key: &str) -> &'a str {
    match obj.get(key) {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None => invalid(&join(path, key), "missing"),
        Some(_) => invalid(&join(path, key), "expected a string"),
    }
}

fn field_opt_str(obj: &Value, path: &str, key: &str) -> Option<String> {
    match obj.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(_) => invalid(&join(path, key), "expected a string or null"),
    }
}

fn field_opt_u64(obj: &Value, path: &str, key: &str) -> Option<u64> {
    match obj.get(key) {
        Some(Value::Null) | None => None,
        Some(v) => match v.as_u64() {
            Some(n) => Some(n),
            None => invalid(&join(path, key), "expected a non-negative integer that fits in u64"),
        },
    }
}

fn field_bool_default(obj: &Value, path: &str, key: &str) -> bool {
    match obj.get(key) {
        Some(Value::Null) | None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => invalid(&join(path, key), "expected true or false"),
    }
}

pub fn join(path: &str, key: &str) -> String {
    let mut s = String::from(path);
    if !s.is_empty() {
        s.push('.');
    }
    s.push_str(key);
    s
}

fn expect_object(v: &Value, path: &str) {
    if !matches!(v, Value::Object(_)) {
        invalid(path, "expected a JSON object")
    }
}

fn printable(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn require_account(path: &str, id: &str) {
    if !account::is_valid(id) {
        invalid(path, "not a valid NEAR account id")
    }
}

// ---------------------------------------------------------------------------
// CodeSource.

#[derive(Clone)]
pub enum CodeSource {
    GitHub { repo: String, commit: String, build_target: Option<String> },
    WasmUrl { url: String, hash: String, build_target: Option<String> },
}

fn check_build_target(path: &str, t: &Option<String>) {
    if let Some(t) = t {
        let ok = !t.is_empty()
            && t.len() <= 64
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            invalid(&join(path, "build_target"), "expected 1-64 characters of [A-Za-z0-9_-], e.g. wasm32-wasip1");
        }
    }
}

impl CodeSource {
    /// Parse and validate `{"GitHub":{..}}` or `{"WasmUrl":{..}}`.
    pub fn parse(v: &Value, path: &str) -> CodeSource {
        let (tag, inner) = match v.as_variant() {
            Some(x) => x,
            None => invalid(path, "expected {\"GitHub\":{...}} or {\"WasmUrl\":{...}}"),
        };
        match tag {
            "GitHub" => {
                let p = join(path, "GitHub");
                expect_object(inner, &p);
                let repo = field_str(inner, &p, "repo");
                let commit = field_str(inner, &p, "commit");
                let build_target = field_opt_str(inner, &p, "build_target");
                if repo.is_empty() || repo.len() > 512 || !printable(repo) {
                    invalid(&join(&p, "repo"), "expected a repository URL of 1-512 characters without spaces");
                }
                if commit.is_empty() || commit.len() > 256 || !printable(commit) {
                    invalid(&join(&p, "commit"), "expected a commit hash or branch name of 1-256 characters without spaces");
                }
                check_build_target(&p, &build_target);
                CodeSource::GitHub { repo: String::from(repo), commit: String::from(commit), build_target }
            }
            "WasmUrl" => {
                let p = join(path, "WasmUrl");
                expect_object(inner, &p);
                let url = field_str(inner, &p, "url");
                let hash = field_str(inner, &p, "hash");
                let build_target = field_opt_str(inner, &p, "build_target");
                let scheme_ok = ["https://", "http://", "ipfs://", "ar://"]
                    .iter()
                    .any(|s| url.starts_with(s) && url.len() > s.len());
                if !scheme_ok || url.len() > 1024 || !printable(url) {
                    invalid(&join(&p, "url"), "expected an https://, http://, ipfs:// or ar:// URL of at most 1024 characters");
                }
                if !is_hex64(hash) {
                    invalid(&join(&p, "hash"), "expected the hex SHA-256 of the wasm (64 hex characters)");
                }
                check_build_target(&p, &build_target);
                CodeSource::WasmUrl { url: String::from(url), hash: hash.to_ascii_lowercase(), build_target }
            }
            _ => invalid(path, "unknown variant, expected `GitHub` or `WasmUrl`"),
        }
    }

    /// The key this source has as a project version: the wasm hash, or
    /// `"<repo>@<commit>"` (upstream's rule).
    pub fn version_key(&self) -> String {
        match self {
            CodeSource::GitHub { repo, commit, .. } => {
                let mut k = repo.clone();
                k.push('@');
                k.push_str(commit);
                k
            }
            CodeSource::WasmUrl { hash, .. } => hash.clone(),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            CodeSource::GitHub { repo, commit, build_target } => Value::tagged(
                "GitHub",
                Value::object(vec![
                    ("repo", Value::str(repo)),
                    ("commit", Value::str(commit)),
                    ("build_target", Value::opt_str(build_target)),
                ]),
            ),
            CodeSource::WasmUrl { url, hash, build_target } => Value::tagged(
                "WasmUrl",
                Value::object(vec![
                    ("url", Value::str(url)),
                    ("hash", Value::str(hash)),
                    ("build_target", Value::opt_str(build_target)),
                ]),
            ),
        }
    }
}

/// `ExecutionSource` (upstream HEAD's `source`): a CodeSource or
/// `{"Project":{"project_id","version_key"?}}`. The contract resolves a
/// Project to the CodeSource of one of its versions before it stores or
/// emits anything, so workers only ever see a CodeSource.
#[derive(Clone)]
pub enum ExecutionSource {
    Code(CodeSource),
    Project { project_id: String, version_key: Option<String> },
}

impl ExecutionSource {
    pub fn parse(v: &Value, path: &str) -> ExecutionSource {
        match v.as_variant() {
            Some(("Project", inner)) => {
                let p = join(path, "Project");
                expect_object(inner, &p);
                let project_id = String::from(field_str(inner, &p, "project_id"));
                if project_id.is_empty() || project_id.len() > 256 || !printable(&project_id) {
                    invalid(&join(&p, "project_id"), "expected \"<owner>/<name>\"");
                }
                let version_key = field_opt_str(inner, &p, "version_key");
                ExecutionSource::Project { project_id, version_key }
            }
            Some(("GitHub", _)) | Some(("WasmUrl", _)) => ExecutionSource::Code(CodeSource::parse(v, path)),
            Some(_) => invalid(path, "unknown variant, expected `GitHub`, `WasmUrl` or `Project`"),
            None => invalid(
                path,
                "expected {\"GitHub\":{...}}, {\"WasmUrl\":{...}} or {\"Project\":{\"project_id\":...,\"version_key\":...}}",
            ),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            ExecutionSource::Code(c) => c.to_json(),
            ExecutionSource::Project { project_id, version_key } => Value::tagged(
                "Project",
                Value::object(vec![("project_id", Value::str(project_id)), ("version_key", Value::opt_str(version_key))]),
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// ResourceLimits.

/// Limits with every field filled in (upstream left fields of a partially
/// given struct null and then treated them as 0 for the cap check but as
/// the default for the estimate, §13.3).
#[derive(Clone, Copy)]
pub struct ResourceLimits {
    pub max_instructions: u64,
    pub max_memory_mb: u32,
    pub max_execution_seconds: u64,
}

impl ResourceLimits {
    pub fn default_limits() -> ResourceLimits {
        ResourceLimits {
            max_instructions: DEFAULT_MAX_INSTRUCTIONS,
            max_memory_mb: DEFAULT_MAX_MEMORY_MB,
            max_execution_seconds: DEFAULT_MAX_EXECUTION_SECONDS,
        }
    }

    /// Parse (missing fields take the defaults) without checking caps.
    pub fn parse(v: &Value, path: &str) -> ResourceLimits {
        expect_object(v, path);
        let d = ResourceLimits::default_limits();
        let mem = field_opt_u64(v, path, "max_memory_mb").unwrap_or(d.max_memory_mb as u64);
        if mem > u32::MAX as u64 {
            invalid(&join(path, "max_memory_mb"), "expected an integer that fits in u32");
        }
        ResourceLimits {
            max_instructions: field_opt_u64(v, path, "max_instructions").unwrap_or(d.max_instructions),
            max_memory_mb: mem as u32,
            max_execution_seconds: field_opt_u64(v, path, "max_execution_seconds").unwrap_or(d.max_execution_seconds),
        }
    }

    /// The hard caps; a message naming the offending field when violated.
    pub fn check_caps(&self) -> Option<&'static str> {
        if self.max_instructions == 0 || self.max_instructions > MAX_INSTRUCTIONS {
            return Some("max_instructions must be between 1 and 500000000000");
        }
        if self.max_execution_seconds == 0 || self.max_execution_seconds > MAX_EXECUTION_SECONDS {
            return Some("max_execution_seconds must be between 1 and 180");
        }
        if self.max_memory_mb == 0 || self.max_memory_mb > MAX_MEMORY_MB {
            return Some("max_memory_mb must be between 1 and 4096");
        }
        None
    }

    pub fn to_json(&self) -> Value {
        Value::object(vec![
            ("max_instructions", Value::u64(self.max_instructions)),
            ("max_memory_mb", Value::u64(self.max_memory_mb as u64)),
            ("max_execution_seconds", Value::u64(self.max_execution_seconds)),
        ])
    }
}

// ---------------------------------------------------------------------------
// ResponseFormat.

#[derive(Clone, Copy, PartialEq)]
pub enum ResponseFormat {
    Bytes,
    Text,
    Json,
}

impl ResponseFormat {
    pub fn parse(v: &Value, path: &str) -> ResponseFormat {
        match v.as_str() {
            Some("Bytes") => ResponseFormat::Bytes,
            Some("Text") => ResponseFormat::Text,
            Some("Json") => ResponseFormat::Json,
            _ => invalid(path, "expected \"Bytes\", \"Text\" or \"Json\""),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            ResponseFormat::Bytes => "Bytes",
            ResponseFormat::Text => "Text",
            ResponseFormat::Json => "Json",
        }
    }
}

// ---------------------------------------------------------------------------
// SecretsReference.

#[derive(Clone)]
pub struct SecretsRef {
    pub profile: String,
    pub account_id: String,
}

impl SecretsRef {
    pub fn parse(v: &Value, path: &str) -> SecretsRef {
        expect_object(v, path);
        let profile = field_str(v, path, "profile");
        let account_id = field_str(v, path, "account_id");
        if !valid_profile(profile) {
            invalid(&join(path, "profile"), "expected 1-64 characters of [A-Za-z0-9_-]");
        }
        require_account(&join(path, "account_id"), account_id);
        SecretsRef { profile: String::from(profile), account_id: String::from(account_id) }
    }

    pub fn to_json(&self) -> Value {
        Value::object(vec![("profile", Value::str(&self.profile)), ("account_id", Value::str(&self.account_id))])
    }
}

pub fn valid_profile(p: &str) -> bool {
    !p.is_empty() && p.len() <= 64 && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

// ---------------------------------------------------------------------------
// RequestParams.

#[derive(Clone, Copy, Default)]
pub struct RequestParams {
    pub force_rebuild: bool,
    pub store_on_fastfs: bool,
    pub compile_only: bool,
}

/// The RequestParams fields upstream HEAD added. They are read and checked
/// by request_execution, never stored: `project_uuid` is the contract's to
/// set, and the stablecoin and bound-identity features do not exist here.
pub struct HeadParams {
    pub project_uuid: Option<String>,
    pub attached_usd: u128,
    pub use_bound_identity: bool,
}

impl RequestParams {
    pub fn parse(v: &Value, path: &str) -> RequestParams {
        expect_object(v, path);
        RequestParams {
            force_rebuild: field_bool_default(v, path, "force_rebuild"),
            store_on_fastfs: field_bool_default(v, path, "store_on_fastfs"),
            compile_only: field_bool_default(v, path, "compile_only"),
        }
    }
}

impl HeadParams {
    pub fn parse(v: Option<&Value>, path: &str) -> HeadParams {
        let v = match v {
            Some(v) => v,
            None => return HeadParams { project_uuid: None, attached_usd: 0, use_bound_identity: false },
        };
        let attached_usd = match v.get("attached_usd") {
            Some(Value::Null) | None => 0,
            Some(x) => match x.as_u128() {
                Some(n) => n,
                None => invalid(&join(path, "attached_usd"), "expected a decimal string (U128)"),
            },
        };
        HeadParams {
            project_uuid: field_opt_str(v, path, "project_uuid").filter(|s| !s.is_empty()),
            attached_usd,
            use_bound_identity: field_bool_default(v, path, "use_bound_identity"),
        }
    }
}

// ---------------------------------------------------------------------------
// ExecutionOutput.

/// `{"Bytes":[..]}`, `{"Text":".."}` or `{"Json":<any>}`.
#[derive(Clone)]
pub enum ExecutionOutput {
    Bytes(Vec<u8>),
    Text(String),
    Json(Value),
}

impl ExecutionOutput {
    pub fn parse(v: &Value, path: &str) -> ExecutionOutput {
        let (tag, inner) = match v.as_variant() {
            Some(x) => x,
            None => invalid(path, "expected {\"Bytes\":[...]}, {\"Text\":\"...\"} or {\"Json\":...}"),
        };
        match tag {
            "Bytes" => {
                let items = match inner.as_array() {
                    Some(a) => a,
                    None => invalid(&join(path, "Bytes"), "expected an array of bytes"),
                };
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    match it.as_u64() {
                        Some(b) if b < 256 => out.push(b as u8),
                        _ => invalid(&join(path, "Bytes"), "expected an array of integers 0-255"),
                    }
                }
                ExecutionOutput::Bytes(out)
            }
            "Text" => match inner.as_str() {
                Some(s) => ExecutionOutput::Text(String::from(s)),
                None => invalid(&join(path, "Text"), "expected a string"),
            },
            "Json" => ExecutionOutput::Json(inner.clone()),
            _ => invalid(path, "unknown variant, expected `Bytes`, `Text` or `Json`"),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            ExecutionOutput::Bytes(b) => Value::tagged("Bytes", Value::bytes_array(b)),
            ExecutionOutput::Text(s) => Value::tagged("Text", Value::str(s)),
            ExecutionOutput::Json(v) => Value::tagged("Json", v.clone()),
        }
    }

    /// What the calling contract receives: the text as a JSON string, the
    /// JSON value itself, or the bytes as a base64 string (upstream §4.5).
    pub fn unwrap_for_caller(&self) -> Value {
        match self {
            ExecutionOutput::Bytes(b) => Value::String(base64::encode(b)),
            ExecutionOutput::Text(s) => Value::str(s),
            ExecutionOutput::Json(v) => v.clone(),
        }
    }

    /// Payload size, used for the output cap.
    pub fn size(&self) -> usize {
        match self {
            ExecutionOutput::Bytes(b) => b.len(),
            ExecutionOutput::Text(s) => s.len(),
            ExecutionOutput::Json(v) => v.to_string().len(),
        }
    }
}

// ---------------------------------------------------------------------------
// ResourceMetrics and ExecutionResponse.

#[derive(Clone, Copy, Default)]
pub struct ResourceMetrics {
    pub instructions: u64,
    pub time_ms: u64,
    pub compile_time_ms: Option<u64>,
}

impl ResourceMetrics {
    pub fn parse(v: &Value, path: &str) -> ResourceMetrics {
        expect_object(v, path);
        let instructions = match field_opt_u64(v, path, "instructions") {
            Some(n) => n,
            None => invalid(&join(path, "instructions"), "missing"),
        };
        let time_ms = match field_opt_u64(v, path, "time_ms") {
            Some(n) => n,
            None => invalid(&join(path, "time_ms"), "missing"),
        };
        ResourceMetrics { instructions, time_ms, compile_time_ms: field_opt_u64(v, path, "compile_time_ms") }
    }

    pub fn to_json(&self) -> Value {
        Value::object(vec![
            ("instructions", Value::u64(self.instructions)),
            ("time_ms", Value::u64(self.time_ms)),
            ("compile_time_ms", Value::opt_u64(self.compile_time_ms)),
        ])
    }
}

#[derive(Clone)]
pub struct ExecutionResponse {
    pub success: bool,
    pub output: Option<ExecutionOutput>,
    pub error: Option<String>,
    pub resources_used: ResourceMetrics,
    pub compilation_note: Option<String>,
}

impl ExecutionResponse {
    pub fn parse(v: &Value, path: &str) -> ExecutionResponse {
        expect_object(v, path);
        let success = match v.get("success") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Null) | None => invalid(&join(path, "success"), "missing"),
            Some(_) => invalid(&join(path, "success"), "expected true or false"),
        };
        let output = match v.get("output") {
            Some(Value::Null) | None => None,
            Some(o) => Some(ExecutionOutput::parse(o, &join(path, "output"))),
        };
        let resources_used = match v.get("resources_used") {
            Some(Value::Null) | None => invalid(&join(path, "resources_used"), "missing"),
            Some(r) => ResourceMetrics::parse(r, &join(path, "resources_used")),
        };
        ExecutionResponse {
            success,
            output,
            error: field_opt_str(v, path, "error"),
            resources_used,
            compilation_note: field_opt_str(v, path, "compilation_note"),
        }
    }

    pub fn to_json(&self) -> Value {
        Value::object(vec![
            ("success", Value::Bool(self.success)),
            ("output", self.output.as_ref().map(|o| o.to_json()).unwrap_or(Value::Null)),
            ("error", Value::opt_str(&self.error)),
            ("resources_used", self.resources_used.to_json()),
            ("compilation_note", Value::opt_str(&self.compilation_note)),
        ])
    }
}

// ---------------------------------------------------------------------------
// Pricing.

#[derive(Clone, Copy)]
pub struct Pricing {
    pub base_fee: u128,
    pub per_million_instructions_fee: u128,
    pub per_ms_fee: u128,
    pub per_compile_ms_fee: u128,
}

impl Pricing {
    /// Upstream's defaults (§6.1).
    pub fn default_prices() -> Pricing {
        Pricing {
            base_fee: 1_000_000_000_000_000_000_000,
            per_million_instructions_fee: 100_000_000_000_000,
            per_ms_fee: 100_000_000_000_000_000,
            per_compile_ms_fee: 100_000_000_000_000_000,
        }
    }

    /// The up-front estimate: base + full millions of instructions + the
    /// whole time budget. Saturating, so absurd owner prices cannot wrap.
    pub fn estimate(&self, limits: &ResourceLimits) -> u128 {
        self.base_fee
            .saturating_add((limits.max_instructions / 1_000_000) as u128 * self.per_million_instructions_fee)
            .saturating_add(
                (limits.max_execution_seconds as u128 * 1000).saturating_mul(self.per_ms_fee),
            )
    }

    /// The charge for reported usage, with each metric clamped to what the
    /// request allowed (upstream trusted the operator's numbers, §13.2).
    pub fn cost(&self, used: &ResourceMetrics, limits: &ResourceLimits) -> u128 {
        let instructions = used.instructions.min(limits.max_instructions);
        let time_ms = used.time_ms.min(limits.max_execution_seconds.saturating_mul(1000));
        let compile_ms = used.compile_time_ms.unwrap_or(0).min(MAX_COMPILATION_SECONDS * 1000);
        self.base_fee
            .saturating_add(((instructions / 1_000_000) as u128).saturating_mul(self.per_million_instructions_fee))
            .saturating_add((time_ms as u128).saturating_mul(self.per_ms_fee))
            .saturating_add((compile_ms as u128).saturating_mul(self.per_compile_ms_fee))
    }

    pub fn to_json_array(&self) -> Value {
        Value::Array(vec![
            Value::u128_string(self.base_fee),
            Value::u128_string(self.per_million_instructions_fee),
            Value::u128_string(self.per_ms_fee),
            Value::u128_string(self.per_compile_ms_fee),
        ])
    }

    pub fn from_json_array(v: &Value) -> Option<Pricing> {
        let a = v.as_array()?;
        if a.len() != 4 {
            return None;
        }
        Some(Pricing {
            base_fee: a[0].as_u128()?,
            per_million_instructions_fee: a[1].as_u128()?,
            per_ms_fee: a[2].as_u128()?,
            per_compile_ms_fee: a[3].as_u128()?,
        })
    }
}
