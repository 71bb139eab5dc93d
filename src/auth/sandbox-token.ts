import { SignJWT } from 'jose';
import type { Config } from '../config';
import { ADMIN_ROLE } from './caller';

/** A caller token signed with the gateway's own HS256 secret: for the sandbox and tests only. */
export async function signSandboxToken(
  auth: Config['auth'],
  email: string,
  opts: { admin?: boolean; ttlSeconds?: number } = {},
): Promise<string> {
  if (auth.verification.kind !== 'hs256') {
    throw new Error(
      'sandbox tokens need JWT_SECRET (HS256); with a public key or JWKS, tokens come from your identity service',
    );
  }
  return new SignJWT({ email, roles: opts.admin ? [ADMIN_ROLE] : [] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(email)
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setIssuedAt()
    .setExpirationTime(`${opts.ttlSeconds ?? 12 * 3600}s`)
    .sign(new Uint8Array(auth.verification.secret));
}
