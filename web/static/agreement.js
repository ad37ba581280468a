// The browser's check of a request's k-of-n agreement, as `outlayerd
// attest verify-result` checks the resolve on chain
// (cli/outlayerd/attest_signatures.go): the result claim is recomputed
// from the resolve transaction's own arguments and the request (claim.js),
// compared with the claim the contract logged (its result_signed event)
// and with the result this node serves, and each executor signature is
// verified with WebCrypto Ed25519; the signers must be distinct, at least
// the request's k, and executor keys the contract knows (listed by
// list_executor_keys now, or named by the resolve's result_signed event:
// accepted as registered when it resolved, since the cluster removes a
// replaced node's key afterwards).
//
// The chain data (the resolve transaction, the contract's agreement
// settings and keys) is relayed by this node: see DESIGN.md.
import { hexOf, equalBytes, fromBase58, peerEd25519Key } from './crypto.js';
import { contractClaim, claimHash, claimRequestOf, servedResponseText, rawMember } from './claim.js';

const RESOLVE_METHODS = ['resolve_execution', 'submit_execution_output_and_resolve'];

// nearKey decodes "ed25519:<base58>" (a key of 32 bytes or a signature of
// 64).
function nearKey(s, size, what) {
  if (typeof s !== 'string' || !s.startsWith('ed25519:')) throw new Error(`${what} ${JSON.stringify(s)} is not ed25519:<base58>`);
  const b = fromBase58(s.slice('ed25519:'.length));
  if (b.length !== size) throw new Error(`${what} ${s.slice(0, 24)}… is ${b.length} bytes, not ${size}`);
  return b;
}

// resultSigned is the data of the contract's result_signed event for the
// request among the resolve's logs (null when it logged none).
export function resultSigned(logs, requestID) {
  for (const l of logs || []) {
    if (!l.startsWith('EVENT_JSON:')) continue;
    let ev;
    try { ev = JSON.parse(l.slice('EVENT_JSON:'.length)); } catch { continue; }
    if (ev.event !== 'result_signed' || !Array.isArray(ev.data)) continue;
    for (const d of ev.data) {
      if (d && String(d.request_id) === String(requestID)) return d;
    }
  }
  return null;
}

// nodesByKey maps each executor key (hex) the request's record names to
// the node that reported the result, so a signer can be shown as a node.
function nodesByKey(job) {
  const m = new Map();
  const results = [...((job.agreement && job.agreement.results) || []), ...(job.result ? [job.result] : [])];
  for (const r of results) {
    try { m.set(hexOf(peerEd25519Key(r.node)), r.node); } catch { /* not an ed25519 peer id */ }
  }
  return m;
}

// verifyAgreement checks the request's resolve and returns {verdict,
// headline, k, checks:[{ok, what, detail}], signers:[{key, node, valid,
// registered, distinct}]}. verdict is "ok" (green: every check passed),
// "fail" (red), "none" (the contract required no signatures: its operator
// account alone settled the request), "partial" (something could not be
// checked here) or "pending" (not resolved yet).
//
// resolveText is the text of the relayed resolve transaction
// (/ui/api/chain/requests/{id}/resolve; its arguments are hashed as sent,
// so they are read from the text), undefined when it could not be read:
// unreadable is said, never passed. executors is the relayed {contract,
// agreement, executor_keys} (undefined likewise).
export async function verifyAgreement(job, resolveText, executors) {
  const checks = [];
  const signers = [];
  const k = Number(job.required_signatures || 0);
  const add = (ok, what, detail = '') => { checks.push({ ok, what, detail }); return ok; };
  const out = (verdict, headline) => ({ verdict, headline, k, checks, signers });
  const fail = (headline) => out('fail', `NOT VERIFIED: ${headline}`);
  if (!job.resolve_tx) {
    return out('pending', job.status === 'expired' ? 'the request expired unresolved: no executor signatures were accepted'
      : `not resolved yet (status ${job.status}): the contract has accepted no signatures`);
  }
  let resolve, rawArgs;
  try {
    if (resolveText !== undefined) {
      resolve = JSON.parse(resolveText);
      rawArgs = rawMember(resolveText, 'args');
    }
  } catch (e) {
    add(false, 'Resolve transaction', `the node's answer is not JSON: ${e.message}`);
    return fail('the resolve transaction cannot be read');
  }
  if (!resolve) {
    add(null, 'Resolve transaction', `the resolve transaction ${job.resolve_tx} could not be read through this node`);
    return out('partial', 'the resolve transaction could not be read, so its signatures were not checked here');
  }
  const contract = (executors && executors.contract) || resolve.contract;
  if (!add(resolve.receiver_id === contract && RESOLVE_METHODS.includes(resolve.method), 'Resolve transaction',
    `${resolve.tx}: ${resolve.signer_id} called ${resolve.method} on ${resolve.receiver_id}`)) {
    return fail(`transaction ${resolve.tx} is not a resolve call to ${contract}`);
  }
  const args = resolve.args || {};
  if (String(args.request_id) !== String(job.id)) {
    add(false, 'Resolves this request', `the transaction resolves request ${args.request_id}`);
    return fail(`the resolve transaction is for request ${args.request_id}`);
  }
  if (resolve.failure) {
    add(false, 'The contract accepted the resolve', resolve.failure);
    return fail('the contract refused this resolve');
  }
  const sigs = Array.isArray(args.signatures) ? args.signatures : [];
  if (k === 0 && sigs.length === 0) {
    add(null, 'Executor signatures', 'the contract required none for this request (k = 0): it trusted its operator account alone');
    return out('none', 'the contract required no executor signatures: its operator account alone settled this request');
  }
  if (!executors || !executors.agreement || !executors.agreement.chain_id) {
    add(null, 'Contract settings', 'the contract\'s chain id and executor keys could not be read through this node');
    return out('partial', 'the contract\'s executor keys could not be read, so the signers were not checked here');
  }
  // The claim the resolve carried: its response (or the flat arguments of
  // submit_execution_output_and_resolve, which have the same members) and
  // WASM hash, for the request as this node records it.
  const req = claimRequestOf(job, executors.agreement.chain_id, contract);
  let resolved, served, hash;
  try {
    const responseText = resolve.method === 'resolve_execution' ? rawMember(rawArgs, 'response') : rawArgs;
    resolved = await contractClaim(req, args.wasm_sha256 || '', responseText);
    hash = await claimHash(resolved);
  } catch (e) {
    add(false, 'Claim', `the resolve's result cannot be hashed: ${e.message}`);
    return fail('the resolve\'s result cannot be hashed');
  }
  const logged = resultSigned(resolve.logs, job.id);
  if (!add(logged !== null && logged.claim_hash === hexOf(hash), 'The contract checked this claim',
    logged === null ? 'the resolve logged no result_signed event for this request'
      : logged.claim_hash === hexOf(hash) ? `claim ${hexOf(hash)} (chain ${req.chain_id}), recomputed here from the resolve and the request`
        : `the contract logged claim ${logged.claim_hash}; the resolve and this node's copy of the request give ${hexOf(hash)}: the node's record of the request is not the contract's`)) {
    return fail(logged === null ? 'the contract logged no signature check for this request' : 'the contract checked another claim than this request\'s');
  }
  try {
    served = await claimHash(await contractClaim(req, job.result && job.result.wasm_hash || '', servedResponseText(job)));
  } catch (e) {
    add(false, 'The result shown is the one resolved', `the result this node serves cannot be hashed: ${e.message}`);
    return fail('the result this node serves cannot be hashed');
  }
  if (!add(equalBytes(served, hash), 'The result shown is the one resolved',
    equalBytes(served, hash) ? 'the output, success, instruction count and program this node serves are the ones the executors signed'
      : `this node serves a result whose claim is ${hexOf(served)}, not the signed ${hexOf(hash)}: its output, success, instruction count or program differs from what the contract accepted`)) {
    return fail('the result this node serves is not the one the executors signed');
  }
  // Each signature.
  const registered = new Set((Array.isArray(executors.executor_keys) ? executors.executor_keys : []).map((x) => x.public_key));
  const acceptedAtResolve = new Set(Array.isArray(logged.signers) ? logged.signers : []);
  const byKey = nodesByKey(job);
  const seen = new Set();
  let unsupported = '';
  for (const s of sigs) {
    const sv = { key: String(s.public_key), node: '', valid: false, registered: false, distinct: !seen.has(String(s.public_key)), problem: '' };
    seen.add(sv.key);
    sv.registered = registered.has(sv.key) || acceptedAtResolve.has(sv.key);
    signers.push(sv);
    let pub, sig;
    try {
      pub = nearKey(s.public_key, 32, 'key');
      sig = nearKey(s.signature, 64, 'signature');
    } catch (e) {
      sv.problem = e.message;
      continue;
    }
    sv.node = byKey.get(hexOf(pub)) || '';
    let key;
    try {
      key = await crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
    } catch (e) {
      unsupported = e.message;
      sv.valid = null;
      continue;
    }
    sv.valid = await crypto.subtle.verify('Ed25519', key, sig, hash);
    if (!sv.valid) sv.problem = 'the signature does not verify over this claim';
  }
  if (unsupported) {
    add(null, 'Signatures', `this browser's WebCrypto has no Ed25519 (${unsupported}): run \`outlayerd attest verify-result\` to check them`);
    return out('partial', 'this browser cannot check Ed25519 signatures');
  }
  const good = signers.filter((s) => s.valid && s.registered && s.distinct).length;
  const need = Math.max(k, 1);
  add(signers.every((s) => s.valid), 'Every signature is valid', signers.filter((s) => !s.valid).map((s) => `${s.key}: ${s.problem}`).join('; ') || `${signers.length} ed25519 signature(s) over claim ${hexOf(hash).slice(0, 16)}…`);
  add(signers.every((s) => s.distinct), 'Signers are distinct', signers.filter((s) => !s.distinct).map((s) => `${s.key} signed twice`).join('; ') || 'no key signed twice');
  add(signers.every((s) => s.registered), 'Signers are registered executors', signers.filter((s) => !s.registered).map((s) => `${s.key} is not one of the contract's executor keys`).join('; ')
    || `every key is listed by list_executor_keys${[...acceptedAtResolve].some((x) => !registered.has(x)) ? ' or was accepted by the contract at the resolve (result_signed)' : ''}`);
  add(good >= need, `At least k = ${k} signatures`, `${good} valid signature(s) by distinct registered executors; the contract required ${k}`);
  const bad = signers.find((s) => !s.valid) ? 'a signature does not verify over this result'
    : signers.find((s) => !s.distinct) ? 'a key signed twice'
      : signers.find((s) => !s.registered) ? `a signer is not a registered executor key (${signers.find((s) => !s.registered).key})`
        : good < need ? `only ${good} signature(s) where the contract required k = ${k}` : '';
  if (bad) return fail(bad);
  return out('ok', `Verified: ${good} registered executors signed exactly this result`);
}
