/**
 * Gmail API v1, the part the gateway uses: users.messages.send (JSON `raw` and the /upload media endpoint),
 * users.drafts.create|get|list|send|delete and users.getProfile. Reference:
 * https://developers.google.com/workspace/gmail/api/reference/rest ; wire facts in docs/google-behaviour.md §4.
 *
 * A sent draft is gone (drafts.get → 404) and its message is in the mailbox with label SENT: the gateway's
 * idempotent send (create draft → send draft → "does the draft still exist?") depends on exactly that.
 */
import { randomBytes } from 'node:crypto';
import { simpleParser, type AddressObject } from 'mailparser';
import { apiError, badRequest, failedPrecondition, forbidden, invalidJson, notFound } from './errors';
import { parseJsonObject, type ApiCall, type ApiRegistry, type ApiResponse } from './registry';
import type { EmulatorState, EmulatorUser } from './state';

/** Media upload limit of messages.send / drafts.* (discovery `mediaUpload.maxSize`: 36700160 bytes = 35 MiB). */
export const GMAIL_MAX_MESSAGE_BYTES = 36_700_160;
/** drafts.list `maxResults`: default 100, maximum 500 (generated client docs). */
const DRAFTS_LIST_DEFAULT_PAGE_SIZE = 100;
const DRAFTS_LIST_MAX_PAGE_SIZE = 500;
/** Snippet length Gmail shows. */
const SNIPPET_CHARS = 100;

/**
 * Gmail quota units per method (https://developers.google.com/workspace/gmail/api/reference/quota).
 * The per-user limit: the 2026 page says 6,000 units per minute per user per project (earlier 15,000,
 * docs/google-behaviour.md §4) — configurable with settings.quotas['gmail.units'].limitPerMinute.
 */
export const GMAIL_QUOTA_UNITS = {
  messagesSend: 100,
  draftsCreate: 10,
  draftsDelete: 10,
  draftsGet: 5,
  draftsList: 5,
  draftsSend: 100,
  getProfile: 1,
} as const;
export const GMAIL_UNITS_PER_USER_PER_MINUTE = 6_000;
export const GMAIL_QUOTA_BUCKET = 'gmail.units';

const S = {
  mail: 'https://mail.google.com/',
  modify: 'https://www.googleapis.com/auth/gmail.modify',
  compose: 'https://www.googleapis.com/auth/gmail.compose',
  send: 'https://www.googleapis.com/auth/gmail.send',
  readonly: 'https://www.googleapis.com/auth/gmail.readonly',
  metadata: 'https://www.googleapis.com/auth/gmail.metadata',
  addonsCompose: 'https://www.googleapis.com/auth/gmail.addons.current.action.compose',
};
/** Accepted scopes per method, from the generated samples in @googleapis/gmail v1.d.ts. */
const SCOPES = {
  messagesSend: [S.mail, S.addonsCompose, S.compose, S.modify, S.send],
  draftsWrite: [S.mail, S.addonsCompose, S.compose, S.modify],
  draftsRead: [S.mail, S.compose, S.modify, S.readonly],
  getProfile: [S.mail, S.compose, S.metadata, S.modify, S.readonly],
};

export interface GmailMessage {
  id: string;
  threadId: string;
  labelIds: string[];
  /** base64url of the RFC 822 bytes */
  raw: string;
  internalDate: string;
  sizeEstimate: number;
  snippet: string;
  historyId: string;
  headers: Array<{ name: string; value: string }>;
  mimeType: string;
}

interface Mailbox {
  messages: Map<string, GmailMessage>;
  drafts: Map<string, string>; // draft id → message id
  historyId: number;
}

function mailbox(state: EmulatorState, user: EmulatorUser): Mailbox {
  return state.userData(user, 'gmail', () => ({ messages: new Map(), drafts: new Map(), historyId: 1000 }));
}

/** Messages in the user's mailbox (for the admin API and tests). */
export function gmailMessages(state: EmulatorState, user: EmulatorUser): GmailMessage[] {
  return [...mailbox(state, user).messages.values()];
}

const USER = '(?<userId>[^/]+)';

export function register(registry: ApiRegistry, state: EmulatorState): void {
  registry.defineQuotaBucket({
    id: GMAIL_QUOTA_BUCKET,
    api: 'gmail',
    defaultLimitPerMinute: GMAIL_UNITS_PER_USER_PER_MINUTE,
    defaultErrorStatus: 429,
    metric: 'Queries',
    limitName: 'Queries per minute per user',
    metricId: 'gmail.googleapis.com/default',
    limitId: 'QueriesPerMinutePerUser',
    legacyReason: 'rateLimitExceeded',
    source: 'https://developers.google.com/workspace/gmail/api/reference/quota',
  });
  const q = (cost: number) => ({ bucket: GMAIL_QUOTA_BUCKET, cost });

  registry.register({
    api: 'gmail',
    id: 'gmail.users.messages.send',
    rpcMethod: 'caribou.api.proto.MailboxService.SendMessage',
    httpMethod: 'POST',
    path: new RegExp(`^/gmail/v1/users/${USER}/messages/send$`),
    scopes: SCOPES.messagesSend,
    quota: q(GMAIL_QUOTA_UNITS.messagesSend),
    handler: (call) => sendMessage(call, false),
  });
  registry.register({
    api: 'gmail',
    id: 'gmail.users.messages.send',
    rpcMethod: 'caribou.api.proto.MailboxService.SendMessage',
    httpMethod: 'POST',
    path: new RegExp(`^/upload/gmail/v1/users/${USER}/messages/send$`),
    scopes: SCOPES.messagesSend,
    quota: q(GMAIL_QUOTA_UNITS.messagesSend),
    handler: (call) => sendMessage(call, true),
  });
  registry.register({
    api: 'gmail',
    id: 'gmail.users.drafts.create',
    rpcMethod: 'caribou.api.proto.MailboxService.CreateDraft',
    httpMethod: 'POST',
    path: new RegExp(`^/gmail/v1/users/${USER}/drafts$`),
    scopes: SCOPES.draftsWrite,
    quota: q(GMAIL_QUOTA_UNITS.draftsCreate),
    handler: (call) => createDraft(call, false),
  });
  registry.register({
    api: 'gmail',
    id: 'gmail.users.drafts.create',
    rpcMethod: 'caribou.api.proto.MailboxService.CreateDraft',
    httpMethod: 'POST',
    path: new RegExp(`^/upload/gmail/v1/users/${USER}/drafts$`),
    scopes: SCOPES.draftsWrite,
    quota: q(GMAIL_QUOTA_UNITS.draftsCreate),
    handler: (call) => createDraft(call, true),
  });
  registry.register({
    api: 'gmail',
    id: 'gmail.users.drafts.send',
    rpcMethod: 'caribou.api.proto.MailboxService.SendDraft',
    httpMethod: 'POST',
    path: new RegExp(`^/gmail/v1/users/${USER}/drafts/send$`),
    scopes: SCOPES.draftsWrite,
    quota: q(GMAIL_QUOTA_UNITS.draftsSend),
    handler: sendDraft,
  });
  registry.register({
    api: 'gmail',
    id: 'gmail.users.drafts.get',
    rpcMethod: 'caribou.api.proto.MailboxService.GetDraft',
    httpMethod: 'GET',
    path: new RegExp(`^/gmail/v1/users/${USER}/drafts/(?<id>[^/]+)$`),
    scopes: SCOPES.draftsRead,
    quota: q(GMAIL_QUOTA_UNITS.draftsGet),
    handler: getDraft,
  });
  registry.register({
    api: 'gmail',
    id: 'gmail.users.drafts.list',
    rpcMethod: 'caribou.api.proto.MailboxService.ListDrafts',
    httpMethod: 'GET',
    path: new RegExp(`^/gmail/v1/users/${USER}/drafts$`),
    scopes: SCOPES.draftsRead,
    quota: q(GMAIL_QUOTA_UNITS.draftsList),
    handler: listDrafts,
  });
  registry.register({
    api: 'gmail',
    id: 'gmail.users.drafts.delete',
    rpcMethod: 'caribou.api.proto.MailboxService.DeleteDraft',
    httpMethod: 'DELETE',
    path: new RegExp(`^/gmail/v1/users/${USER}/drafts/(?<id>[^/]+)$`),
    scopes: SCOPES.draftsWrite,
    quota: q(GMAIL_QUOTA_UNITS.draftsDelete),
    handler: deleteDraft,
  });
  registry.register({
    api: 'gmail',
    id: 'gmail.users.getProfile',
    rpcMethod: 'caribou.api.proto.MailboxService.GetProfile',
    httpMethod: 'GET',
    path: new RegExp(`^/gmail/v1/users/${USER}/profile$`),
    scopes: SCOPES.getProfile,
    quota: q(GMAIL_QUOTA_UNITS.getProfile),
    handler: getProfile,
  });

  registry.addAdminRoute({
    httpMethod: 'GET',
    path: /^\/users\/(?<email>[^/]+)\/messages$/,
    handler: ({ params }) => {
      const user = state.findUser(params.email);
      if (!user)
        return { status: 404, body: { error: `no user ${params.email}; create it with POST /emulator/v1/domains` } };
      return {
        body: gmailMessages(state, user).map(({ id, threadId, labelIds, raw }) => ({ id, threadId, labelIds, raw })),
      };
    },
  });
}

// --- common checks ------------------------------------------------------------------------------------------------

/** `userId` must be `me` or the token's own address; a user without Gmail has no mailbox. */
function openMailbox(call: ApiCall): Mailbox {
  const { userId } = call.params;
  if (userId !== 'me' && userId.toLowerCase() !== call.user.email) {
    // [obs googleapis/google-api-nodejs-client#1751, #2510]: 403 reason forbidden, naming the impersonated user.
    throw forbidden('gmail', `Delegation denied for ${call.user.email}`);
  }
  // [obs google-api-java-client#1648, nodejs-client#2361]: no Gmail service → 400 failedPrecondition.
  if (!call.user.gmail) throw failedPrecondition('gmail');
  return mailbox(call.state, call.user);
}

function tooLarge(): Error {
  // [?] Wording follows Gmail's observed payload-limit error ("Request payload size exceeds the limit: N bytes.",
  // reason badRequest, google-api-dotnet-client#856), with the 35 MiB media limit.
  return apiError('gmail', {
    code: 400,
    status: 'INVALID_ARGUMENT',
    message: `Request payload size exceeds the limit: ${GMAIL_MAX_MESSAGE_BYTES} bytes.`,
    reason: 'badRequest',
  });
}

const RAW_REQUIRED = "'raw' RFC822 payload message string or uploading message via /upload/* URL required";

interface MessageInput {
  mime: Buffer;
  threadId?: string;
}

/**
 * The RFC 822 bytes and metadata of a send/create call: JSON `{raw, threadId}` (for drafts `{message:{raw,threadId}}`)
 * or an upload (`uploadType=media` body is the message; `multipart` = JSON metadata part + message part).
 * `wrapped` = the body is a Draft (field paths `draft.message.*`), else a Message (`message.*`).
 */
function messageInput(call: ApiCall, upload: boolean, wrapped: boolean): MessageInput {
  const field = wrapped ? 'draft.message' : 'message';
  let meta: Record<string, unknown> = {};
  let mime: Buffer | undefined;
  if (!upload) {
    const body = call.jsonObject();
    meta = wrapped ? nestedMessage(body) : body;
    mime = decodeRaw(call, meta.raw, `${field}.raw`);
  } else {
    const uploadType = call.query.get('uploadType');
    if (uploadType === 'media') {
      checkMediaType(call.contentType);
      mime = call.rawBody;
    } else if (uploadType === 'multipart') {
      const boundary = /boundary="?([^";]+)"?/i.exec(String(call.headers['content-type'] ?? ''))?.[1];
      if (call.contentType !== 'multipart/related' || !boundary) {
        throw badRequest(
          'gmail',
          `Multipart upload needs Content-Type multipart/related with a boundary, got "${call.headers['content-type'] ?? ''}"`,
          'badContent',
        );
      }
      const parts = parseMultipartRelated(call.rawBody, boundary);
      if (parts.length !== 2)
        throw badRequest(
          'gmail',
          `Multipart upload needs 2 parts (metadata, media), got ${parts.length}`,
          'badContent',
        );
      const parsed = parseJsonObject('gmail', parts[0].body);
      meta = wrapped ? nestedMessage(parsed) : parsed;
      checkMediaType(
        String(parts[1].headers['content-type'] ?? '')
          .split(';')[0]
          .trim()
          .toLowerCase(),
      );
      mime = parts[1].body;
    } else {
      // The emulator does not implement resumable sessions; the gateway never uses them.
      throw badRequest(
        'gmail',
        `Invalid upload type: expected uploadType=media or uploadType=multipart, got ${uploadType ?? 'none'}`,
        'invalidParameter',
      );
    }
  }
  if (!mime || mime.length === 0) throw badRequest('gmail', RAW_REQUIRED, 'badRequest');
  if (mime.length > GMAIL_MAX_MESSAGE_BYTES) throw tooLarge();
  const threadId = typeof meta.threadId === 'string' && meta.threadId !== '' ? meta.threadId : undefined;
  return { mime, threadId };
}

/**
 * The upload endpoints accept `message/*` only (discovery doc, mediaUpload.accept of messages.send and drafts.*).
 * [?] Text: the shape Google's upload front end uses for other APIs' refused media ("Media type 'x' is not
 * supported. Valid media types: [...]", legacy reason badContent).
 */
function checkMediaType(type: string): void {
  if (!/^message\/[a-z0-9.+-]+$/.test(type)) {
    throw badRequest('gmail', `Media type '${type}' is not supported. Valid media types: [message/*]`, 'badContent');
  }
}

/** The Draft's `message` field: absent → {}; present but not an object → 400 like any ill-typed JSON field [?]. */
function nestedMessage(body: Record<string, unknown>): Record<string, unknown> {
  const m = body.message;
  if (m === undefined || m === null) return {};
  if (typeof m !== 'object' || Array.isArray(m)) {
    throw invalidJson(
      'gmail',
      `Invalid value at 'draft.message' (type.googleapis.com/caribou.api.proto.Message), ${JSON.stringify(m)}`,
    );
  }
  return m as Record<string, unknown>;
}

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const BASE64_EITHER = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * `raw` of a JSON body: base64url (Gmail reference: "encoded as a base64url string"); standard base64 only with
 * settings.gmailAcceptStandardBase64Raw. Absent/empty → undefined (the caller answers RAW_REQUIRED). Anything else —
 * other characters, whitespace, a length no base64 string can have — is Google's 400 [obs FlowCrypt/
 * flowcrypt-android#859: INVALID_ARGUMENT "Invalid value at 'message.raw' (TYPE_BYTES), Base64 decoding failed for
 * …"]; the quoted value is cut at 100 characters [?], the legacy reason `invalid` is [?].
 */
function decodeRaw(call: ApiCall, raw: unknown, field: string): Buffer | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
  const alphabet = call.state.settings.gmailAcceptStandardBase64Raw ? BASE64_EITHER : BASE64URL;
  if (typeof raw !== 'string' || !alphabet.test(raw) || raw.replace(/=+$/, '').length % 4 === 1) {
    const shown = text.length > 100 ? `${text.slice(0, 100)}...` : text;
    throw badRequest(
      'gmail',
      `Invalid value at '${field}' (TYPE_BYTES), Base64 decoding failed for "${shown}"`,
      'invalid',
    );
  }
  // Node's decoder reads both alphabets; the check above already decided which are allowed.
  return Buffer.from(raw, 'base64url');
}

export function parseMultipartRelated(
  body: Buffer,
  boundary: string,
): Array<{ headers: Record<string, string>; body: Buffer }> {
  const delim = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  const parts: Array<{ headers: Record<string, string>; body: Buffer }> = [];
  let pos = body.indexOf(delim);
  if (pos < 0) return parts;
  pos += delim.length;
  while (body.subarray(pos, pos + 2).toString() !== '--') {
    if (body[pos] === 13 && body[pos + 1] === 10) pos += 2;
    const end = body.indexOf(next, pos);
    if (end < 0) break;
    const part = body.subarray(pos, end);
    const sep = part.indexOf('\r\n\r\n');
    const headerText = sep < 0 ? '' : part.subarray(0, sep).toString('utf8');
    const headers: Record<string, string> = {};
    for (const line of headerText.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    parts.push({ headers, body: sep < 0 ? part : part.subarray(sep + 4) });
    pos = end + next.length;
  }
  return parts;
}

interface ParsedMime {
  headers: Array<{ name: string; value: string }>;
  mimeType: string;
  snippet: string;
  recipients: number;
}

/** Parses the message; with `requireRecipients`, Google's 400s for a missing or invalid To/Cc/Bcc. */
async function parseMime(mime: Buffer, requireRecipients: boolean): Promise<ParsedMime> {
  const parsed = await simpleParser(mime, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  let recipients = 0;
  for (const [field, label] of [
    ['to', 'To'],
    ['cc', 'Cc'],
    ['bcc', 'Bcc'],
  ] as const) {
    const value = parsed[field];
    if (!value) continue;
    const addresses = (Array.isArray(value) ? value : [value])
      .flatMap((a: AddressObject) => a.value)
      .flatMap((a) => (a.group ? a.group : [a]));
    // [obs google-api-ruby-client#173, FlowCrypt#1370]: "Invalid To header", reason invalidArgument.
    if (requireRecipients && addresses.some((a) => !a.address || !/^[^@\s]+@[^@\s]+$/.test(a.address))) {
      throw badRequest('gmail', `Invalid ${label} header`);
    }
    recipients += addresses.length;
  }
  // [obs Byron/google-apis-rs#351]: {"code":400,"message":"Recipient address required","status":"INVALID_ARGUMENT"}.
  if (requireRecipients && recipients === 0) throw badRequest('gmail', 'Recipient address required');
  const headers = parsed.headerLines.map(({ line }) => {
    const i = line.indexOf(':');
    return {
      name: line.slice(0, i),
      value: line
        .slice(i + 1)
        .replace(/\r?\n[ \t]+/g, ' ')
        .trim(),
    };
  });
  const contentType = parsed.headers.get('content-type') as { value?: string } | undefined;
  return {
    headers,
    mimeType: contentType?.value ?? 'text/plain',
    snippet: (parsed.text ?? '').replace(/\s+/g, ' ').trim().slice(0, SNIPPET_CHARS),
    recipients,
  };
}

/** Gmail ids are 16 lowercase hex digits. */
function gmailId(): string {
  return randomBytes(8).toString('hex').replace(/^0/, '1');
}

async function storeMessage(
  call: ApiCall,
  box: Mailbox,
  input: MessageInput,
  labelIds: string[],
  requireRecipients: boolean,
  id = gmailId(),
): Promise<GmailMessage> {
  const parsed = await parseMime(input.mime, requireRecipients);
  let threadId = id;
  if (input.threadId) {
    // Honoured when the thread exists in this mailbox. [?] Google also requires matching References/In-Reply-To and
    // Subject headers and otherwise silently starts a new thread; the emulator does not check headers.
    const known = [...box.messages.values()].some((m) => m.threadId === input.threadId);
    // An unknown thread is 400 "Invalid thread_id value", not 404 [obs PipedreamHQ/pipedream#15223, "Gmail reply
    // error: invalid thread_id value"]; legacy reason invalidArgument as for Gmail's other id errors ("Invalid id
    // value", reason invalidArgument [obs googleworkspace/cli#790]).
    if (!known) throw badRequest('gmail', 'Invalid thread_id value', 'invalidArgument');
    threadId = input.threadId;
  }
  box.historyId += 1;
  const message: GmailMessage = {
    id,
    threadId,
    labelIds,
    raw: input.mime.toString('base64url'),
    internalDate: String(call.state.nowMs()),
    sizeEstimate: input.mime.length,
    snippet: parsed.snippet,
    historyId: String(box.historyId),
    headers: parsed.headers,
    mimeType: parsed.mimeType,
  };
  box.messages.set(id, message);
  return message;
}

// --- handlers -------------------------------------------------------------------------------------------------------

async function sendMessage(call: ApiCall, upload: boolean): Promise<ApiResponse> {
  const box = openMailbox(call);
  const input = messageInput(call, upload, false);
  const m = await storeMessage(call, box, input, ['SENT'], true);
  return { body: { id: m.id, threadId: m.threadId, labelIds: m.labelIds } };
}

function draftResource(box: Mailbox, draftId: string) {
  const m = box.messages.get(box.drafts.get(draftId)!)!;
  return { id: draftId, message: { id: m.id, threadId: m.threadId, labelIds: m.labelIds } };
}

async function createDraft(call: ApiCall, upload: boolean): Promise<ApiResponse> {
  const box = openMailbox(call);
  const input = messageInput(call, upload, true);
  // Drafts may lack recipients; they are checked on send.
  const m = await storeMessage(call, box, input, ['DRAFT'], false);
  const draftId = `r${BigInt('0x' + randomBytes(8).toString('hex'))
    .toString()
    .slice(0, 19)}`;
  box.drafts.set(draftId, m.id);
  return { body: draftResource(box, draftId) };
}

function findDraft(box: Mailbox, id: string | undefined): string {
  if (!id || !box.drafts.has(id)) throw notFound('gmail');
  return id;
}

async function sendDraft(call: ApiCall): Promise<ApiResponse> {
  const box = openMailbox(call);
  const body = call.jsonObject();
  if (typeof body.id !== 'string' || body.id === '') {
    // [?] Google's text for a send without a draft id.
    throw badRequest('gmail', 'Invalid draft: an existing draft id is required', 'invalidArgument');
  }
  const draftId = findDraft(box, body.id);
  const draftMessage = box.messages.get(box.drafts.get(draftId)!)!;
  const mime =
    decodeRaw(call, nestedMessage(body).raw, 'draft.message.raw') ?? Buffer.from(draftMessage.raw, 'base64url');
  if (mime.length > GMAIL_MAX_MESSAGE_BYTES) throw tooLarge();
  // Take the draft out of the mailbox before the first await: a second drafts.send of the same draft that arrives
  // while this one is parsing then finds no draft and gets 404, as on Google (a draft is sent once). A refused send
  // puts it back where it was, so the draft stays (gateway's idempotent send relies on "still a draft ⇒ not sent").
  const order = [...box.drafts.keys()];
  box.drafts.delete(draftId);
  box.messages.delete(draftMessage.id);
  try {
    const sent = await storeMessage(call, box, { mime }, ['SENT'], true, draftMessage.id);
    // The sent message keeps the draft's message id and thread.
    sent.threadId = draftMessage.threadId;
    return { body: { id: sent.id, threadId: sent.threadId, labelIds: sent.labelIds } };
  } catch (e) {
    box.messages.set(draftMessage.id, draftMessage);
    restoreDraft(box, order, draftId, draftMessage.id);
    throw e;
  }
}

/** Puts a draft back at its old place in the (insertion-ordered) list that drafts.list reads. */
function restoreDraft(box: Mailbox, order: string[], draftId: string, messageId: string): void {
  const current = new Map(box.drafts);
  current.set(draftId, messageId);
  box.drafts.clear();
  for (const id of order) if (current.has(id)) box.drafts.set(id, current.get(id)!);
  for (const [id, mid] of current) if (!box.drafts.has(id)) box.drafts.set(id, mid);
}

function getDraft(call: ApiCall): ApiResponse {
  const box = openMailbox(call);
  const draftId = findDraft(box, call.params.id);
  const m = box.messages.get(box.drafts.get(draftId)!)!;
  const format = call.query.get('format') ?? 'full';
  const message: Record<string, unknown> = { id: m.id, threadId: m.threadId, labelIds: m.labelIds };
  if (format !== 'minimal')
    Object.assign(message, {
      snippet: m.snippet,
      sizeEstimate: m.sizeEstimate,
      historyId: m.historyId,
      internalDate: m.internalDate,
    });
  if (format === 'raw') message.raw = m.raw;
  // [?] full/metadata return the top-level headers only (no MIME part tree).
  if (format === 'full' || format === 'metadata')
    message.payload = { partId: '', mimeType: m.mimeType, filename: '', headers: m.headers };
  return { body: { id: draftId, message } };
}

function listDrafts(call: ApiCall): ApiResponse {
  const box = openMailbox(call);
  const max = Math.min(
    Number(call.query.get('maxResults') ?? DRAFTS_LIST_DEFAULT_PAGE_SIZE) || DRAFTS_LIST_DEFAULT_PAGE_SIZE,
    DRAFTS_LIST_MAX_PAGE_SIZE,
  );
  const ids = [...box.drafts.keys()].reverse(); // newest first, like Gmail
  const start = Number(call.query.get('pageToken') ?? 0) || 0;
  const page = ids.slice(start, start + max);
  const body: Record<string, unknown> = { resultSizeEstimate: ids.length };
  if (page.length > 0)
    body.drafts = page.map((id) => {
      const d = draftResource(box, id);
      return { id, message: { id: d.message.id, threadId: d.message.threadId } };
    });
  if (start + max < ids.length) body.nextPageToken = String(start + max);
  return { body };
}

function deleteDraft(call: ApiCall): ApiResponse {
  const box = openMailbox(call);
  const draftId = findDraft(box, call.params.id);
  box.messages.delete(box.drafts.get(draftId)!);
  box.drafts.delete(draftId);
  return { status: 204 };
}

function getProfile(call: ApiCall): ApiResponse {
  const box = openMailbox(call);
  const threads = new Set([...box.messages.values()].map((m) => m.threadId));
  return {
    body: {
      emailAddress: call.user.email,
      messagesTotal: box.messages.size,
      threadsTotal: threads.size,
      historyId: String(box.historyId),
    },
  };
}
