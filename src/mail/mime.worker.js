// @ts-check
/**
 * Builds one mail's MIME in a worker thread (see mime-builder.ts for why):
 * derives the text alternative of an HTML-only mail with html-to-text, then
 * encodes the message with nodemailer's MailComposer. Plain JavaScript so
 * that the same file runs under the compiled gateway and under the tests
 * (tsc copies it to dist/ with allowJs and type-checks it with checkJs).
 *
 * In:  { id, options, deriveTextFrom: string | null, maxHtmlChars, truncatedNote }
 *      (options: MailComposer options; attachment contents arrive as Uint8Array)
 * Out: { id, mime: Uint8Array } | { id, error: 'too_deep' | string }
 */
'use strict';
const { parentPort } = require('node:worker_threads');
const { convert } = require('html-to-text');
const MailComposer = require('nodemailer/lib/mail-composer').default;

if (!parentPort) throw new Error('mime.worker.js runs as a worker thread');
const port = parentPort;

/** @param {{ id: number, options: any, deriveTextFrom: string | null, maxHtmlChars: number, truncatedNote: string }} job */
async function build(job) {
  const options = { ...job.options };
  if (job.deriveTextFrom !== null) {
    const html = job.deriveTextFrom;
    const cut = html.length > job.maxHtmlChars;
    try {
      options.text = convert(cut ? html.slice(0, job.maxHtmlChars) : html, { wordwrap: 78 }) + (cut ? job.truncatedNote : '');
    } catch (err) {
      // html-to-text recurses once per level of nesting: thousands of levels overflow the stack.
      if (err instanceof RangeError) return { id: job.id, error: 'too_deep' };
      throw err;
    }
  }
  options.attachments = (options.attachments || []).map((/** @type {any} */ a) => ({ ...a, content: Buffer.from(a.content.buffer, a.content.byteOffset, a.content.byteLength) }));
  const node = new MailComposer(options).compile();
  // Gmail delivers to Bcc from the header and removes it from the copies it sends.
  /** @type {any} */ (node).keepBcc = true;
  const mime = await node.build();
  return { id: job.id, mime };
}

port.on('message', (job) => {
  build(job).then(
    (answer) => {
      const mime = 'mime' in answer ? answer.mime : undefined;
      // A buffer that owns its memory is handed over rather than copied (a pooled small one is copied).
      const own = mime && mime.byteOffset === 0 && mime.byteLength === mime.buffer.byteLength;
      port.postMessage(answer, own && mime ? [/** @type {ArrayBuffer} */ (mime.buffer)] : []);
    },
    (err) => port.postMessage({ id: job.id, error: String((err && err.message) || err) }),
  );
});
