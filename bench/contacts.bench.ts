/**
 * Contacts: upstream People calls per unit of work (from the emulator's log),
 * wall times against the in-process emulator, and the throughput of a
 * 50-contact page as a ratio to a trivial authenticated query in the same process.
 */
import { adminCall, benchWorld, throughput, type BenchResult } from './support';

export async function benchContacts(): Promise<BenchResult> {
  const w = await benchWorld();
  const figures: BenchResult['figures'] = {};
  try {
    await adminCall(
      w.emu.url,
      'POST',
      '/users/agent%40demo.test/contacts',
      Array.from({ length: 10_000 }, (_, i) => ({
        names: [{ givenName: `P${i}` }],
        emailAddresses: [{ value: `p${i}@x.test` }],
        phoneNumbers: [{ value: `+1 206 555 ${String(i).padStart(4, '0')}` }],
      })),
    );
    await adminCall(w.emu.url, 'DELETE', '/requests');
    let t = performance.now();
    await w.gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    figures['full sync of 10,000: People calls (connections.list pages + 1 contactGroups.list)'] = await w.calls();
    figures['full sync of 10,000: ms'] = Math.round(performance.now() - t);

    await adminCall(w.emu.url, 'DELETE', '/requests');
    t = performance.now();
    await w.gql('mutation { syncContacts { contacts { lastSyncAt } } }');
    figures['incremental sync, nothing changed: People calls'] = await w.calls();
    figures['incremental sync, nothing changed: ms'] = Math.round(performance.now() - t);

    await adminCall(w.emu.url, 'DELETE', '/requests');
    t = performance.now();
    const made = await w.gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id syncState } }', {
      i: Array.from({ length: 1000 }, (_, i) => ({ givenName: `New${i}`, emails: [{ value: `n${i}@x.test` }] })),
    });
    figures['1,000 creates: write calls'] = await w.calls('people.people.batchCreateContacts');
    figures['1,000 creates: ms until all SYNCED'] = Math.round(performance.now() - t);
    figures['1,000 creates: SYNCED in the answer'] = made.createContacts.filter(
      (c: { syncState: string }) => c.syncState === 'SYNCED',
    ).length;

    await adminCall(w.emu.url, 'DELETE', '/requests');
    const label = (await w.gql('mutation { createContactLabel(name: "Bench") { id } }')).createContactLabel;
    t = performance.now();
    await w.gql('mutation ($l: ID!, $c: [ID!]!) { addContactsToLabel(labelId: $l, contactIds: $c) { memberCount } }', {
      l: label.id,
      c: made.createContacts.map((c: { id: string }) => c.id),
    });
    figures['labelling 1,000 contacts: members.modify calls'] = await w.calls('people.contactGroups.members.modify');
    figures['labelling 1,000 contacts: ms'] = Math.round(performance.now() - t);

    await adminCall(w.emu.url, 'DELETE', '/requests');
    t = performance.now();
    await w.gql('mutation ($ids: [ID!]!) { deleteContacts(ids: $ids) }', {
      ids: made.createContacts.map((c: { id: string }) => c.id),
    });
    figures['1,000 deletes: delete calls'] = await w.calls('people.people.batchDeleteContacts');
    figures['1,000 deletes: guarding etag writes'] = await w.calls('people.people.batchUpdateContacts');
    figures['1,000 deletes: ms'] = Math.round(performance.now() - t);

    await w.ds.query("UPDATE contact_sync SET lastSyncAt = '2000-01-01 00:00:00.000'");
    await adminCall(w.emu.url, 'DELETE', '/requests');
    await Promise.all(Array.from({ length: 100 }, () => w.gql('{ contacts(first: 10) { totalCount } }')));
    figures['100 concurrent reads, stale mirror: sync calls'] = await w.calls();

    const page = await throughput(300, 8, () =>
      w.gql(
        '{ contacts(first: 50) { totalCount edges { node { id displayName emails { value } phones { value } syncState } } } }',
      ),
    );
    const search = await throughput(300, 8, () =>
      w.gql('{ contacts(first: 50, query: "p99") { totalCount edges { node { id } } } }'),
    );
    const baseline = await throughput(300, 8, () => w.gql('{ me { id } }'));
    figures['page of 50 (of 10,000): req/s'] = Math.round(page);
    figures['page of 50: ratio to the baseline { me { id } }'] = (page / baseline).toFixed(2);
    figures['search of 10,000: ratio to the baseline'] = (search / baseline).toFixed(2);
    figures['baseline { me { id } }: req/s'] = Math.round(baseline);
  } finally {
    await w.close();
  }
  return { name: 'contacts (SQLite, in-process emulator)', figures };
}
