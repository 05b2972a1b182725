/* The staff inbox's reader (docs/staff-inbox.md): opens the passphrase-protected private key with
   WebCrypto (non-extractable), finds and decrypts intake submissions in files, groups and orders
   them, and makes the CSV. It mirrors staff/readers.py and decrypt.py (same limits,
   order and messages); the shared vectors in tests/data/inbox-vectors/ check both agree.
   inbox.py puts this file and page.js, in that order, into one function in the page. */
const subtle = crypto.subtle;
const $ = (s) => document.querySelector(s);
const enc = new TextEncoder();
const utf8 = (s) => enc.encode(s);
const text = (b, fatal) => new TextDecoder('utf-8', { fatal: !!fatal, ignoreBOM: true }).decode(b);

const KEY_ALG = 'PBES2-HS512+A256KW';
const MIN_ITERATIONS = 600000;
const MAX_ITERATIONS = 10000000;
const MAX_FILE_BYTES = 5 * 1024 * 1024;
const MAX_MIME_BOUNDARIES = 32;
const MAX_JSON_DEPTH = 64;
const RECEIPT_KEYS = ['received_at', 'created_at', 'createdAt'];
const SENDER_CLAIM = "sender's claim";
const JWE = /(?<![A-Za-z0-9_.-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+/g;
const JWE_WHOLE = /^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/;
// C0 and C1 controls (but line feed) and bidi controls: shown as [U+XXXX], never acted on.
const INVISIBLE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const FORMULA_START = ['=', '+', '-', '@', '\t', '\r', '[U+0009]', '[U+000D]'];

class Problem extends Error {}

const visible = (s) => String(s).replace(INVISIBLE,
  (c) => '[U+' + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0') + ']');
const quoted = (s, limit = 64) => {
  const t = String(s).replace(/[^\x20-\x7e]/g, '?');
  return t.length <= limit ? t : t.slice(0, limit) + '...';
};
const b64d = (s) => {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
};
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  parts.forEach((p) => { out.set(p, at); at += p.length; });
  return out;
};
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const depth = (value) => {
  let deepest = 0;
  const stack = [[value, 1]];
  while (stack.length) {
    const [item, d] = stack.pop();
    deepest = Math.max(deepest, d);
    if (item && typeof item === 'object') Object.values(item).forEach((c) => stack.push([c, d + 1]));
  }
  return deepest;
};

// ------------------------------------------------------------ the private key

const openKey = async (file, passphrase) => {
  const raw = (await file.text()).trim();
  if (JWE_WHOLE.test(raw)) {
    const [h, wrapped, iv, ciphertext, tag] = raw.split('.');
    let header;
    try { header = JSON.parse(text(b64d(h))); } catch { header = null; }
    if (!isObject(header) || header.alg !== KEY_ALG || header.enc !== 'A256GCM') {
      throw new Problem('This file is not a protected key (PBES2-HS512+A256KW with A256GCM).');
    }
    const count = header.p2c;
    if (!Number.isInteger(count) || count < MIN_ITERATIONS) {
      throw new Problem(`Too few PBKDF2 iterations (${quoted(count)}; at least 600,000 are required): the key file was weakened, or made by another tool.`);
    }
    if (count > MAX_ITERATIONS) throw new Problem('Too many PBKDF2 iterations (at most 10,000,000).');
    if (typeof header.p2s !== 'string' || header.p2s.length < 11) {
      throw new Problem('The key file has no salt, or one too short.');
    }
    if (!passphrase) throw new Problem('Enter the passphrase of the private key.');
    const salt = concat(utf8(KEY_ALG), new Uint8Array([0]), b64d(header.p2s));
    const base = await subtle.importKey('raw', utf8(passphrase), 'PBKDF2', false, ['deriveKey']);
    const kek = await subtle.deriveKey(
      { name: 'PBKDF2', hash: 'SHA-512', salt, iterations: count },
      base, { name: 'AES-KW', length: 256 }, false, ['unwrapKey'],
    );
    let cek;
    try {
      cek = await subtle.unwrapKey('raw', b64d(wrapped), kek, 'AES-KW', 'AES-GCM', false, ['unwrapKey']);
    } catch {
      throw new Problem('Wrong passphrase.');
    }
    let key;
    try {
      // Decrypts and imports in one step: the private key never exists as data in this page.
      key = await subtle.unwrapKey(
        'jwk', concat(b64d(ciphertext), b64d(tag)), cek,
        { name: 'AES-GCM', iv: b64d(iv), additionalData: utf8(h), tagLength: 128 },
        { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt'],
      );
    } catch {
      throw new Problem('The key file was changed or cut short.');
    }
    return { key, kid: typeof header.kid === 'string' ? header.kid : '', warning: '' };
  }
  if (raw.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    throw new Problem('This older key has a PEM passphrase, which browsers cannot open: read it with invoke decrypt, or make a new key with invoke keygen.');
  }
  const pem = raw.match(/-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/);
  if (!pem) throw new Problem('This file is not a private key (a protected …-private.jwe file).');
  let key;
  try {
    key = await subtle.importKey('pkcs8', b64d(pem[1].replace(/\s/g, '').replace(/=+$/, '')),
      { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
  } catch {
    throw new Problem('This file is not an RSA private key.');
  }
  return { key, kid: '', warning: 'This key has no passphrase: make a protected key with invoke keygen.' };
};

// ------------------------------------------------------------ one submission

const SHAPE_TEXTS = ['form', 'page', 'lang', 'submitted_at'];
const isSubmission = (d) => isObject(d) && typeof d.sid === 'string' && d.sid !== ''
  && ['fields', 'consent'].every((k) => !(k in d) || isObject(d[k]))
  && SHAPE_TEXTS.every((k) => !(k in d) || typeof d[k] === 'string')
  && (!('likely_spam' in d) || typeof d.likely_spam === 'boolean');

const decryptJwe = async (token, state) => {
  const parts = token.trim().split('.');
  if (parts.length !== 5) throw new Problem('not a compact JWE (five parts separated by dots)');
  let header;
  try { header = JSON.parse(text(b64d(parts[0]), true)); } catch {
    throw new Problem('the header is not readable (the text was changed)');
  }
  if (!isObject(header)) throw new Problem('the header is not a JSON object (the text was changed)');
  const h = (k) => (k in header ? String(header[k]) : '');
  if (h('alg') !== 'RSA-OAEP-256' || h('enc') !== 'A256GCM') {
    throw new Problem(`unexpected algorithms ${quoted(h('alg'))}/${quoted(h('enc'))} (the header was changed)`);
  }
  if (h('kid') && state.kid && h('kid') !== state.kid) {
    throw new Problem(`encrypted for another key (key id ${quoted(h('kid'))}; this key is ${state.kid})`);
  }
  let encryptedKey;
  let iv;
  let ciphertext;
  let tag;
  try {
    [encryptedKey, iv, ciphertext, tag] = parts.slice(1).map(b64d);
  } catch {
    throw new Problem('a part is not base64url (the text was changed)');
  }
  let cek;
  try {
    cek = new Uint8Array(await subtle.decrypt({ name: 'RSA-OAEP' }, state.key, encryptedKey));
  } catch {
    throw new Problem('the encrypted key does not open with this private key (changed, or for another key)');
  }
  if (cek.length !== 32 || iv.length !== 12 || tag.length !== 16) {
    throw new Problem('wrong key, IV or tag length (the text was changed)');
  }
  let plain;
  try {
    const aes = await subtle.importKey('raw', cek, 'AES-GCM', false, ['decrypt']);
    plain = await subtle.decrypt(
      { name: 'AES-GCM', iv, additionalData: utf8(parts[0]), tagLength: 128 }, aes, concat(ciphertext, tag),
    );
  } catch {
    throw new Problem('authentication failed: the header or content was changed');
  }
  let submission;
  try { submission = JSON.parse(text(plain, true)); } catch (e) {
    throw new Problem(e instanceof RangeError ? 'the decrypted content is too deeply nested' : 'the decrypted content is not JSON');
  }
  if (depth(submission) > MAX_JSON_DEPTH) throw new Problem('the decrypted content is too deeply nested');
  if (!isSubmission(submission)) throw new Problem('the decrypted content is not an intake submission');
  if (h('sid') && submission.sid !== h('sid')) throw new Problem('the submission id inside does not match the header');
  return submission;
};

const sidOrStart = (token) => {
  let sid = '';
  try {
    const header = JSON.parse(text(b64d(token.split('.')[0]), true));
    if (isObject(header) && 'sid' in header) sid = String(header.sid);
  } catch { /* unreadable: show the start of the token */ }
  return sid ? quoted(sid) : token.slice(0, 16) + '…';
};

// ------------------------------------------------------------ finding JWEs in a file

const normalTime = (value) => {
  if (typeof value !== 'string' || !ISO_TIME.test(value.trim())) return null;
  const t = Date.parse(value.trim());
  return Number.isNaN(t) ? null : new Date(t).toISOString();
};

const emailDate = (t) => {
  const head = t.split(/\r?\n\r?\n/)[0];
  const m = head.match(/^date:[ \t]*([^\r\n]+)/im);
  if (!m || !/[+-]\d{4}\s*$|\b(GMT|UT|UTC|[ECMP][SD]T|Z)\s*$/i.test(m[1].trim())) return null;
  const when = Date.parse(m[1].trim());
  return Number.isNaN(when) ? null : new Date(when).toISOString();
};

const walkJson = (value, found) => {
  const queue = [[value, null, 0]];
  while (queue.length) {
    const [item, received, d] = queue.shift();
    if (d > MAX_JSON_DEPTH) throw new Problem('nested');
    let when = received;
    if (item && typeof item === 'object') {
      if (!Array.isArray(item)) {
        const key = RECEIPT_KEYS.find((k) => normalTime(item[k]));
        if (key) when = normalTime(item[key]);
      }
      Object.values(item).forEach((child) => queue.push([child, when, d + 1]));
    } else if (typeof item === 'string' && JWE_WHOLE.test(item.trim()) && !found.has(item.trim())) {
      found.set(item.trim(), when);
    }
  }
};

const parseCsv = (t) => {
  const rows = [];
  let row = [];
  let cell = '';
  let quoting = false;
  for (let i = 0; i < t.length; i += 1) {
    const c = t[i];
    if (quoting) {
      if (c !== '"') cell += c;
      else if (t[i + 1] === '"') { cell += '"'; i += 1; } else quoting = false;
    } else if (c === '"' && cell === '') quoting = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n' || c === '\r') {
      if (c === '\r' && t[i + 1] === '\n') i += 1;
      row.push(cell); rows.push(row); row = []; cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length) { row.push(cell); rows.push(row); }
  return rows;
};

const readCsv = (t, found) => {
  const rows = parseCsv(t);
  if (!rows.length) return;
  const header = rows[0].map((c) => c.trim());
  const key = RECEIPT_KEYS.find((k) => header.includes(k));
  if (!key) return;
  const column = header.indexOf(key);
  rows.slice(1).forEach((row) => {
    const when = column < row.length ? normalTime(row[column]) : null;
    row.forEach((cell) => {
      (cell.match(JWE) || []).forEach((token) => { if (!found.has(token)) found.set(token, when); });
    });
  });
};

const base64Texts = (t) => (t.match(/^[A-Za-z0-9+/=]{16,}(?:\r?\n[A-Za-z0-9+/=]{4,})*/gm) || [])
  .map((block) => {
    let data = block.replace(/[\r\n=]/g, '');
    if (data.length % 4 === 1) data = data.slice(0, -1);
    try { return text(b64d(data.replace(/\+/g, '-').replace(/\//g, '_'))); } catch { return ''; }
  });

const scanFile = async (file) => {
  const found = new Map();
  if (file.size > MAX_FILE_BYTES) {
    return { found, error: `too large (${file.size.toLocaleString('en-US')} bytes; at most 5 MB)` };
  }
  const t = text(new Uint8Array(await file.arrayBuffer()));
  if ((t.match(/boundary\s*=/gi) || []).length > MAX_MIME_BOUNDARIES) {
    return { found, error: `too deeply nested (more than ${MAX_MIME_BOUNDARIES} MIME boundaries)` };
  }
  const start = t.trimStart().slice(0, 1);
  if (start === '{' || start === '[') {
    let parsed;
    try { parsed = JSON.parse(t); } catch (e) { parsed = e instanceof RangeError ? Problem : null; }
    try {
      if (parsed === Problem) throw new Problem('nested');
      walkJson(parsed, found);
    } catch {
      return { found: new Map(), error: 'too deeply nested (JSON)' };
    }
  } else readCsv(t, found);
  const when = /^(content-type|content-transfer-encoding|mime-version):/im.test(t.slice(0, 4096)) ? emailDate(t) : null;
  const unquoted = t.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g,
    (m, hex) => (parseInt(hex, 16) < 0x80 ? String.fromCharCode(parseInt(hex, 16)) : '?'));
  [t, unquoted, ...base64Texts(t)].forEach((piece) => {
    (piece.match(JWE) || []).forEach((token) => { if (!found.has(token)) found.set(token, when); });
  });
  return { found, error: '' };
};

// ------------------------------------------------------------ grouping and ordering

const canonical = (v) => {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (isObject(v)) return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
  return JSON.stringify(v);
};
const content = (s) => canonical(Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'submitted_at')));
const earliest = (a, b) => (a && b ? (a < b ? a : b) : a || b || null);

const group = (decrypted) => {
  const bySid = new Map();
  decrypted.forEach(([submission, received, name]) => {
    if (!bySid.has(submission.sid)) bySid.set(submission.sid, []);
    const versions = bySid.get(submission.sid);
    const same = versions.find((e) => e.key === content(submission));
    if (!same) {
      versions.push({ submission, received, files: [name], warning: '', key: content(submission) });
      return;
    }
    same.received = earliest(same.received, received);
    if (!same.files.includes(name)) same.files.push(name);
  });
  const entries = [];
  bySid.forEach((versions, sid) => versions.forEach((e) => {
    if (versions.length > 1) {
      e.warning = `${versions.length} different versions share submission id ${visible(sid)}: all are shown; check with the sender which is right`;
    }
    e.time = e.received || e.submission.submitted_at || '';
    e.timeSource = e.received ? 'service' : SENDER_CLAIM;
    entries.push(e);
  }));
  const sortKey = (e) => normalTime(e.time) || '';
  return entries.sort((a, b) => (sortKey(a) < sortKey(b) ? 1 : sortKey(a) > sortKey(b) ? -1 : 0));
};

const readAll = async (files, state) => {
  const problems = [];
  const tokens = new Map();
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const file of sorted) {
    let scan;
    try { scan = await scanFile(file); } catch { scan = { found: new Map(), error: 'cannot read' }; }
    if (scan.error) problems.push([file.name, scan.error]);
    scan.found.forEach((received, token) => {
      const earlier = tokens.get(token);
      if (!earlier) tokens.set(token, [received, file.name]);
      else if (received && (!earlier[0] || received < earlier[0])) tokens.set(token, [received, earlier[1]]);
    });
  }
  const decrypted = [];
  for (const [token, [received, name]] of tokens) {
    try {
      decrypted.push([await decryptJwe(token, state), received, name]);
    } catch (e) {
      const why = e instanceof Problem ? e.message : 'cannot decrypt';
      problems.push([name, `submission ${sidOrStart(token)}: cannot decrypt: ${why}`]);
    }
  }
  return { entries: group(decrypted), found: tokens.size, problems };
};

// ------------------------------------------------------------ CSV (as invoke decrypt --csv)

const cell = (value) => {
  let v = value;
  if (typeof v === 'boolean') v = v ? 'yes' : 'no';
  if (Array.isArray(v)) v = v.map(String).join('; ');
  const t = visible(v === null || v === undefined ? '' : String(v));
  return FORMULA_START.some((p) => t.startsWith(p)) ? "'" + t : t;
};
const entryRow = (e) => {
  const s = e.submission;
  const row = new Map([
    ['time', cell(e.time)], ['time_source', e.timeSource], ['submitted_at', cell(s.submitted_at)],
    ['sid', cell(s.sid)], ['form', cell(s.form)], ['page', cell(s.page)], ['lang', cell(s.lang)],
    ['likely_spam', cell(!!s.likely_spam)], ['warning', cell(e.warning)],
  ]);
  Object.entries(s.fields || {}).forEach(([name, value]) => {
    const column = cell(name);
    row.set(row.has(column) ? 'field_' + column : column, cell(value));
  });
  Object.entries(s.consent || {}).forEach(([name, value]) => row.set('consent_' + cell(name), cell(value)));
  return row;
};
const csvQuote = (v) => (/[",\n\r]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v);
const toCsv = (entries) => {
  const rows = entries.map(entryRow);
  const columns = [];
  rows.forEach((r) => r.forEach((_, k) => { if (!columns.includes(k)) columns.push(k); }));
  return [columns, ...rows.map((r) => columns.map((c) => r.get(c) || ''))]
    .map((line) => line.map(csvQuote).join(',')).join('\n') + '\n';
};
