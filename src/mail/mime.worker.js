// @ts-check
/**
 * A mail's heavy lifting in a worker thread (see mime-builder.ts for why).
 * Plain JavaScript so that the same file runs under the compiled gateway and
 * under the tests (tsc copies it to dist/ with allowJs; `// @ts-check`).
 *
 * parse: a large request body (UTF-8 JSON), its values counted before it is parsed.
 *   In:  { id, kind: 'parse', body: Uint8Array, maxValues }
 *   Out: { id, value } | { id, error: 'too_many_values' | 'malformed' }
 * decode: the attachments' base64, checked, decoded and hashed.
 *   In:  { id, kind: 'decode', items: string[] }
 *   Out: { id, decoded: { bytes: Uint8Array, hash: Uint8Array }[] } | { id, error: 'bad_base64', index }
 * build: derives the text alternative of an HTML-only mail with html-to-text,
 *   then encodes the message with nodemailer's MailComposer.
 *   In:  { id, kind: 'build', options, deriveTextFrom: string | null, maxHtmlChars, truncatedNote }
 *        (options: MailComposer options; attachment contents arrive as Uint8Array)
 *   Out: { id, mime: Uint8Array } | { id, error: 'too_deep' | string }
 * Buffers that own their memory are handed over (transferred), not copied.
 */
'use strict';
const { createHash } = require('node:crypto');
const { parentPort } = require('node:worker_threads');
const { convert } = require('html-to-text');
const MailComposer = require('nodemailer/lib/mail-composer').default;

if (!parentPort) throw new Error('mime.worker.js runs as a worker thread');
const port = parentPort;

/** @param {string} b64 base64 without its (at most two) trailing "=" */
function withoutPadding(b64) {
  return b64.slice(0, b64.length - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0));
}

/**
 * Node's decoder skips what it cannot read, stops at an inner "=" and also reads the URL-safe "-" and "_": only a
 * string of the standard alphabet comes back from the round trip unchanged, so that one comparison is the whole check.
 * @param {{ id: number, items: string[] }} job
 */
function decode(job) {
  const decoded = [];
  for (let index = 0; index < job.items.length; index++) {
    const raw = job.items[index];
    const b64 = /[\r\n\t ]/.test(raw) ? raw.replace(/[\r\n\t ]/g, '') : raw;
    const bare = withoutPadding(b64);
    if (bare.length % 4 === 1 || (b64.length > bare.length && b64.length % 4 !== 0))
      return { id: job.id, error: 'bad_base64', index };
    const bytes = Buffer.from(b64, 'base64');
    if (withoutPadding(bytes.toString('base64')) !== bare) return { id: job.id, error: 'bad_base64', index };
    decoded.push({ bytes, hash: createHash('sha256').update(bytes).digest() });
  }
  return { id: job.id, decoded };
}

/**
 * The number of structural characters (`{`, `[`, `,`) outside strings in a JSON text, stopping past `max`.
 * @param {string} text @param {number} max
 */
function valueCount(text, max) {
  let n = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: the next character is escaped
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91 || c === 44) {
      if (++n > max) return n;
    }
  }
  return n;
}

/** @param {{ id: number, body: Uint8Array, maxValues: number }} job */
function parse(job) {
  const text = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength).toString('utf8');
  if (valueCount(text, job.maxValues) > job.maxValues) return { id: job.id, error: 'too_many_values' };
  try {
    return { id: job.id, value: JSON.parse(text) };
  } catch {
    return { id: job.id, error: 'malformed' };
  }
}

/** @param {Buffer | Uint8Array | undefined} b */
const owns = (b) =>
  !!b && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;

/** @param {{ id: number, options: any, deriveTextFrom: string | null, maxHtmlChars: number, truncatedNote: string }} job */
async function build(job) {
  const options = { ...job.options };
  if (job.deriveTextFrom !== null) {
    const html = job.deriveTextFrom;
    const cut = html.length > job.maxHtmlChars;
    try {
      options.text =
        convert(cut ? html.slice(0, job.maxHtmlChars) : html, { wordwrap: 78 }) + (cut ? job.truncatedNote : '');
    } catch (err) {
      // html-to-text recurses once per level of nesting: thousands of levels overflow the stack.
      if (err instanceof RangeError) return { id: job.id, error: 'too_deep' };
      throw err;
    }
  }
  options.attachments = (options.attachments || []).map((/** @type {any} */ a) => ({
    ...a,
    content: Buffer.from(a.content.buffer, a.content.byteOffset, a.content.byteLength),
  }));
  const node = new MailComposer(options).compile();
  // Gmail delivers to Bcc from the header and removes it from the copies it sends.
  /** @type {any} */ (node).keepBcc = true;
  const mime = await node.build();
  return { id: job.id, mime };
}

port.on('message', (job) => {
  (job.kind === 'decode'
    ? Promise.resolve().then(() => decode(job))
    : job.kind === 'parse'
      ? Promise.resolve().then(() => parse(job))
      : build(job)
  ).then(
    (answer) => {
      // Buffers that own their memory are handed over rather than copied (a pooled small one is copied).
      /** @type {any} */
      const a = answer;
      const buffers = a.mime
        ? [a.mime]
        : a.decoded
          ? a.decoded.map((/** @type {{ bytes: Buffer }} */ d) => d.bytes)
          : [];
      port.postMessage(
        answer,
        buffers.filter(owns).map((/** @type {Buffer} */ b) => /** @type {ArrayBuffer} */ (b.buffer)),
      );
    },
    (err) => port.postMessage({ id: job.id, error: String((err && err.message) || err) }),
  );
});
