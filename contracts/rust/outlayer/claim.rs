//! The result claim (version 2): the bytes executors sign, recomputed here
//! from the contract's own record of a request and the submitted result.
//! Layout and field meanings: contracts/DESIGN.md, "The result claim"; the
//! Go side is attest.ResultClaim and contracts.ClaimRequest. Both sides
//! check the shared vectors in contracts/testdata/claim_vectors.json.
//!
//! Pure code: every hash goes through the `sha` argument (the host's
//! sha256 in the contract, a native one in the unit test).

use crate::types::{CodeSource, ExecutionOutput, ExecutionResponse, SecretsRef};

pub const CLAIM_DOMAIN: &[u8] = b"outlayer-claim-v2";
const SECRETS_DOMAIN: &[u8] = b"outlayer-secrets-id-v1";

pub const OUTCOME_ERROR: u8 = 0;
pub const OUTCOME_NONE: u8 = 1;
pub const OUTCOME_BYTES: u8 = 2;
pub const OUTCOME_TEXT: u8 = 3;
pub const OUTCOME_JSON: u8 = 4;

pub type Sha = fn(&[u8]) -> [u8; 32];

/// What the contract knows about the request.
pub struct ClaimRecord<'a> {
    pub chain_id: &'a str,
    pub contract: &'a str,
    pub request_id: u64,
    pub data_id: &'a [u8; 32],
    pub sender: &'a str,
    pub code_source: &'a CodeSource,
    pub input_data: &'a str,
    pub secrets_ref: Option<&'a SecretsRef>,
    /// The project a Project request runs: its secrets are the project's,
    /// so the secrets identity names it instead of the code source.
    pub project_id: Option<&'a str>,
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// kind || payload: the preimage of the claim's output hash. `stored` is an
/// output submitted into state, which the callback returns in preference
/// to the response's own.
pub fn outcome_preimage(resp: &ExecutionResponse, stored: Option<&ExecutionOutput>) -> Vec<u8> {
    let mut out = Vec::new();
    if !resp.success {
        out.push(OUTCOME_ERROR);
        if let Some(e) = &resp.error {
            out.extend_from_slice(e.as_bytes());
        }
        return out;
    }
    match stored.or(resp.output.as_ref()) {
        None => out.push(OUTCOME_NONE),
        Some(ExecutionOutput::Bytes(b)) => {
            out.push(OUTCOME_BYTES);
            out.extend_from_slice(b);
        }
        Some(ExecutionOutput::Text(t)) => {
            out.push(OUTCOME_TEXT);
            out.extend_from_slice(t.as_bytes());
        }
        Some(ExecutionOutput::Json(v)) => {
            out.push(OUTCOME_JSON);
            out.extend_from_slice(v.to_string().as_bytes());
        }
    }
    out
}

/// The secrets identity: zero without secrets, else sha256 of the domain
/// and the length-prefixed owner, profile and the identity the secrets are
/// bound to: "Project" and the project id for a project's run, else the
/// code-source fields.
pub fn secrets_id(code: &CodeSource, project_id: Option<&str>, secrets: Option<&SecretsRef>, sha: Sha) -> [u8; 32] {
    let r = match secrets {
        None => return [0u8; 32],
        Some(r) => r,
    };
    let mut pre = SECRETS_DOMAIN.to_vec();
    put_str(&mut pre, r.account_id.as_bytes());
    put_str(&mut pre, r.profile.as_bytes());
    if let Some(p) = project_id {
        put_str(&mut pre, b"Project");
        put_str(&mut pre, p.as_bytes());
        return sha(&pre);
    }
    match code {
        CodeSource::GitHub { repo, commit, .. } => {
            put_str(&mut pre, b"GitHub");
            put_str(&mut pre, repo.as_bytes());
            put_str(&mut pre, commit.as_bytes());
        }
        CodeSource::WasmUrl { hash, .. } => {
            put_str(&mut pre, b"WasmUrl");
            put_str(&mut pre, hash.as_bytes());
        }
    }
    sha(&pre)
}

/// The claim's canonical encoding (the bytes whose sha256 executors sign).
pub fn encode(
    rec: &ClaimRecord,
    wasm_sha256: &[u8; 32],
    resp: &ExecutionResponse,
    stored: Option<&ExecutionOutput>,
    sha: Sha,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(CLAIM_DOMAIN);
    put_str(&mut out, rec.chain_id.as_bytes());
    put_str(&mut out, rec.contract.as_bytes());
    out.extend_from_slice(&rec.request_id.to_be_bytes());
    out.extend_from_slice(rec.data_id);
    put_str(&mut out, rec.sender.as_bytes());
    out.extend_from_slice(wasm_sha256);
    out.extend_from_slice(&sha(rec.input_data.as_bytes()));
    out.push(resp.success as u8);
    out.extend_from_slice(&sha(&outcome_preimage(resp, stored)));
    out.extend_from_slice(&resp.resources_used.instructions.to_be_bytes());
    out.extend_from_slice(&secrets_id(rec.code_source, rec.project_id, rec.secrets_ref, sha));
    out
}
