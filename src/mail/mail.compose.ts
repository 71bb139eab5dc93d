/**
 * From a SendMailInput to RFC 5322 bytes. Everything the caller typed is
 * checked first (typed BAD_USER_INPUT naming the field, nothing stored):
 * CR/LF (or any control character) in a header value is refused before a
 * header is built, so header injection cannot happen; addresses are parsed
 * with nodemailer's address parser, one address per list entry; attachments
 * must be valid base64; the whole message must fit Gmail's 35 MiB.
 * The MIME itself is nodemailer's MailComposer: RFC 2047 encoded words for
 * non-ASCII subjects and display names, multipart/alternative with a text
 * part (derived from the HTML when only HTML is given), attachments with
 * their types, our Message-ID, In-Reply-To/References for replies, and the
 * Bcc header kept (Gmail delivers to Bcc from it and removes it from the
 * copies it sends). It is built in a worker thread (mime-builder.ts): never
 * on the event loop.
 */
import { createHash } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import { badInput } from '../errors';
import { GMAIL_MAX_MESSAGE_BYTES } from '../google/gmail';
import type { RecipientKind } from '../entities/mail.entities';
import { BadBase64Error, HtmlTooDeepError, mimeBuilder } from './mime-builder';
import type { SendMailInput } from './mail.input';

const MAX_SUBJECT_CHARS = 998;
const MAX_FILENAME_CHARS = 255;
const MAX_ATTACHMENTS = 100;
const MAX_DISPLAY_NAME_CHARS = 255;
const MIB = 1024 * 1024;

interface Recipient {
  kind: RecipientKind;
  email: string;
  name: string | null;
}

export interface CheckedMail {
  recipients: Recipient[];
  subject: string;
  text: string | null;
  html: string | null;
  /** `size`: the content's bytes (the content itself is handed to the worker that builds the MIME, and empty after). */
  attachments: { filename: string; contentType: string; content: Buffer; size: number }[];
  idempotencyKey: string | null;
  replyToMailId: string | null;
  /** SHA-256 of the request as given: the same idempotency key with another request is a CONFLICT. */
  requestHash: string;
}

/**
 * Never allowed in a header value: CR and LF above all, every other C0 and C1 control character but TAB, and the
 * Unicode line and paragraph separators.
 */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/;
/** One address entry as the caller wrote it; longer than an RFC 5322 line cannot be one. */
const MAX_RECIPIENT_CHARS = 998;
/**
 * Characters an address (and its local part) may not contain. Every check below is linear: caller input meets no
 * backtracking.
 */
const ADDRESS_CHARS = /^[^\s<>()[\]\\,;:"@]+$/;
const DOMAIN_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const CONTENT_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i;
const QUOTED = /^"(?:[^"\\]|\\.)*"$/;

function noControl(value: string, field: string): void {
  const m = CONTROL.exec(value);
  if (!m) return;
  const what =
    m[0] === '\r' || m[0] === '\n'
      ? 'a line break (CR/LF)'
      : `a control character (U+${m[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()})`;
  throw badInput(`${field} contains ${what}; header values must be one line`, { field, reason: 'header_injection' });
}

/** local@domain: a local part of 1-64 allowed characters without empty dot-atoms, a domain of two or more labels. */
function isAddress(address: string): boolean {
  const at = address.lastIndexOf('@');
  if (at < 1 || address.length > 320) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64 || !ADDRESS_CHARS.test(local) || local.split('.').some((atom) => atom === '')) return false;
  const labels = domain.split('.');
  return domain.length <= 253 && labels.length >= 2 && labels.every((l) => DOMAIN_LABEL.test(l));
}

/**
 * The two shapes an entry may have: a bare address (optionally in <>), or a display name and <address> with
 * nothing after it. An unquoted display name may not contain "@", "<", ">" or '"' (so "a@x.test b@x.test" or
 * "good@x.test <evil@y.test>" are refused rather than read as a name and one address); a quoted one may.
 * Checked by hand, in one pass, rather than by a regular expression that could backtrack on hostile input.
 */
function hasEntryShape(raw: string): boolean {
  const entry = raw.trim();
  if (!entry.endsWith('>')) return !/[\s<>"(),;:\\[\]]/.test(entry); // bare
  const open = entry.lastIndexOf('<');
  if (open < 0) return false;
  const inner = entry.slice(open + 1, -1);
  if (inner === '' || /[\s<>"(),;:\\[\]]/.test(inner)) return false;
  const name = entry.slice(0, open).trim();
  if (name === '') return true; // <address>
  if (name.startsWith('"')) return QUOTED.test(name);
  return !/["<>@]/.test(name);
}

function parseRecipient(raw: string, kind: RecipientKind, i: number): Recipient {
  const field = `input.${kind}[${i}]`;
  if (raw.length > MAX_RECIPIENT_CHARS)
    throw badInput(`${field} is longer than ${MAX_RECIPIENT_CHARS} characters`, { field });
  noControl(raw, field);
  const shown = raw.length > 80 ? `${raw.slice(0, 80)}…` : raw;
  const oneAddress = () =>
    badInput(
      `${field} must be one address like "Zoë Buyer <zoe@buyer.test>" or "zoe@buyer.test" (got "${shown}"); put each address in its own list entry`,
      { field },
    );
  if (!hasEntryShape(raw)) throw oneAddress();
  const parsed = addressparser(raw.trim());
  if (parsed.length !== 1 || 'group' in parsed[0]) throw oneAddress();
  const { address, name } = parsed[0] as { address: string; name: string };
  const email = (address ?? '').toLowerCase();
  if (!address || !isAddress(address) || email.length > 320)
    throw badInput(`${field} is not a valid email address (got "${shown}")`, { field });
  if (name.length > MAX_DISPLAY_NAME_CHARS)
    throw badInput(`${field}: the display name is longer than ${MAX_DISPLAY_NAME_CHARS} characters`, { field });
  return { kind, email, name: name || null };
}

/**
 * Checks the input; `maxRecipients` from config. The attachments' base64 is checked, decoded and hashed in a MIME
 * worker (mime-builder.ts), counted against `tenant`'s budget there; everything else here, before any of that.
 */
export async function checkMailInput(
  input: SendMailInput,
  maxRecipients: number,
  tenant: string,
): Promise<CheckedMail> {
  const recipients: Recipient[] = [];
  for (const kind of ['to', 'cc', 'bcc'] as const) {
    const list = input[kind] ?? [];
    if (list.length > maxRecipients)
      throw badInput(
        `input.${kind} has ${list.length} addresses; at most ${maxRecipients} recipients are allowed per mail`,
        { field: `input.${kind}` },
      );
    list.forEach((raw, i) => recipients.push(parseRecipient(raw, kind, i)));
  }
  if (recipients.length === 0)
    throw badInput('A mail needs at least one recipient in to, cc or bcc', { field: 'input.to' });
  if (recipients.length > maxRecipients)
    throw badInput(
      `The mail has ${recipients.length} recipients; at most ${maxRecipients} are allowed (MAIL_MAX_RECIPIENTS)`,
      { field: 'input.to' },
    );

  const subject = input.subject ?? '';
  noControl(subject, 'input.subject');
  if (subject.length > MAX_SUBJECT_CHARS)
    throw badInput(`input.subject is longer than ${MAX_SUBJECT_CHARS} characters`, { field: 'input.subject' });

  const key = input.idempotencyKey ?? null;
  if (key !== null && (key.length < 1 || key.length > 128 || /[^\x21-\x7e]/.test(key))) {
    throw badInput(
      'input.idempotencyKey must be 1 to 128 printable ASCII characters without spaces (a UUID is a good choice)',
      { field: 'input.idempotencyKey' },
    );
  }

  const given = input.attachments ?? [];
  if (given.length > MAX_ATTACHMENTS)
    throw badInput(`At most ${MAX_ATTACHMENTS} attachments per mail (got ${given.length})`, {
      field: 'input.attachments',
    });
  // Before decoding anything: base64 is 4/3 of the bytes, so a request this large cannot fit Gmail's limit.
  const approx =
    given.reduce((n, a) => n + (a.contentBase64?.length ?? 0) * 0.75, 0) +
    (input.text?.length ?? 0) +
    (input.html?.length ?? 0);
  if (approx > GMAIL_MAX_MESSAGE_BYTES) throw tooLarge(approx);
  const named = given.map((a, i) => {
    const f = `input.attachments[${i}]`;
    noControl(a.filename, `${f}.filename`);
    if (a.filename.trim() === '' || a.filename.length > MAX_FILENAME_CHARS)
      throw badInput(`${f}.filename must be 1 to ${MAX_FILENAME_CHARS} characters`, { field: `${f}.filename` });
    if (/[/\\]/.test(a.filename))
      throw badInput(`${f}.filename must be a file name, not a path (got "${a.filename.slice(0, 80)}")`, {
        field: `${f}.filename`,
      });
    noControl(a.contentType, `${f}.contentType`);
    if (!CONTENT_TYPE.test(a.contentType))
      throw badInput(
        `${f}.contentType must be a media type like "application/pdf" (got "${a.contentType.slice(0, 80)}")`,
        { field: `${f}.contentType` },
      );
    return { filename: a.filename, contentType: a.contentType.toLowerCase() };
  });
  let decoded: { bytes: Buffer; hash: Buffer }[];
  try {
    decoded = await mimeBuilder.decode(
      given.map((a) => a.contentBase64),
      tenant,
    );
  } catch (err) {
    if (!(err instanceof BadBase64Error)) throw err;
    const field = `input.attachments[${err.index}].contentBase64`;
    throw badInput(`${field} is not valid base64 (standard alphabet A-Z a-z 0-9 + /, "=" padding)`, { field });
  }
  const attachments = named.map((a, i) => ({ ...a, content: decoded[i].bytes, size: decoded[i].bytes.length }));

  const requestHash = createHash('sha256')
    .update(
      JSON.stringify([
        input.to ?? [],
        input.cc ?? [],
        input.bcc ?? [],
        subject,
        input.text ?? null,
        input.html ?? null,
        input.replyToMailId ?? null,
        given.map((a) => [a.filename, a.contentType]),
      ]),
    )
    .update(Buffer.concat(decoded.map((d) => d.hash)))
    .digest('hex');
  return {
    recipients,
    subject,
    text: input.text ?? null,
    html: input.html ?? null,
    attachments,
    idempotencyKey: key,
    replyToMailId: input.replyToMailId ?? null,
    requestHash,
  };
}

function tooLarge(bytes: number): Error {
  return badInput(
    `The mail is ${(bytes / MIB).toFixed(1)} MB; Gmail takes at most 35 MB (36,700,160 bytes) per message, attachments included (base64 adds a third)`,
    { field: 'input.attachments', reason: 'too_large' },
  );
}

export interface BuildOptions {
  /** Whose mail it is (the brokerage): builds are bounded per brokerage (mime-builder.ts). */
  tenant: string;
  from: string;
  messageId: string;
  date: Date;
  inReplyTo?: string;
  references?: string[];
}

/** The message bytes (MailComposer); BAD_USER_INPUT when they exceed Gmail's limit. */
export async function buildMime(mail: CheckedMail, opts: BuildOptions): Promise<Buffer> {
  const list = (kind: RecipientKind) =>
    mail.recipients.filter((r) => r.kind === kind).map((r) => ({ name: r.name ?? '', address: r.email }));
  let bytes: Buffer;
  try {
    bytes = await mimeBuilder.build(
      {
        from: opts.from,
        to: list('to'),
        cc: list('cc'),
        bcc: list('bcc'),
        subject: mail.subject,
        // HTML with a text alternative: derived from the HTML (in the worker) when the caller gave none.
        text: mail.text ?? '',
        html: mail.html ?? undefined,
        attachments: mail.attachments.map((a) => ({
          filename: a.filename,
          contentType: a.contentType,
          content: a.content,
        })),
        messageId: opts.messageId,
        date: opts.date,
        inReplyTo: opts.inReplyTo,
        references: opts.references,
        // Our input never names files or URLs; make sure nodemailer never reads any.
        disableFileAccess: true,
        disableUrlAccess: true,
      },
      mail.text === null && mail.html !== null ? mail.html : null,
      opts.tenant,
      true, // handed over, not copied: the attachments are not needed here once the MIME is built
    );
  } catch (err) {
    if (err instanceof HtmlTooDeepError) {
      throw badInput(
        'input.html is nested too deeply (thousands of levels) to derive the text version of the mail; flatten it, or give input.text as well',
        { field: 'input.html', reason: 'too_deep' },
      );
    }
    throw err;
  }
  if (bytes.length > GMAIL_MAX_MESSAGE_BYTES) throw tooLarge(bytes.length);
  return bytes;
}
