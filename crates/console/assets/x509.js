// Just enough DER to show a certificate's subject, issuer, serial and validity: the API gives
// the PEM but not the names in it.

const NAMES = {
  '2.5.4.3': 'CN', '2.5.4.4': 'SN', '2.5.4.5': 'serialNumber', '2.5.4.6': 'C', '2.5.4.7': 'L',
  '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.46': 'dnQualifier',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** One TLV at `at`: {tag, start (of the content), end}. Long lengths up to 4 bytes. */
function tlv(der, at) {
  const tag = der[at];
  let length = der[at + 1];
  let start = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[start + i];
    start += bytes;
  }
  if (start + length > der.length) throw new Error('truncated DER');
  return { tag, start, end: start + length };
}

/** The TLVs directly inside `parent`. */
function children(der, parent) {
  const out = [];
  for (let at = parent.start; at < parent.end; at = out[out.length - 1].end) out.push(tlv(der, at));
  return out;
}

function oid(der, node) {
  const bytes = der.subarray(node.start, node.end);
  const parts = [Math.floor(bytes[0] / 40), bytes[0] % 40];
  let value = 0;
  for (const byte of bytes.subarray(1)) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

const text = (der, node) => new TextDecoder().decode(der.subarray(node.start, node.end));

/** `C=US, O=Example Corp, CN=device-001` */
function name(der, node) {
  return children(der, node)
    .flatMap((set) => children(der, set))
    .map((pair) => {
      const [type, value] = children(der, pair);
      const id = oid(der, type);
      return `${NAMES[id] || id}=${text(der, value)}`;
    })
    .join(', ');
}

function time(der, node) {
  const s = text(der, node);
  // UTCTime YYMMDDHHMMSSZ (years 1950–2049) or GeneralizedTime YYYYMMDDHHMMSSZ.
  const full = node.tag === 0x17 ? (Number(s.slice(0, 2)) < 50 ? '20' : '19') + s : s;
  const [, y, mo, d, hh, mm, ss] = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)/.exec(full);
  return new Date(Date.UTC(+y, mo - 1, +d, +hh, +mm, +ss));
}

/** {subject, issuer, serial, notBefore, notAfter} of the first certificate in `pem`. */
export function describePem(pem) {
  const base64 = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem)[1].replace(/\s+/g, '');
  const der = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const [tbs] = children(der, tlv(der, 0));
  let fields = children(der, tbs);
  if (fields[0].tag === 0xa0) fields = fields.slice(1); // [0] version, absent in v1
  const [serial, , issuer, validity, subject] = fields;
  const [notBefore, notAfter] = children(der, validity);
  return {
    serial: Array.from(der.subarray(serial.start, serial.end), (b) => b.toString(16).padStart(2, '0')).join(':'),
    issuer: name(der, issuer),
    subject: name(der, subject),
    notBefore: time(der, notBefore),
    notAfter: time(der, notAfter),
  };
}
