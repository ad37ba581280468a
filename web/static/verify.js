// The browser's own check of a result attestation: the same checks as
// `outlayerd attest verify-result` (cli/outlayerd/cmd_attest.go), done with
// WebCrypto on the request as the node serves it. Nothing the node says
// about the claim is trusted: the claim is recomputed from the input and
// output, the report data from the claim (attest.BindReportData), and the
// signature checked with the key the reporting node's peer id embeds.
import { utf8, hexOf, concat, equalBytes, peerEd25519Key } from './crypto.js';
import { fromBase64 } from './lib.js';
import { contractClaim, claimRequestOf, resultResponseText, encodeClaim, rawMember } from './claim.js';

export const SIMULATED_NOTICE = 'simulated attestation: NOT produced by a TEE, proves nothing about the node';
const REPORT_DATA_DOMAIN = 'outlayer/attest/report-data/v1';
const SIMULATED_SIG_DOMAIN = 'outlayer/attest/simulated/v1\x00';
const PURPOSE_RESULT = 'result';
// A TDX v4 quote: 48-byte header, then the TD report, whose report data
// is at offset 520.
const TDX_REPORT_DATA_OFFSET = 48 + 520;

const sha = async (alg, bytes) => new Uint8Array(await crypto.subtle.digest(alg, bytes));

function u32be(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

// bindReportData is SHA-512(domain || 0 || purpose || 0 || per field: u32be(len) || field).
export async function bindReportData(purpose, fields) {
  const parts = [utf8(REPORT_DATA_DOMAIN), new Uint8Array([0]), utf8(purpose), new Uint8Array([0])];
  for (const f of fields) parts.push(u32be(f.length), f);
  return sha('SHA-512', concat(...parts));
}

// resultClaim recomputes the attest.ResultClaim a node attests for a
// result (daemon.ResultClaimFor: the claim its executor signature covers
// and the contract checks, claim.js): the deployment (chain id and
// contract, as given), the request's data id, sender and secrets
// identity, the program, the input and the typed outcome hashes,
// instructions.
export async function resultClaim(job, deployment) {
  if (!deployment || !deployment.chainID || !deployment.contract) {
    throw new Error('the chain id and contract the claim binds are unknown');
  }
  return contractClaim(claimRequestOf(job, deployment.chainID, deployment.contract), job.result.wasm_hash || '', resultResponseText(job, job.result));
}

// claimReportData is BindReportData("result", sha256(Encode())).
export async function claimReportData(c) {
  return bindReportData(PURPOSE_RESULT, [await sha('SHA-256', encodeClaim(c))]);
}

// compactJSON removes the whitespace outside strings (Go's json.Compact).
export function compactJSON(text) {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i++;
      while (text[i] !== '"') { if (text[i] === '\\') i++; i++; }
      out += text.slice(start, i + 1);
    } else if (!' \t\r\n'.includes(c)) out += c;
  }
  return out;
}

// chainCompare compares the node's copy of a request with the contract's
// get_request view (RequestFromChain's fields: input, sender, code source).
export function chainCompare(job, chainReq) {
  const problems = [];
  const input = chainReq.input_data ?? '';
  if (input !== (job.input || '')) problems.push(`the input data is ${JSON.stringify(clip(job.input || ''))} on the node but ${JSON.stringify(clip(input))} in the contract`);
  if (chainReq.sender_id !== job.sender) problems.push(`the sender is ${job.sender} on the node but ${chainReq.sender_id} in the contract`);
  const cs = chainReq.code_source || {};
  const code = job.code || {};
  if (cs.GitHub) {
    if (!code.git || code.git.repo !== cs.GitHub.repo || code.git.commit !== cs.GitHub.commit) {
      problems.push(`the code source is ${describe(code)} on the node but git ${cs.GitHub.repo}@${cs.GitHub.commit} in the contract`);
    }
  } else if (cs.WasmUrl) {
    if (!code.wasm || code.wasm.url !== cs.WasmUrl.url || code.wasm.hash.toLowerCase() !== cs.WasmUrl.hash.toLowerCase()) {
      problems.push(`the code source is ${describe(code)} on the node but WASM ${cs.WasmUrl.url} (${cs.WasmUrl.hash}) in the contract`);
    }
  } else {
    problems.push('the contract\'s request has no code source this page understands');
  }
  return problems;
}

function clip(s) { return s.length > 80 ? `${s.slice(0, 80)}… (${s.length} bytes)` : s; }

function describe(code) {
  if (code.git) return `git ${code.git.repo}@${code.git.commit}`;
  if (code.wasm) return `WASM ${code.wasm.url} (${code.wasm.hash})`;
  return 'none';
}

// verifyResult checks job's result attestation and returns
// {verdict, headline, checks:[{ok, what, detail}], claim}. verdict is
// "fail" (red), "simulated" (every check passed, but the evidence is
// simulated), "partial" (TDX: the binding passed, the quote's signature
// chain is not checked in a browser) or "pending" (no result yet).
// chainReq is the contract's get_request view (null once settled,
// undefined when it could not be read).
//
// deployment is {chainID, contract}: the chain id and contract the claim
// binds (the node's /status; the page says so).
export async function verifyResult(job, chainReq, deployment) {
  const checks = [];
  const add = (ok, what, detail = '') => { checks.push({ ok, what, detail }); return ok; };
  const fail = (headline) => ({ verdict: 'fail', headline, checks });
  const res = job.result;
  if (!res) return { verdict: 'pending', headline: `No result yet (status ${job.status})`, checks };
  if (!res.attestation) {
    add(false, 'Attestation present', 'the node that ran this request attached no attestation');
    return fail('NOT VERIFIED: the result carries no attestation; nothing proves where it came from');
  }
  const wantWasm = job.code && job.code.wasm && job.code.wasm.hash;
  if (wantWasm && res.wasm_hash && wantWasm.toLowerCase() !== res.wasm_hash.toLowerCase()) {
    add(false, 'Program', `the result is for WASM ${res.wasm_hash}, but the request asked for ${wantWasm}`);
    return fail('NOT VERIFIED: the result is for another program');
  }
  if (chainReq === undefined) {
    add(null, 'Chain cross-check', 'the contract\'s copy of the request could not be read, so the node\'s copy of its input, sender and code was not compared');
  } else if (chainReq === null) {
    add(true, 'Chain cross-check', 'settled: the contract no longer holds this request, so only the node\'s copy of its input, sender and code could be checked');
  } else {
    const problems = chainCompare(job, chainReq);
    if (!add(problems.length === 0, 'Node\'s copy matches the chain', problems.join('; ') || 'input, sender and code source are the contract\'s')) {
      return fail('NOT VERIFIED: the node\'s copy of the request does not match the chain');
    }
  }
  let claim, rd;
  try {
    claim = await resultClaim(job, deployment);
    rd = await claimReportData(claim);
  } catch (e) {
    add(false, 'Claim', e.message);
    return fail('NOT VERIFIED: the result cannot be hashed');
  }
  add(true, 'Claim recomputed in this browser', `chain ${claim.chainID}, contract ${claim.contract} (as the node states them), input sha256 ${hexOf(claim.input)}, ${claim.success ? 'output' : 'error'} sha256 ${hexOf(claim.output)}, ${claim.instructions} instructions`);
  let text, ev;
  try {
    text = new TextDecoder().decode(fromBase64(res.attestation));
    ev = JSON.parse(text);
  } catch (e) {
    add(false, 'Evidence parses', e.message);
    return fail('NOT VERIFIED: the evidence is malformed');
  }
  if (ev.kind === 'tdx') {
    const quote = fromBase64(ev.quote || '');
    const got = quote.subarray(TDX_REPORT_DATA_OFFSET, TDX_REPORT_DATA_OFFSET + 64);
    if (!add(got.length === 64 && equalBytes(got, rd), 'Quote binds this result', got.length === 64 ? `quote report data ${hexOf(got).slice(0, 32)}…` : 'the quote is too short')) {
      return fail('NOT VERIFIED: the quote is not over this result');
    }
    add(null, 'Quote signature, TCB and measurements', 'not checked in the browser: run `outlayerd attest verify-result --policy FILE --collateral DIR`');
    return { verdict: 'partial', headline: 'Binding verified: this TDX quote is over exactly this result (its signature chain is checked by the CLI, not here)', checks, claim };
  }
  if (ev.kind !== 'simulated' || !ev.simulated) {
    add(false, 'Evidence kind', `unknown evidence kind ${JSON.stringify(ev.kind)}`);
    return fail('NOT VERIFIED: unknown evidence');
  }
  let bodyText, body;
  try {
    bodyText = rawMember(rawMember(text, 'simulated'), 'body');
    body = JSON.parse(bodyText);
  } catch (e) {
    add(false, 'Simulated report parses', e.message);
    return fail('NOT VERIFIED: the simulated report is malformed');
  }
  if (!add(body.simulated === true && body.notice === SIMULATED_NOTICE, 'Simulated marker', body.notice || 'missing')) {
    return fail('NOT VERIFIED: simulated report without its marker');
  }
  if (!add(body.report_data === hexOf(rd), 'Report data matches this result',
    body.report_data === hexOf(rd) ? `${hexOf(rd).slice(0, 32)}…` : `signed ${String(body.report_data).slice(0, 32)}…, recomputed ${hexOf(rd).slice(0, 32)}…: the input, output, program, instruction count or deployment the node serves is not what was signed`)) {
    return fail('NOT VERIFIED: the signed report is over a different result');
  }
  let nodeKey;
  try {
    nodeKey = peerEd25519Key(res.node);
  } catch (e) {
    add(false, 'Signer is the reporting node', e.message);
    return fail('NOT VERIFIED: the reporting node has no usable key');
  }
  if (!add(body.signer === hexOf(nodeKey), 'Signer is the reporting node', `node ${res.node}`)) {
    return fail('NOT VERIFIED: signed by another key than the reporting node\'s');
  }
  let ok = false;
  try {
    const key = await crypto.subtle.importKey('raw', nodeKey, { name: 'Ed25519' }, false, ['verify']);
    ok = await crypto.subtle.verify('Ed25519', key, fromBase64(ev.simulated.signature || ''), concat(utf8(SIMULATED_SIG_DOMAIN), utf8(compactJSON(bodyText))));
  } catch (e) {
    add(false, 'Signature', `this browser cannot check Ed25519 (${e.message})`);
    return fail('NOT VERIFIED: the signature could not be checked');
  }
  if (!add(ok, 'Signature valid', ok ? 'ed25519 over the report body' : 'the ed25519 signature does not verify')) {
    return fail('NOT VERIFIED: the signature is invalid');
  }
  return { verdict: 'simulated', headline: 'Checks pass, but this is SIMULATED attestation: it proves only which node signed, nothing about the machine', checks, claim };
}
