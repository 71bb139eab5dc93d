/**
 * The Gmail driver: the only file of the gateway that talks to the Gmail API
 * (and the only one importing `@googleapis/gmail`). One driver acts as one
 * mailbox, the agent the session's token was issued for (`userId: 'me'`).
 *
 * It owns what Gmail's API dictates: the client, `me`, the upload root and
 * timeout, the message size limit and when a message goes as JSON or as an
 * upload. Each method is one Gmail call (callers' call counts are what the
 * tests read from the emulator's request log) and returns a typed result.
 * Failures are Google's errors, thrown as the client throws them: callers map
 * them with mapGoogleError (google-errors.ts).
 *
 * Every call below is allowed by the one scope the mail feature is granted,
 * gmail.compose (GMAIL_COMPOSE_SCOPE, scopes.ts; "Manage drafts and send
 * emails"): drafts.create/get/list/send/delete and users.getProfile. It does
 * not allow reading messages, so sent mail cannot be read back: a lost answer
 * is settled by asking about our draft instead (docs/google-behaviour.md §4;
 * each method's "Authorization scopes" and
 * https://developers.google.com/workspace/gmail/api/auth/scopes).
 */
import { Readable } from 'node:stream';
import { auth, gmail, type gmail_v1 } from '@googleapis/gmail';
import { bearerAuth, type DriverOptions } from './driver-options';

/**
 * The largest message Gmail takes, upload endpoint included: 35 MB, i.e. 36,700,160 bytes (the discovery document's
 * `mediaUpload.maxSize`). https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.drafts/create
 * ("Maximum file size: 35MB"), https://developers.google.com/workspace/gmail/api/guides/uploads
 */
export const GMAIL_MAX_MESSAGE_BYTES = 36_700_160;

/**
 * Messages up to this size (bytes of MIME) go as JSON `{ raw }`; larger ones as an upload to the /upload endpoint.
 * A JSON body carries the message in base64url, a third larger than the message. The upload is one multipart request
 * (uploadType=multipart: the draft's JSON, then the message/rfc822 bytes, up to GMAIL_MAX_MESSAGE_BYTES). Google's
 * upload guide suggests multipart for small files and resumable uploads for large ones; we do not resume: the message
 * is in memory, and a failed upload is retried whole by the outbox.
 * https://developers.google.com/workspace/gmail/api/guides/uploads
 */
const GMAIL_RAW_JSON_MAX_BYTES = 4 * 1024 * 1024;

/** An upload of up to 35 MB needs longer than the usual request timeout (GOOGLE_REQUEST_TIMEOUT_MS). */
const GMAIL_UPLOAD_TIMEOUT_MS = 5 * 60_000;

/**
 * The largest `maxResults` of drafts.list (default 100).
 * https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.drafts/list
 */
const GMAIL_DRAFTS_LIST_MAX_RESULTS = 500;

/**
 * "The user's email address. The special value `me` can be used to indicate the authenticated user": the mailbox the
 * token acts as (JWT `sub`), so a driver can never reach another one.
 * https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.drafts/create
 */
const ME = 'me';

/** A draft, as far as the gateway reads it: ids only. */
export interface GmailDraft {
  id: string;
  /** The id of the draft's message, which becomes the sent message's id. */
  messageId: string | null;
  threadId: string | null;
}

/** A sent message: its id and thread. */
export interface GmailSent {
  messageId: string | null;
  threadId: string | null;
}

export class GmailDriver {
  private readonly api: gmail_v1.Gmail;
  /**
   * Media uploads take the root per call: the client-wide rootUrl does not reach the upload URL
   * (docs/google-behaviour.md §1.6).
   */
  private readonly rootUrl: string;

  constructor(options: DriverOptions) {
    this.api = gmail({ version: 'v1', auth: bearerAuth(auth.OAuth2, options), ...options.client });
    this.rootUrl = options.client.rootUrl;
  }

  /**
   * drafts.create with the message (`threadId`: the conversation it belongs to). Up to GMAIL_RAW_JSON_MAX_BYTES as
   * JSON `raw`, else a multipart upload with its own root and timeout.
   */
  async createDraft(mime: Buffer, threadId: string | null): Promise<GmailDraft> {
    const thread = threadId ? { threadId } : {};
    const res =
      mime.length <= GMAIL_RAW_JSON_MAX_BYTES
        ? await this.api.users.drafts.create({
            userId: ME,
            requestBody: { message: { raw: mime.toString('base64url'), ...thread } },
          })
        : await this.api.users.drafts.create(
            {
              userId: ME,
              requestBody: { message: thread },
              media: { mimeType: 'message/rfc822', body: Readable.from([mime]) },
            },
            { rootUrl: this.rootUrl, timeout: GMAIL_UPLOAD_TIMEOUT_MS },
          );
    // Google always answers a created draft with its id.
    return { id: res.data.id!, ...messageIds(res.data.message) };
  }

  /** drafts.send: Gmail sends the draft, files the message under Sent and deletes the draft. */
  async sendDraft(draftId: string): Promise<GmailSent> {
    const res = await this.api.users.drafts.send({ userId: ME, requestBody: { id: draftId } });
    return { messageId: res.data.id ?? null, threadId: res.data.threadId ?? null };
  }

  /** drafts.get (format `minimal`): whether the draft is still there; a draft that was sent answers 404. */
  async getDraft(draftId: string): Promise<GmailDraft> {
    const res = await this.api.users.drafts.get({ userId: ME, id: draftId, format: 'minimal' });
    return { id: res.data.id ?? draftId, ...messageIds(res.data.message) };
  }

  /** drafts.get (format `metadata`): the draft with its Message-ID header (null when it has none). */
  async getDraftMessageIdHeader(draftId: string): Promise<GmailDraft & { messageIdHeader: string | null }> {
    const res = await this.api.users.drafts.get({ userId: ME, id: draftId, format: 'metadata' });
    const header = res.data.message?.payload?.headers?.find((h) => h.name?.toLowerCase() === 'message-id');
    return { id: res.data.id ?? draftId, ...messageIds(res.data.message), messageIdHeader: header?.value ?? null };
  }

  /** drafts.list: the ids of the newest `maxResults` drafts (at most GMAIL_DRAFTS_LIST_MAX_RESULTS), newest first. */
  async listDraftIds(maxResults: number): Promise<string[]> {
    const res = await this.api.users.drafts.list({
      userId: ME,
      maxResults: Math.min(maxResults, GMAIL_DRAFTS_LIST_MAX_RESULTS),
    });
    return (res.data.drafts ?? []).map((d) => d.id!);
  }

  /** drafts.delete. */
  async deleteDraft(draftId: string): Promise<void> {
    await this.api.users.drafts.delete({ userId: ME, id: draftId });
  }

  /** users.getProfile: the mailbox's address (null when Google leaves it out). */
  async profile(): Promise<{ emailAddress: string | null }> {
    const res = await this.api.users.getProfile({ userId: ME });
    return { emailAddress: res.data.emailAddress ?? null };
  }
}

function messageIds(message: gmail_v1.Schema$Message | undefined): Pick<GmailDraft, 'messageId' | 'threadId'> {
  return { messageId: message?.id ?? null, threadId: message?.threadId ?? null };
}
