//! The OutLayer contract: paid off-chain execution requests settled through
//! NEAR yield/resume, plus per-owner encrypted secrets.
//!
//! JSON-compatible with upstream near-outlayer's main contract at 645a6e5
//! (method names, argument and result shapes, the `near-outlayer` events);
//! the deliberate differences are listed in contracts/DESIGN.md.
//!
//! Flow: `request_execution` validates, checks the deposit against the
//! estimate, stores the request and yields to `on_execution_response`. The
//! operator calls `resolve_execution` (or, for outputs over the 1024-byte
//! resume limit, `submit_execution_output_and_resolve`), which resumes the
//! yield. The callback charges for the reported usage, refunds the rest to
//! the payer, logs `execution_completed` and returns the output to the
//! caller. After 200 blocks without a resume the callback runs with a
//! failed result and refunds everything but the base fee.

#[path = "../common/mod.rs"]
mod common;
mod payment_keys;
mod projects;
mod agreement;
mod claim;
mod secrets;
mod types;

use common::base64::hex_encode;
use common::env::{self, PromiseResult, TGAS};
use common::json::{self, Args, Value};
use common::num;
use types::*;

const EVENT_STANDARD: &str = "near-outlayer";
const EVENT_VERSION: &str = "1.0.0";

/// Gas reserved for the yield callback (upstream's MIN_RESPONSE_GAS).
const CALLBACK_GAS: u64 = 50 * TGAS;

/// How long before the original caller may cancel a request themselves.
const STALE_AFTER_NS: u64 = 600 * 1_000_000_000;

/// NEAR caps the logs of one execution at 16 KiB; keep the event under this.
const MAX_EVENT_LOG_BYTES: usize = 15 * 1024;

/// The request storage estimate_execution_cost includes (requests store
/// ~1.4 KB without input); request_execution requires the measured amount.
const REQUEST_STORAGE_ALLOWANCE_BYTES: u64 = 4096;

const STATE_KEY: &[u8] = b"STATE";
const PENDING_KEY: &[u8] = b"pending";

// ---------------------------------------------------------------------------
// Contract state.

struct State {
    owner_id: String,
    operator_id: String,
    paused: bool,
    pricing: Pricing,
    next_request_id: u64,
    total_executions: u64,
    total_fees_collected: u128,
    total_fees_withdrawn: u128,
}

impl State {
    fn load() -> State {
        let v = match env::storage_read_json(STATE_KEY) {
            Some(v) => v,
            None => env::panic_str("The contract is not initialized: call new(owner_id, operator_id) first"),
        };
        let s = |k: &str| String::from(v.get(k).and_then(|x| x.as_str()).unwrap_or_default());
        let u = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
        let b = |k: &str| v.get(k).and_then(|x| x.as_u128()).unwrap_or(0);
        State {
            owner_id: s("owner_id"),
            operator_id: s("operator_id"),
            paused: v.get("paused").and_then(|x| x.as_bool()).unwrap_or(false),
            pricing: match v.get("pricing").and_then(Pricing::from_json_array) {
                Some(p) => p,
                None => env::panic_str("Corrupt pricing in contract state"),
            },
            next_request_id: u("next_request_id"),
            total_executions: u("total_executions"),
            total_fees_collected: b("total_fees_collected"),
            total_fees_withdrawn: b("total_fees_withdrawn"),
        }
    }

    fn save(&self) {
        let v = Value::object(vec![
            ("owner_id", Value::str(&self.owner_id)),
            ("operator_id", Value::str(&self.operator_id)),
            ("paused", Value::Bool(self.paused)),
            ("pricing", self.pricing.to_json_array()),
            ("next_request_id", Value::u64(self.next_request_id)),
            ("total_executions", Value::u64(self.total_executions)),
            ("total_fees_collected", Value::u128_string(self.total_fees_collected)),
            ("total_fees_withdrawn", Value::u128_string(self.total_fees_withdrawn)),
        ]);
        env::storage_write_json(STATE_KEY, &v);
    }

    fn assert_owner(&self) {
        if env::predecessor_account_id() != self.owner_id {
            env::panic_str("Only owner can call this method");
        }
    }

    fn assert_operator(&self) {
        if env::predecessor_account_id() != self.operator_id {
            env::panic_str("Only operator can call this");
        }
    }
}

// ---------------------------------------------------------------------------
// Pending requests.

struct Request {
    request_id: u64,
    data_id: [u8; 32],
    sender_id: String,
    /// The transaction's signer (upstream HEAD's `sender_id` in events).
    signer_id: String,
    /// What the caller sent as `source` (or `code_source`).
    execution_source: ExecutionSource,
    /// The CodeSource that runs (a Project source resolved to a version).
    code_source: CodeSource,
    project: Option<projects::ProjectRef>,
    resource_limits: ResourceLimits,
    payment: u128,
    timestamp: u64,
    secrets_ref: Option<SecretsRef>,
    response_format: ResponseFormat,
    input_data: Option<String>,
    payer_account_id: String,
    /// A large output submitted for this request; it is stored under its
    /// own key (`output_key`) as raw bytes, not in this record.
    output_submitted: bool,
    params: RequestParams,
    block_height: u64,
    resolved: bool,
    pricing: Pricing,
    /// Executor signatures the resolve must carry (agreement.rs), at least 1.
    required_signatures: u64,
    /// Bytes of contract storage this request holds while pending
    /// (measured); the payer's deposit covers them and gets them back.
    storage_bytes: u64,
}

fn request_key(id: u64) -> Vec<u8> {
    let mut k = b"r:".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn output_key(id: u64) -> Vec<u8> {
    let mut k = b"o:".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Store a submitted output as one tag byte and the raw payload, so the
/// callback returns it without another JSON round trip of its bytes.
fn save_output(id: u64, out: &ExecutionOutput) {
    let mut raw = Vec::with_capacity(out.size() + 1);
    match out {
        ExecutionOutput::Bytes(b) => {
            raw.push(0);
            raw.extend_from_slice(b);
        }
        ExecutionOutput::Text(t) => {
            raw.push(1);
            raw.extend_from_slice(t.as_bytes());
        }
        ExecutionOutput::Json(v) => {
            raw.push(2);
            raw.extend_from_slice(v.to_string().as_bytes());
        }
    }
    env::storage_write(&output_key(id), &raw);
}

/// The stored output's tag and payload.
fn load_output_raw(id: u64) -> Option<(u8, Vec<u8>)> {
    let mut raw = env::storage_read(&output_key(id))?;
    if raw.is_empty() {
        return None;
    }
    let tag = raw.remove(0);
    Some((tag, raw))
}

fn load_output(id: u64) -> Option<ExecutionOutput> {
    let (tag, raw) = load_output_raw(id)?;
    Some(match tag {
        0 => ExecutionOutput::Bytes(raw),
        1 => ExecutionOutput::Text(String::from_utf8_lossy(&raw).into_owned()),
        _ => ExecutionOutput::Json(json::parse(&raw).unwrap_or(Value::Null)),
    })
}

/// What the caller receives for a stored output, as JSON bytes: a base64
/// string for Bytes, a string for Text, the value itself for Json.
fn stored_output_return(id: u64) -> Vec<u8> {
    match load_output_raw(id) {
        None => b"null".to_vec(),
        Some((0, raw)) => Value::String(common::base64::encode(&raw)).to_string().into_bytes(),
        Some((1, raw)) => Value::String(String::from_utf8_lossy(&raw).into_owned()).to_string().into_bytes(),
        Some((_, raw)) => raw,
    }
}

impl Request {
    /// The JSON of `get_request`: upstream's ExecutionRequest fields in
    /// upstream's order (payment is a bare number there), then ours.
    fn view(&self) -> Value {
        let mut v = self.to_json();
        if let Value::Object(pairs) = &mut v {
            let out = if self.output_submitted { load_output(self.request_id) } else { None };
            let out = out.map(|o| o.to_json()).unwrap_or(Value::Null);
            // Upstream's position: right after payer_account_id.
            let pos = pairs.iter().position(|(k, _)| k == "payer_account_id").map(|p| p + 1).unwrap_or(pairs.len());
            pairs.insert(pos, (String::from("pending_output"), out));
        }
        v
    }

    /// The stored record (no output bytes).
    fn to_json(&self) -> Value {
        Value::object(vec![
            ("request_id", Value::u64(self.request_id)),
            ("data_id", Value::bytes_array(&self.data_id)),
            ("sender_id", Value::str(&self.sender_id)),
            ("code_source", self.code_source.to_json()),
            ("resource_limits", self.resource_limits.to_json()),
            ("payment", Value::u128_number(self.payment)),
            ("timestamp", Value::u64(self.timestamp)),
            ("secrets_ref", self.secrets_ref.as_ref().map(|s| s.to_json()).unwrap_or(Value::Null)),
            ("response_format", Value::str(self.response_format.name())),
            ("input_data", Value::opt_str(&self.input_data)),
            ("payer_account_id", Value::str(&self.payer_account_id)),
            ("output_submitted", Value::Bool(self.output_submitted)),
            ("compile_only", Value::Bool(self.params.compile_only)),
            ("force_rebuild", Value::Bool(self.params.force_rebuild)),
            ("store_on_fastfs", Value::Bool(self.params.store_on_fastfs)),
            ("block_height", Value::u64(self.block_height)),
            ("resolved", Value::Bool(self.resolved)),
            ("pricing", self.pricing.to_json_array()),
            ("signer_id", Value::str(&self.signer_id)),
            ("execution_source", self.execution_source.to_json()),
            ("resolved_source", self.code_source.to_json()),
            ("project_id", self.project.as_ref().map(|p| Value::str(&p.project_id)).unwrap_or(Value::Null)),
            ("project_uuid", self.project.as_ref().map(|p| Value::str(&p.project_uuid)).unwrap_or(Value::Null)),
            ("required_signatures", Value::u64(self.required_signatures)),
            ("storage_bytes", Value::u64(self.storage_bytes)),
        ])
    }

    fn from_json(v: &Value) -> Request {
        let corrupt = || -> ! { env::panic_str("Corrupt request in contract state") };
        let s = |k: &str| match v.get(k).and_then(|x| x.as_str()) {
            Some(s) => String::from(s),
            None => corrupt(),
        };
        let u = |k: &str| match v.get(k).and_then(|x| x.as_u64()) {
            Some(n) => n,
            None => corrupt(),
        };
        let b = |k: &str| v.get(k).and_then(|x| x.as_bool()).unwrap_or(false);
        let mut data_id = [0u8; 32];
        match v.get("data_id").and_then(|x| x.as_array()) {
            Some(a) if a.len() == 32 => {
                for (i, x) in a.iter().enumerate() {
                    data_id[i] = x.as_u64().unwrap_or(0) as u8;
                }
            }
            _ => corrupt(),
        }
        let null = Value::Null;
        let get = |k: &str| v.get(k).unwrap_or(&null);
        Request {
            request_id: u("request_id"),
            data_id,
            sender_id: s("sender_id"),
            // Records written before `source` existed lack these two: the
            // signer was not kept and the source sent was the code source.
            signer_id: v.get("signer_id").and_then(|x| x.as_str()).map(String::from).unwrap_or_else(|| s("sender_id")),
            execution_source: match v.get("execution_source") {
                Some(e) if !e.is_null() => ExecutionSource::parse(e, "execution_source"),
                _ => ExecutionSource::Code(CodeSource::parse(get("code_source"), "code_source")),
            },
            code_source: CodeSource::parse(get("code_source"), "code_source"),
            project: match (get("project_id").as_str(), get("project_uuid").as_str()) {
                (Some(id), Some(uuid)) => {
                    Some(projects::ProjectRef { project_id: String::from(id), project_uuid: String::from(uuid) })
                }
                _ => None,
            },
            resource_limits: ResourceLimits::parse(get("resource_limits"), "resource_limits"),
            payment: match get("payment").as_u128() {
                Some(p) => p,
                None => corrupt(),
            },
            timestamp: u("timestamp"),
            secrets_ref: if get("secrets_ref").is_null() { None } else { Some(SecretsRef::parse(get("secrets_ref"), "secrets_ref")) },
            response_format: ResponseFormat::parse(get("response_format"), "response_format"),
            input_data: get("input_data").as_str().map(String::from),
            payer_account_id: s("payer_account_id"),
            output_submitted: b("output_submitted"),
            params: RequestParams {
                compile_only: b("compile_only"),
                force_rebuild: b("force_rebuild"),
                store_on_fastfs: b("store_on_fastfs"),
            },
            block_height: u("block_height"),
            resolved: b("resolved"),
            pricing: match Pricing::from_json_array(get("pricing")) {
                Some(p) => p,
                None => corrupt(),
            },
            required_signatures: v.get("required_signatures").and_then(|x| x.as_u64()).unwrap_or(1).max(1),
            storage_bytes: v.get("storage_bytes").and_then(|x| x.as_u64()).unwrap_or(0),
        }
    }

    fn load(id: u64) -> Option<Request> {
        env::storage_read_json(&request_key(id)).map(|v| Request::from_json(&v))
    }

    fn save(&self) {
        env::storage_write_json(&request_key(self.request_id), &self.to_json());
    }

    /// Save a new request together with what it costs in storage: the
    /// growth of the account's storage since `before` (the request record,
    /// its pending-list entry, the state counter), recorded in the record
    /// itself, so the loop settles when the recorded number is the measured one.
    fn save_measured(&mut self, before: u64) {
        for _ in 0..4 {
            self.save();
            let used = env::storage_usage().saturating_sub(before);
            if used == self.storage_bytes {
                return;
            }
            self.storage_bytes = used;
        }
        env::panic_str("Storage accounting of the request did not settle");
    }

    /// The deposit share that pays for the request's storage.
    fn storage_cost(&self) -> u128 {
        self.storage_bytes as u128 * secrets::STORAGE_PRICE_PER_BYTE
    }

    /// Load a pending request or panic with upstream's message.
    fn must_load(id: u64) -> Request {
        match Request::load(id) {
            Some(r) => r,
            None => env::panic_str("Execution request not found"),
        }
    }
}

/// The ids of pending requests, ascending (8-byte little-endian each).
fn pending_ids() -> Vec<u64> {
    let raw = env::storage_read(PENDING_KEY).unwrap_or_default();
    raw.chunks(8)
        .filter(|c| c.len() == 8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect()
}

fn save_pending_ids(ids: &[u64]) {
    if ids.is_empty() {
        env::storage_remove(PENDING_KEY);
        return;
    }
    let mut raw = Vec::with_capacity(ids.len() * 8);
    for id in ids {
        raw.extend_from_slice(&id.to_le_bytes());
    }
    env::storage_write(PENDING_KEY, &raw);
}

/// Remove a request and its index entry.
fn remove_request(id: u64) {
    env::storage_remove(&request_key(id));
    env::storage_remove(&output_key(id));
    let mut ids = pending_ids();
    if let Ok(pos) = ids.binary_search(&id) {
        ids.remove(pos);
        save_pending_ids(&ids);
    }
}

// ---------------------------------------------------------------------------
// Helpers.

pub(crate) fn return_json(v: &Value) {
    env::value_return(v.to_string().as_bytes());
}

fn log_charged(amount: u128) {
    let mut s = String::from("[[yNEAR charged: \"");
    s.push_str(&num::u128_to_string(amount));
    s.push_str("\"]]");
    env::log(&s);
}

fn emit(event: &str, data: Value) {
    env::log_event(EVENT_STANDARD, EVENT_VERSION, event, data);
}

fn msg(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts {
        s.push_str(p);
    }
    s
}

fn u128s(n: u128) -> String {
    num::u128_to_string(n)
}

fn u64s(n: u64) -> String {
    num::u64_to_string(n)
}

/// Panic unless the caller is the contract's owner; returns the owner.
pub(crate) fn assert_owner_caller() -> String {
    let s = State::load();
    s.assert_owner();
    s.owner_id
}

/// Whether the owner has paused the contract (for the other modules).
pub(crate) fn is_paused_state() -> bool {
    State::load().paused
}

// ---------------------------------------------------------------------------
// Initialisation.

/// new({"owner_id": AccountId, "operator_id"?: AccountId, "chain_id"?,
/// "default_signatures"?, "max_signatures"?, "registrar_id"?}): once, from
/// the contract account itself (deploy + init in one transaction).
///
/// Safe by default: every request needs at least one signature by a
/// registered executor key (default_signatures 1 unless given more), so the
/// operator account alone never settles a result. Until the owner has
/// given the chain id (here or with set_agreement) and registered the
/// nodes' keys (add_executor_key), every request is refused with a message
/// that says which is missing.
#[no_mangle]
pub extern "C" fn new() {
    env::assert_no_deposit("new");
    if env::storage_has_key(STATE_KEY) {
        env::panic_str("The contract has already been initialized");
    }
    if env::predecessor_account_id() != env::current_account_id() {
        env::panic_str("new must be called by the contract account itself");
    }
    let args = Args::from_input();
    let owner_id = args.string("owner_id");
    require_account("owner_id", &owner_id);
    let operator_id = args.opt_string("operator_id").unwrap_or_else(|| owner_id.clone());
    require_account("operator_id", &operator_id);
    State {
        owner_id,
        operator_id,
        paused: false,
        pricing: Pricing::default_prices(),
        next_request_id: 0,
        total_executions: 0,
        total_fees_collected: 0,
        total_fees_withdrawn: 0,
    }
    .save();
    agreement::Agreement::update(&args);
}

// ---------------------------------------------------------------------------
// request_execution.

#[no_mangle]
pub extern "C" fn request_execution() {
    let mut state = State::load();
    if state.paused {
        env::panic_str("Contract is paused");
    }
    let args = Args::from_input();

    let execution_source = match (args.opt("source"), args.opt("code_source")) {
        (Some(v), None) => ExecutionSource::parse(v, "source"),
        (None, Some(v)) => ExecutionSource::parse(v, "code_source"),
        (Some(_), Some(_)) => env::panic_str(
            "Give the code as `source` (upstream's current name) or `code_source` (the older name), not both",
        ),
        (None, None) => env::panic_str("missing field `source`: the code to run (GitHub, WasmUrl or Project)"),
    };
    let (code_source, project) = projects::resolve(&execution_source);
    let head = HeadParams::parse(args.opt("params"), "params");
    if head.attached_usd > 0 {
        env::panic_str("params.attached_usd is not supported: this contract keeps no stablecoin balances (send \"0\" or leave it out)");
    }
    if head.use_bound_identity {
        env::panic_str("params.use_bound_identity is not supported: this deployment has no bound identities (send false or leave it out)");
    }
    if head.project_uuid.is_some() && project.is_none() {
        env::panic_str("params.project_uuid is set by the contract for a Project source; leave it null (run a project with {\"Project\":{\"project_id\":...}})");
    }
    let limits_given = args.opt("resource_limits");
    let limits = match limits_given {
        Some(v) => ResourceLimits::parse(v, "resource_limits"),
        None => ResourceLimits::default_limits(),
    };
    let mut params = match args.opt("params") {
        Some(v) => RequestParams::parse(v, "params"),
        None => RequestParams::default(),
    };
    // Upstream: omitting resource_limits means compile-only.
    params.compile_only = params.compile_only || limits_given.is_none();

    if params.force_rebuild {
        if let CodeSource::WasmUrl { .. } = code_source {
            env::panic_str("force_rebuild is not applicable for WasmUrl code source: a prebuilt wasm is never compiled");
        }
    }
    if params.store_on_fastfs && !params.force_rebuild {
        env::panic_str("store_on_fastfs requires force_rebuild=true");
    }

    let input_data = args.opt_string("input_data");
    let input_len = input_data.as_ref().map(|s| s.len()).unwrap_or(0);
    if params.compile_only && input_len > 0 {
        env::panic_str("input_data must be empty for a compile-only request");
    }
    if input_len > MAX_INPUT_DATA_BYTES {
        env::panic_str(&msg(&[
            "input_data is ",
            &u64s(input_len as u64),
            " bytes; the maximum is ",
            &u64s(MAX_INPUT_DATA_BYTES as u64),
        ]));
    }
    // Checked for compile-only requests too: their limits are stored and
    // clamp the billed metrics.
    if let Some(e) = limits.check_caps() {
        env::panic_str(e);
    }

    let secrets_ref = args.opt("secrets_ref").map(|v| SecretsRef::parse(v, "secrets_ref"));
    let response_format = match args.opt("response_format") {
        Some(v) => ResponseFormat::parse(v, "response_format"),
        None => ResponseFormat::Text,
    };
    let sender_id = env::predecessor_account_id();
    let payer_account_id = args.opt_string("payer_account_id").unwrap_or_else(|| sender_id.clone());
    require_account("payer_account_id", &payer_account_id);

    let estimated = if params.compile_only { state.pricing.base_fee } else { state.pricing.estimate(&limits) };
    let payment = env::attached_deposit();
    if payment < estimated {
        env::panic_str(&msg(&[
            "Insufficient payment: required ",
            &u128s(estimated),
            " yoctoNEAR, attached ",
            &u128s(payment),
        ]));
    }
    let gas_left = env::prepaid_gas().saturating_sub(env::used_gas());
    if gas_left < CALLBACK_GAS + 5 * TGAS {
        env::panic_str("Not enough gas: request_execution needs at least 55 Tgas left to reserve 50 Tgas for its callback; attach 100 Tgas or more");
    }

    let required_signatures = agreement::Agreement::load().required_for_request(&args);

    let request_id = state.next_request_id;
    state.next_request_id += 1;
    let timestamp = env::block_timestamp();

    let cb_args = Value::object(vec![("request_id", Value::u64(request_id))]).to_string();
    let (yield_promise, data_id) =
        env::promise_yield_create("on_execution_response", cb_args.as_bytes(), CALLBACK_GAS, 1);

    let storage_before = env::storage_usage();
    let mut req = Request {
        request_id,
        data_id,
        sender_id: sender_id.clone(),
        signer_id: env::signer_account_id(),
        execution_source,
        code_source,
        project,
        resource_limits: limits,
        payment,
        timestamp,
        secrets_ref,
        response_format,
        input_data,
        payer_account_id,
        output_submitted: false,
        params,
        block_height: env::block_height(),
        resolved: false,
        pricing: state.pricing,
        required_signatures,
        storage_bytes: 0,
    };
    let mut ids = pending_ids();
    ids.push(request_id); // ids only grow, so the list stays sorted
    save_pending_ids(&ids);
    state.save();
    req.save_measured(storage_before);
    let storage_cost = req.storage_cost();
    if payment < estimated.saturating_add(storage_cost) {
        env::panic_str(&msg(&[
            "Insufficient payment: required ",
            &u128s(estimated.saturating_add(storage_cost)),
            " yoctoNEAR (",
            &u128s(estimated),
            " for the execution and ",
            &u128s(storage_cost),
            " for the ",
            &u64s(req.storage_bytes),
            " bytes the request stores until it settles, refunded then), attached ",
            &u128s(payment),
        ]));
    }

    let mut event = requested_event(&req, true);
    if event.to_string().len() + 11 > MAX_EVENT_LOG_BYTES {
        // The input would overflow NEAR's log cap: workers read it with get_request.
        event = requested_event(&req, false);
    }
    emit("execution_requested", event);
    env::promise_return(yield_promise);
}

/// `execution_requested` data: request_data is a JSON *string* (upstream
/// double-encodes it), then the data id as 32 numbers and the timestamp.
fn requested_event(req: &Request, with_input: bool) -> Value {
    let input = if with_input { req.input_data.clone().unwrap_or_default() } else { String::new() };
    let opt = |v: Option<&String>| v.map(|s| Value::str(s)).unwrap_or(Value::Null);
    // Upstream HEAD's keys in HEAD's order (sender_id is the signer,
    // predecessor_id the immediate caller), then payer_account_id.
    let request_data = Value::object(vec![
        ("request_id", Value::u64(req.request_id)),
        ("sender_id", Value::str(&req.signer_id)),
        ("predecessor_id", Value::str(&req.sender_id)),
        ("code_source", req.code_source.to_json()),
        ("resource_limits", req.resource_limits.to_json()),
        ("input_data", Value::String(input)),
        ("input_data_in_state", Value::Bool(!with_input && req.input_data.as_ref().map_or(false, |s| !s.is_empty()))),
        ("secrets_ref", req.secrets_ref.as_ref().map(|s| s.to_json()).unwrap_or(Value::Null)),
        ("response_format", Value::str(req.response_format.name())),
        ("payment", Value::u128_string(req.payment)),
        ("attached_usd", Value::str("0")),
        ("timestamp", Value::u64(req.timestamp)),
        ("compile_only", Value::Bool(req.params.compile_only)),
        ("force_rebuild", Value::Bool(req.params.force_rebuild)),
        ("store_on_fastfs", Value::Bool(req.params.store_on_fastfs)),
        ("use_bound_identity", Value::Bool(false)),
        ("project_uuid", opt(req.project.as_ref().map(|p| &p.project_uuid))),
        ("project_id", opt(req.project.as_ref().map(|p| &p.project_id))),
        ("payer_account_id", Value::str(&req.payer_account_id)),
    ]);
    Value::object(vec![
        ("request_data", Value::String(request_data.to_string())),
        ("data_id", Value::bytes_array(&req.data_id)),
        ("timestamp", Value::u64(req.timestamp)),
    ])
}

// ---------------------------------------------------------------------------
// Resolution (operator only).

/// What the callback will charge for this response, so the resolve
/// transaction's `[[yNEAR charged]]` line is the real charge (upstream
/// logged the computed cost even for failures, §13.8).
fn charge_for(req: &Request, resp: &ExecutionResponse) -> u128 {
    // The storage share of the deposit is never charged: it is refunded.
    let budget = req.payment.saturating_sub(req.storage_cost());
    if resp.success {
        req.pricing.cost(&resp.resources_used, &req.resource_limits).min(budget)
    } else {
        req.pricing.base_fee.min(budget)
    }
}

/// Resume the request's yield with `resp`, after the common checks.
fn resume(req: &mut Request, resp: &ExecutionResponse) {
    let payload = resp.to_json().to_string();
    if payload.len() > env::MAX_YIELD_PAYLOAD {
        env::panic_str(&msg(&[
            "The response is ",
            &u64s(payload.len() as u64),
            " bytes, over the 1024-byte yield payload limit: submit the output with submit_execution_output_and_resolve",
        ]));
    }
    log_charged(charge_for(req, resp));
    if !env::promise_yield_resume(&req.data_id, payload.as_bytes()) {
        env::panic_str("Unable to resume execution promise: the yield has already completed or timed out");
    }
    req.resolved = true;
    req.save();
}

fn load_for_resolve(state: &State, method: &str, request_id: u64) -> Request {
    env::assert_no_deposit(method);
    state.assert_operator();
    let req = Request::must_load(request_id);
    if req.resolved {
        env::panic_str("Execution request already resolved; its callback has not run yet");
    }
    req
}

/// resolve_execution({"request_id": u64, "response": ExecutionResponse})
#[no_mangle]
pub extern "C" fn resolve_execution() {
    let state = State::load();
    let args = Args::from_input();
    let request_id = args.u64("request_id");
    let resp = ExecutionResponse::parse(args.value("response"), "response");
    let mut req = load_for_resolve(&state, "resolve_execution", request_id);
    if let Some(out) = &resp.output {
        check_output_size(out);
    }
    let stored = if req.output_submitted { load_output(request_id) } else { None };
    agreement::check_signatures(&req, &args, &resp, stored.as_ref());
    resume(&mut req, &resp);
}

fn check_output_size(out: &ExecutionOutput) {
    if out.size() > MAX_OUTPUT_BYTES {
        env::panic_str(&msg(&["Output is ", &u64s(out.size() as u64), " bytes; the maximum is 1048576"]));
    }
}

/// submit_execution_output({"request_id": u64, "output": ExecutionOutput}):
/// the older two-transaction large-output flow; resolve_execution follows
/// with `output: null`.
#[no_mangle]
pub extern "C" fn submit_execution_output() {
    let state = State::load();
    let args = Args::from_input();
    let request_id = args.u64("request_id");
    let output = ExecutionOutput::parse(args.value("output"), "output");
    let mut req = load_for_resolve(&state, "submit_execution_output", request_id);
    if req.output_submitted {
        env::panic_str("Output already submitted for this request");
    }
    check_output_size(&output);
    save_output(request_id, &output);
    req.output_submitted = true;
    req.save();
}

/// submit_execution_output_and_resolve({"request_id", "output", "success",
/// "error"?, "resources_used", "compilation_note"?}): store a large output,
/// then resume with `output: null`; the callback uses the stored output.
#[no_mangle]
pub extern "C" fn submit_execution_output_and_resolve() {
    let state = State::load();
    let args = Args::from_input();
    let request_id = args.u64("request_id");
    let output = ExecutionOutput::parse(args.value("output"), "output");
    let resp = ExecutionResponse {
        success: args.bool("success"),
        output: None,
        error: args.opt_string("error"),
        resources_used: ResourceMetrics::parse(args.value("resources_used"), "resources_used"),
        compilation_note: args.opt_string("compilation_note"),
    };
    let mut req = load_for_resolve(&state, "submit_execution_output_and_resolve", request_id);
    check_output_size(&output);
    agreement::check_signatures(&req, &args, &resp, Some(&output));
    save_output(request_id, &output);
    req.output_submitted = true;
    resume(&mut req, &resp);
}

// ---------------------------------------------------------------------------
// The yield callback.

/// on_execution_response({"request_id": u64}) — private. Settles payment
/// and returns the output (or null) to the original caller.
#[no_mangle]
pub extern "C" fn on_execution_response() {
    env::assert_private("on_execution_response");
    let args = Args::from_input();
    let request_id = args.u64("request_id");
    let mut state = State::load();

    let req = match Request::load(request_id) {
        Some(r) => r,
        None => {
            env::log(&msg(&["Execution request ", &u64s(request_id), " was cancelled before its result arrived"]));
            env::value_return(b"null");
            return;
        }
    };
    // Read a submitted output before removing the request with it.
    let stored_output = if req.output_submitted { Some(stored_output_return(request_id)) } else { None };
    remove_request(request_id);
    state.total_executions += 1;

    let (resp, timed_out) = match env::promise_result(0) {
        PromiseResult::Successful(payload) => match json::parse(&payload) {
            // Only this contract can resume its yields, so the payload is
            // ours; a parse failure would be a contract bug, settled as a failure.
            Ok(v) => (parse_response_lenient(&v), false),
            Err(_) => (failed_response("malformed response payload"), false),
        },
        PromiseResult::Failed => (
            failed_response("Execution timed out: no result was submitted within the yield window (200 blocks)"),
            true,
        ),
    };

    let charged = charge_for(&req, &resp);
    let refund = req.payment - charged;
    env::transfer(&req.payer_account_id, refund);
    state.total_fees_collected = state.total_fees_collected.saturating_add(charged);
    state.save();
    log_charged(charged);

    let error_message = if resp.success {
        Value::Null
    } else {
        Value::String(resp.error.clone().unwrap_or_else(|| String::from("Unknown error")))
    };
    if timed_out {
        env::log(&msg(&["Execution request ", &u64s(request_id), " timed out; refunded all but the base fee"]));
    }
    emit(
        "execution_completed",
        Value::object(vec![
            ("request_id", Value::u64(req.request_id)),
            ("sender_id", Value::str(&req.signer_id)),
            ("code_source", req.code_source.to_json()),
            ("resources_used", resp.resources_used.to_json()),
            ("success", Value::Bool(resp.success)),
            ("error_message", error_message),
            ("payment_charged", Value::u128_string(charged)),
            ("payment_refunded", Value::u128_string(refund)),
            ("compilation_note", Value::opt_str(&resp.compilation_note)),
            ("timestamp", Value::u64(env::block_timestamp())),
            ("payer_account_id", Value::str(&req.payer_account_id)),
            ("timed_out", Value::Bool(timed_out)),
            ("predecessor_id", Value::str(&req.sender_id)),
            ("project_id", req.project.as_ref().map(|p| Value::str(&p.project_id)).unwrap_or(Value::Null)),
        ]),
    );

    let result = if !resp.success {
        b"null".to_vec()
    } else if let Some(stored) = stored_output {
        stored
    } else {
        resp.output.as_ref().map(|o| o.unwrap_for_caller()).unwrap_or(Value::Null).to_string().into_bytes()
    };
    env::value_return(&result);
}

fn failed_response(error: &str) -> ExecutionResponse {
    ExecutionResponse {
        success: false,
        output: None,
        error: Some(String::from(error)),
        resources_used: ResourceMetrics::default(),
        compilation_note: None,
    }
}

/// Parse a resume payload without panicking: the callback must always
/// settle, or the payer's deposit would be stuck.
fn parse_response_lenient(v: &Value) -> ExecutionResponse {
    let success = v.get("success").and_then(|x| x.as_bool());
    let res = v.get("resources_used");
    let metric = |k: &str| res.and_then(|r| r.get(k)).and_then(|x| x.as_u64());
    let (success, instructions, time_ms) = match (success, metric("instructions"), metric("time_ms")) {
        (Some(s), Some(i), Some(t)) => (s, i, t),
        _ => return failed_response("malformed response payload"),
    };
    let output = match v.get("output") {
        Some(Value::Null) | None => None,
        Some(o) => match o.as_variant() {
            Some(("Text", Value::String(s))) => Some(ExecutionOutput::Text(s.clone())),
            Some(("Json", j)) => Some(ExecutionOutput::Json(j.clone())),
            Some(("Bytes", Value::Array(a))) => {
                Some(ExecutionOutput::Bytes(a.iter().map(|x| x.as_u64().unwrap_or(0) as u8).collect()))
            }
            _ => None,
        },
    };
    ExecutionResponse {
        success,
        output,
        error: v.get("error").and_then(|x| x.as_str()).map(String::from),
        resources_used: ResourceMetrics { instructions, time_ms, compile_time_ms: metric("compile_time_ms") },
        compilation_note: v.get("compilation_note").and_then(|x| x.as_str()).map(String::from),
    }
}

// ---------------------------------------------------------------------------
// Cancellation.

/// Remove a request and refund its whole payment (the yield, when it later
/// fires, finds nothing and returns null). Returns the request's entry for
/// the `execution_cancelled` event.
fn cancel(req: &Request, reason: &str) -> Value {
    remove_request(req.request_id);
    env::transfer(&req.payer_account_id, req.payment);
    Value::object(vec![
        ("request_id", Value::u64(req.request_id)),
        ("sender_id", Value::str(&req.sender_id)),
        ("payer_account_id", Value::str(&req.payer_account_id)),
        ("payment_refunded", Value::u128_string(req.payment)),
        ("reason", Value::str(reason)),
        ("timestamp", Value::u64(env::block_timestamp())),
    ])
}

/// At most this many requests per clear_all_pending_requests call: one
/// event entry is up to ~420 bytes and NEAR caps a call's logs at 16 KiB.
const MAX_CLEAR_PER_CALL: u64 = 30;

/// cancel_stale_execution({"request_id"}): the request's sender or payer,
/// 600 s after the request, gets the full payment back.
#[no_mangle]
pub extern "C" fn cancel_stale_execution() {
    env::assert_no_deposit("cancel_stale_execution");
    let args = Args::from_input();
    let req = Request::must_load(args.u64("request_id"));
    let caller = env::predecessor_account_id();
    if caller != req.sender_id && caller != req.payer_account_id {
        env::panic_str("Only the request's sender or payer can cancel it");
    }
    if env::block_timestamp() <= req.timestamp.saturating_add(STALE_AFTER_NS) {
        env::panic_str("Execution is not yet stale, please wait");
    }
    let entry = cancel(&req, "stale");
    emit("execution_cancelled", entry);
}

/// emergency_cancel_execution({"request_id"}): owner; full refund.
#[no_mangle]
pub extern "C" fn emergency_cancel_execution() {
    env::assert_no_deposit("emergency_cancel_execution");
    State::load().assert_owner();
    let args = Args::from_input();
    let req = Request::must_load(args.u64("request_id"));
    let entry = cancel(&req, "emergency_cancel");
    emit("execution_cancelled", entry);
}

/// clear_all_pending_requests({"limit"?: u64 = 30, at most 30}) -> u64:
/// owner; cancels up to `limit` pending requests, oldest first, with full
/// refunds, and logs one `execution_cancelled` event listing them all.
#[no_mangle]
pub extern "C" fn clear_all_pending_requests() {
    env::assert_no_deposit("clear_all_pending_requests");
    State::load().assert_owner();
    let args = Args::from_input();
    let limit = args.opt_u64("limit").unwrap_or(MAX_CLEAR_PER_CALL).min(MAX_CLEAR_PER_CALL) as usize;
    let ids: Vec<u64> = pending_ids().into_iter().take(limit).collect();
    let entries: Vec<Value> = ids.into_iter().filter_map(Request::load).map(|req| cancel(&req, "clear_all")).collect();
    let n = entries.len() as u64;
    if n > 0 {
        env::log_event_list(EVENT_STANDARD, EVENT_VERSION, "execution_cancelled", entries);
    }
    return_json(&Value::u64(n));
}

// ---------------------------------------------------------------------------
// Owner methods.

#[no_mangle]
pub extern "C" fn set_owner() {
    env::assert_no_deposit("set_owner");
    let mut state = State::load();
    state.assert_owner();
    let args = Args::from_input();
    let new_owner = args.string("new_owner_id");
    require_account("new_owner_id", &new_owner);
    env::log(&msg(&["Owner changed from ", &state.owner_id, " to ", &new_owner]));
    state.owner_id = new_owner;
    state.save();
}

#[no_mangle]
pub extern "C" fn set_operator() {
    env::assert_no_deposit("set_operator");
    let mut state = State::load();
    state.assert_owner();
    let args = Args::from_input();
    let new_operator = args.string("new_operator_id");
    require_account("new_operator_id", &new_operator);
    env::log(&msg(&["Operator changed from ", &state.operator_id, " to ", &new_operator]));
    state.operator_id = new_operator;
    state.save();
}

#[no_mangle]
pub extern "C" fn set_paused() {
    env::assert_no_deposit("set_paused");
    let mut state = State::load();
    state.assert_owner();
    let args = Args::from_input();
    state.paused = args.bool("paused");
    env::log(if state.paused { "Contract paused" } else { "Contract unpaused" });
    state.save();
}

/// set_pricing({"base_fee"?, "per_million_instructions_fee"?, "per_ms_fee"?,
/// "per_compile_ms_fee"?}), U128 strings. Pending requests keep the prices
/// they were made under.
#[no_mangle]
pub extern "C" fn set_pricing() {
    env::assert_no_deposit("set_pricing");
    let mut state = State::load();
    state.assert_owner();
    let args = Args::from_input();
    let p = &mut state.pricing;
    if let Some(v) = args.opt_u128("base_fee") {
        p.base_fee = v;
    }
    if let Some(v) = args.opt_u128("per_million_instructions_fee") {
        p.per_million_instructions_fee = v;
    }
    if let Some(v) = args.opt_u128("per_ms_fee") {
        p.per_ms_fee = v;
    }
    if let Some(v) = args.opt_u128("per_compile_ms_fee") {
        p.per_compile_ms_fee = v;
    }
    env::log("Pricing updated");
    state.save();
}

/// withdraw_fees({"amount"?: U128, "receiver_id"?: AccountId}) -> U128:
/// owner; sends collected fees (all not yet withdrawn by default) to
/// `receiver_id` (default the owner). Upstream had no way to do this.
#[no_mangle]
pub extern "C" fn withdraw_fees() {
    env::assert_no_deposit("withdraw_fees");
    let mut state = State::load();
    state.assert_owner();
    let args = Args::from_input();
    let available = state.total_fees_collected - state.total_fees_withdrawn;
    let amount = args.opt_u128("amount").unwrap_or(available);
    let receiver = args.opt_string("receiver_id").unwrap_or_else(|| state.owner_id.clone());
    require_account("receiver_id", &receiver);
    if amount == 0 {
        env::panic_str("Nothing to withdraw");
    }
    if amount > available {
        env::panic_str(&msg(&[
            "Cannot withdraw ",
            &u128s(amount),
            " yoctoNEAR: only ",
            &u128s(available),
            " yoctoNEAR of collected fees are available",
        ]));
    }
    state.total_fees_withdrawn += amount;
    state.save();
    env::transfer(&receiver, amount);
    emit(
        "fees_withdrawn",
        Value::object(vec![("receiver_id", Value::str(&receiver)), ("amount", Value::u128_string(amount))]),
    );
    return_json(&Value::u128_string(amount));
}

// ---------------------------------------------------------------------------
// Views.

#[no_mangle]
pub extern "C" fn get_request() {
    let args = Args::from_input();
    let v = Request::load(args.u64("request_id")).map(|r| r.view()).unwrap_or(Value::Null);
    return_json(&v);
}

fn page(args: &Args) -> Vec<u64> {
    let from = args.opt_u64("from_index").unwrap_or(0);
    let limit = args.opt_u64("limit").unwrap_or(50).min(100) as usize;
    pending_ids().into_iter().filter(|&id| id >= from).take(limit).collect()
}

/// get_pending_requests({"from_index"?: u64 (a request id, inclusive),
/// "limit"?: u64 (default 50, at most 100)}) -> ExecutionRequest[] in
/// request_id order.
#[no_mangle]
pub extern "C" fn get_pending_requests() {
    let args = Args::from_input();
    let out: Vec<Value> = page(&args).into_iter().filter_map(Request::load).map(|r| r.view()).collect();
    return_json(&Value::Array(out));
}

/// get_pending_request_ids({"from_index"?, "limit"?}) -> u64[].
#[no_mangle]
pub extern "C" fn get_pending_request_ids() {
    let args = Args::from_input();
    return_json(&Value::Array(page(&args).into_iter().map(Value::u64).collect()));
}

/// get_stats() -> [total_executions, "total_fees_collected"].
#[no_mangle]
pub extern "C" fn get_stats() {
    let s = State::load();
    return_json(&Value::Array(vec![Value::u64(s.total_executions), Value::u128_string(s.total_fees_collected)]));
}

/// get_fees() -> {"total_fees_collected", "total_fees_withdrawn", "available"} (U128 strings).
#[no_mangle]
pub extern "C" fn get_fees() {
    let s = State::load();
    return_json(&Value::object(vec![
        ("total_fees_collected", Value::u128_string(s.total_fees_collected)),
        ("total_fees_withdrawn", Value::u128_string(s.total_fees_withdrawn)),
        ("available", Value::u128_string(s.total_fees_collected - s.total_fees_withdrawn)),
    ]));
}

/// get_pricing() -> [base_fee, per_million_instructions_fee, per_ms_fee, per_compile_ms_fee].
#[no_mangle]
pub extern "C" fn get_pricing() {
    return_json(&State::load().pricing.to_json_array());
}

/// get_config() -> [owner_id, operator_id].
#[no_mangle]
pub extern "C" fn get_config() {
    let s = State::load();
    return_json(&Value::Array(vec![Value::str(&s.owner_id), Value::str(&s.operator_id)]));
}

/// estimate_execution_cost({"resource_limits"?}) -> U128: the execution
/// estimate plus REQUEST_STORAGE_ALLOWANCE_BYTES of storage (refunded).
#[no_mangle]
pub extern "C" fn estimate_execution_cost() {
    let args = Args::from_input();
    let limits = match args.opt("resource_limits") {
        Some(v) => ResourceLimits::parse(v, "resource_limits"),
        None => ResourceLimits::default_limits(),
    };
    let storage = REQUEST_STORAGE_ALLOWANCE_BYTES as u128 * secrets::STORAGE_PRICE_PER_BYTE;
    return_json(&Value::u128_string(State::load().pricing.estimate(&limits).saturating_add(storage)));
}

/// get_max_limits() -> [max_instructions, max_execution_seconds, max_compilation_seconds].
#[no_mangle]
pub extern "C" fn get_max_limits() {
    return_json(&Value::Array(vec![
        Value::u64(MAX_INSTRUCTIONS),
        Value::u64(MAX_EXECUTION_SECONDS),
        Value::u64(MAX_COMPILATION_SECONDS),
    ]));
}

#[no_mangle]
pub extern "C" fn is_paused() {
    return_json(&Value::Bool(State::load().paused));
}

#[no_mangle]
pub extern "C" fn get_pending_output() {
    let args = Args::from_input();
    let id = args.u64("request_id");
    let v = match Request::load(id) {
        Some(r) if r.output_submitted => load_output(id).map(|o| o.to_json()).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    return_json(&v);
}

#[no_mangle]
pub extern "C" fn has_pending_output() {
    let args = Args::from_input();
    let v = Request::load(args.u64("request_id")).map(|r| r.output_submitted).unwrap_or(false);
    return_json(&Value::Bool(v));
}

#[no_mangle]
pub extern "C" fn get_storage_version() {
    return_json(&Value::str("outlayer-go-1"));
}

/// The data id of a pending request as hex (handy for operators and logs).
#[no_mangle]
pub extern "C" fn get_request_data_id() {
    let args = Args::from_input();
    let v = Request::load(args.u64("request_id")).map(|r| Value::String(hex_encode(&r.data_id))).unwrap_or(Value::Null);
    return_json(&v);
}
