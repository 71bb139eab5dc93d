/**
 * Push notifications: events.watch channels and the notification POSTs Google sends to them.
 * Reference: https://developers.google.com/workspace/calendar/api/guides/push (docs/google-behaviour.md §3.4).
 *
 * Google POSTs an empty body with X-Goog-* headers: one `sync` message when the channel is created, then `exists`
 * whenever the watched collection changes; the receiver must run an incremental sync to learn what changed.
 * Deliveries here are asynchronous and per channel in order (a promise chain), never fail the call that caused
 * them, and go only to loopback addresses — the emulator must not send traffic off this machine. Google requires
 * an HTTPS address with a trusted certificate; plain http is accepted for loopback receivers, since test receivers
 * have no certificate (a deliberate deviation).
 */
import { randomBytes } from 'node:crypto';
import type { EmulatorState } from '../state';
import { apiError } from '../errors';
import { calendarError } from './errors';
import { calendarSettings } from './module-data';

/** Channel ids: "A UUID or a similar unique string … maximum length is 64 characters" (push guide). */
export const MAX_CHANNEL_ID_LENGTH = 64;
/** How long one notification POST may take before the emulator gives up on it, ms. */
export const NOTIFICATION_TIMEOUT_MS = 5_000;
/** Google's notifier identifies itself like this (push guide, "Understanding the notification message format"). */
const NOTIFIER_USER_AGENT = 'APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)';

export interface Delivery {
  state: 'sync' | 'exists';
  messageNumber: number;
  /** HTTP status the receiver answered, 0 when it could not be reached */
  status: number;
  error?: string;
  at: string;
}

export interface Channel {
  id: string;
  resourceId: string;
  resourceUri: string;
  token?: string;
  expirationMs: number;
  address: string;
  owner: string;
  projectNumber: string;
  messageNumber: number;
  stopped: boolean;
  deliveries: Delivery[];
  /** the delivery chain; each POST waits for the previous one of this channel */
  queue: Promise<void>;
}

export function channels(state: EmulatorState): Map<string, Channel> {
  return state.moduleData('calendar.channels', () => new Map<string, Channel>());
}

const pushError = (reason: string, message: string) =>
  apiError('calendar', { code: 400, status: 'INVALID_ARGUMENT', message, reason });

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

export interface WatchRequest {
  id?: unknown;
  type?: unknown;
  address?: unknown;
  token?: unknown;
  expiration?: unknown;
}

/** Creates a channel (validating like Google) and schedules its `sync` message. */
export function openChannel(
  state: EmulatorState,
  owner: string,
  projectNumber: string,
  calendarId: string,
  body: WatchRequest,
): Channel {
  if (typeof body.id !== 'string' || body.id === '') throw calendarError.required('Required: channel id.');
  if (body.id.length > MAX_CHANNEL_ID_LENGTH || !/^[A-Za-z0-9\-_+/=]+$/.test(body.id)) {
    throw pushError(
      'push.channelIdInvalid',
      'Channel ID must match the following regular expression: [A-Za-z0-9\\-_\\+/=]+',
    );
  }
  // Google accepts "web_hook" and its alias "webhook".
  if (body.type !== 'web_hook' && body.type !== 'webhook')
    throw pushError(
      'push.channelTypeNotSupported',
      `Channel type "${String(body.type)}" is not supported; expected web_hook.`,
    );
  let url: URL | undefined;
  try {
    url = typeof body.address === 'string' ? new URL(body.address) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw pushError(
      'push.webhookUrlNoHostOrAddress',
      `WebHook callback must be a valid HTTPS URL, got ${JSON.stringify(body.address)}.`,
    );
  }
  if (!isLoopback(url.hostname)) {
    // The emulator only delivers on this machine; Google's answer to an address it will not call is this reason.
    throw pushError(
      'push.webhookUrlUnauthorized',
      `Unauthorized WebHook callback channel: ${body.address} (the emulator delivers only to loopback addresses: 127.0.0.0/8, localhost, [::1])`,
    );
  }
  const all = channels(state);
  const existing = all.get(body.id);
  if (existing && !existing.stopped) throw pushError('channelIdNotUnique', `Channel id ${body.id} not unique`);

  const settings = calendarSettings(state);
  const now = state.nowMs();
  const maxMs = now + settings.channelMaxTtlSeconds * 1000;
  let expirationMs = now + settings.channelDefaultTtlSeconds * 1000;
  if (body.expiration !== undefined && body.expiration !== null && body.expiration !== '') {
    const asked = Number(body.expiration);
    if (!Number.isFinite(asked))
      throw calendarError.invalid(
        `Invalid expiration: expected milliseconds since the epoch, got ${JSON.stringify(body.expiration)}.`,
      );
    expirationMs = Math.min(asked, maxMs);
  }
  const channel: Channel = {
    id: body.id,
    resourceId: randomBytes(20).toString('base64url').slice(0, 27),
    // Google's resourceUri names its own host; receivers use it only as an opaque label.
    resourceUri: `https://www.googleapis.com/calendar/v3/calendars/${encodeURIComponent(calendarId)}/events?alt=json`,
    token: typeof body.token === 'string' ? body.token : undefined,
    expirationMs,
    address: url.toString(),
    owner,
    projectNumber,
    messageNumber: 0,
    stopped: false,
    deliveries: [],
    queue: Promise.resolve(),
  };
  all.set(channel.id, channel);
  deliver(state, channel, 'sync');
  return channel;
}

/** The Channel resource events.watch answers with. */
export function renderChannel(c: Channel): Record<string, unknown> {
  const out: Record<string, unknown> = {
    kind: 'api#channel',
    id: c.id,
    resourceId: c.resourceId,
    resourceUri: c.resourceUri,
  };
  if (c.token !== undefined) out.token = c.token;
  out.expiration = String(c.expirationMs);
  return out;
}

/** channels.stop: needs the id and resourceId of a channel this project created. */
export function stopChannel(
  state: EmulatorState,
  projectNumber: string,
  body: { id?: unknown; resourceId?: unknown },
): void {
  const c = typeof body.id === 'string' ? channels(state).get(body.id) : undefined;
  if (!c || c.stopped || c.resourceId !== body.resourceId || c.projectNumber !== projectNumber) {
    // [?] wording of Google's 404 for an unknown channel.
    throw apiError('calendar', {
      code: 404,
      status: 'NOT_FOUND',
      message: `Channel '${String(body.id)}' not found for project '${projectNumber}'`,
      reason: 'notFound',
    });
  }
  c.stopped = true;
}

/** Sends `exists` to every live channel watching `owner`'s calendar. */
export function notifyChange(state: EmulatorState, owner: string): void {
  const now = state.nowMs();
  for (const c of channels(state).values()) {
    if (c.owner === owner && !c.stopped && c.expirationMs > now) deliver(state, c, 'exists');
  }
}

function deliver(state: EmulatorState, c: Channel, resourceState: 'sync' | 'exists'): void {
  c.messageNumber += 1;
  const headers: Record<string, string> = {
    'X-Goog-Channel-ID': c.id,
    'X-Goog-Channel-Expiration': new Date(c.expirationMs).toUTCString(),
    'X-Goog-Resource-ID': c.resourceId,
    'X-Goog-Resource-URI': c.resourceUri,
    'X-Goog-Resource-State': resourceState,
    'X-Goog-Message-Number': String(c.messageNumber),
    'User-Agent': NOTIFIER_USER_AGENT,
  };
  if (c.token !== undefined) headers['X-Goog-Channel-Token'] = c.token;
  const messageNumber = c.messageNumber;
  const generation = state.generation;
  c.queue = c.queue.then(async () => {
    // Queued before POST /reset (e.g. behind a slow receiver): the channel no longer exists; send nothing.
    if (state.generation !== generation) return;
    const record: Delivery = { state: resourceState, messageNumber, status: 0, at: state.now().toISOString() };
    try {
      // redirect 'manual': a loopback receiver answering 3xx must not make the emulator POST to wherever Location
      // points (another host would be off this machine). Google's notifier does not follow redirects either [?]; the
      // 3xx is recorded as the delivery status. Node's fetch (undici) hands the 3xx response back as is.
      const res = await fetch(c.address, {
        method: 'POST',
        headers,
        body: '',
        redirect: 'manual',
        signal: AbortSignal.timeout(NOTIFICATION_TIMEOUT_MS),
      });
      record.status = res.status;
      await res.arrayBuffer().catch(() => undefined);
    } catch (e) {
      record.error = (e as Error).message;
    }
    c.deliveries.push(record);
  });
}

/** Channels for the admin API: what was sent where, for debugging a receiver. */
export function describeChannels(state: EmulatorState): unknown[] {
  return [...channels(state).values()].map(({ queue: _q, ...c }) => ({
    ...c,
    expiration: new Date(c.expirationMs).toISOString(),
  }));
}
