import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { In } from 'typeorm';
import { Envelope } from '../../src/crypto/envelope';
import { rewrapAllCredentials } from '../../src/crypto/rewrap';
import { AuditLog, ServiceAccountCredential } from '../../src/entities';
import { storeCredential } from '../support/credentials';
import { describeEachDb } from '../support/db';
import { seedBrokerage } from '../support/gateway';

/** A service-account key file as Google issues it: real PKCS#8 private-key text in `private_key`. */
function keyFile(email: string): { json: string; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    pem,
    json: JSON.stringify({
      type: 'service_account',
      client_email: email,
      private_key_id: randomBytes(20).toString('hex'),
      private_key: pem,
    }),
  };
}

describeEachDb('KEK rotation (keys:rewrap)', (db) => {
  test('re-wraps every data key with the new KEK; secrets still decrypt with only the new KEK', async () => {
    const k1 = { id: 'k1', key: randomBytes(32) };
    const k2 = { id: 'k2', key: randomBytes(32) };
    const a = await seedBrokerage(db().ds, 'a.test');
    const b = await seedBrokerage(db().ds, 'b.test');
    const oldEnv = new Envelope([k1]);
    const keys = [keyFile('sa@a.iam.test'), keyFile('sa@b.iam.test')];
    const rows = [
      await storeCredential(db().ds, oldEnv, a.id, { clientEmail: 'sa@a.iam.test', keyJson: keys[0].json }),
      await storeCredential(db().ds, oldEnv, b.id, { clientEmail: 'sa@b.iam.test', keyJson: keys[1].json }),
    ];
    // One corrupted row: reported, left as it was, the others still rotate.
    const broken = await storeCredential(db().ds, oldEnv, b.id, { clientEmail: 'x@b.iam.test' });
    await db().ds.getRepository(ServiceAccountCredential).update({ id: broken.id }, { brokerageId: a.id });

    const report = await rewrapAllCredentials(db().ds, new Envelope([k2, k1]), 'test');
    expect(report.rewrapped).toBe(2);
    expect(report.failed).toEqual([
      expect.objectContaining({ credentialId: broken.id, reason: expect.stringMatching(/authentication failed/) }),
    ]);

    const newOnly = new Envelope([k2]);
    for (const [row, plain] of [
      [rows[0], keys[0].json],
      [rows[1], keys[1].json],
    ] as const) {
      const stored = await db().ds.getRepository(ServiceAccountCredential).findOneByOrFail({ id: row.id });
      expect(stored.kekId).toBe('k2');
      expect(stored.ciphertext).toBe(row.ciphertext);
      expect(newOnly.decrypt(stored, { brokerageId: row.brokerageId, purpose: 'service-account-key' })).toBe(plain);
    }
    expect((await db().ds.getRepository(ServiceAccountCredential).findOneByOrFail({ id: broken.id })).kekId).toBe('k1');
    const audits = await db().ds.getRepository(AuditLog).findBy({ action: 'credential.kek_rewrapped' });
    expect(audits.map((x) => x.target).sort()).toEqual(rows.map((r) => r.id).sort());
    // The audit says which KEKs, and nothing of the secrets it re-wrapped: no key text, no key body, no wrapped key.
    for (const audit of audits) {
      expect(audit.detail).not.toContain('PRIVATE');
      for (const k of keys) expect(audit.detail).not.toContain(k.pem.split('\n')[1]);
      expect(JSON.parse(audit.detail!)).toEqual({ from: 'k1', to: 'k2' });
    }

    // Running again changes nothing.
    expect((await rewrapAllCredentials(db().ds, new Envelope([k2, k1]), 'test')).rewrapped).toBe(0);
  });

  test('erased keys (replaced or removed) and retired keys still holding a secret are neither re-wrapped, counted nor failures', async () => {
    await db().clear();
    const k1 = { id: 'k1', key: randomBytes(32) };
    const k2 = { id: 'k2', key: randomBytes(32) };
    const a = await seedBrokerage(db().ds, 'a.test');
    const oldEnv = new Envelope([k1]);
    const repo = db().ds.getRepository(ServiceAccountCredential);
    const inUse = await storeCredential(db().ds, oldEnv, a.id, {
      clientEmail: 'in-use@a.iam.test',
      keyJson: keyFile('in-use@a.iam.test').json,
    });
    // Erased as replacement and removal leave a key: RETIRED, no wrapped key, no ciphertext.
    const erased = await storeCredential(db().ds, oldEnv, a.id, { clientEmail: 'erased@a.iam.test' });
    await repo.update({ id: erased.id }, { status: 'RETIRED', wrappedKey: '', ciphertext: '' });
    // Retired before replaced keys were erased: its secret stays under the old KEK and dies with it.
    const legacy = await storeCredential(db().ds, oldEnv, a.id, {
      clientEmail: 'legacy@a.iam.test',
      status: 'RETIRED',
    });
    const untouched = await repo.find({ where: { id: In([erased.id, legacy.id]) }, order: { clientEmail: 'ASC' } });

    const report = await rewrapAllCredentials(db().ds, new Envelope([k2, k1]), 'test');
    expect({ rewrapped: report.rewrapped, failed: report.failed }).toEqual({ rewrapped: 1, failed: [] });
    expect((await repo.findOneByOrFail({ id: inUse.id })).kekId).toBe('k2');
    expect(await repo.find({ where: { id: In([erased.id, legacy.id]) }, order: { clientEmail: 'ASC' } })).toEqual(
      untouched,
    );
    expect(
      (await db().ds.getRepository(AuditLog).findBy({ action: 'credential.kek_rewrapped' })).map((x) => x.target),
    ).toEqual([inUse.id]);
  });
});
