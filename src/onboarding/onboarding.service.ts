/**
 * Key submission, verification and rotation for a brokerage's Google
 * service account.
 *
 * - A submitted key is validated (precise message per fault), then verified
 *   by the doctor as the admin's test user. Only a key that verifies is
 *   stored (envelope-encrypted), and only then does it replace the key in
 *   use, in one transaction: a broken new key never displaces a working one.
 * - A key taken out of use (replaced or removed) is erased in the transaction
 *   that takes it out of use: its ciphertext and wrapped data key are emptied,
 *   not only marked RETIRED, so neither the database nor its backups keep it.
 *   Swaps and removals of one brokerage run one after another (lockKeys).
 * - Re-verification re-runs the checks on the stored key (fresh tokens, not
 *   cached ones) and records the outcome; the key stays in use either way.
 * - Every submission and verification leaves an audit-log row (no secrets).
 */
import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { In, Not } from 'typeorm';
import { recordAudit } from '../audit/audit.service';
import type { Envelope } from '../crypto/envelope';
import { Brokerage, CalendarSyncRecord, ContactSyncRecord, OutboxRow, ServiceAccountCredential } from '../entities';
import type { CredentialStatus } from '../entities/service-account-credential.entity';
import { AppError, ErrorCode, badInput } from '../errors';
import type { CredentialStore } from '../google/credential-store';
import { NO_SYNC_ERROR, SETUP_CHECK_CODES } from '../google/feature-health';
import { FEATURE_SCOPES, type Feature } from '../google/scopes';
import type { GoogleSessionOptions, LoadedCredential } from '../google/google-session';
import { KeyFileError, parseServiceAccountKey } from '../google/service-account-key';
import type { TokenBroker } from '../google/token-broker';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { GatewayHooks, Hooks } from '../hooks';
import { runDoctor, type CheckResult, type DoctorReport } from './doctor';
import { seeGuide } from '../google/setup-guide';

export interface Actor {
  brokerageId: string;
  /** Who acts: the caller's email, or e.g. "cli:onboard". */
  actor: string;
}

export interface VerificationResult {
  status: 'VERIFIED' | 'CANNOT_BE_VERIFIED';
  checks: CheckResult[];
  serviceAccount: {
    clientEmail: string;
    clientId: string;
    privateKeyId: string;
    status: CredentialStatus;
    verifiedAt: Date | null;
    testEmail: string | null;
    grantedScopes: string[];
  };
}

/** The longest address SMTP can carry (RFC 5321 §4.5.3.1.3: a 256-octet path less its angle brackets). */
const MAX_EMAIL_CHARS = 254;

/**
 * local@domain with a dotted domain, no spaces, one @, no empty label. Linear by construction (one split, no regular
 * expression that could backtrack), and only ever run on at most MAX_EMAIL_CHARS characters.
 */
function isEmailAddress(email: string): boolean {
  const parts = email.split('@');
  if (parts.length !== 2 || /\s/.test(email)) return false;
  const [local, domain] = parts;
  const labels = domain.split('.');
  return local.length > 0 && labels.length >= 2 && labels.every((l) => l.length > 0);
}

/** What a key taken out of use keeps: its public face only (the secret and its wrapped data key are emptied). */
const ERASED = { status: 'RETIRED', wrappedKey: '', ciphertext: '' } as const;

const holdsSecret = (r: ServiceAccountCredential) =>
  r.status !== 'RETIRED' || r.ciphertext !== '' || r.wrappedKey !== '';

export class OnboardingService {
  constructor(
    private readonly deps: {
      ds: DataSource;
      envelope: Envelope;
      broker: TokenBroker;
      credentials: CredentialStore;
      google: Config['google'] & Pick<GoogleSessionOptions, 'fetch' | 'userAgent'>;
      log: Logger;
      /** credentialRetired: a key just taken out of use, still in memory; credentialRemoved: once it is gone. */
      hooks?: Hooks<GatewayHooks>;
    },
  ) {}

  /**
   * Removes the brokerage's key (offboarding, or a key leaked and revoked in
   * Google): in one transaction with its audit rows, every key of the
   * brokerage that still holds a secret is retired and its ciphertext and
   * wrapped data key erased, so no backup of the database can bring it back.
   * That is normally one key, but a database written before submissions were
   * serialized may hold two in use, and older replaced keys still holding
   * theirs. Then what needed the key is undone with the copy still in memory
   * (calendar push channels are stopped). From then on every Google call of
   * the brokerage answers GOOGLE_NOT_CONFIGURED, and queued writes wait for a
   * new key. False when there was no key in use.
   */
  async remove(who: Actor): Promise<boolean> {
    const now = new Date();
    // Out of use everywhere and erased, in one step with the audit rows: every replica's next session finds no key
    // (so no new channel is opened with it), and no crash can leave a retired row still holding the secret.
    const { erased, inUse, loaded } = await this.deps.ds.transaction(async (m) => {
      const held = await this.lockKeys(m, who.brokerageId);
      const live = held.filter((r) => r.status !== 'RETIRED');
      // Decrypted first, while it still can be: stopping the channels below needs a key. The newest is the one
      // sessions were served (CredentialStore.inUseRow), so the one the channels were opened with.
      let copy: LoadedCredential | null = null;
      for (const row of live) {
        try {
          copy = this.deps.credentials.load(row);
          break;
        } catch (err) {
          this.deps.log.warn(
            { err, brokerageId: who.brokerageId, credentialId: row.id },
            'a key to remove could not be decrypted',
          );
        }
      }
      if (held.length)
        await m
          .getRepository(ServiceAccountCredential)
          .update({ id: In(held.map((r) => r.id)), brokerageId: who.brokerageId }, { ...ERASED, updatedAt: now });
      for (const r of held) {
        await recordAudit(
          m,
          {
            brokerageId: who.brokerageId,
            actor: who.actor,
            action: 'credential.removed',
            target: r.id,
            detail: {
              clientEmail: r.clientEmail,
              clientId: r.clientId,
              privateKeyId: r.privateKeyId,
              status: r.status,
            },
          },
          now,
        );
      }
      return { erased: held, inUse: live, loaded: copy };
    });
    if (!inUse.length) {
      this.forgetAll(erased);
      return false;
    }
    if (!loaded)
      this.deps.log.warn(
        { brokerageId: who.brokerageId },
        'no key to remove could be decrypted; its calendar channels will expire by themselves',
      );
    const channelsStopped = loaded ? await this.stopChannels(who, loaded, 'credential.removed') : 0;
    this.forgetAll(erased);
    await this.deps.hooks?.call('credentialRemoved', { brokerageId: who.brokerageId });
    this.deps.log.info(
      { brokerageId: who.brokerageId, credentialIds: erased.map((r) => r.id), channelsStopped },
      'service-account key removed',
    );
    return true;
  }

  async submit(
    who: Actor,
    keyJson: string,
    testEmailRaw: string,
    onCheck?: (c: CheckResult) => void,
  ): Promise<VerificationResult> {
    const brokerage = await this.deps.ds.getRepository(Brokerage).findOneByOrFail({ id: who.brokerageId });
    const testEmail = this.validateTestEmail(testEmailRaw, brokerage.domain);
    let parsed: ReturnType<typeof parseServiceAccountKey>;
    try {
      parsed = parseServiceAccountKey(keyJson, this.deps.google.allowedTokenUris);
    } catch (err) {
      if (err instanceof KeyFileError) throw badInput(err.message, { fault: err.fault });
      throw err;
    }
    const id = randomUUID();
    const cred: LoadedCredential = {
      id,
      brokerageId: brokerage.id,
      key: parsed.key,
      privateKey: parsed.privateKey,
      grantedScopes: null,
      verifiedAt: null,
    };
    const report = await runDoctor(this.deps, cred, testEmail, onCheck);
    const now = new Date();
    const publicFace = {
      clientEmail: parsed.key.client_email,
      clientId: parsed.key.client_id,
      privateKeyId: parsed.key.private_key_id,
      testEmail,
      grantedScopes: report.grantedScopes,
    };
    const auditDetail = {
      outcome: report.ok ? 'VERIFIED' : 'CANNOT_BE_VERIFIED',
      ...publicFace,
      failed: report.checks.filter((c) => !c.ok).map((c) => `${c.name}:${c.code}`),
    };

    if (!report.ok) {
      this.deps.broker.forgetCredential(id);
      await this.deps.ds.transaction((m) =>
        recordAudit(
          m,
          {
            brokerageId: brokerage.id,
            actor: who.actor,
            action: 'credential.submitted',
            target: null,
            detail: auditDetail,
          },
          now,
        ),
      );
      this.deps.log.info(
        { brokerageId: brokerage.id, failed: auditDetail.failed },
        'service-account key did not verify; the key in use (if any) is unchanged',
      );
      return {
        status: 'CANNOT_BE_VERIFIED',
        checks: report.checks,
        serviceAccount: { ...publicFace, status: 'CANNOT_BE_VERIFIED', verifiedAt: null },
      };
    }

    const sealed = this.deps.envelope.encrypt(keyJson, { brokerageId: brokerage.id, purpose: 'service-account-key' });
    const { erased, previous } = await this.deps.ds.transaction(async (m) => {
      const repo = m.getRepository(ServiceAccountCredential);
      // Every key that still holds a secret is replaced and erased with it (normally the one in use; also a second one
      // the old race left in use, or an older key retired before replaced keys were erased).
      const held = await this.lockKeys(m, brokerage.id);
      const inUse = held.filter((r) => r.status !== 'RETIRED');
      // Calendar push channels belong to the Google Cloud project that opened them, not to a key: Google keeps
      // delivering them after a key change, and channels.stop must come from that project. A new key of the same
      // service account is the same project, so the brokerage's channels go on and are renewed or stopped with the
      // new key as usual. A key of another service account (another project) could not stop them once the old key
      // is gone, and the old project would keep watching the agents' calendars until they expire: they are stopped
      // with the replaced key (the newest, the one sessions were served), decrypted here before it is erased.
      let previous: LoadedCredential | null = null;
      if (inUse[0] && inUse[0].clientId !== parsed.key.client_id) {
        try {
          previous = this.deps.credentials.load(inUse[0]);
        } catch (err) {
          this.deps.log.warn(
            { err, brokerageId: brokerage.id, credentialId: inUse[0].id },
            'the replaced key could not be decrypted; its calendar channels will expire by themselves',
          );
        }
      }
      if (held.length)
        await repo.update({ id: In(held.map((r) => r.id)), brokerageId: brokerage.id }, { ...ERASED, updatedAt: now });
      await repo.insert({
        id,
        brokerageId: brokerage.id,
        status: 'VERIFIED',
        clientEmail: parsed.key.client_email,
        clientId: parsed.key.client_id,
        privateKeyId: parsed.key.private_key_id,
        ...sealed,
        verifiedAt: now,
        testEmail,
        grantedScopes: JSON.stringify(report.grantedScopes),
        lastChecks: JSON.stringify(report.checks),
        createdAt: now,
        updatedAt: now,
      });
      await recordAudit(
        m,
        {
          brokerageId: brokerage.id,
          actor: who.actor,
          action: 'credential.submitted',
          target: id,
          detail: { ...auditDetail, replaced: inUse.map((o) => o.id), erased: held.map((o) => o.id) },
        },
        now,
      );
      return { erased: held, previous };
    });
    if (previous) await this.stopChannels(who, previous, 'credential.replaced');
    this.forgetAll(erased);
    await this.recovered(brokerage.id, now);
    this.deps.log.info(
      { brokerageId: brokerage.id, credentialId: id, erased: erased.length },
      'service-account key verified and stored',
    );
    return {
      status: 'VERIFIED',
      checks: report.checks,
      serviceAccount: { ...publicFace, status: 'VERIFIED', verifiedAt: now },
    };
  }

  async reverify(who: Actor, onCheck?: (c: CheckResult) => void): Promise<VerificationResult> {
    const row = await this.deps.credentials.inUseRow(this.deps.ds.manager, who.brokerageId);
    if (!row) {
      throw new AppError(ErrorCode.GOOGLE_NOT_CONFIGURED, 'This brokerage has no service-account key to verify', {
        remedy: `Submit the key with submitServiceAccountKey first. ${seeGuide('submit')}`,
      });
    }
    const loaded = this.deps.credentials.load(row);
    const testEmail = row.testEmail;
    if (!testEmail) throw badInput('The stored key has no test user; submit it again with submitServiceAccountKey');
    // Fresh tokens: a check that reuses a cached token would not notice a revoked delegation.
    this.deps.broker.forgetCredential(row.id);
    const report: DoctorReport = await runDoctor(this.deps, { ...loaded, grantedScopes: null }, testEmail, onCheck);
    const now = new Date();
    const status: CredentialStatus = report.ok ? 'VERIFIED' : 'CANNOT_BE_VERIFIED';
    await this.deps.ds.transaction(async (m) => {
      // Only while it is still the key in use: a key removed or replaced during the checks stays so.
      const res = await m.getRepository(ServiceAccountCredential).update(
        { id: row.id, brokerageId: row.brokerageId, status: Not('RETIRED') },
        {
          status,
          verifiedAt: report.ok ? now : row.verifiedAt,
          grantedScopes: JSON.stringify(grantsAfter(report, row.grantedScopes)),
          lastChecks: JSON.stringify(report.checks),
          updatedAt: now,
        },
      );
      if (!res.affected) {
        throw new AppError(
          ErrorCode.GOOGLE_NOT_CONFIGURED,
          'The key was removed or replaced while it was being verified',
          { remedy: 'Check serviceAccount; submit a key with submitServiceAccountKey if none is in use.' },
        );
      }
      await recordAudit(
        m,
        {
          brokerageId: who.brokerageId,
          actor: who.actor,
          action: 'credential.verified',
          target: row.id,
          detail: {
            outcome: status,
            testEmail,
            failed: report.checks.filter((c) => !c.ok).map((c) => `${c.name}:${c.code}`),
          },
        },
        now,
      );
    });
    if (report.ok) await this.recovered(who.brokerageId, now);
    return {
      status: report.ok ? 'VERIFIED' : 'CANNOT_BE_VERIFIED',
      checks: report.checks,
      serviceAccount: {
        clientEmail: row.clientEmail,
        clientId: row.clientId,
        privateKeyId: row.privateKeyId,
        status,
        verifiedAt: report.ok ? now : row.verifiedAt,
        testEmail,
        grantedScopes: report.grantedScopes,
      },
    };
  }

  /** recovered(), whose failure must not fail the key's verification (the key is stored): logged instead. */
  private async recovered(brokerageId: string, now: Date): Promise<void> {
    try {
      await recovered(this.deps.ds, brokerageId, now);
    } catch (err) {
      this.deps.log.warn(
        { err, brokerageId },
        'a verified key could not clear old sync errors or make queued writes due; the next syncs and retries do',
      );
    }
  }

  /**
   * Serializes the brokerage's key swaps and removals, then reads its rows that still hold a secret, newest first.
   * MySQL/MariaDB: the brokerage's row is locked (SELECT … FOR UPDATE) until the transaction ends, as its first
   * statement, so a second swap waits here for the first to commit, in any process. Its own reads come after the lock
   * is granted, and InnoDB takes a REPEATABLE READ snapshot at the first non-locking read, not at BEGIN
   * (https://dev.mysql.com/doc/refman/8.0/en/innodb-consistent-read.html): it sees the first swap's rows. Without
   * the lock each read the same "old" rows before the other's insert committed, and both new keys stayed in use.
   * SQLite has no row locks (typeorm refuses the lock mode); its transactions take turns in the process anyway
   * (src/db/sqlite-turns.ts). Several processes on one SQLite file each have their own connection, and SQLite refuses a
   * writer whose read is stale (SQLITE_BUSY): that submission
   * fails rather than act on it.
   */
  private async lockKeys(m: EntityManager, brokerageId: string): Promise<ServiceAccountCredential[]> {
    if (m.connection.options.type !== 'better-sqlite3') {
      await m
        .getRepository(Brokerage)
        .findOne({ where: { id: brokerageId }, select: { id: true }, lock: { mode: 'pessimistic_write' } });
    }
    const rows = await m
      .getRepository(ServiceAccountCredential)
      .find({ where: { brokerageId }, order: { createdAt: 'DESC', id: 'DESC' } });
    return rows.filter(holdsSecret);
  }

  /** Drops this process's copies of these keys: the decrypted key and its tokens. */
  private forgetAll(rows: ServiceAccountCredential[]): void {
    for (const r of rows) {
      this.deps.broker.forgetCredential(r.id);
      this.deps.credentials.forget(r.id);
    }
  }

  /** Stops the brokerage's calendar push channels with a key already out of use (still in memory); audit-logged. */
  private async stopChannels(
    who: Actor,
    key: LoadedCredential,
    reason: 'credential.removed' | 'credential.replaced',
  ): Promise<number> {
    let count = 0;
    try {
      for (const n of (await this.deps.hooks?.call('credentialRetired', {
        brokerageId: who.brokerageId,
        credential: key,
      })) ?? [])
        count += n;
    } catch (err) {
      this.deps.log.warn(
        { err, brokerageId: who.brokerageId },
        'could not stop every calendar channel of a key taken out of use (they expire by themselves)',
      );
    }
    if (count)
      await this.deps.ds.transaction((m) =>
        recordAudit(m, {
          brokerageId: who.brokerageId,
          actor: who.actor,
          action: 'calendar.channels_stopped',
          target: key.id,
          detail: { count, reason },
        }),
      );
    return count;
  }

  private validateTestEmail(raw: string, domain: string): string {
    const email = raw.trim().toLowerCase();
    // Before any pattern reads it: length first.
    if (email.length > MAX_EMAIL_CHARS)
      throw badInput(
        `The test user must be an email address of at most ${MAX_EMAIL_CHARS} characters (got ${email.length})`,
        { field: 'testEmail' },
      );
    if (!isEmailAddress(email))
      throw badInput(`The test user must be an email address (got "${raw.slice(0, 100)}")`, { field: 'testEmail' });
    if (email.slice(email.lastIndexOf('@') + 1) !== domain) {
      throw badInput(`The test user must be a mailbox of your domain ${domain} (got ${email})`, { field: 'testEmail' });
    }
    return email;
  }
}

/**
 * The scopes a re-verification leaves granted: those it got tokens for, and the earlier ones whose token check failed
 * for another reason than the setup (Google unreachable, rate limited): a passing hiccup must not take a feature away
 * from every agent until the next verification (GoogleSession refuses a scope it does not hold).
 */
function grantsAfter(report: DoctorReport, previous: string | null): string[] {
  if (report.ok || !previous) return report.grantedScopes;
  const refused = new Set<string>();
  for (const c of report.checks) {
    if (c.name.startsWith('token:') && !c.ok && c.code !== null && SETUP_CHECK_CODES.has(c.code)) {
      for (const scope of FEATURE_SCOPES[c.name.slice('token:'.length) as Feature] ?? []) refused.add(scope);
    }
  }
  return [...new Set([...report.grantedScopes, ...(JSON.parse(previous) as string[]).filter((s) => !refused.has(s))])];
}

/**
 * A key that verified serves the brokerage again: the setup errors its syncs recorded while it could not are no longer
 * true (a sync still failing records its own again; other errors stay until the next sync), and writes queued
 * meanwhile, backing off for minutes, are due now. After the key's transaction: these touch rows of many agents.
 */
async function recovered(ds: DataSource, brokerageId: string, now: Date): Promise<void> {
  const setup = { brokerageId, lastErrorCode: ErrorCode.GOOGLE_NOT_CONFIGURED };
  await ds.getRepository(ContactSyncRecord).update(setup, NO_SYNC_ERROR);
  await ds.getRepository(CalendarSyncRecord).update(setup, NO_SYNC_ERROR);
  await ds
    .createQueryBuilder()
    .update(OutboxRow)
    .set({ nextAttemptAt: now })
    .where('brokerageId = :brokerageId AND status = :pending AND nextAttemptAt > :now', {
      brokerageId,
      pending: 'PENDING',
      now,
    })
    .execute();
}
