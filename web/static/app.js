// The dashboard: a router over location.pathname and one function per
// page. Each page renders into <main>, polls the node's JSON API while it
// is shown, and returns a function that stops its timers.
import { html, raw, api, $, short, near, bytes, num, ms, when, program, statusBadge, show, isZeroTime, fromBase64 } from './lib.js';
import { lineChart, series } from './chart.js';
// verify.js and crypto.js load with the pages that use them (the request
// and secrets pages), keeping them off the overview's first render.

const main = () => $('#main');
const POLL_MS = 2000;

// every runs fn now and then every ms until the returned stop is called;
// a run never overlaps the previous one.
function every(msec, fn) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try { await fn(); } catch (e) { showError(e); }
    if (!stopped) timer = setTimeout(tick, msec);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

function showError(e) {
  const box = $('#error');
  if (!box) return;
  box.hidden = !e;
  box.textContent = e ? String(e.message || e) : '';
}

function set(sel, content) {
  const el = $(sel);
  if (el) el.innerHTML = String(content);
}

// ---------- Overview ----------

function overview() {
  main().innerHTML = String(html`
<h1>Overview</h1>
<div id="sim-banner" class="banner sim" role="alert" hidden></div>
<section class="cards" aria-label="Cluster summary">
  <div class="card"><h2>Health</h2><div id="ov-health" class="big">…</div></div>
  <div class="card"><h2>Leader</h2><div id="ov-leader">…</div></div>
  <div class="card"><h2>Work</h2><div id="ov-work">…</div><div id="ov-running-list"></div></div>
  <div class="card"><h2>Chain</h2><div id="ov-chain">…</div></div>
</section>
<section><h2>Members</h2><div class="scroll"><table id="ov-members"><thead><tr>
<th scope="col">Node</th><th scope="col">Role</th><th scope="col">Reachable</th><th scope="col">Attestation</th><th scope="col">Running</th><th scope="col">Joined</th></tr></thead><tbody></tbody></table></div></section>
<section class="cards two"><div class="card"><h2>Throughput (requests/min)</h2><div id="ov-tput"></div></div>
<div class="card"><h2>Latency (queued → done)</h2><div id="ov-lat"></div></div></section>
<p class="muted" id="ov-attest"></p>`);
  // Each card renders as soon as its own answer arrives: the slowest
  // source (the chain head, read over RPC) holds up nothing else.
  const health = async () => {
    const [h, status] = await Promise.all([api('/health', { allow: [503] }), api('/status')]);
    set('#ov-health', html`<span class="badge ${h.status === 'ok' ? 'ok' : 'bad'}">${h.status}</span>
      <div class="muted small">this node ${short(status.peer_id, 6)}${status.is_leader ? ' (leader)' : ''}</div>`);
    set('#ov-leader', status.leader ? html`<code title="${status.leader}">${short(status.leader, 6)}</code>` : html`<span class="badge bad">none</span>`);
    const rows = (status.nodes || []).map((n) => html`<tr>
      <td><code title="${n.peer_id}">${short(n.peer_id, 6)}</code>${n.peer_id === status.peer_id ? html` <span class="muted">(this node)</span>` : ''}</td>
      <td>${n.role}${n.leader ? html` <span class="badge ok">leader</span>` : ''}</td>
      <td>${n.reachable ? html`<span class="badge ok">yes</span>` : html`<span class="badge bad">no</span>`}</td>
      <td>${n.simulated_attestation ? html`<span class="badge sim">SIMULATED</span> ` : ''}<span class="small">${n.attestation || '—'}</span></td>
      <td>${n.running}</td><td>${when(n.joined_at)}</td></tr>`);
    set('#ov-members tbody', html`${rows}`);
    const sim = (status.nodes || []).some((n) => n.simulated_attestation);
    const banner = $('#sim-banner');
    banner.hidden = !sim;
    banner.textContent = sim ? `SIMULATED ATTESTATION — ${status.attestation}. Results here prove nothing about the machines that ran them.` : '';
    set('#ov-attest', html`Cluster attestation: ${status.attestation}. This node's results: ${status.result_attestation}.`);
    if (!performance.getEntriesByName('outlayer:live-data').length) performance.mark('outlayer:live-data');
  };
  const work = async () => {
    const [stats, running] = await Promise.all([api('/stats'), api('/ui/api/requests?status=assigned&limit=5')]);
    const c = stats.by_status || {};
    set('#ov-running-list', running.requests.length
      ? html`<h3>Running now</h3><ul>${running.requests.map((j) => html`<li><a href="/executions/${j.id}">#${j.id}</a> <code>${program(j.code)}</code> on <code title="${j.node || ''}">${short(j.node || '', 6)}</code></li>`)}</ul>`
      : '');
    set('#ov-work', html`<dl class="kv">
      <dt>Running</dt><dd id="ov-running">${num(c.assigned || 0)}</dd>
      <dt>Queued</dt><dd id="ov-queued">${num(c.queued || 0)}</dd>
      <dt>Awaiting resolve</dt><dd>${num((c.completed || 0) + (c.failed || 0))}</dd>
      <dt>Resolved</dt><dd>${num(c.resolved || 0)}</dd><dt>Expired</dt><dd>${num(c.expired || 0)}</dd>
      <dt>Total</dt><dd id="ov-total">${num(stats.requests)}</dd><dt>WASM cache</dt><dd>${bytes(stats.wasm_cache_bytes)}</dd></dl>`);
  };
  const chain = async () => {
    const ch = await api('/ui/api/chain');
    const cur = ch.cursor ? ch.cursor.height : null;
    const head = ch.head ? ch.head.height : null;
    const lag = cur !== null && head !== null ? head - cur : null;
    set('#ov-chain', html`<dl class="kv"><dt>Cursor</dt><dd id="ov-cursor">${cur ?? '—'}</dd><dt>Head (final)</dt><dd id="ov-head">${head ?? '—'}</dd>
      <dt>Behind</dt><dd>${lag === null ? '—' : html`<span class="badge ${lag > 20 ? 'warn' : 'ok'}">${lag} blocks</span>`}</dd>
      <dt>Contract</dt><dd><code>${ch.contract}</code></dd></dl>${ch.head_error ? html`<p class="bad-text small">${ch.head_error}</p>` : ''}`);
  };
  const charts = async () => {
    const recent = await api('/ui/api/requests?limit=200');
    const s = series(recent.requests || []);
    set('#ov-tput', raw(lineChart(s.throughput, { title: 'Throughput, requests per minute', fmt: (v) => v.toFixed(1) })));
    set('#ov-lat', raw(lineChart(s.latency, { title: 'Mean latency, queued to done', fmt: (v) => ms(v) })));
  };
  return every(3000, async () => {
    const results = await Promise.allSettled([health(), work(), chain(), charts()]);
    const failed = results.find((r) => r.status === 'rejected');
    showError(failed ? failed.reason : null);
  });
}

// ---------- Executions ----------

const STATUSES = ['queued', 'assigned', 'completed', 'failed', 'resolved', 'expired'];

function executions() {
  const q = new URLSearchParams(location.search);
  main().innerHTML = String(html`
<h1>Executions</h1>
<form id="filters" class="filters" role="search" aria-label="Filter requests">
  <label>Sender <input name="sender" value="${q.get('sender') || ''}" placeholder="alice.near" autocomplete="off"></label>
  <label>Status <select name="status"><option value="">any</option>${STATUSES.map((s) => html`<option ${q.get('status') === s ? 'selected' : ''}>${s}</option>`)}</select></label>
  <label>Program <input name="program" value="${q.get('program') || ''}" placeholder="repo, commit, URL or hash" autocomplete="off"></label>
  <button type="submit">Filter</button>
</form>
<p class="muted small" aria-live="polite"><span class="live-dot" aria-hidden="true"></span> <span id="ex-live">loading…</span></p>
<div class="scroll"><table id="ex-table"><thead><tr><th scope="col">ID</th><th scope="col">Status</th><th scope="col">Sender</th><th scope="col">Program</th>
<th scope="col">Instructions</th><th scope="col">Run time</th><th scope="col">Queued</th></tr></thead><tbody></tbody></table></div>`);
  const form = $('#filters');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    navigate(`/executions${p.toString() ? `?${p}` : ''}`);
  });
  const seen = new Set();
  let first = true;
  return every(POLL_MS, async () => {
    const p = new URLSearchParams(location.search);
    p.set('limit', '100');
    const res = await api(`/ui/api/requests?${p}`);
    showError(null);
    const rows = res.requests.map((j) => {
      const fresh = !first && !seen.has(j.id);
      seen.add(j.id);
      const r = j.result;
      return html`<tr data-id="${j.id}" class="${fresh ? 'fresh' : ''}"><td><a href="/executions/${j.id}">#${j.id}</a></td><td>${statusBadge(j.status)}${r && !r.success ? html` <span class="badge bad" title="${r.error || ''}">${r.error_kind || 'error'}</span>` : ''}</td>
      <td>${j.sender}</td><td><code>${program(j.code)}</code></td><td>${r ? num(r.instructions) : '—'}</td><td>${r ? ms(r.time_ms) : '—'}</td><td>${when(j.queued_at)}</td></tr>`;
    });
    first = false;
    set('#ex-table tbody', rows.length ? html`${rows}` : html`<tr><td colspan="7" class="muted">No requests match.</td></tr>`);
    set('#ex-live', `live: ${res.requests.length} shown, updated ${new Date().toLocaleTimeString()}${res.scanned_all ? '' : ` (searched the newest ${res.scanned})`}`);
  });
}

// ---------- One request ----------

function requestPage(id) {
  main().innerHTML = String(html`<p><a href="/executions">← Executions</a></p><h1>Request #${id}</h1><div id="rq">loading…</div>`);
  let lastKey = '';
  let stop = () => {};
  stop = every(POLL_MS, async () => {
    const job = await api(`/requests/${encodeURIComponent(id)}`);
    showError(null);
    const key = `${job.status}|${job.updated_at}`;
    if (key === lastKey) return;
    lastKey = key;
    renderRequest(job);
    if (job.result) {
      let chainReq;
      try { chainReq = (await api(`/ui/api/chain/requests/${encodeURIComponent(id)}`)).request; } catch { chainReq = undefined; }
      let deployment;
      try { const st = await api('/status'); deployment = { chainID: st.claim_chain_id, contract: st.contract }; } catch { deployment = undefined; }
      const { verifyResult } = await import('./verify.js');
      const attestation = await verifyResult(job, chainReq, deployment);
      let resolve, executors;
      if (job.resolve_tx) {
        [resolve, executors] = await Promise.all([
          api(`/ui/api/chain/requests/${encodeURIComponent(id)}/resolve`, { asText: true }).catch(() => undefined),
          api('/ui/api/chain/executors').catch(() => undefined)]);
      }
      const { verifyAgreement } = await import('./agreement.js');
      renderVerdict(attestation, await verifyAgreement(job, resolve, executors));
    }
    if (job.status === 'resolved' || job.status === 'expired') stop();
  });
  return () => stop();
}

function renderRequest(j) {
  const r = j.result;
  const code = j.code.git
    ? html`git <code>${j.code.git.repo}</code> at <code>${j.code.git.commit}</code>${j.code.git.build_target ? ` (${j.code.git.build_target})` : ''}`
    : html`WASM <a href="${j.code.wasm.url}" rel="noreferrer">${j.code.wasm.url}</a> sha256 <code>${j.code.wasm.hash}</code>`;
  const lim = j.limits || {};
  const attempts = (j.attempts || []).map((a, i) => {
    const start = Date.parse(a.assigned_at);
    const end = isZeroTime(a.ended_at) ? Date.now() : Date.parse(a.ended_at);
    return html`<li><span class="badge at-${a.outcome}">${a.outcome}</span> attempt ${i + 1} on <code title="${a.node}">${short(a.node, 6)}</code>,
      assigned ${when(a.assigned_at)}, ${ms(end - start)}${isZeroTime(a.ended_at) ? ' so far' : ''}${a.late_result ? ' (a late result arrived and was ignored)' : ''}</li>`;
  });
  main().querySelector('#rq').innerHTML = String(html`
<p>${statusBadge(j.status)} ${r ? (r.success ? html`<span class="badge ok">success</span>` : html`<span class="badge bad">${r.error_kind || 'failed'}</span>`) : ''}</p>
<section id="verdict" class="verdict" data-verdict="${r ? 'checking' : 'pending'}" aria-live="polite">${r ? 'Checking the attestation in this browser…' : 'No result yet.'}</section>
<section class="cards two">
<div class="card"><h2>Request</h2><dl class="kv">
  <dt>Sender</dt><dd><a href="/executions?sender=${encodeURIComponent(j.sender)}">${j.sender}</a></dd>
  ${j.payer ? html`<dt>Refunds to</dt><dd>${j.payer}</dd>` : ''}
  <dt>Program</dt><dd>${code}</dd>
  <dt>Format</dt><dd>${j.response_format || 'Text'}</dd>
  ${j.secrets ? html`<dt>Secrets</dt><dd>profile <code>${j.secrets.profile}</code> of ${j.secrets.account_id}</dd>` : ''}
  <dt>Block</dt><dd>${j.block_height}</dd>
  ${j.tx_hash ? html`<dt>Transaction</dt><dd><code>${j.tx_hash}</code></dd>` : ''}
  ${j.resolve_tx ? html`<dt>Resolved by</dt><dd><code>${j.resolve_tx}</code></dd>` : ''}
  ${j.error ? html`<dt>Error</dt><dd class="bad-text">${j.error}</dd>` : ''}
</dl></div>
<div class="card"><h2>Resources and cost</h2><dl class="kv" id="rq-cost">
  <dt>Instructions</dt><dd>${r ? num(r.instructions) : '—'} of ${lim.max_instructions ? num(lim.max_instructions) : 'default'}</dd>
  <dt>Run time</dt><dd>${r ? ms(r.time_ms) : '—'} of ${lim.max_execution_seconds ? `${lim.max_execution_seconds} s` : 'default'}</dd>
  <dt>Memory limit</dt><dd>${lim.max_memory_mb ? `${lim.max_memory_mb} MB` : 'default'}</dd>
  ${r && r.compile_ms !== undefined ? html`<dt>Compile</dt><dd>${ms(r.compile_ms)}</dd>` : ''}
  <dt>Deposit</dt><dd>${near(j.deposit)}</dd>
  <dt>Charge</dt><dd id="rq-charge">…</dd><dt>Refund</dt><dd id="rq-refund">…</dd>
</dl></div></section>
<section class="cards two">
<div class="card"><h2>Input</h2>${show(new TextEncoder().encode(j.input || ''), 'Text')}</div>
<div class="card"><h2>${r && !r.success ? 'Error' : 'Output'}</h2>${r ? (r.success ? show(r.output ? fromBase64(r.output) : new Uint8Array(0), j.response_format) : html`<pre class="code bad-text">${r.error}</pre>`) : html`<p class="muted">not yet</p>`}
${r && r.compilation_note ? html`<details><summary>Build note</summary><pre class="code">${r.compilation_note}</pre></details>` : ''}</div>
</section>
<section class="card"><h2>Timeline</h2><ol class="timeline">
  <li>queued ${when(j.queued_at)}</li>${attempts}
  ${!isZeroTime(j.done_at) ? html`<li>done ${when(j.done_at)}${r ? html` by <code title="${r.node}">${short(r.node, 6)}</code>` : ''}</li>` : ''}
  ${!isZeroTime(j.closed_at) ? html`<li>${j.status} ${when(j.closed_at)}</li>` : ''}
</ol></section>
${agreement(j)}
<details class="card"><summary>Raw JSON</summary><pre class="code">${JSON.stringify(j, null, 2)}</pre></details>`);
  cost(j);
}

// agreement renders the k-of-n agreement (store.Agreement: k, every
// executor's result with its signature, the dissent) and the signature of
// the result itself. The signatures are over the contract's result claim;
// the contract checks them when the result is submitted, this page shows
// them.
function agreement(j) {
  const r = j.result || {};
  const ag = j.agreement;
  if (!ag && !r.signature && !j.required_signatures) return '';
  const sig = (x) => (x.signature ? html`<code title="${x.signature}">${short(hexOfB64(x.signature), 8)}</code>` : html`<span class="muted">unsigned</span>`);
  const rows = ag ? (ag.results || []).map((x) => {
    const dis = (ag.dissent || []).find((d) => d.node === x.node);
    return html`<tr><td><code title="${x.node}">${short(x.node, 6)}</code></td>
      <td>${x.success ? html`<span class="badge ok">success</span>` : html`<span class="badge bad">${x.error_kind || 'failed'}</span>`}</td>
      <td>${num(x.instructions)}</td><td><code title="${x.wasm_hash || ''}">${short(x.wasm_hash || '', 6) || '—'}</code></td>
      <td>${dis ? html`<span class="badge bad">outvoted</span> <span class="small">${dis.differs}</span>` : html`<span class="badge ok">agrees</span>`}</td>
      <td><code class="wrap small">${x.signer_key || '—'}</code></td><td>${sig(x)}</td></tr>`;
  }) : [];
  return html`<section class="card" id="agreement"><h2>Agreement</h2>
<p>${ag ? html`<strong>${(ag.results || []).length}</strong> executor result(s) for <strong>k = ${ag.k}</strong>.` : 'One executor.'}
${j.required_signatures ? html` The contract requires <strong>${j.required_signatures}</strong> executor signature(s).` : ''}</p>
${ag ? html`<div class="scroll"><table id="agreement-table"><thead><tr><th scope="col">Executor</th><th scope="col">Outcome</th><th scope="col">Instructions</th><th scope="col">WASM</th>
<th scope="col">Majority</th><th scope="col">Signer key</th><th scope="col">Signature</th></tr></thead><tbody>${rows}</tbody></table></div>` : ''}
${r.signature ? html`<p class="small">This result is signed by <code class="wrap">${r.signer_key || r.node}</code>: ${sig(r)}. The contract verifies executor signatures over its result claim when the result is submitted.</p>` : ''}
</section>`;
}

function hexOfB64(b64) {
  try { return Array.from(fromBase64(b64), (b) => b.toString(16).padStart(2, '0')).join(''); } catch { return b64; }
}

async function cost(j) {
  const r = j.result;
  let p;
  try { p = await api('/pricing'); } catch { set('#rq-charge', 'pricing unavailable'); set('#rq-refund', '—'); return; }
  if (!r) { set('#rq-charge', '—'); set('#rq-refund', '—'); return; }
  const lim = j.limits || {};
  const clamp = (v, l) => (l ? Math.min(v, l) : v);
  let charge = BigInt(p.base_fee);
  if (r.success) {
    charge += BigInt(p.per_million_instructions_fee) * BigInt(Math.floor(clamp(r.instructions, lim.max_instructions) / 1e6));
    charge += BigInt(p.per_ms_fee) * BigInt(clamp(r.time_ms, lim.max_execution_seconds ? lim.max_execution_seconds * 1000 : 0));
    charge += BigInt(p.per_compile_ms_fee) * BigInt(Math.min(r.compile_ms || 0, 300_000));
  }
  const dep = BigInt(j.deposit || '0');
  if (charge > dep) charge = dep;
  set('#rq-charge', html`${near(charge)} <span class="muted small">(at the contract's current prices)</span>`);
  set('#rq-refund', near(dep - charge));
}

// renderVerdict shows the request's verdict: the agreement (the
// executor signatures the contract accepted, agreement.js) and the
// attestation (verify.js), each with its checks. The whole is red when
// either fails; green belongs to the agreement alone, and only when every
// one of its checks passed (simulated attestation is never green).
function renderVerdict(v, ag) {
  const el = $('#verdict');
  if (!el) return;
  const failed = [ag, v].find((x) => x.verdict === 'fail');
  el.dataset.verdict = failed ? 'fail' : v.verdict;
  const mark = (ok) => (ok === true ? html`<span class="ok-text" aria-label="passed">✓</span>` : ok === false ? html`<span class="bad-text" aria-label="failed">✗</span>` : html`<span class="warn-text" aria-label="not checked">–</span>`);
  const checks = (list) => html`<ul class="checks">${list.map((c) => html`<li>${mark(c.ok)} <strong>${c.what}</strong> <span class="small">${c.detail}</span></li>`)}</ul>`;
  const signers = ag.signers.length ? html`<div class="scroll"><table id="signers"><thead><tr><th scope="col">Signer key</th><th scope="col">Node</th><th scope="col">Signature</th><th scope="col">Registered</th><th scope="col">Distinct</th></tr></thead>
<tbody>${ag.signers.map((s) => html`<tr data-key="${s.key}"><td><code class="wrap small">${s.key}</code></td><td>${s.node ? html`<code title="${s.node}">${short(s.node, 6)}</code>` : html`<span class="muted">—</span>`}</td>
<td>${mark(s.valid)} ${s.valid === true ? 'valid' : s.valid === false ? 'invalid' : 'not checked'}</td><td>${mark(s.registered)} ${s.registered ? 'yes' : 'no'}</td><td>${mark(s.distinct)} ${s.distinct ? 'yes' : 'repeated'}</td></tr>`)}</tbody></table></div>` : '';
  el.innerHTML = String(html`<h2 id="verdict-headline">${failed ? failed.headline : v.headline}</h2>
<div id="agreement-verdict" class="verdict-part" data-verdict="${ag.verdict}"><h3>Agreement${ag.k ? ` (k = ${ag.k})` : ''}: <span id="agreement-headline">${ag.headline}</span></h3>
${checks(ag.checks)}${signers}</div>
<div id="attestation-verdict" class="verdict-part" data-verdict="${v.verdict}"><h3>Attestation: <span id="attestation-headline">${v.headline}</span></h3>${checks(v.checks)}</div>
<p class="small muted">Checked here with WebCrypto, as <code>outlayerd attest verify-result --dev</code> does; the chain's copies (the request, its resolve transaction, the executor keys) are relayed by this node (give the CLI <code>--near-rpc</code> to ask the chain yourself). The k is the contract's, as this node recorded it.</p>`);
}

// ---------- Programs ----------

function programs() {
  main().innerHTML = String(html`<h1>Programs</h1><p class="muted">The WASM modules in the cluster's cache, newest first. Runs and builds count the newest requests.</p>
<div class="scroll"><table id="pg-table"><thead><tr><th scope="col">SHA-256</th><th scope="col">Source</th><th scope="col">Size</th><th scope="col">Builds</th><th scope="col">Runs</th><th scope="col">Stored</th><th scope="col">Last used</th></tr></thead><tbody></tbody></table></div>`);
  return every(5000, async () => {
    const res = await api('/ui/api/programs');
    showError(null);
    const rows = res.programs.map((p) => html`<tr data-hash="${p.hash}"><td><a href="/executions?program=${p.hash}"><code title="${p.hash}">${short(p.hash, 8)}</code></a></td>
      <td>${(p.sources || []).map((s) => html`<div>git <code>${s.repo}</code> @ <code title="${s.commit}">${short(s.commit, 7)}</code> <span class="muted">${s.target}</span></div>`)}
          ${(p.urls || []).map((u) => html`<div>url <code class="wrap">${u}</code></div>`)}
          ${p.build_note ? html`<details><summary>build note</summary><pre class="code">${p.build_note}</pre></details>` : ''}</td>
      <td>${bytes(p.size)}</td><td>${p.builds}</td><td>${p.runs}</td><td>${when(p.stored_at)}</td><td>${when(p.last_used)}</td></tr>`);
    set('#pg-table tbody', rows.length ? html`${rows}` : html`<tr><td colspan="7" class="muted">The cache is empty.</td></tr>`);
  });
}

// ---------- Secrets ----------

function secrets() {
  const q = new URLSearchParams(location.search);
  main().innerHTML = String(html`<h1>Secrets</h1>
<p>Secrets are encrypted <strong>in this browser</strong> to the cluster's key for one code identity and owner, then stored on the contract by the owner. Only a node running that code for a caller the access condition allows can decrypt them.</p>
<form id="sc-form" class="card stack" aria-label="Encrypt secrets">
  <h2>1. Code identity</h2>
  <fieldset class="row"><legend>Bound to</legend>
    <label><input type="radio" name="kind" value="repo" checked> a repository</label>
    <label><input type="radio" name="kind" value="wasm"> a WASM hash</label></fieldset>
  <div class="row">
    <label data-kind="repo">Repository <input name="repo" placeholder="github.com/alice/app" autocomplete="off"></label>
    <label data-kind="repo">Branch (optional) <input name="branch" autocomplete="off"></label>
    <label data-kind="wasm" hidden>WASM sha256 <input name="wasm_hash" placeholder="64 hex digits" autocomplete="off"></label>
    <label>Owner <input name="owner" required placeholder="alice.near" value="${q.get('account') || ''}" autocomplete="off"></label>
    <label>Profile <input name="profile" value="default" autocomplete="off"></label>
  </div>
  <button type="button" id="sc-pubkey">Get public key</button>
  <div id="sc-key" aria-live="polite"></div>
  <h2>2. Secrets</h2>
  <label>JSON object of string values <textarea name="plaintext" rows="4" spellcheck="false">{"API_KEY":"..."}</textarea></label>
  <label>Access condition (as the contract takes it) <input name="access" value='"AllowAll"' spellcheck="false" autocomplete="off"></label>
  <button type="submit" id="sc-encrypt">Encrypt in this browser</button>
  <div id="sc-out" aria-live="polite"></div>
</form>
<section class="card"><h2>Stored secrets of an account</h2>
<form id="sc-list-form" class="row" role="search" aria-label="List an account's secrets"><label>Account <input name="account" value="${q.get('account') || ''}" autocomplete="off"></label><button type="submit">List</button></form>
<div id="sc-list"></div></section>`);
  const form = $('#sc-form');
  const kind = () => form.elements.kind.value;
  form.addEventListener('change', () => {
    for (const el of form.querySelectorAll('[data-kind]')) el.hidden = el.dataset.kind !== kind();
  });
  let key = null;
  const identity = () => {
    const f = form.elements;
    const p = new URLSearchParams({ owner: f.owner.value.trim(), profile: f.profile.value.trim() || 'default' });
    if (kind() === 'repo') { p.set('repo', f.repo.value.trim()); if (f.branch.value.trim()) p.set('branch', f.branch.value.trim()); } else p.set('wasm_hash', f.wasm_hash.value.trim().toLowerCase());
    return p;
  };
  $('#sc-pubkey').addEventListener('click', async () => {
    key = null;
    set('#sc-key', 'asking the node…');
    try {
      key = await api(`/v1/keystore/pubkey?${identity()}`);
      set('#sc-key', html`<dl class="kv"><dt>Public key</dt><dd><code id="sc-pubkey-hex" class="wrap">${key.pubkey}</code></dd><dt>Seed</dt><dd><code class="wrap">${key.seed}</code></dd><dt>Format</dt><dd class="small">${key.format}</dd></dl>`);
    } catch (e) { set('#sc-key', html`<p class="bad-text">${e.message}</p>`); }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = form.elements;
    try {
      if (!key) throw new Error('get the public key first (step 1)');
      let obj;
      try { obj = JSON.parse(f.plaintext.value); } catch { throw new Error('the secrets must be a JSON object, like {"API_KEY":"..."}'); }
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj) || Object.values(obj).some((v) => typeof v !== 'string')) {
        throw new Error('the secrets must be one JSON object of string values');
      }
      let access;
      try { access = JSON.parse(f.access.value); } catch { throw new Error('the access condition is not JSON (try "AllowAll" with the quotes)'); }
      const { encryptSecrets } = await import('./crypto.js');
      const b64 = await encryptSecrets(key.pubkey, f.plaintext.value);
      const owner = key.owner;
      const who = key.accessor.Repo
        ? `--repo ${sh(key.accessor.Repo.repo)}${key.accessor.Repo.branch ? ` --branch ${sh(key.accessor.Repo.branch)}` : ''}`
        : `--wasm-hash ${key.accessor.WasmHash.hash}`;
      const chain = await api('/ui/api/chain');
      const cli = `outlayerd secrets store --rpc ${chain.rpc} --contract ${chain.contract} ${who} --account ${owner} --profile ${sh(key.profile)} \\\n  --access ${sh(JSON.stringify(access))} --keys-dir ~/.near-credentials --encrypted ${b64}`;
      const args = { accessor: key.accessor, profile: key.profile, encrypted_secrets_base64: b64, access };
      const js = `// near-api-js: estimate the storage deposit, then store (signed by ${owner})
const args = ${JSON.stringify(args, null, 2)};
const deposit = await account.viewFunction({ contractId: "${chain.contract}", methodName: "estimate_storage_cost",
  args: { ...args, owner: "${owner}" } });
await account.functionCall({ contractId: "${chain.contract}", methodName: "store_secrets", args,
  gas: 50_000_000_000_000n, attachedDeposit: BigInt(deposit) });`;
      set('#sc-out', html`<h3>Encrypted (ECIES v1, base64)</h3><pre class="code wrap" id="ciphertext">${b64}</pre>
<h3>Store it with the CLI</h3><pre class="code wrap" id="sc-cli">${cli}</pre>
<h3>…or with near-api-js</h3><pre class="code" id="sc-js">${js}</pre>`);
    } catch (err) { set('#sc-out', html`<p class="bad-text" role="alert">${err.message}</p>`); }
  });
  const listForm = $('#sc-list-form');
  const list = async () => {
    const account = listForm.elements.account.value.trim();
    if (!account) return;
    try {
      const res = await api(`/ui/api/secrets?account=${encodeURIComponent(account)}`);
      const rows = res.secrets.map((s) => html`<tr><td>${s.accessor.Repo ? html`repo <code>${s.accessor.Repo.repo}</code>${s.accessor.Repo.branch ? html` branch <code>${s.accessor.Repo.branch}</code>` : ''}` : html`WASM <code title="${s.accessor.WasmHash.hash}">${short(s.accessor.WasmHash.hash, 8)}</code>`}</td>
        <td><code>${s.profile}</code></td><td><code class="wrap">${JSON.stringify(s.access)}</code></td><td>${near(s.storage_deposit)}</td><td>${new Date(Number(BigInt(s.updated_at) / 1000000n)).toISOString().slice(0, 19).replace('T', ' ')}</td></tr>`);
      set('#sc-list', rows.length ? html`<div class="scroll"><table id="sc-table"><thead><tr><th scope="col">Code</th><th scope="col">Profile</th><th scope="col">Access</th><th scope="col">Deposit</th><th scope="col">Updated (UTC)</th></tr></thead><tbody>${rows}</tbody></table></div>`
        : html`<p class="muted" id="sc-table-empty">${account} has no secrets on ${res.contract}.</p>`);
    } catch (err) { set('#sc-list', html`<p class="bad-text">${err.message}</p>`); }
  };
  listForm.addEventListener('submit', (e) => { e.preventDefault(); list(); });
  list();
  return () => {};
}

function sh(s) { return /^[\w./:@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`; }

// ---------- Pricing ----------

function pricing() {
  main().innerHTML = String(html`<h1>Pricing</h1><div id="pr">loading…</div>
<form id="est" class="card stack" aria-label="Cost estimator"><h2>Cost estimator</h2>
<div class="row">
  <label>Max instructions <input name="max_instructions" type="number" min="0" value="1000000000"></label>
  <label>Max seconds <input name="max_seconds" type="number" min="0" value="10"></label>
  <label>Expected instructions <input name="instructions" type="number" min="0" value="50000000"></label>
  <label>Expected run time (ms) <input name="time_ms" type="number" min="0" value="120"></label>
  <label>Compile time (ms, git sources not yet cached) <input name="compile_ms" type="number" min="0" value="0"></label>
</div><div id="est-out" aria-live="polite"></div></form>
<section class="card"><h2>Docs</h2><ul>
<li>This node's JSON API: <a href="/status">/status</a>, <a href="/requests">/requests</a>, <a href="/stats">/stats</a>, <a href="/pricing">/pricing</a>, <a href="/metrics">/metrics</a>, <a href="/v1/keystore/status">/v1/keystore/status</a></li>
<li>Verify a result yourself: <code>outlayerd attest verify-result --node URL --near-rpc RPC --contract C ID</code></li>
<li>Secrets: <code>outlayerd secrets --help</code>; requests: <code>outlayerd request --help</code>; the README in the repository covers running a node and the testnet.</li>
</ul></section>`);
  let p = null;
  let storagePricing = null;
  const est = () => {
    if (!p || !storagePricing) return;
    const f = $('#est').elements;
    const v = (n) => BigInt(Math.max(0, Math.floor(Number(f[n].value) || 0)));
    const maxI = v('max_instructions'); const maxS = v('max_seconds');
    const execution = BigInt(p.base_fee) + BigInt(p.per_million_instructions_fee) * (maxI / 1000000n) + BigInt(p.per_ms_fee) * maxS * 1000n;
    const storage = BigInt(storagePricing.storage_price_per_byte) * BigInt(storagePricing.request_storage_allowance);
    const deposit = execution + storage;
    const minB = (a, b) => (a < b ? a : b);
    let cost = BigInt(p.base_fee) + BigInt(p.per_million_instructions_fee) * (minB(v('instructions'), maxI) / 1000000n)
      + BigInt(p.per_ms_fee) * minB(v('time_ms'), maxS * 1000n) + BigInt(p.per_compile_ms_fee) * minB(v('compile_ms'), 300000n);
    if (cost > execution) cost = execution;
    set('#est-out', html`<dl class="kv"><dt>Deposit to attach</dt><dd id="est-deposit">${near(deposit, 8)}</dd>
<dt>of which for the limits</dt><dd>${near(execution, 8)}</dd><dt>of which for storage</dt><dd>${near(storage, 8)} <span class="small muted">(${storagePricing.request_storage_allowance} bytes, refunded at settlement)</span></dd>
<dt>Expected charge</dt><dd id="est-charge">${near(cost, 8)}</dd><dt>Refund</dt><dd>${near(deposit - cost, 8)}</dd></dl>
<p class="small muted">The deposit covers the limits and the request's storage while it waits; the contract keeps what the run used and refunds the rest (a failed run costs the base fee). This is what <code>estimate_execution_cost</code> returns for a request whose storage fits the allowance.</p>`);
  };
  $('#est').addEventListener('input', est);
  (async () => {
    try {
      [p, storagePricing] = await Promise.all([api('/pricing'), api('/ui/api/storage-pricing')]);
      set('#pr', html`<table id="pr-table" class="card"><tbody>
<tr><th scope="row">Base fee (every request)</th><td>${near(p.base_fee, 8)}</td></tr>
<tr><th scope="row">Per million instructions</th><td>${near(p.per_million_instructions_fee, 10)}</td></tr>
<tr><th scope="row">Per ms of run time</th><td>${near(p.per_ms_fee, 8)}</td></tr>
<tr><th scope="row">Per ms of compiling</th><td>${near(p.per_compile_ms_fee, 8)}</td></tr>
<tr><th scope="row">Deposit for the default limits</th><td>${near(p.default_limits_estimate, 8)}</td></tr>
</tbody></table><p class="muted small">Contract <code>${p.contract}</code>.</p>`);
      est();
    } catch (e) { showError(e); }
  })();
  return () => {};
}

// ---------- Router ----------

const routes = [
  [/^\/$/, overview, 'Overview'],
  [/^\/executions$/, executions, 'Executions'],
  [/^\/executions\/(\d+)$/, requestPage, 'Request'],
  [/^\/programs$/, programs, 'Programs'],
  [/^\/secrets$/, secrets, 'Secrets'],
  [/^\/fees$/, pricing, 'Pricing'],
];

let stopPage = () => {};

// route shows the page for location; after an in-app navigation focus
// moves to the new content (as a page load would start there).
function route(moveFocus = false) {
  stopPage();
  showError(null);
  const path = location.pathname.replace(/\/+$/, '') || '/';
  for (const [re, page, title] of routes) {
    const m = path.match(re);
    if (!m) continue;
    document.title = `${title}${m[1] ? ` #${m[1]}` : ''} · OutLayer`;
    for (const a of document.querySelectorAll('nav a')) {
      const here = a.getAttribute('href') === '/' ? path === '/' : path.startsWith(a.getAttribute('href'));
      if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    stopPage = page(m[1]) || (() => {});
    if (moveFocus) $('#main').focus({ preventScroll: true });
    return;
  }
  main().innerHTML = String(html`<h1>Not found</h1><p>No page at <code>${location.pathname}</code>.</p>`);
  stopPage = () => {};
}

function navigate(url) {
  history.pushState(null, '', url);
  route(true);
}

// Links within the dashboard change pages without reloading; links to the
// JSON API (and anything with a modifier key) load normally.
document.addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  if ((a.getAttribute('href') || '').startsWith('#')) return; // in-page (the skip link)
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !routes.some(([re]) => re.test(url.pathname.replace(/\/+$/, '') || '/'))) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', () => route(true));

// Theme: auto (the system's), light or dark, remembered in this browser.
const themes = ['auto', 'light', 'dark'];
function applyTheme(t) {
  if (t === 'auto') delete document.documentElement.dataset.theme; else document.documentElement.dataset.theme = t;
  const b = $('#theme');
  b.textContent = `Theme: ${t}`;
  b.setAttribute('aria-label', `Colour theme: ${t}. Change`);
}
$('#theme').addEventListener('click', () => {
  const next = themes[(themes.indexOf(localStorage.getItem('theme') || 'auto') + 1) % themes.length];
  localStorage.setItem('theme', next);
  applyTheme(next);
});
applyTheme(localStorage.getItem('theme') || 'auto');
route();
