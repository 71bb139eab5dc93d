/**
 * A mail's MIME is built in worker threads, never on the event loop
 * (issue 12, item 1).
 *
 * Both halves of building are synchronous and grow with the mail:
 * html-to-text (the text alternative of an HTML-only mail) grows faster than
 * its input (measured on the event loop: 2 MB of table rows 7.3 s, 4 MB of
 * paragraphs 4.1 s, 64 KB of table rows ~90 ms) and overflows its stack on
 * deep nesting; MailComposer encodes a body or attachment in one go (a 4 MB
 * HTML part held the loop ~90 ms, a 20 MB attachment ~170 ms). On the event
 * loop that stalled every tenant's requests, `/readyz` and the outbox's lease
 * renewals. So mime.worker.js does both, here:
 * - at most HTML_TEXT_MAX_INPUT_CHARS of the HTML are converted to text (the
 *   HTML part is sent whole; the text ends with TRUNCATED_NOTE), which bounds
 *   the work one mail costs a worker;
 * - MIME_WORKERS workers serve the process, each with a capped heap, so a
 *   heavy mail delays only other mails being built, never requests;
 * - the mails waiting or being built hold at most MAX_PENDING_BUILD_BYTES
 *   per process and MAX_PENDING_BUILD_BYTES_PER_TENANT per brokerage (each
 *   counted at least BUILD_MIN_BYTES): beyond, the build is refused with
 *   RATE_LIMITED and a retryAfterSeconds. Each waiting build holds its mail
 *   in memory; ordinary mails (a few KB to a few hundred) never come near it,
 *   so a brokerage's twenty agents sending at once all go through;
 * - HTML nested too deeply for the converter is `HtmlTooDeepError` (sendMail
 *   answers BAD_USER_INPUT).
 * A worker that dies (its heap cap, a bug) fails only the builds it held and
 * is replaced on next use. Idle workers never keep the process alive.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Options as ComposerOptions } from 'nodemailer/lib/mailer';
import { AppError, ErrorCode } from '../errors';
import { TenantBudget } from '../tenant-budget';

/**
 * HTML beyond this many characters is left out of the derived text alternative (not out of the mail). html-to-text on
 * 256 KiB of table rows takes ~0.4 s in a worker (1 MiB: 1.5 s), so one mail costs a worker at most that.
 */
export const HTML_TEXT_MAX_INPUT_CHARS = 256 * 1024;
/** Bytes of mail (bodies and attachments) waiting or being built at once per process, and per brokerage. */
const MAX_PENDING_BUILD_BYTES = 256 * 1024 * 1024;
const MAX_PENDING_BUILD_BYTES_PER_TENANT = 96 * 1024 * 1024;
/** What the smallest mail counts for (its headers, the worker's copy): 4,096 tiny mails per brokerage at once. */
export const BUILD_MIN_BYTES = 24 * 1024;
/** What a refused build is told: a few builds' time. */
const BUILD_RETRY_AFTER_SECONDS = 5;
/** Mails built at once per process. */
const MIME_WORKERS = 2;
/** Heap of one worker: a 35 MB mail's strings (HTML, its text, the encoded parts) fit with room to spare. */
const WORKER_HEAP_MB = 512;
/** What a derived text alternative ends with when the HTML was longer than the converter is given. */
export const TRUNCATED_NOTE = '\n\n[The rest of this message is in its HTML version.]';

export class HtmlTooDeepError extends Error {
  constructor() {
    super('the HTML is nested too deeply to be converted to text');
    this.name = 'HtmlTooDeepError';
  }
}

/** What a worker answers (mime.worker.js). */
interface Answer {
  id: number;
  value?: unknown;
  mime?: Uint8Array;
  decoded?: { bytes: Uint8Array; hash: Uint8Array }[];
  error?: string;
  index?: number;
}

interface Job {
  id: number;
  resolve(answer: Answer): void;
  reject(err: Error): void;
}

export class BadBase64Error extends Error {
  constructor(readonly index: number) {
    super(`attachment ${index} is not valid base64`);
    this.name = 'BadBase64Error';
  }
}

export class BadJsonError extends Error {
  constructor(readonly reason: 'too_many_values' | 'malformed') {
    super(reason === 'malformed' ? 'malformed JSON' : 'too many values');
    this.name = 'BadJsonError';
  }
}

const asBuffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

class BuildWorker {
  private worker: Worker | null = null;
  private readonly jobs = new Map<number, Job>();

  get load(): number {
    return this.jobs.size;
  }

  run(job: Job, message: object, transfer: ArrayBuffer[]): void {
    const w = this.ensure();
    this.jobs.set(job.id, job);
    w.ref(); // busy: the process waits for its answer
    w.postMessage(message, transfer);
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(join(__dirname, 'mime.worker.js'), {
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    w.unref();
    w.on('message', (m: Answer) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      this.jobs.delete(m.id);
      if (this.jobs.size === 0) w.unref();
      if (m.error === undefined) job.resolve(m);
      else if (m.error === 'too_deep') job.reject(new HtmlTooDeepError());
      else if (m.error === 'bad_base64') job.reject(new BadBase64Error(m.index ?? 0));
      else if (m.error === 'too_many_values' || m.error === 'malformed') job.reject(new BadJsonError(m.error));
      else job.reject(new Error(`the MIME worker failed: ${m.error}`));
    });
    // Every job in the map is this worker's: a new worker is only made once this one is gone.
    const fail = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = null;
      for (const job of this.jobs.values()) job.reject(err);
      this.jobs.clear();
    };
    w.on('error', (err) => fail(err instanceof Error ? err : new Error(String(err))));
    w.on('exit', (code) => fail(new Error(`the MIME worker exited (code ${code})`)));
    this.worker = w;
    return w;
  }

  /** Stops the worker; jobs it held fail (its 'exit' handler), the next job starts a new one. */
  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}

export class MimeBuilder {
  private readonly workers: BuildWorker[];
  private next = 1;
  private running = 0;
  /** Bytes waiting or being worked on, in all and per brokerage. */
  private readonly budget: TenantBudget;

  constructor(
    size = MIME_WORKERS,
    limits = { bytes: MAX_PENDING_BUILD_BYTES, bytesPerTenant: MAX_PENDING_BUILD_BYTES_PER_TENANT },
  ) {
    this.workers = Array.from({ length: size }, () => new BuildWorker());
    this.budget = new TenantBudget(limits.bytes, limits.bytesPerTenant);
  }

  /** Jobs not yet answered (for tests and metrics). */
  get busy(): number {
    return this.running;
  }

  /**
   * The message bytes, built by the least loaded worker. `deriveTextFrom`: the HTML to derive the text part from (an
   * HTML-only mail), else null. Attachment contents are copied to the worker, so the caller's buffers stay usable,
   * unless `handOver`: then those that own their memory are transferred (and empty here afterwards).
   */
  async build(
    options: ComposerOptions,
    deriveTextFrom: string | null,
    tenant: string,
    handOver = false,
  ): Promise<Buffer> {
    const transfer = handOver
      ? (options.attachments ?? [])
          .map((a) => a.content)
          .filter((c): c is Buffer => Buffer.isBuffer(c) && owns(c))
          .map((c) => c.buffer as ArrayBuffer)
      : [];
    const answer = await this.run(
      tenant,
      sizeOf(options, deriveTextFrom),
      {
        kind: 'build',
        options,
        deriveTextFrom,
        maxHtmlChars: HTML_TEXT_MAX_INPUT_CHARS,
        truncatedNote: TRUNCATED_NOTE,
      },
      transfer,
    );
    return asBuffer(answer.mime!);
  }

  /**
   * Attachments' base64, checked (the standard alphabet, padding), decoded and hashed (SHA-256) in a worker: on the
   * event loop this was ~0.2 s for a 26 MB attachment. BadBase64Error names the first one that is not base64.
   */
  async decode(items: string[], tenant: string): Promise<{ bytes: Buffer; hash: Buffer }[]> {
    if (items.length === 0) return [];
    const answer = await this.run(
      tenant,
      items.reduce((n, b) => n + b.length, 0),
      { kind: 'decode', items },
      [],
    );
    return answer.decoded!.map((d) => ({ bytes: asBuffer(d.bytes), hash: asBuffer(d.hash) }));
  }

  /**
   * A large request body parsed in a worker: its values counted first (at most `maxValues`), then JSON.parse. On the
   * event loop, 28 MB took ~0.3 s between decoding, counting and parsing; here the loop pays for copying the result.
   * The body's memory is handed over (it is not needed here afterwards). BadJsonError when it is not to be parsed.
   */
  async parseJson(body: Buffer, maxValues: number, tenant: string): Promise<unknown> {
    const transfer = owns(body) ? [body.buffer as ArrayBuffer] : [];
    return (await this.run(tenant, body.length, { kind: 'parse', body, maxValues }, transfer)).value;
  }

  private async run(tenant: string, size: number, message: object, transfer: ArrayBuffer[]): Promise<Answer> {
    const taken = this.budget.take(tenant, Math.max(BUILD_MIN_BYTES, size));
    if ('full' in taken) {
      throw new AppError(
        ErrorCode.RATE_LIMITED,
        `Too many mails are being built at once${taken.full === 'tenant' ? ' for your brokerage' : ''}; send this one again in ${BUILD_RETRY_AFTER_SECONDS} s`,
        { retryAfterSeconds: BUILD_RETRY_AFTER_SECONDS },
      );
    }
    const worker = this.workers.reduce((a, b) => (b.load < a.load ? b : a));
    const id = this.next++;
    this.running++;
    try {
      return await new Promise<Answer>((resolve, reject) =>
        worker.run({ id, resolve, reject }, { id, ...message }, transfer),
      );
    } finally {
      this.running--;
      taken.release();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

/** A buffer that owns its whole memory (not a slice of Node's pool): it can be handed to a worker. */
const owns = (b: Buffer) =>
  b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;

/** The bytes a build holds: its bodies (the HTML counted once more when its text is derived) and attachments. */
function sizeOf(options: ComposerOptions, deriveTextFrom: string | null): number {
  const text = (v: unknown) => (typeof v === 'string' ? v.length : 0);
  const attachments = (options.attachments ?? []).reduce(
    (n, a) => n + (Buffer.isBuffer(a.content) ? a.content.length : text(a.content)),
    0,
  );
  return text(options.text) + text(options.html) + (deriveTextFrom?.length ?? 0) + attachments;
}

/** The process's builder (workers start on first use). */
export const mimeBuilder = new MimeBuilder();
