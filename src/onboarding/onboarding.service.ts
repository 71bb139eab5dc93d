/**
 * Key submission, verification and rotation for a brokerage's Google
 * service account.
 *
 * - A submitted key is validated (precise message per fault), then verified
 *   by the doctor as the admin's test user. Only a key that verifies is
 *   stored (envelope-encrypted), and only then does it replace the key in
 *   use, in one transaction: a broken new key never displaces a working one.
 * - Re-verification re-runs the checks on the stored key (fresh tokens, not
 *   cached ones) and records the outcome; the key stays in use either way.
 * - Every submission and verification leaves an audit-log row (no secrets).
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { Not } from 'typeorm';
import { recordAudit } from '../audit/audit.service';
import type { Envelope } from '../crypto/envelope';
import { Brokerage, ServiceAccountCredential } from '../entities';
import type { CredentialStatus } from '../entities/service-account-credential.entity';
import { AppError, ErrorCode, badInput } from '../errors';
import type { CredentialStore } from '../google/credential-store';
import type { LoadedCredential } from '../google/google-session';
import { KeyFileError, parseServiceAccountKey } from '../google/service-account-key';
import type { TokenBroker } from '../google/token-broker';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { runDoctor, type CheckResult, type DoctorReport } from './doctor';

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

export class OnboardingService {
  constructor(
    private readonly deps: {
      ds: DataSource;
      envelope: Envelope;
      broker: TokenBroker;
      credentials: CredentialStore;
      google: Config['google'];
      log: Logger;
      /** Stops the brokerage's calendar push channels with a key just removed (still in memory); returns how many. */
      stopChannels?: (brokerageId: string, credential: LoadedCredential) => Promise<number>;
      /** Runs once the key is gone (drops what was read from Google with it, e.g. cached calendar views). */
      afterRemove?: (brokerageId: string) => Promise<void>;
    },
  ) {}

  /**
   * Removes the brokerage's key (offboarding, or a key leaked and revoked in
   * Google): first what needs the key is undone (calendar push channels are
   * stopped), then the row is retired and its ciphertext and wrapped data
   * key erased, so no backup of the database can bring it back. From then
   * on every Google call of the brokerage answers GOOGLE_NOT_CONFIGURED, and
   * queued writes wait for a new key. False when there was no key.
   */
  async remove(who: Actor): Promise<boolean> {
    const row = await this.deps.credentials.inUseRow(this.deps.ds.manager, who.brokerageId);
    if (!row) return false;
    // Decrypted first, while it still can be: stopping the channels below needs the key.
    let loaded: LoadedCredential | null = null;
    try {
      loaded = this.deps.credentials.load(row);
    } catch (err) {
      this.deps.log.warn({ err, brokerageId: who.brokerageId }, 'the key to remove could not be decrypted; its calendar channels will expire by themselves');
    }
    const now = new Date();
    // 1. Out of use everywhere and erased, in one step with its audit row: every replica's next session finds no
    //    key (so no new channel is opened with it), and no crash can leave a retired row still holding the secret.
    const removed = await this.deps.ds.transaction(async (m) => {
      const res = await m.getRepository(ServiceAccountCredential).update({ id: row.id, status: Not('RETIRED') }, { status: 'RETIRED', wrappedKey: '', ciphertext: '', updatedAt: now });
      if (!res.affected) return false; // removed or replaced meanwhile
      await recordAudit(m, { brokerageId: who.brokerageId, actor: who.actor, action: 'credential.removed', target: row.id, detail: { clientEmail: row.clientEmail, clientId: row.clientId, privateKeyId: row.privateKeyId } }, now);
      return true;
    });
    if (!removed) return false;
    // 2. Undo what needs the key (calendar push channels), with the copy still in memory.
    let channelsStopped = 0;
    try {
      channelsStopped = loaded ? ((await this.deps.stopChannels?.(who.brokerageId, loaded)) ?? 0) : 0;
    } catch (err) {
      this.deps.log.warn({ err, brokerageId: who.brokerageId }, 'could not stop every calendar channel of a removed key (they expire by themselves)');
    }
    if (channelsStopped) await this.deps.ds.transaction((m) => recordAudit(m, { brokerageId: who.brokerageId, actor: who.actor, action: 'calendar.channels_stopped', target: row.id, detail: { count: channelsStopped, reason: 'credential.removed' } }));
    this.deps.broker.forgetCredential(row.id);
    this.deps.credentials.forget(row.id);
    await this.deps.afterRemove?.(who.brokerageId);
    this.deps.log.info({ brokerageId: who.brokerageId, credentialId: row.id, channelsStopped }, 'service-account key removed');
    return true;
  }

  async submit(who: Actor, keyJson: string, testEmailRaw: string, onCheck?: (c: CheckResult) => void): Promise<VerificationResult> {
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
    const cred: LoadedCredential = { id, brokerageId: brokerage.id, key: parsed.key, privateKey: parsed.privateKey, grantedScopes: null };
    const report = await runDoctor(this.deps, cred, testEmail, onCheck);
    const now = new Date();
    const publicFace = { clientEmail: parsed.key.client_email, clientId: parsed.key.client_id, privateKeyId: parsed.key.private_key_id, testEmail, grantedScopes: report.grantedScopes };
    const auditDetail = { outcome: report.ok ? 'VERIFIED' : 'CANNOT_BE_VERIFIED', ...publicFace, failed: report.checks.filter((c) => !c.ok).map((c) => `${c.name}:${c.code}`) };

    if (!report.ok) {
      this.deps.broker.forgetCredential(id);
      await this.deps.ds.transaction((m) => recordAudit(m, { brokerageId: brokerage.id, actor: who.actor, action: 'credential.submitted', target: null, detail: auditDetail }, now));
      this.deps.log.info({ brokerageId: brokerage.id, failed: auditDetail.failed }, 'service-account key did not verify; the key in use (if any) is unchanged');
      return { status: 'CANNOT_BE_VERIFIED', checks: report.checks, serviceAccount: { ...publicFace, status: 'CANNOT_BE_VERIFIED', verifiedAt: null } };
    }

    const sealed = this.deps.envelope.encrypt(keyJson, { brokerageId: brokerage.id, purpose: 'service-account-key' });
    const replaced = await this.deps.ds.transaction(async (m) => {
      const repo = m.getRepository(ServiceAccountCredential);
      const old = await repo.find({ where: { brokerageId: brokerage.id, status: Not('RETIRED') }, select: { id: true } });
      if (old.length) await repo.update(old.map((o) => o.id), { status: 'RETIRED', updatedAt: now });
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
      await recordAudit(m, { brokerageId: brokerage.id, actor: who.actor, action: 'credential.submitted', target: id, detail: { ...auditDetail, replaced: old.map((o) => o.id) } }, now);
      return old;
    });
    for (const o of replaced) {
      this.deps.broker.forgetCredential(o.id);
      this.deps.credentials.forget(o.id);
    }
    this.deps.log.info({ brokerageId: brokerage.id, credentialId: id, replaced: replaced.length }, 'service-account key verified and stored');
    return { status: 'VERIFIED', checks: report.checks, serviceAccount: { ...publicFace, status: 'VERIFIED', verifiedAt: now } };
  }

  async reverify(who: Actor, onCheck?: (c: CheckResult) => void): Promise<VerificationResult> {
    const row = await this.deps.credentials.inUseRow(this.deps.ds.manager, who.brokerageId);
    if (!row) {
      throw new AppError(ErrorCode.GOOGLE_NOT_CONFIGURED, 'This brokerage has no service-account key to verify', { remedy: 'Submit the key with submitServiceAccountKey first.' });
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
        { id: row.id, status: Not('RETIRED') },
        {
          status,
          verifiedAt: report.ok ? now : row.verifiedAt,
          // Keep the last known grants when nothing could be learned (e.g. Google unreachable).
          grantedScopes: report.grantedScopes.length || report.ok ? JSON.stringify(report.grantedScopes) : row.grantedScopes,
          lastChecks: JSON.stringify(report.checks),
          updatedAt: now,
        },
      );
      if (!res.affected) {
        throw new AppError(ErrorCode.GOOGLE_NOT_CONFIGURED, 'The key was removed or replaced while it was being verified', { remedy: 'Check serviceAccount; submit a key with submitServiceAccountKey if none is in use.' });
      }
      await recordAudit(m, { brokerageId: who.brokerageId, actor: who.actor, action: 'credential.verified', target: row.id, detail: { outcome: status, testEmail, failed: report.checks.filter((c) => !c.ok).map((c) => `${c.name}:${c.code}`) } }, now);
    });
    return {
      status: report.ok ? 'VERIFIED' : 'CANNOT_BE_VERIFIED',
      checks: report.checks,
      serviceAccount: { clientEmail: row.clientEmail, clientId: row.clientId, privateKeyId: row.privateKeyId, status, verifiedAt: report.ok ? now : row.verifiedAt, testEmail, grantedScopes: report.grantedScopes },
    };
  }

  private validateTestEmail(raw: string, domain: string): string {
    const email = raw.trim().toLowerCase();
    // Before any pattern reads it: length first.
    if (email.length > MAX_EMAIL_CHARS) throw badInput(`The test user must be an email address of at most ${MAX_EMAIL_CHARS} characters (got ${email.length})`, { field: 'testEmail' });
    if (!isEmailAddress(email)) throw badInput(`The test user must be an email address (got "${raw.slice(0, 100)}")`, { field: 'testEmail' });
    if (email.slice(email.lastIndexOf('@') + 1) !== domain) {
      throw badInput(`The test user must be a mailbox of your domain ${domain} (got ${email})`, { field: 'testEmail' });
    }
    return email;
  }
}
