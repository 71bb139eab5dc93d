/**
 * Real client libraries against a running gateway (issue 15, item 5): the front end's flows through Apollo Client 4
 * (core, InMemoryCache, relay-style pagination with fetchMore), the same reads through urql's core, and a mobile
 * app's flow as Apollo iOS/Kotlin speak it (a persisted query over GET by hash only, a mutation whose first answer
 * is lost and is sent again with its idempotency key, then the change feed since the last cursor).
 *
 * Where the schema was uncomfortable for a normalized cache it was fixed: the sync statuses and the service account
 * had no id, so two views asking for different parts of syncStatus overwrote each other in Apollo's cache (the
 * first view read back null).
 */
import { ApolloClient, CombinedGraphQLErrors, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { relayStylePagination } from '@apollo/client/utilities';
import { cacheExchange, Client as UrqlClient, fetchExchange, gql as urqlGql } from '@urql/core';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { print } from 'graphql';
import { MANIFEST_FORMAT, sha256Hex } from '../../src/http/persisted-operations';
import { describeEachDb } from '../support/db';
import { until } from '../support/wait';
import { startTestGateway } from '../support/gateway';
import { deliveryDone, FAST_OUTBOX_ENV, resetContacts, startWorld, type World } from '../support/world';

const AGENT = 'agent@alpha.test';

const CONTACTS = gql`
  query Contacts($first: Int!, $after: String) {
    contacts(first: $first, after: $after) {
      totalCount
      edges {
        cursor
        node {
          id
          displayName
          etag
          syncState
          emails {
            value
            type
          }
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`;

const CREATE = gql`
  mutation CreateContact($input: ContactInput!, $key: String) {
    createContact(input: $input, idempotencyKey: $key) {
      id
      displayName
      etag
      syncState
      emails {
        value
        type
      }
    }
  }
`;

describeEachDb('real clients', (db) => {
  let w: World;
  let token: string;

  beforeAll(async () => {
    w = await startWorld(db());
    token = await w.token(AGENT);
  });
  afterAll(() => w.close());
  beforeEach(async () => {
    await resetContacts(w, db(), AGENT);
  });

  const seed = async (n: number) => {
    const r = await w.gw.gql('mutation ($i: [ContactInput!]!) { createContacts(input: $i) { id } }', {
      token,
      variables: {
        i: Array.from({ length: n }, (_, i) => ({
          givenName: `Client ${String(i).padStart(2, '0')}`,
          emails: [{ value: `client${i}@buyers.test`, type: 'home' }],
        })),
      },
    });
    if (r.body.errors) throw new Error(JSON.stringify(r.body.errors));
  };

  const apollo = () =>
    new ApolloClient({
      link: new HttpLink({ uri: w.gw.graphqlUrl, headers: { authorization: `Bearer ${token}` } }),
      cache: new InMemoryCache({ typePolicies: { Query: { fields: { contacts: relayStylePagination(['query']) } } } }),
    });

  test('Apollo Client: pages through contacts with fetchMore, a created contact joins the cached list, an update reaches it by id', async () => {
    await seed(12);
    const client = apollo();
    // A list view: a watched query, paged with fetchMore; relayStylePagination merges the pages in the cache.
    const list = client.watchQuery<any>({ query: CONTACTS, variables: { first: 5 } });
    const shown: number[] = [];
    const sub = list.subscribe({ next: (r) => r.data?.contacts && shown.push(r.data.contacts.edges.length) });
    try {
      const first = await client.query<any>({ query: CONTACTS, variables: { first: 5 } });
      expect(first.data.contacts.edges).toHaveLength(5);
      let page = first.data.contacts.pageInfo;
      while (page.hasNextPage) {
        const more = await list.fetchMore<any>({ variables: { after: page.endCursor } });
        page = more.data.contacts.pageInfo;
      }
      await until(
        'the view shows every page',
        async () => shown.at(-1),
        (n) => n === 12,
      );
    } finally {
      sub.unsubscribe();
    }
    const cached = () => client.readQuery<any>({ query: CONTACTS, variables: { first: 5 } })!.contacts;
    expect(cached().edges.map((e: { node: { displayName: string } }) => e.node.displayName)).toEqual(
      Array.from({ length: 12 }, (_, i) => `Client ${String(i).padStart(2, '0')}`),
    );

    // A new contact, appended to the cached list as a front end does after its mutation.
    const made = await client.mutate<any>({
      mutation: CREATE,
      variables: { input: { givenName: 'Zed', emails: [{ value: 'zed@buyers.test' }] }, key: 'web-create-1' },
      update(cache, { data }) {
        cache.modify({
          fields: {
            contacts(existing: any) {
              const node = cache.writeFragment({
                data: data!.createContact,
                fragment: gql`
                  fragment New on Contact {
                    id
                    displayName
                    etag
                    syncState
                    emails {
                      value
                      type
                    }
                  }
                `,
              });
              return { ...existing, edges: [...existing.edges, { __typename: 'ContactEdge', cursor: 'new', node }] };
            },
          },
        });
      },
    });
    expect(made.data!.createContact).toMatchObject({ displayName: 'Zed', syncState: 'SYNCED' });
    expect(
      cached()
        .edges.map((e: { node: { displayName: string } }) => e.node.displayName)
        .at(-1),
    ).toBe('Zed');

    // An update's answer is normalized by id: the list shows it without being read again.
    const target = cached().edges[0].node;
    await client.mutate({
      mutation: gql`
        mutation Rename($id: ID!, $etag: String) {
          updateContact(id: $id, input: { familyName: "Renamed", etag: $etag }) {
            id
            displayName
            etag
            syncState
          }
        }
      `,
      variables: { id: target.id, etag: target.etag },
    });
    expect(cached().edges[0].node.displayName).toBe('Client 00 Renamed');
  });

  test('Apollo Client: two views asking for different parts of the sync status and of the caller both stay in the cache', async () => {
    const client = apollo();
    const BADGE = gql`
      query Badge {
        syncStatus {
          id
          contacts {
            id
            pendingChanges
            failedChanges
          }
        }
        me {
          id
          email
          brokerage {
            id
            name
          }
        }
      }
    `;
    const PANEL = gql`
      query Panel {
        syncStatus {
          id
          contacts {
            id
            lastSyncAt
          }
          calendar {
            id
            lastSyncAt
          }
          mail {
            id
            queued
          }
        }
        me {
          id
          brokerage {
            id
            domain
          }
        }
      }
    `;
    await client.query({ query: BADGE });
    await client.query({ query: PANEL });
    const badge = client.readQuery<any>({ query: BADGE });
    expect(badge).toMatchObject({
      syncStatus: { contacts: { pendingChanges: 0, failedChanges: 0 } },
      me: { email: AGENT, brokerage: { name: expect.any(String) } },
    });
    expect(client.readQuery<any>({ query: PANEL })?.syncStatus.mail).toMatchObject({ queued: 0 });
  });

  test('Apollo Client: a mail sent twice with one idempotency key is one mail; a typed error is a CombinedGraphQLErrors with our code', async () => {
    const client = apollo();
    const SEND = gql`
      mutation Send($key: String) {
        sendMail(input: { to: ["zoe@buyers.test"], subject: "Viewing", text: "Saturday?", idempotencyKey: $key }) {
          id
          status
          threadId
        }
      }
    `;
    const a = await client.mutate<any>({ mutation: SEND, variables: { key: 'web-mail-1' } });
    const b = await client.mutate<any>({ mutation: SEND, variables: { key: 'web-mail-1' } });
    expect(b.data!.sendMail.id).toBe(a.data!.sendMail.id);
    expect(a.data!.sendMail.status).toBe('SENT');
    expect(
      (await w.admin.messages(AGENT)).filter((m: { raw?: string }) =>
        Buffer.from(m.raw ?? '', 'base64url')
          .toString()
          .includes('Subject: Viewing'),
      ),
    ).toHaveLength(1);

    const err = await client.query({ query: CONTACTS, variables: { first: 1000 } }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(CombinedGraphQLErrors.is(err)).toBe(true);
    expect((err as CombinedGraphQLErrors).errors[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'first',
    });
  });

  test('urql: the same pages with its own conventions (operation results, CombinedError)', async () => {
    await seed(7);
    const client = new UrqlClient({
      url: w.gw.graphqlUrl,
      exchanges: [cacheExchange, fetchExchange],
      fetchOptions: () => ({ headers: { authorization: `Bearer ${token}` } }),
      requestPolicy: 'network-only',
    });
    const names: string[] = [];
    let after: string | null = null;
    for (;;) {
      const r: any = await client.query(urqlGql(print(CONTACTS)), { first: 3, after }).toPromise();
      expect(r.error).toBeUndefined();
      names.push(...r.data.contacts.edges.map((e: { node: { displayName: string } }) => e.node.displayName));
      if (!r.data.contacts.pageInfo.hasNextPage) break;
      after = r.data.contacts.pageInfo.endCursor;
    }
    expect(names).toEqual(Array.from({ length: 7 }, (_, i) => `Client ${String(i).padStart(2, '0')}`));
    const bad = await client.query(urqlGql(print(CONTACTS)), { first: 0 }).toPromise();
    expect(bad.error?.graphQLErrors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });

  test('a mobile app: a persisted query by hash over GET, a create whose answer is lost sent again with its key, then the feed since its cursor', async () => {
    await seed(3);
    // The app's build generated its manifest; the gateway was deployed with it, and requires it.
    const ops = {
      Feed: 'query Feed($after: String) { contactChanges(after: $after, first: 50) { edges { node { contactId deleted contact { id displayName } } } pageInfo { endCursor } } }',
      CreateContact: print(CREATE),
    };
    const dir = mkdtempSync(join(tmpdir(), 'engage-manifest-'));
    const manifest = join(dir, 'manifest.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        format: MANIFEST_FORMAT,
        version: 1,
        operations: Object.entries(ops).map(([name, body]) => ({
          id: sha256Hex(body),
          body,
          name,
          type: body.startsWith('mutation') ? 'mutation' : 'query',
        })),
      }),
    );
    // A replica deployed with the manifest, on the same database and Google.
    const gw = await startTestGateway(db().ds, {
      env: {
        GOOGLE_API_ROOT_URL: `${w.emu.url}/`,
        GOOGLE_TOKEN_URIS: `${w.emu.url}/token`,
        ...FAST_OUTBOX_ENV,
        PERSISTED_OPERATIONS_FILE: manifest,
        PERSISTED_OPERATIONS: 'require',
      },
    });
    const app = { gw, close: () => gw.close() };
    try {
      const t = await gw.token(AGENT);
      const auth = { authorization: `Bearer ${t}`, 'x-apollo-operation-name': '' };
      const byHash = async (name: keyof typeof ops, variables: Record<string, unknown>, method: 'GET' | 'POST') => {
        const extensions = { persistedQuery: { version: 1, sha256Hash: sha256Hex(ops[name]) } };
        const res =
          method === 'GET'
            ? await fetch(
                `${app.gw.graphqlUrl}?${new URLSearchParams({ operationName: name, variables: JSON.stringify(variables), extensions: JSON.stringify(extensions) })}`,
                { headers: { ...auth, 'x-apollo-operation-name': name } },
              )
            : await fetch(app.gw.graphqlUrl, {
                method: 'POST',
                headers: { ...auth, 'x-apollo-operation-name': name, 'content-type': 'application/json' },
                body: JSON.stringify({ operationName: name, variables, extensions }),
              });
        return { status: res.status, body: (await res.json()) as any };
      };

      // Start of day: the feed from the start, by hash over GET (no document text anywhere).
      const start = await byHash('Feed', { after: null }, 'GET');
      expect(start.status).toBe(200);
      expect(start.body.data.contactChanges.edges).toHaveLength(3);
      const cursor = start.body.data.contactChanges.pageInfo.endCursor;
      // An ad-hoc document is refused: only what the app shipped runs.
      const adHoc = await fetch(app.gw.graphqlUrl, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ me { email } }' }),
      });
      expect(((await adHoc.json()) as any).errors[0].extensions).toMatchObject({
        code: 'FORBIDDEN',
        reason: 'persisted_operation_required',
      });

      // On the train: the create's answer never arrives; the app sends it again with the same key.
      const input = {
        input: { givenName: 'Train', emails: [{ value: 'train@buyers.test' }] },
        key: 'ios-7F3A-create-1',
      };
      const lost = await byHash('CreateContact', input, 'POST'); // the app never sees this answer
      const retried = await byHash('CreateContact', input, 'POST');
      expect(retried.body.data.createContact.id).toBe(lost.body.data.createContact.id);

      // Back online: the feed since the cursor holds exactly the new contact (in its latest state).
      await deliveryDone(db());
      const since = await byHash('Feed', { after: cursor }, 'GET');
      expect(
        since.body.data.contactChanges.edges.map((e: any) => [
          e.node.contactId,
          e.node.deleted,
          e.node.contact?.displayName,
        ]),
      ).toEqual([[retried.body.data.createContact.id, false, 'Train']]);
      // One contact in the mirror and in Google, one create call.
      expect(
        (
          await w.admin.request<Array<{ names?: Array<{ givenName?: string }> }>>('GET', `/users/${AGENT}/contacts`)
        ).body.filter((p) => p.names?.[0]?.givenName === 'Train'),
      ).toHaveLength(1);
      expect(Number((await db().ds.query("SELECT COUNT(*) AS n FROM contact WHERE givenName = 'Train'"))[0].n)).toBe(1);
    } finally {
      await app.close();
    }
  });
});
