/**
 * CallerTokenVerifier remembers the tokens it verified (by their SHA-256) for a minute, so a session's requests do not
 * each check the same signature again. What must not change with it: an expired token is refused, however recently it
 * was verified; a token never verified is checked in full; a refused token is refused again.
 */
import { SignJWT } from 'jose';
import { CallerTokenVerifier } from '../../src/auth/caller-token';
import type { Config } from '../../src/config';

const SECRET = Buffer.from('a-secret-of-the-identity-service-32b!');
const cfg: Config['auth'] = {
  verification: { kind: 'hs256', secret: SECRET },
  issuer: 'https://id.crm.test',
  audience: 'engage-gateway',
  clockToleranceSeconds: 30,
} as Config['auth'];

function token(expSeconds: number, email = 'pat@alpha.test', secret: Buffer = SECRET): Promise<string> {
  return new SignJWT({ email, roles: ['agent'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(cfg.issuer)
    .setAudience(cfg.audience)
    .setExpirationTime(expSeconds)
    .sign(new Uint8Array(secret));
}

describe('verified tokens are remembered, never past their expiry', () => {
  const start = Date.UTC(2026, 11, 1, 12, 0, 0);
  let now = start;
  let verifier: CallerTokenVerifier;
  beforeEach(() => {
    now = start;
    verifier = new CallerTokenVerifier(cfg, () => now);
  });

  test('a token verified once answers the same claims again', async () => {
    const t = await token(start / 1000 + 600);
    const first = await verifier.verify(t);
    expect(first).toEqual({ email: 'pat@alpha.test', roles: ['agent'] });
    expect(await verifier.verify(t)).toEqual(first);
    expect(verifier.verifications).toBe(1);
  });

  test('a remembered token is refused once it expires (exp plus the clock tolerance)', async () => {
    const exp = start / 1000 + 20;
    const t = await token(exp);
    await verifier.verify(t);
    now = (exp + cfg.clockToleranceSeconds) * 1000 - 1;
    await expect(verifier.verify(t)).resolves.toMatchObject({ email: 'pat@alpha.test' });
    expect(verifier.verifications).toBe(1);
    now = (exp + cfg.clockToleranceSeconds) * 1000;
    await expect(verifier.verify(t)).rejects.toMatchObject({
      message: 'bearer token rejected: it has expired',
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });

  test('a refused token is not remembered: refused again, with the same reason', async () => {
    const forged = await token(
      start / 1000 + 600,
      'pat@alpha.test',
      Buffer.from('not-the-identity-service-secret-32b'),
    );
    for (let i = 0; i < 2; i++)
      await expect(verifier.verify(forged)).rejects.toMatchObject({
        message: 'bearer token rejected: its signature does not verify',
      });
    expect(verifier.verifications).toBe(2);
  });

  test('remembered for a minute at most: then verified in full again', async () => {
    const t = await token(start / 1000 + 3600);
    await verifier.verify(t);
    now = start + 59_999;
    await verifier.verify(t);
    expect(verifier.verifications).toBe(1);
    now = start + 60_000;
    await expect(verifier.verify(t)).resolves.toMatchObject({ email: 'pat@alpha.test' });
    expect(verifier.verifications).toBe(2);
  });
});
