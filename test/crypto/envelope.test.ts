import { randomBytes } from 'node:crypto';
import { DecryptionError, Envelope, type EncryptedSecret } from '../../src/crypto/envelope';

const kek = (id: string) => ({ id, key: randomBytes(32) });
const ctx = (brokerageId: string) => ({ brokerageId, purpose: 'service-account-key' as const });
const SECRET = JSON.stringify({
  type: 'service_account',
  private_key: '-----BEGIN PRIVATE KEY-----\nMIIEv...\n-----END PRIVATE KEY-----\n',
});

function flipByte(sealed: string, at: number): string {
  const [v, b64] = sealed.split('.');
  const raw = Buffer.from(b64, 'base64');
  raw[at % raw.length] ^= 0x01;
  return `${v}.${raw.toString('base64')}`;
}

describe('envelope encryption', () => {
  const k1 = kek('k1');
  const env = new Envelope([k1]);

  test('round-trips, and the stored form contains nothing of the plaintext', () => {
    const sealed = env.encrypt(SECRET, ctx('b1'));
    expect(sealed.kekId).toBe('k1');
    expect(env.decrypt(sealed, ctx('b1'))).toBe(SECRET);
    const stored = JSON.stringify(sealed);
    expect(stored).not.toContain('PRIVATE KEY');
    expect(stored).not.toContain(Buffer.from(SECRET).toString('base64').slice(0, 16));
  });

  test('a fresh data key and nonce per record: the same secret encrypts differently each time', () => {
    const a = env.encrypt(SECRET, ctx('b1'));
    const b = env.encrypt(SECRET, ctx('b1'));
    expect(a.wrappedKey).not.toBe(b.wrappedKey);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    // Each record's data key opens only its own ciphertext.
    expect(() => env.decrypt({ ...a, ciphertext: b.ciphertext }, ctx('b1'))).toThrow(DecryptionError);
  });

  test('a row copied to another brokerage fails to decrypt (AAD binds the brokerage)', () => {
    const sealed = env.encrypt(SECRET, ctx('b1'));
    expect(() => env.decrypt(sealed, ctx('b2'))).toThrow(/authentication failed/);
  });

  test.each([
    ['ciphertext', 20],
    ['ciphertext', 3],
    ['wrappedKey', 20],
    ['wrappedKey', -1],
  ] as const)('tampering with %s (byte %i) is an error, never garbage', (field, at) => {
    const sealed = env.encrypt(SECRET, ctx('b1'));
    const raw = Buffer.from(sealed[field].split('.')[1], 'base64');
    const tampered: EncryptedSecret = { ...sealed, [field]: flipByte(sealed[field], at < 0 ? raw.length - 1 : at) };
    expect(() => env.decrypt(tampered, ctx('b1'))).toThrow(DecryptionError);
  });

  test('truncated or foreign-format values are clear errors', () => {
    const sealed = env.encrypt(SECRET, ctx('b1'));
    expect(() => env.decrypt({ ...sealed, ciphertext: 'v1.AAAA' }, ctx('b1'))).toThrow(/too short/);
    expect(() => env.decrypt({ ...sealed, ciphertext: 'v9.AAAA' }, ctx('b1'))).toThrow(/unknown format/);
  });

  test('a data key wrapped by an unconfigured KEK names the missing key id', () => {
    const sealed = new Envelope([kek('old')]).encrypt(SECRET, ctx('b1'));
    expect(() => env.decrypt(sealed, ctx('b1'))).toThrow(/"old", which is not configured \(configured: k1\)/);
  });

  test('a wrapped key relabelled with another configured KEK id fails', () => {
    const k2 = kek('k2');
    const both = new Envelope([k2, k1]);
    const sealed = both.encrypt(SECRET, ctx('b1'));
    expect(() => both.decrypt({ ...sealed, kekId: 'k1' }, ctx('b1'))).toThrow(DecryptionError);
  });

  test('rewrap moves the data key to the active KEK and keeps the ciphertext', () => {
    const old = new Envelope([k1]).encrypt(SECRET, ctx('b1'));
    const k2 = kek('k2');
    const rotated = new Envelope([k2, k1]);
    const next = rotated.rewrap(old, ctx('b1'));
    expect(next.kekId).toBe('k2');
    expect(next.ciphertext).toBe(old.ciphertext);
    expect(new Envelope([k2]).decrypt(next, ctx('b1'))).toBe(SECRET);
    expect(rotated.rewrap(next, ctx('b1'))).toBe(next);
  });

  test('refuses keys that are not 32 bytes', () => {
    expect(() => new Envelope([{ id: 'short', key: randomBytes(16) }])).toThrow(/32 bytes/);
    expect(() => new Envelope([])).toThrow(/at least one/);
  });
});
