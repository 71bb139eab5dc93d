/**
 * The mail lane of the outbox: hands each QUEUED mail to Gmail exactly once.
 *
 * gmail.compose cannot list or read Sent mail, so "did Gmail take it?" cannot
 * be asked of the mailbox. Drafts can be asked about instead:
 *   1. drafts.create with the stored MIME (as JSON or an upload, up to 35 MB:
 *      the Gmail driver, google/gmail.ts, decides which);
 *   2. drafts.send of that draft: Gmail sends it, files it under Sent and the
 *      draft is gone.
 * Before each call the row records the phase it is entering. When an answer
 * never arrives (timeout, reset, 5xx, crash) the next attempt asks first:
 *   - after drafts.send: drafts.get of our draft. 404 → it was sent (a sent
 *     draft is gone) → SENT; still there → send it now. A definite refusal
 *     (429, 403, 400…) puts the phase back to `created`: nothing went out.
 *   - after drafts.create: the newest drafts are searched for our Message-ID
 *     and the one found is used; once the mail is settled, any copy the search
 *     missed is deleted, so no stray draft is left to be sent by hand.
 * So a retry never sends twice. Each attempt holds the row with its own token
 * (mail.attempt.ts): an attempt that lost its lane (a stalled process whose
 * lease expired) stops before its next Gmail call.
 * Rate limits (429, 403 rateLimitExceeded), 5xx and our own transient errors
 * are retried with backoff (Retry-After honoured) while the mail stays QUEUED
 * (at most `giveUpMs`); a refusal the agent or the admin must act on (bad
 * recipients, Gmail not authorized, no mailbox, the draft deleted in Gmail)
 * makes it FAILED with the reason and remedy.
 */
import type { DataSource } from 'typeorm';
import { SentMail, type OutboxRow } from '../entities';
import { ErrorCode } from '../errors';
import type { GmailDraft, GmailDriver, GmailSent } from '../google/gmail';
import { isOurFailure, mapGoogleError, type GoogleFailure } from '../google/google-errors';
import type { GoogleSession } from '../google/google-session';
import type { GoogleSessions } from '../google/google-sessions';
import type { Logger } from '../logger';
import { MAIL_OUTBOX, type LaneRef } from '../outbox/topics';
import type { Outcome, OutboxHandler } from '../outbox/worker';
import { Attempt, Superseded } from './mail.attempt';
import { loadMime } from './mail.mime-store';

/** How many of the newest drafts are searched for ours after an unanswered drafts.create. */
const DRAFT_SEARCH_LIMIT = 25;
/** Mails per delivery round (each is two or more calls). */
const ROUND = 20;
const MAX_REASON_CHARS = 2000;

/** A final answer that is ours, not Google's. */
class MailRefused extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Gmail's answers that say the call was refused, not carried out. */
const REFUSALS = new Set([400, 401, 403, 404, 409, 429]);
/** Transport failures that happen before a request leaves us: nothing reached Gmail. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Whether a failed call certainly did nothing at Gmail: a refusal, or a connection that was never made. A 5xx,
 * a timeout or a reset after connecting leaves it unknown.
 */
function notSent(err: unknown, f: GoogleFailure): boolean {
  if (f.status !== undefined) return REFUSALS.has(f.status);
  for (
    let c = err as { code?: unknown; cause?: unknown } | undefined, depth = 0;
    c && depth < 5;
    c = c.cause as typeof c, depth++
  ) {
    if (typeof c.code === 'string' && NOT_CONNECTED.has(c.code)) return true;
  }
  return false;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} seconds` : s < 7200 ? `${Math.round(s / 60)} minutes` : `${Math.round(s / 3600)} hours`;
}

export class MailDelivery implements OutboxHandler {
  readonly topic = MAIL_OUTBOX;

  constructor(private readonly deps: { ds: DataSource; sessions: GoogleSessions; log: Logger; giveUpMs: number }) {}

  async deliver(lane: LaneRef, rows: OutboxRow[]): Promise<Outcome[]> {
    let session: GoogleSession | undefined;
    const outcomes: Outcome[] = [];
    for (const row of rows.slice(0, ROUND)) {
      const mail = await this.deps.ds
        .getRepository(SentMail)
        .findOneBy({ id: row.entityId, brokerageId: lane.brokerageId, agentId: lane.agentId });
      if (!mail || mail.status !== 'QUEUED') {
        outcomes.push({ seq: row.seq, result: 'done' });
        continue;
      }
      const attempt = new Attempt(this.deps.ds, mail);
      try {
        await attempt.claim();
        // Inside the try: a key that cannot be loaded goes through onFailure (and its give-up) like any failure.
        session ??= await this.deps.sessions.forAgentId(lane.brokerageId, lane.agentId);
        await this.sendOne(session, attempt);
        outcomes.push({ seq: row.seq, result: 'done' });
      } catch (err) {
        outcomes.push(await this.onFailure(lane, row, attempt, err, session));
        break; // in order: the lane waits
      }
    }
    return outcomes;
  }

  private async sendOne(session: GoogleSession, a: Attempt): Promise<void> {
    const mail = a.mail;
    const gmail = await session.gmail();
    let searched = false;

    if (!mail.gmailDraftId && mail.phase === 'creating') {
      // An earlier drafts.create went unanswered: Gmail may hold our draft.
      searched = true;
      const found = await this.findOurDrafts(gmail, mail.messageIdHeader);
      if (found[0])
        await a.set({
          phase: 'created',
          gmailDraftId: found[0].id,
          gmailMessageId: found[0].messageId,
          threadId: found[0].threadId,
        });
    }
    if (!mail.gmailDraftId) {
      const mime = await loadMime(this.deps.ds, mail);
      let threadId = await this.threadOf(mail);
      await a.set({ phase: 'creating' });
      let draft: GmailDraft;
      try {
        draft = await gmail.createDraft(mime, threadId);
      } catch (err) {
        const f = mapGoogleError(err, { api: 'gmail' });
        // The thread of the mail replied to is gone (deleted in Gmail): send it as a new conversation.
        if (!threadId || f.kind !== 'bad-request' || !/thread/i.test(f.message)) throw err;
        threadId = null;
        draft = await gmail.createDraft(mime, threadId);
      }
      await a.set({
        phase: 'created',
        gmailDraftId: draft.id,
        gmailMessageId: draft.messageId,
        threadId: draft.threadId,
      });
    }

    const wasSending = mail.phase === 'sending';
    if (wasSending) {
      // An earlier drafts.send went unanswered: a sent draft is gone.
      try {
        await gmail.getDraft(mail.gmailDraftId!);
      } catch (err) {
        if (mapGoogleError(err, { api: 'gmail' }).kind !== 'not-found') throw err;
        await this.markSent(a, mail.gmailMessageId, mail.threadId);
        return;
      }
    }
    await a.set({ phase: 'sending' });
    let sent: GmailSent;
    try {
      sent = await gmail.sendDraft(mail.gmailDraftId!);
    } catch (err) {
      const f = mapGoogleError(err, { api: 'gmail' });
      if (f.kind === 'not-found') {
        if (wasSending) {
          await this.markSent(a, mail.gmailMessageId, mail.threadId); // gone between our get and send: our earlier send
          return;
        }
        // Gone before we sent it: the agent deleted it in Gmail (or sent it by hand). Not ours to send any more.
        await a.set({ phase: 'created' });
        throw new MailRefused(
          ErrorCode.CONFLICT,
          'The draft was removed in Gmail (deleted, or sent from Gmail by hand) before the gateway sent it; the gateway did not send it. Send it again if it should go',
        );
      }
      if (notSent(err, f)) await a.set({ phase: 'created' });
      throw err;
    }
    await this.markSent(a, sent.messageId ?? mail.gmailMessageId, sent.threadId ?? mail.threadId);
    if (searched) await this.deleteStrayDrafts(gmail, mail.messageIdHeader);
  }

  private async markSent(a: Attempt, gmailMessageId: string | null, threadId: string | null): Promise<void> {
    const now = new Date();
    await a.finish({
      status: 'SENT',
      phase: null,
      gmailMessageId,
      threadId,
      sentAt: now,
      failureCode: null,
      failureReason: null,
      updatedAt: now,
    });
  }

  /** The Gmail thread of the mail this one answers, when that was sent (the lane is ordered: it went first). */
  private async threadOf(mail: SentMail): Promise<string | null> {
    if (!mail.replyToMailId) return null;
    const original = await this.deps.ds
      .getRepository(SentMail)
      .findOneBy({ id: mail.replyToMailId, brokerageId: mail.brokerageId, agentId: mail.agentId });
    return original?.status === 'SENT' ? original.threadId : null;
  }

  /** Our drafts among the newest ones, by Message-ID (drafts.list + drafts.get metadata: gmail.compose allows both). */
  private async findOurDrafts(gmail: GmailDriver, messageIdHeader: string): Promise<GmailDraft[]> {
    const ours: GmailDraft[] = [];
    for (const id of await gmail.listDraftIds(DRAFT_SEARCH_LIMIT)) {
      try {
        const got = await gmail.getDraftMessageIdHeader(id);
        if (got.messageIdHeader === messageIdHeader)
          ours.push({ id, messageId: got.messageId, threadId: got.threadId });
      } catch (err) {
        if (mapGoogleError(err, { api: 'gmail' }).kind !== 'not-found') throw err; // sent or deleted meanwhile: not ours to find
      }
    }
    return ours;
  }

  /**
   * Best effort, once the mail is settled: a draft of ours an earlier unanswered create left (the search may have
   * missed it).
   */
  private async deleteStrayDrafts(gmail: GmailDriver, messageIdHeader: string): Promise<void> {
    try {
      for (const d of await this.findOurDrafts(gmail, messageIdHeader)) await gmail.deleteDraft(d.id);
    } catch (err) {
      this.deps.log.warn(
        { status: mapGoogleError(err, { api: 'gmail' }).status },
        'could not look for stray drafts of a settled mail',
      );
    }
  }

  private async onFailure(
    lane: LaneRef,
    row: OutboxRow,
    a: Attempt,
    err: unknown,
    session: GoogleSession | undefined,
  ): Promise<Outcome> {
    const mail = a.mail;
    if (err instanceof Superseded) return { seq: row.seq, result: 'retry', error: err.message };
    let code: string;
    let reason: string;
    let f: GoogleFailure | null;
    if (err instanceof MailRefused) {
      code = err.code;
      reason = err.message;
    } else {
      f = mapGoogleError(err, { api: 'gmail', subject: session?.subject });
      if (f.kind === 'token-rejected') await this.deps.sessions.forgetTokens(lane.brokerageId);
      // Not an answer from Google (our database, a bug): nothing is known about Gmail, so never a final FAILED —
      // the next attempt settles what happened by asking Gmail (drafts.get / the draft search).
      const ours = isOurFailure(f);
      if (ours) this.deps.log.error({ err, lane, mailId: mail.id }, 'unexpected failure delivering mail; will retry');
      // Given up after giveUpMs: a mail sent days late does more harm than one the agent knows to resend. Not while a
      // drafts.send is unanswered, though: it may have gone, and only asking Gmail (the next attempt) can tell.
      const unsure = mail.phase === 'sending';
      const expired = Date.now() - mail.createdAt.getTime() > this.deps.giveUpMs && !unsure;
      // An unanswered drafts.send is never settled as FAILED, whatever else goes wrong: Gmail may have sent it, and
      // only
      // Gmail (drafts.get, once it can be asked again) can tell. It stays QUEUED, saying so.
      if (((f.retryable || ours) && !expired) || unsure) {
        const why = unsure
          ? `Gmail may already have sent it; waiting to check (${f.message})`
          : ours
            ? 'A temporary problem on our side; retrying'
            : f.message;
        await a
          .set({
            failureCode: ours ? ErrorCode.UPSTREAM_UNAVAILABLE : f.code,
            failureReason: why.slice(0, MAX_REASON_CHARS),
          })
          .catch(() => {});
        return {
          seq: row.seq,
          result: 'retry',
          error: f.message,
          retryAfterMs: f.retryAfterMs,
          ambiguous: ours || unsure || f.kind === 'network' || f.kind === 'unavailable',
          setupKey: f.code === ErrorCode.GOOGLE_NOT_CONFIGURED ? session?.keyVersion : undefined,
        };
      }
      if (f.kind === 'unknown' || f.kind === 'duplicate')
        this.deps.log.error(
          { status: f.status, reason: f.reason, lane, mailId: mail.id },
          'unexpected answer from Gmail; the mail failed',
        );
      code = f.code === ErrorCode.INTERNAL_SERVER_ERROR ? ErrorCode.UPSTREAM_UNAVAILABLE : f.code;
      reason =
        f.retryable || ours
          ? `Not sent: Gmail did not take it within ${duration(this.deps.giveUpMs)} of trying (last answer: ${f.message}). Send it again when Gmail is back`
          : f.kind === 'bad-request'
            ? `Gmail refused the message: ${f.message.replace(/^Google refused the data: /, '')}`
            : f.remedy
              ? `${f.message}. ${f.remedy}`
              : f.message;
    }
    const now = new Date();
    try {
      await a.finish({
        status: 'FAILED',
        phase: null,
        failureCode: code,
        failureReason: reason.slice(0, MAX_REASON_CHARS),
        updatedAt: now,
      });
    } catch (e) {
      if (e instanceof Superseded) return { seq: row.seq, result: 'retry', error: e.message };
      throw e;
    }
    // The unsent draft would sit in the agent's Drafts folder, where it could be sent by hand: remove it (best effort).
    if (err instanceof MailRefused || !session) return { seq: row.seq, result: 'failed', error: reason }; // no draft to remove
    try {
      const gmail = await session.gmail();
      if (mail.gmailDraftId) await gmail.deleteDraft(mail.gmailDraftId);
      else if (mail.phase === 'creating') await this.deleteStrayDrafts(gmail, mail.messageIdHeader);
    } catch (e) {
      this.deps.log.warn(
        { status: mapGoogleError(e, { api: 'gmail' }).status, mailId: mail.id },
        'could not delete the draft of a failed mail',
      );
    }
    return { seq: row.seq, result: 'failed', error: reason };
  }
}
