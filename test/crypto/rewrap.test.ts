import { randomBytes } from 'node:crypto';
import { Envelope } from '../../src/crypto/envelope';
import { rewrapAllCredentials } from '../../src/crypto/rewrap';
import { AuditLog, ServiceAccountCredential } from '../../src/entities';
import { storeCredential } from '../support/credentials';
import { describeEachDb } from '../support/db';
import { seedBrokerage } from '../support/gateway';

describeEachDb('KEK rotation (keys:rewrap)', (db) => {
  test('re-wraps every data key with the new KEK; secrets still decrypt with only the new KEK', async () => {
    const k1 = { id: 'k1', key: randomBytes(32) };
    const k2 = { id: 'k2', key: randomBytes(32) };
    const a = await seedBrokerage(db().ds, 'a.test');
    const b = await seedBrokerage(db().ds, 'b.test');
    const oldEnv = new Envelope([k1]);
    const rows = [
      await storeCredential(db().ds, oldEnv, a.id, { clientEmail: 'sa@a.iam.test', keyJson: '{"k":"a"}' }),
      await storeCredential(db().ds, oldEnv, b.id, { clientEmail: 'sa@b.iam.test', keyJson: '{"k":"b"}' }),
    ];
    // One corrupted row: reported, left as it was, the others still rotate.
    const broken = await storeCredential(db().ds, oldEnv, b.id, { clientEmail: 'x@b.iam.test', status: 'RETIRED' });
    await db().ds.getRepository(ServiceAccountCredential).update({ id: broken.id }, { brokerageId: a.id });

    const report = await rewrapAllCredentials(db().ds, new Envelope([k2, k1]), 'test');
    expect(report.rewrapped).toBe(2);
    expect(report.failed).toEqual([expect.objectContaining({ credentialId: broken.id, reason: expect.stringMatching(/authentication failed/) })]);

    const newOnly = new Envelope([k2]);
    for (const [row, plain] of [[rows[0], '{"k":"a"}'], [rows[1], '{"k":"b"}']] as const) {
      const stored = await db().ds.getRepository(ServiceAccountCredential).findOneByOrFail({ id: row.id });
      expect(stored.kekId).toBe('k2');
      expect(stored.ciphertext).toBe(row.ciphertext);
      expect(newOnly.decrypt(stored, { brokerageId: row.brokerageId, purpose: 'service-account-key' })).toBe(plain);
    }
    expect((await db().ds.getRepository(ServiceAccountCredential).findOneByOrFail({ id: broken.id })).kekId).toBe('k1');
    const audits = await db().ds.getRepository(AuditLog).findBy({ action: 'credential.kek_rewrapped' });
    expect(audits.map((x) => x.target).sort()).toEqual(rows.map((r) => r.id).sort());
    expect(audits.every((x) => !x.detail!.includes('PRIVATE'))).toBe(true);

    // Running again changes nothing.
    expect((await rewrapAllCredentials(db().ds, new Envelope([k2, k1]), 'test')).rewrapped).toBe(0);
  });
});
