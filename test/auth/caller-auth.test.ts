import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type KeyLike } from 'jose';
import { Agent } from '../../src/entities';
import { describeEachDb } from '../support/db';
import { seedBrokerage, startTestGateway, TEST_JWT_SECRET, type TestGateway } from '../support/gateway';

const ME = '{ me { id email role brokerage { domain } } }';
const ISS = 'https://id.crm.test';
const AUD = 'engage-gateway';

function hsToken(
  claims: Record<string, unknown>,
  opts: { iss?: string; aud?: string; exp?: number | null; secret?: string; alg?: string } = {},
) {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
    .setIssuedAt()
    .setIssuer(opts.iss ?? ISS)
    .setAudience(opts.aud ?? AUD);
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 600);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? TEST_JWT_SECRET));
}

function b64url(o: unknown) {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

describeEachDb('caller authentication', (db) => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway(db().ds);
  });
  afterAll(() => gw.close());
  beforeEach(async () => {
    await db().clear();
    await seedBrokerage(db().ds, 'alpha.test', [{ email: 'known@alpha.test' }]);
  });

  const expectUnauthenticated = async (
    token: string | undefined,
    message: RegExp,
    headers?: Record<string, string>,
  ) => {
    const res = await gw.gql(ME, { token, headers });
    expect(res.body.data ?? null).toBeNull();
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors![0].extensions.code).toBe('UNAUTHENTICATED');
    expect(res.body.errors![0].message).toMatch(message);
    expect(JSON.stringify(res.body)).not.toMatch(/stack|at .*\.ts:\d+/);
    return res;
  };

  test('a valid token resolves the agent and their brokerage', async () => {
    const res = await gw.gql(ME, { token: await hsToken({ email: 'Known@Alpha.test', roles: [] }) });
    expect(res.status).toBe(200);
    expect(res.body.data.me).toMatchObject({
      email: 'known@alpha.test',
      role: 'AGENT',
      brokerage: { domain: 'alpha.test' },
    });
  });

  test('no Authorization header: UNAUTHENTICATED on an operation that needs a caller', async () => {
    await expectUnauthenticated(undefined, /Authorization: Bearer/);
  });

  test('a malformed Authorization header: 401 UNAUTHENTICATED', async () => {
    const res = await expectUnauthenticated(undefined, /must be "Bearer <token>"/, {
      authorization: 'Basic dXNlcjpwYXNz',
    });
    expect(res.status).toBe(401);
  });

  test('garbage in place of a JWT', async () => {
    const res = await expectUnauthenticated('not.a.jwt', /not a well-formed signed JWT/);
    expect(res.status).toBe(401);
  });

  test('expired beyond the clock tolerance is refused; within it accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectUnauthenticated(await hsToken({ email: 'known@alpha.test' }, { exp: now - 120 }), /expired/);
    const ok = await gw.gql(ME, { token: await hsToken({ email: 'known@alpha.test' }, { exp: now - 5 }) });
    expect(ok.body.data?.me.email).toBe('known@alpha.test');
  });

  test('JWT_CLOCK_TOLERANCE_SECONDS sets the leeway on "exp": 0 refuses a token 5 s past it, 200 accepts one 120 s past it', async () => {
    const now = Math.floor(Date.now() / 1000);
    const justExpired = await hsToken({ email: 'known@alpha.test' }, { exp: now - 5 });
    const longExpired = await hsToken({ email: 'known@alpha.test' }, { exp: now - 120 });
    const veryLongExpired = await hsToken({ email: 'known@alpha.test' }, { exp: now - 600 });
    const strict = await startTestGateway(db().ds, { env: { JWT_CLOCK_TOLERANCE_SECONDS: '0' } });
    const lenient = await startTestGateway(db().ds, { env: { JWT_CLOCK_TOLERANCE_SECONDS: '200' } });
    try {
      expect(strict.config.auth.clockToleranceSeconds).toBe(0);
      const refused = await strict.gql(ME, { token: justExpired });
      expect(refused.body.errors?.[0]).toMatchObject({
        extensions: { code: 'UNAUTHENTICATED' },
        message: expect.stringMatching(/expired/),
      });
      expect((await lenient.gql(ME, { token: longExpired })).body.data?.me.email).toBe('known@alpha.test');
      expect((await lenient.gql(ME, { token: veryLongExpired })).body.errors?.[0].message).toMatch(/expired/);
      // The default (30 s) sits between the two.
      expect((await gw.gql(ME, { token: justExpired })).body.data?.me.email).toBe('known@alpha.test');
      expect((await gw.gql(ME, { token: longExpired })).body.errors?.[0].message).toMatch(/expired/);
    } finally {
      await strict.close();
      await lenient.close();
    }
  });

  test('a token without exp is refused', async () => {
    await expectUnauthenticated(await hsToken({ email: 'known@alpha.test' }, { exp: null }), /claim "exp" missing/);
  });

  test('signed with another secret', async () => {
    await expectUnauthenticated(
      await hsToken({ email: 'known@alpha.test' }, { secret: 'x'.repeat(40) }),
      /signature does not verify/,
    );
  });

  test('alg "none" (unsigned) is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ email: 'known@alpha.test', iss: ISS, aud: AUD, iat: now, exp: now + 600 })}.`;
    await expectUnauthenticated(unsigned, /algorithm is not allowed|not a well-formed/);
  });

  test('another algorithm than the configured one (HS512) is refused', async () => {
    await expectUnauthenticated(
      await hsToken({ email: 'known@alpha.test' }, { alg: 'HS512' }),
      /algorithm is not allowed/,
    );
  });

  test('wrong issuer or audience', async () => {
    await expectUnauthenticated(
      await hsToken({ email: 'known@alpha.test' }, { iss: 'https://evil.test' }),
      /claim "iss"/,
    );
    await expectUnauthenticated(await hsToken({ email: 'known@alpha.test' }, { aud: 'someone-else' }), /claim "aud"/);
  });

  test('missing or malformed email / roles claims', async () => {
    await expectUnauthenticated(await hsToken({ roles: [] }), /"email" claim/);
    await expectUnauthenticated(await hsToken({ email: 'not-an-email' }), /"email" claim/);
    await expectUnauthenticated(await hsToken({ email: 'known@alpha.test', roles: 'admin' }), /"roles" claim/);
  });

  test('an email whose domain is no registered brokerage is refused and creates nothing', async () => {
    await expectUnauthenticated(
      await hsToken({ email: 'someone@unknown.test' }),
      /no brokerage is registered for the domain "unknown.test"/,
    );
    expect(await db().ds.getRepository(Agent).countBy({ email: 'someone@unknown.test' })).toBe(0);
  });

  test('first sight of an agent of a registered domain creates exactly one row, even under concurrency', async () => {
    const token = await hsToken({ email: 'new@alpha.test', roles: ['admin'] });
    const results = await Promise.all(Array.from({ length: 20 }, () => gw.gql(ME, { token })));
    for (const r of results) expect(r.body.data?.me).toMatchObject({ email: 'new@alpha.test', role: 'ADMIN' });
    expect(new Set(results.map((r) => r.body.data.me.id)).size).toBe(1);
    expect(await db().ds.getRepository(Agent).countBy({ email: 'new@alpha.test' })).toBe(1);
  });

  test('the role follows the latest token (the identity service is the authority)', async () => {
    await gw.gql(ME, { token: await hsToken({ email: 'known@alpha.test', roles: ['admin'] }) });
    expect((await db().ds.getRepository(Agent).findOneByOrFail({ email: 'known@alpha.test' })).role).toBe('admin');
    const res = await gw.gql(ME, { token: await hsToken({ email: 'known@alpha.test', roles: [] }) });
    expect(res.body.data.me.role).toBe('AGENT');
    expect((await db().ds.getRepository(Agent).findOneByOrFail({ email: 'known@alpha.test' })).role).toBe('agent');
  });

  test('admin-only operation: FORBIDDEN for an agent, allowed for an admin', async () => {
    const q = '{ serviceAccount { clientEmail } }';
    const asAgent = await gw.gql(q, { token: await hsToken({ email: 'known@alpha.test', roles: [] }) });
    expect(asAgent.body.errors?.[0].extensions.code).toBe('FORBIDDEN');
    const asAdmin = await gw.gql(q, { token: await hsToken({ email: 'known@alpha.test', roles: ['admin'] }) });
    expect(asAdmin.body.errors).toBeUndefined();
    expect(asAdmin.body.data).toEqual({ serviceAccount: null });
  });
});

describeEachDb('caller authentication with asymmetric keys', (db) => {
  const asymToken = (key: KeyLike, alg: string, kid?: string) =>
    new SignJWT({ email: 'known@alpha.test', roles: [] })
      .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
      .setIssuedAt()
      .setIssuer(ISS)
      .setAudience(AUD)
      .setExpirationTime('5m')
      .sign(key);

  beforeAll(async () => {
    await seedBrokerage(db().ds, 'alpha.test');
  });

  test.each(['RS256', 'ES256'])('%s with a configured public key', async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg);
    const other = await generateKeyPair(alg);
    const gw = await startTestGateway(db().ds, {
      env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY: await exportSPKI(publicKey) },
    });
    try {
      expect((await gw.gql(ME, { token: await asymToken(privateKey, alg) })).body.data?.me.email).toBe(
        'known@alpha.test',
      );
      expect(
        (await gw.gql(ME, { token: await asymToken(other.privateKey, alg) })).body.errors?.[0].extensions.code,
      ).toBe('UNAUTHENTICATED');
      // Algorithm confusion: an HS256 token "signed" with the public key's text must not pass.
      const confused = await new SignJWT({ email: 'known@alpha.test' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(ISS)
        .setAudience(AUD)
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(await exportSPKI(publicKey)));
      const res = await gw.gql(ME, { token: confused });
      expect(res.body.errors?.[0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
      expect(res.body.errors?.[0].message).toMatch(/algorithm is not allowed/);
    } finally {
      await gw.close();
    }
  });

  test('JWT_ALGORITHMS narrows what a JWKS holding an RSA and an EC key accepts', async () => {
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ];
    const jwks: Server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
    const rs = await asymToken(rsa.privateKey, 'RS256', 'rsa-1');
    const es = await asymToken(ec.privateKey, 'ES256', 'ec-1');
    try {
      for (const [algorithms, accepted, refused] of [
        ['ES256', es, rs],
        ['RS256', rs, es],
      ] as const) {
        const gw = await startTestGateway(db().ds, {
          env: { JWT_SECRET: undefined, JWT_JWKS_URL: url, JWT_ALGORITHMS: algorithms },
        });
        try {
          expect((await gw.gql(ME, { token: accepted })).body.data?.me.email).toBe('known@alpha.test');
          const res = await gw.gql(ME, { token: refused });
          expect(res.body.errors?.[0]).toMatchObject({
            extensions: { code: 'UNAUTHENTICATED' },
            message: `bearer token rejected: its algorithm is not allowed (allowed: ${algorithms})`,
          });
        } finally {
          await gw.close();
        }
      }
      // Unset: both.
      const both = await startTestGateway(db().ds, { env: { JWT_SECRET: undefined, JWT_JWKS_URL: url } });
      try {
        for (const t of [rs, es])
          expect((await both.gql(ME, { token: t })).body.data?.me.email).toBe('known@alpha.test');
      } finally {
        await both.close();
      }
    } finally {
      jwks.close();
    }
  });

  test('RS256 from a JWKS URL', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
    const jwks: Server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
    const gw = await startTestGateway(db().ds, { env: { JWT_SECRET: undefined, JWT_JWKS_URL: url } });
    try {
      expect((await gw.gql(ME, { token: await asymToken(privateKey, 'RS256', 'key-1') })).body.data?.me.email).toBe(
        'known@alpha.test',
      );
      const stranger = await generateKeyPair('RS256');
      const res = await gw.gql(ME, { token: await asymToken(stranger.privateKey, 'RS256', 'key-2') });
      expect(res.body.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
      expect(res.body.errors?.[0].message).toMatch(/no key in the JWKS matches/);
    } finally {
      await gw.close();
      jwks.close();
    }
  });
});
