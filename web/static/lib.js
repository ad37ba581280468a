// Small shared helpers: safe HTML templates, the JSON API, formatting.

class Raw {
  constructor(s) { this.s = s; }
  toString() { return this.s; }
}

export const raw = (s) => new Raw(String(s));

export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function render(v) {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Raw) return v.s;
  if (Array.isArray(v)) return v.map(render).join('');
  return esc(v);
}

// html is a template tag: interpolated values are escaped unless they are
// html`` results (or raw()).
export function html(strings, ...vals) {
  let out = strings[0];
  vals.forEach((v, i) => { out += render(v) + strings[i + 1]; });
  return new Raw(out);
}

// api GETs a JSON route of this node and throws the API's error text;
// with asText it returns the answer's text unparsed (for what is hashed
// as sent).
export async function api(path, { allow = [], asText = false } = {}) {
  const r = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  if (!r.ok && !allow.includes(r.status)) {
    throw new Error((body && body.error) || `${path}: ${r.status} ${r.statusText}`);
  }
  return asText ? text : body;
}

export function fromBase64(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function short(s, n = 8) {
  if (!s) return '';
  return s.length > 2 * n + 1 ? `${s.slice(0, n)}…${s.slice(-n)}` : s;
}

const YOCTO = 10n ** 24n;

// near formats a yoctoNEAR amount (decimal string or BigInt) in NEAR.
export function near(yocto, digits = 6) {
  if (yocto === undefined || yocto === null || yocto === '') return '—';
  let v = BigInt(yocto);
  const neg = v < 0n;
  if (neg) v = -v;
  const whole = v / YOCTO;
  let frac = (v % YOCTO).toString().padStart(24, '0').slice(0, digits).replace(/0+$/, '');
  if (frac === '' && v % YOCTO !== 0n) frac = `${'0'.repeat(digits - 1)}1`; // never show a non-zero as 0
  return `${neg ? '−' : ''}${whole}${frac ? `.${frac}` : ''} NEAR`;
}

export function bytes(n) {
  if (n === undefined || n === null) return '—';
  const u = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${i ? v.toFixed(1) : v} ${u[i]}`;
}

export function num(n) {
  if (n === undefined || n === null) return '—';
  return Number(n).toLocaleString('en-US');
}

export function ms(n) {
  if (n === undefined || n === null) return '—';
  return n >= 10000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`;
}

export const isZeroTime = (t) => !t || t.startsWith('0001-');

export function ago(t) {
  if (isZeroTime(t)) return '—';
  const s = Math.max(0, (Date.now() - Date.parse(t)) / 1000);
  if (s < 60) return `${Math.round(s)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return new Date(t).toISOString().slice(0, 10);
}

export function when(t) {
  return isZeroTime(t) ? '—' : html`<time datetime="${t}" title="${t}">${ago(t)}</time>`;
}

export function program(code) {
  if (!code) return '—';
  if (code.git) return `${code.git.repo}@${short(code.git.commit, 6)}`;
  if (code.wasm) return `wasm ${short(code.wasm.hash, 6)}`;
  return '—';
}

export function statusBadge(status) {
  return html`<span class="badge st-${status}">${status}</span>`;
}

const printable = (s) => !/[\x00-\x08\x0e-\x1f\x7f]/.test(s);

// show renders bytes as JSON (pretty), text, or a hex dump, whichever fits,
// and says which it chose.
export function show(bytesArr, format) {
  let text = null;
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(bytesArr); } catch { text = null; }
  if (bytesArr.length === 0) return html`<p class="muted">(empty)</p>`;
  if (text !== null && printable(text) && format !== 'Bytes') {
    try {
      const v = JSON.parse(text);
      if (typeof v === 'object' && v !== null) return html`<p class="muted">JSON, ${bytesArr.length} bytes</p><pre class="code">${JSON.stringify(v, null, 2)}</pre>`;
    } catch { /* not JSON */ }
    return html`<p class="muted">text, ${bytesArr.length} bytes</p><pre class="code">${text}</pre>`;
  }
  const lines = [];
  for (let off = 0; off < Math.min(bytesArr.length, 4096); off += 16) {
    const row = bytesArr.subarray(off, off + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const asc = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(6, '0')}  ${hex.padEnd(47)}  ${asc}`);
  }
  const more = bytesArr.length > 4096 ? `\n… ${bytesArr.length - 4096} more bytes` : '';
  return html`<p class="muted">bytes, ${bytesArr.length}</p><pre class="code">${lines.join('\n')}${more}</pre>`;
}
