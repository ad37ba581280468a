// The result claim v2 ("outlayer-claim-v2") exactly as the OutLayer
// contract recomputes it before it accepts executor signatures
// (contracts.ClaimRequest.Claim in Go, contracts/rust/outlayer/claim.rs):
// from the contract's record of the request and the result a resolve
// submits. The browser test checks it against every vector in
// contracts/testdata/claim_vectors.json.
//
// Everything that comes from JSON is read from its source text (rawMember),
// never from a parsed-and-reserialised copy: a Json output is hashed as
// the contract writes it (key order and numbers as sent), and instruction
// counts above 2^53 stay exact.
import { utf8, fromHex, concat } from './crypto.js';
import { fromBase64 } from './lib.js';

export const CLAIM_DOMAIN = 'outlayer-claim-v2';
const SECRETS_DOMAIN = 'outlayer-secrets-id-v1';

// Outcome kinds (attest.Outcome*): the first byte of the output hash's
// preimage.
export const OUTCOME_ERROR = 0;
export const OUTCOME_NONE = 1;
export const OUTCOME_BYTES = 2;
export const OUTCOME_TEXT = 3;
export const OUTCOME_JSON = 4;

// contracts.MaxErrorBytes and textcut.Marker: a longer error is cut to
// this many bytes, marked, before it is sent and hashed.
const MAX_ERROR_BYTES = 512;
const CUT_MARKER = ' …[truncated]';

export const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));

function u32be(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function u64be(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

// lp is a length-prefixed field: u32be(len) || bytes.
const lp = (s) => { const b = typeof s === 'string' ? utf8(s) : s; return concat(u32be(b.length), b); };

// rawMember returns the exact source text of obj[key] in the JSON text
// (the first occurrence at the top level of that object), or null when
// the object has no such member.
export function rawMember(text, key) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i])) i++; };
  const str = () => {
    const start = i++;
    while (text[i] !== '"') { if (text[i] === '\\') i++; i++; if (i >= text.length) throw new Error('unterminated string'); }
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const skip = () => {
    ws();
    const c = text[i];
    if (c === '"') { str(); return; }
    if (c === '{' || c === '[') {
      let depth = 0;
      while (i < text.length) {
        const d = text[i];
        if (d === '"') { str(); continue; }
        if (d === '{' || d === '[') depth++;
        if (d === '}' || d === ']') { depth--; if (depth === 0) { i++; return; } }
        i++;
      }
      throw new Error('unbalanced JSON');
    }
    while (i < text.length && !',}] \t\r\n'.includes(text[i])) i++;
  };
  ws();
  if (text[i] !== '{') throw new Error('not a JSON object');
  i++;
  for (;;) {
    ws();
    if (text[i] === '}' || i >= text.length) return null;
    const k = str();
    ws(); i++; // ':'
    ws();
    const start = i;
    skip();
    if (k === key) return text.slice(start, i);
    ws();
    if (text[i] === ',') i++;
  }
}

// contractJSON is contracts.ContractJSON: the JSON document compact, keys
// in their order, numbers as written, strings escaped as serde_json
// escapes them (only '"', '\\' and control characters).
export function contractJSON(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i])) i++; };
  const string = () => {
    const start = i++;
    while (text[i] !== '"') { if (text[i] === '\\') i++; i++; if (i >= text.length) throw new Error('not valid JSON: unterminated string'); }
    i++;
    return serdeString(JSON.parse(text.slice(start, i)));
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '"') return string();
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) { i++; return c + close; }
      const parts = [];
      for (;;) {
        ws();
        if (c === '{') {
          if (text[i] !== '"') throw new Error('not valid JSON: expected a key');
          const k = string();
          ws();
          if (text[i++] !== ':') throw new Error('not valid JSON: expected :');
          parts.push(`${k}:${value()}`);
        } else parts.push(value());
        ws();
        const d = text[i++];
        if (d === close) return c + parts.join(',') + close;
        if (d !== ',') throw new Error(`not valid JSON: expected , or ${close}`);
      }
    }
    const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (!m) throw new Error('not valid JSON');
    i += m[0].length;
    return m[0];
  };
  const out = value();
  ws();
  if (i !== text.length) throw new Error('not valid JSON: more than one value');
  return out;
}

function serdeString(s) {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20) out += `\\u00${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

// secretsIdentity is attest.SecretsIdentity: sha256 of the domain and the
// length-prefixed owner, profile and code fields.
export async function secretsIdentity(owner, profile, ...code) {
  return sha256(concat(utf8(SECRETS_DOMAIN), ...[owner, profile, ...code].map(lp)));
}

// claimSecretsID is contracts.ClaimSecretsID: zeros without secrets; for
// a project's run the project; else the code source as the contract
// stores it ("GitHub", repo, commit, or "WasmUrl", lowercase hash).
export async function claimSecretsID(codeSource, projectID, secretsRef) {
  if (!secretsRef) return new Uint8Array(32);
  let fields = [];
  if (projectID) fields = ['Project', projectID];
  else if (codeSource.GitHub) fields = ['GitHub', codeSource.GitHub.repo, codeSource.GitHub.commit];
  else if (codeSource.WasmUrl) fields = ['WasmUrl', codeSource.WasmUrl.hash.toLowerCase()];
  return secretsIdentity(secretsRef.account_id, secretsRef.profile, ...fields);
}

const member = (text, key) => { const r = rawMember(text, key); return r === null || r === 'null' ? null : r; };

// outcomeOf is the outcome kind and payload the contract hashes for a
// response given as its JSON text (ExecutionResponse, or the flat
// arguments of submit_execution_output_and_resolve, which have the same
// members): the error text on failure; the output by its format.
export function outcomeOf(responseText) {
  if (JSON.parse(member(responseText, 'success') ?? 'false') !== true) {
    const e = member(responseText, 'error');
    return { kind: OUTCOME_ERROR, payload: utf8(e === null ? '' : JSON.parse(e)) };
  }
  const out = member(responseText, 'output');
  if (out === null) return { kind: OUTCOME_NONE, payload: new Uint8Array(0) };
  const bytes = member(out, 'Bytes');
  if (bytes !== null) {
    const arr = JSON.parse(bytes);
    if (!Array.isArray(arr) || arr.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) throw new Error('the Bytes output is not an array of bytes');
    return { kind: OUTCOME_BYTES, payload: new Uint8Array(arr) };
  }
  const text = member(out, 'Text');
  if (text !== null) return { kind: OUTCOME_TEXT, payload: utf8(JSON.parse(text)) };
  const js = rawMember(out, 'Json');
  if (js !== null) return { kind: OUTCOME_JSON, payload: utf8(contractJSON(js)) };
  throw new Error('the output is not Bytes, Text or Json');
}

// contractClaim is contracts.ClaimRequest.Claim. req holds the contract's
// record of the request in its JSON shape: chain_id, contract, request_id,
// data_id (hex), sender, code_source ({GitHub:{repo,commit}} or
// {WasmUrl:{url,hash}}), input_data, secrets_ref, project_id; request_id
// may be a number, a decimal string or a BigInt. wasmHex is
// the resolve's wasm_sha256 ("" when no module ran); responseText the
// submitted response's JSON text.
export async function contractClaim(req, wasmHex, responseText) {
  const dataID = fromHex(req.data_id || '');
  if (dataID.length !== 32) throw new Error(`data id ${JSON.stringify(req.data_id)} is not 32 bytes of hex`);
  const wasm = wasmHex ? fromHex(wasmHex) : new Uint8Array(32);
  if (wasm.length !== 32) throw new Error(`wasm hash ${JSON.stringify(wasmHex)} is not 32 bytes of hex`);
  const { kind, payload } = outcomeOf(responseText);
  const used = member(responseText, 'resources_used');
  const instructions = used === null ? null : member(used, 'instructions');
  return {
    chainID: req.chain_id,
    contract: req.contract,
    requestID: BigInt(req.request_id),
    dataID,
    sender: req.sender,
    wasm,
    input: await sha256(utf8(req.input_data || '')),
    success: kind !== OUTCOME_ERROR,
    output: await sha256(concat(new Uint8Array([kind]), payload)),
    outcomePreimage: concat(new Uint8Array([kind]), payload),
    instructions: BigInt(instructions ?? 0),
    secretsID: await claimSecretsID(req.code_source || {}, req.project_id, req.secrets_ref),
  };
}

// encodeClaim is attest.ResultClaim.Encode.
export function encodeClaim(c) {
  return concat(utf8(CLAIM_DOMAIN), lp(c.chainID), lp(c.contract), u64be(c.requestID), c.dataID, lp(c.sender),
    c.wasm, c.input, new Uint8Array([c.success ? 1 : 0]), c.output, u64be(c.instructions), c.secretsID);
}

// claimHash is attest.ResultClaim.Hash: what executors sign.
export const claimHash = (c) => sha256(encodeClaim(c));

// claimRequestOf is a request's claim-relevant record as the node serves
// it (daemon.ClaimRequestFor), in the contract's JSON shape for
// contractClaim.
export function claimRequestOf(job, chainID, contract) {
  const code = job.code || {};
  let codeSource = {};
  if (code.git) codeSource = { GitHub: { repo: code.git.repo, commit: code.git.commit } };
  else if (code.wasm) codeSource = { WasmUrl: { url: code.wasm.url, hash: code.wasm.hash } };
  return {
    chain_id: chainID, contract, request_id: job.id, data_id: job.data_id, sender: job.sender,
    code_source: codeSource, input_data: job.input || '', secrets_ref: job.secrets || null, project_id: job.project_id || '',
  };
}

// headCut is textcut.Head on a string's UTF-8: at most n bytes, cut at a
// character boundary, with the marker.
function headCut(s, n) {
  const b = utf8(s);
  if (b.length <= n) return s;
  let keep = n - utf8(CUT_MARKER).length;
  while (keep > 0 && (b[keep] & 0xc0) === 0x80) keep--;
  return new TextDecoder().decode(b.subarray(0, keep)) + CUT_MARKER;
}

const failureText = (msg, instructions) =>
  `{"success":false,"output":null,"error":${JSON.stringify(headCut(msg, MAX_ERROR_BYTES))},"resources_used":{"instructions":${BigInt(instructions || 0)}}}`;

// resultResponseText is the response the resolver sends for res as the
// request's accepted result (daemon's responseFor of the request
// completed with res, as the contract takes it), as JSON text for
// contractClaim: what each executor signs and attests for its result.
export function resultResponseText(job, res) {
  if (!res.success) return failureText(res.error || 'execution failed', res.instructions);
  const out = res.output ? fromBase64(res.output) : new Uint8Array(0);
  let output;
  switch (job.response_format || 'Text') {
    case 'Bytes': output = `{"Bytes":${JSON.stringify(Array.from(out))}}`; break;
    case 'Text': output = `{"Text":${JSON.stringify(new TextDecoder().decode(out))}}`; break;
    case 'Json': output = `{"Json":${new TextDecoder().decode(out).trim()}}`; break;
    default: throw new Error(`response format ${JSON.stringify(job.response_format)} is not Bytes, Text or Json`);
  }
  return `{"success":true,"output":${output},"error":null,"resources_used":{"instructions":${BigInt(res.instructions || 0)}}}`;
}

// servedResponseText is the response the resolver sends for the request
// as the node serves it (daemon's responseFor): a failed request's error
// (without instructions), else its result's response.
export function servedResponseText(job) {
  if (job.status === 'failed' || !job.result) {
    return failureText(job.error || (job.result && job.result.error) || 'the cluster could not execute this request', 0);
  }
  return resultResponseText(job, job.result);
}
