/**
 * Envelope encryption for secrets at rest (service-account keys).
 *
 * Each record gets a fresh random 256-bit data key (DEK). The secret is
 * encrypted with the DEK (AES-256-GCM); the DEK is encrypted ("wrapped") with a
 * key-encryption key (KEK) from configuration, also AES-256-GCM. Only the
 * wrapped DEK and the KEK's id are stored, so rotating the KEK means
 * re-wrapping the small DEKs (see rewrapAll), never re-encrypting secrets.
 *
 * Both layers bind "additional authenticated data" naming the owner and the
 * purpose (brokerage id + "service-account-key"), so a row copied to another
 * brokerage, or a value moved to another column, fails authentication instead
 * of decrypting. GCM's tag turns any tampering into an error, never garbage.
 *
 * Format: base64(iv[12] | ciphertext | tag[16]); a version prefix "v1." allows
 * a future change of scheme.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { KeyEncryptionKey } from '../config';

const VERSION = 'v1';
const IV_BYTES = 12; // 96-bit nonce, the size GCM is specified for (NIST SP 800-38D §5.2.1.1)
const TAG_BYTES = 16;
const DEK_BYTES = 32; // AES-256

export interface SecretContext {
  brokerageId: string;
  purpose: 'service-account-key';
}

export interface EncryptedSecret {
  kekId: string;
  wrappedKey: string;
  ciphertext: string;
}

export class DecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecryptionError';
  }
}

function aad(ctx: SecretContext, layer: 'data' | 'key', kekId?: string): Buffer {
  const parts = [`engage-gateway/${VERSION}`, layer, `purpose=${ctx.purpose}`, `brokerage=${ctx.brokerageId}`];
  if (kekId) parts.push(`kek=${kekId}`);
  return Buffer.from(parts.join(';'));
}

function seal(key: Buffer, plaintext: Buffer, additional: Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(additional);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64')}`;
}

function open(key: Buffer, sealed: string, additional: Buffer, what: string): Buffer {
  const [version, b64] = sealed.split('.', 2);
  if (version !== VERSION || !b64)
    throw new DecryptionError(`${what}: unknown format (expected "${VERSION}.<base64>")`);
  const raw = Buffer.from(b64, 'base64');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new DecryptionError(`${what}: too short to be a sealed value`);
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
  decipher.setAAD(additional);
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new DecryptionError(
      `${what}: authentication failed (the value was altered, or it belongs to another brokerage or purpose)`,
    );
  }
}

export class Envelope {
  private readonly keks: Map<string, Buffer>;
  private readonly active: KeyEncryptionKey;

  /** `keks`: the active KEK first, then older ones still able to unwrap. */
  constructor(keks: KeyEncryptionKey[]) {
    if (keks.length === 0) throw new Error('Envelope needs at least one key-encryption key');
    for (const k of keks) {
      if (k.key.length !== 32) throw new Error(`key-encryption key "${k.id}" must be 32 bytes (got ${k.key.length})`);
    }
    this.active = keks[0];
    this.keks = new Map(keks.map((k) => [k.id, k.key]));
  }

  get activeKekId(): string {
    return this.active.id;
  }

  encrypt(plaintext: string, ctx: SecretContext): EncryptedSecret {
    const dek = randomBytes(DEK_BYTES);
    try {
      return {
        kekId: this.active.id,
        wrappedKey: seal(this.active.key, dek, aad(ctx, 'key', this.active.id)),
        ciphertext: seal(dek, Buffer.from(plaintext, 'utf8'), aad(ctx, 'data')),
      };
    } finally {
      dek.fill(0);
    }
  }

  decrypt(secret: EncryptedSecret, ctx: SecretContext): string {
    const dek = this.unwrap(secret, ctx);
    try {
      return open(dek, secret.ciphertext, aad(ctx, 'data'), `secret of brokerage ${ctx.brokerageId}`).toString('utf8');
    } finally {
      dek.fill(0);
    }
  }

  /** The same secret with its data key wrapped by the active KEK; the ciphertext is unchanged. */
  rewrap(secret: EncryptedSecret, ctx: SecretContext): EncryptedSecret {
    if (secret.kekId === this.active.id) return secret;
    const dek = this.unwrap(secret, ctx);
    try {
      // Prove the pair still opens before handing back a re-wrapped key.
      open(dek, secret.ciphertext, aad(ctx, 'data'), `secret of brokerage ${ctx.brokerageId}`);
      return {
        kekId: this.active.id,
        wrappedKey: seal(this.active.key, dek, aad(ctx, 'key', this.active.id)),
        ciphertext: secret.ciphertext,
      };
    } finally {
      dek.fill(0);
    }
  }

  private unwrap(secret: EncryptedSecret, ctx: SecretContext): Buffer {
    const kek = this.keks.get(secret.kekId);
    if (!kek) {
      throw new DecryptionError(
        `data key of brokerage ${ctx.brokerageId} is wrapped by key-encryption key "${secret.kekId}", which is not configured (configured: ${[...this.keks.keys()].join(', ')})`,
      );
    }
    return open(kek, secret.wrappedKey, aad(ctx, 'key', secret.kekId), `data key of brokerage ${ctx.brokerageId}`);
  }
}
