// Byte helpers and the secrets encryption, byte-compatible with
// `outlayerd secrets encrypt` (daemon/keystore/ecies.go):
//
//   0x01 || ephemeral X25519 public key (32) || nonce (12) || ChaCha20-Poly1305(ciphertext || tag)
//   AEAD key = HKDF-SHA256(salt none, ikm X25519(ephemeral, recipient), info "outlayer-keystore-v1")
//
// X25519, HKDF and the random bytes come from WebCrypto; WebCrypto has no
// ChaCha20-Poly1305, so it is written out below (RFC 8439).

import { toBase64 } from './lib.js';

export const ECIES_VERSION = 0x01;
export const ECIES_INFO = 'outlayer-keystore-v1';

const enc = new TextEncoder();
export const utf8 = (s) => enc.encode(s);

export function hexOf(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(hex) {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) {
    throw new Error(`${JSON.stringify(String(hex).slice(0, 80))} is not hex`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

// fromBase58 decodes base58btc (libp2p peer ids).
export function fromBase58(s) {
  let n = 0n;
  for (const c of s) {
    const v = B58.indexOf(c);
    if (v < 0) throw new Error(`${JSON.stringify(s)} is not base58`);
    n = n * 58n + BigInt(v);
  }
  const bytes = [];
  while (n > 0n) { bytes.unshift(Number(n & 0xffn)); n >>= 8n; }
  for (const c of s) { if (c !== '1') break; bytes.unshift(0); }
  return new Uint8Array(bytes);
}

// peerEd25519Key is the raw ed25519 key a libp2p peer id embeds (an
// identity multihash of the protobuf public key), as `attest verify-result`
// extracts it.
export function peerEd25519Key(peerID) {
  const b = fromBase58(peerID);
  const prefix = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
  if (b.length !== 38 || prefix.some((v, i) => b[i] !== v)) {
    throw new Error(`peer id ${peerID} does not embed an ed25519 key`);
  }
  return b.subarray(6);
}

// --- ChaCha20 (RFC 8439 §2.3) ---

function rotl(v, c) { return (v << c) | (v >>> (32 - c)); }

function chachaBlock(key32, counter, nonce12) {
  const s = new Uint32Array(16);
  s[0] = 0x61707865; s[1] = 0x3320646e; s[2] = 0x79622d32; s[3] = 0x6b206574;
  const kv = new DataView(key32.buffer, key32.byteOffset, 32);
  for (let i = 0; i < 8; i++) s[4 + i] = kv.getUint32(i * 4, true);
  s[12] = counter >>> 0;
  const nv = new DataView(nonce12.buffer, nonce12.byteOffset, 12);
  for (let i = 0; i < 3; i++) s[13 + i] = nv.getUint32(i * 4, true);
  const x = Uint32Array.from(s);
  const qr = (a, b, c, d) => {
    x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 16);
    x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 12);
    x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 8);
    x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 7);
  };
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15);
    qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14);
  }
  const out = new Uint8Array(64);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 16; i++) ov.setUint32(i * 4, (x[i] + s[i]) >>> 0, true);
  return out;
}

export function chacha20(key32, nonce12, counter, data) {
  const out = new Uint8Array(data.length);
  for (let off = 0, c = counter; off < data.length; off += 64, c++) {
    const ks = chachaBlock(key32, c, nonce12);
    const n = Math.min(64, data.length - off);
    for (let i = 0; i < n; i++) out[off + i] = data[off + i] ^ ks[i];
  }
  return out;
}

// --- Poly1305 (RFC 8439 §2.5), with BigInt: secrets are small ---

function leBig(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

export function poly1305(key32, msg) {
  const r = leBig(key32.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = leBig(key32.subarray(16, 32));
  const p = (1n << 130n) - 5n;
  let acc = 0n;
  for (let off = 0; off < msg.length; off += 16) {
    const block = msg.subarray(off, Math.min(off + 16, msg.length));
    acc = ((acc + leBig(block) + (1n << BigInt(8 * block.length))) * r) % p;
  }
  acc = (acc + s) & ((1n << 128n) - 1n);
  const tag = new Uint8Array(16);
  for (let i = 0; i < 16; i++) { tag[i] = Number(acc & 0xffn); acc >>= 8n; }
  return tag;
}

function le64(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

const pad16 = (n) => new Uint8Array((16 - (n % 16)) % 16);

function aeadTag(key32, nonce12, aad, ct) {
  const polyKey = chachaBlock(key32, 0, nonce12).subarray(0, 32);
  return poly1305(polyKey, concat(aad, pad16(aad.length), ct, pad16(ct.length), le64(aad.length), le64(ct.length)));
}

// chachaPolySeal is ChaCha20-Poly1305 (RFC 8439 §2.8): ciphertext || tag.
export function chachaPolySeal(key32, nonce12, plaintext, aad = new Uint8Array(0)) {
  const ct = chacha20(key32, nonce12, 1, plaintext);
  return concat(ct, aeadTag(key32, nonce12, aad, ct));
}

// chachaPolyOpen reverses chachaPolySeal, or throws when the tag is wrong.
export function chachaPolyOpen(key32, nonce12, sealed, aad = new Uint8Array(0)) {
  if (sealed.length < 16) throw new Error('sealed data is shorter than its tag');
  const ct = sealed.subarray(0, sealed.length - 16);
  if (!equalBytes(aeadTag(key32, nonce12, aad, ct), sealed.subarray(sealed.length - 16))) {
    throw new Error('the authentication tag does not verify');
  }
  return chacha20(key32, nonce12, 1, ct);
}

// aeadKey is HKDF-SHA256(salt none, ikm shared, info), 32 bytes.
async function aeadKey(shared, info) {
  const ikm = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8(info) }, ikm, 256);
  return new Uint8Array(bits);
}

// encryptSecrets seals plaintext (a UTF-8 string) to the 64-hex X25519 key
// and returns the blob's standard base64, as `outlayerd secrets encrypt`
// prints it.
export async function encryptSecrets(pubkeyHex, plaintext) {
  const recipient = fromHex(pubkeyHex.trim());
  if (recipient.length !== 32) throw new Error('the public key must be 64 hex digits (32 bytes of X25519)');
  let pub, eph;
  try {
    pub = await crypto.subtle.importKey('raw', recipient, { name: 'X25519' }, false, []);
    eph = await crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits']);
  } catch (e) {
    throw new Error(`this browser's WebCrypto has no X25519 (${e.message}); use \`outlayerd secrets encrypt\``);
  }
  const shared = new Uint8Array(await crypto.subtle.deriveBits({ name: 'X25519', public: pub }, eph.privateKey, 256));
  const key = await aeadKey(shared, ECIES_INFO);
  const ephPub = new Uint8Array(await crypto.subtle.exportKey('raw', eph.publicKey));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const sealed = chachaPolySeal(key, nonce, utf8(plaintext));
  return toBase64(concat(new Uint8Array([ECIES_VERSION]), ephPub, nonce, sealed));
}
