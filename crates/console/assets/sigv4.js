// AWS Signature Version 4 for the browser: header signing for API calls and URL presigning for
// the MQTT WebSocket.
//
// SHA-256 and HMAC are written here in plain JavaScript because crypto.subtle exists only in
// secure contexts: a console opened over plain http on a LAN address would have none. Speed does
// not matter at the size of an API request.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const utf8 = (text) => new TextEncoder().encode(text);

/** SHA-256 (FIPS 180-4) of `data` (a Uint8Array or a string, taken as UTF-8). */
export function sha256(data) {
  const bytes = typeof data === 'string' ? utf8(data) : data;
  // Message, 0x80, zeros, then the bit length as a 64-bit big-endian integer.
  const padded = new Uint8Array(Math.ceil((bytes.length + 9) / 64) * 64);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bytes.length / 0x20000000));
  view.setUint32(padded.length - 4, (bytes.length * 8) >>> 0);

  const hash = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(block + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, h] = hash;
    for (let i = 0; i < 64; i++) {
      const t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
      const t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      [h, g, f, e, d, c, b, a] = [g, f, e, (d + t1) >>> 0, c, b, a, (t1 + t2) >>> 0];
    }
    [a, b, c, d, e, f, g, h].forEach((v, i) => { hash[i] += v; });
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  hash.forEach((v, i) => outView.setUint32(i * 4, v));
  return out;
}

/** HMAC-SHA256 (RFC 2104) of `message` under `key` (Uint8Arrays or UTF-8 strings). */
export function hmac(key, message) {
  let k = typeof key === 'string' ? utf8(key) : key;
  if (k.length > 64) k = sha256(k);
  const inner = new Uint8Array(64);
  const outer = new Uint8Array(64);
  inner.set(k);
  outer.set(k);
  for (let i = 0; i < 64; i++) {
    inner[i] ^= 0x36;
    outer[i] ^= 0x5c;
  }
  const msg = typeof message === 'string' ? utf8(message) : message;
  const first = new Uint8Array(64 + msg.length);
  first.set(inner);
  first.set(msg, 64);
  const second = new Uint8Array(64 + 32);
  second.set(outer);
  second.set(sha256(first), 64);
  return sha256(second);
}

export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** Percent-encodes every UTF-8 byte outside RFC 3986's unreserved set (and `/` if asked to keep
 * it): SigV4's encoding for query components and path segments. */
export function uriEncode(text, keepSlash = false) {
  let out = '';
  for (const byte of utf8(text)) {
    const ch = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(ch) || (keepSlash && ch === '/')) out += ch;
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** The canonical URI of a path as sent (already encoded once): dot and empty segments removed,
 * then encoded again, as botocore signs for every service but S3 (and as crates/sigv4 checks). */
function canonicalUri(rawPath) {
  const segments = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  let normalized = '/' + segments.join('/');
  if (rawPath.endsWith('/') && segments.length) normalized += '/';
  return uriEncode(normalized, true);
}

/** `name=value&…` of `params` ([name, value] pairs), encoded and sorted: both the query string
 * sent and its canonical form, so the server decodes and re-encodes exactly these bytes. */
export function canonicalQuery(params) {
  return params
    .map(([name, value]) => [uriEncode(name), uriEncode(String(value))])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** `20240102T030405Z` */
export function amzDate(date) {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function signature(secretKey, date, region, service, stringToSign) {
  let key = hmac('AWS4' + secretKey, date.slice(0, 8));
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  return hex(hmac(key, stringToSign));
}

function stringToSign(date, scope, canonicalRequest) {
  return ['AWS4-HMAC-SHA256', date, scope, hex(sha256(canonicalRequest))].join('\n');
}

/**
 * The headers that sign a request: `x-amz-date` and `authorization`. `path` is the path as sent
 * (segments already encoded), `query` the canonical query string, `headers` any further headers
 * to sign (lower-case names; every x-amz* header sent must be signed), `body` a string.
 */
export function signHeaders({ method, host, path, query = '', headers = {}, body = '', service, region, credentials, now = new Date() }) {
  const date = amzDate(now);
  const signed = { ...headers, host, 'x-amz-date': date };
  const names = Object.keys(signed).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(signed).map(([n, v]) => [n.toLowerCase(), v]));
  const canonicalHeaders = names.map((n) => `${n}:${String(lower[n]).trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonicalRequest = [method, canonicalUri(path), query, canonicalHeaders, names.join(';'), hex(sha256(body))].join('\n');
  const scope = `${date.slice(0, 8)}/${region}/${service}/aws4_request`;
  const sig = signature(credentials.secretAccessKey, date, region, service, stringToSign(date, scope, canonicalRequest));
  return {
    'x-amz-date': date,
    authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${sig}`,
  };
}

/** `path?X-Amz-…` presigned for a GET of `path` on `host`, valid `expires` seconds (the query
 * form AWS IoT's WebSocket endpoint takes, signing `host` only). */
export function presignPath({ host, path, service, region, credentials, expires = 300, now = new Date() }) {
  const date = amzDate(now);
  const scope = `${date.slice(0, 8)}/${region}/${service}/aws4_request`;
  const query = canonicalQuery([
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Credential', `${credentials.accessKeyId}/${scope}`],
    ['X-Amz-Date', date],
    ['X-Amz-Expires', String(expires)],
    ['X-Amz-SignedHeaders', 'host'],
  ]);
  const canonicalRequest = ['GET', canonicalUri(path), query, `host:${host}\n`, 'host', hex(sha256(''))].join('\n');
  const sig = signature(credentials.secretAccessKey, date, region, service, stringToSign(date, scope, canonicalRequest));
  return `${path}?${query}&X-Amz-Signature=${sig}`;
}
