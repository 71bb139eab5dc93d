/**
 * One brokerage can never see or touch another's data. Every operation of
 * the API has a probe here, run for callers of two brokerages that each have
 * a verified key; a test fails when an operation exists without a probe.
 */
import { startEmulator, type RunningEmulator } from 'google-workspace-emulator';
import { GUIDE_SCOPES } from '../../src/google/scopes';
import { buildGatewaySchema } from '../../src/schema';
import { describeEachDb } from '../support/db';
import { seedBrokerage, startTestGateway, type TestGateway } from '../support/gateway';
import { EmulatorAdmin, type Tenant } from '../support/google';
import { until } from '../support/wait';
import { FAST_OUTBOX_ENV } from '../support/world';

const DOMAINS = ['alpha.test', 'beta.test'] as const;
type Domain = (typeof DOMAINS)[number];

interface World {
  gw: TestGateway;
  admin: EmulatorAdmin;
  tenants: Record<Domain, Tenant>;
  /** The id of the one contact each brokerage's agent has. */
  contacts: Record<Domain, string>;
  /** The id of the one event each brokerage's agent has. */
  events: Record<Domain, string>;
  /** The id of a mail each brokerage's agent sent. */
  mails: Record<Domain, string>;
  token(domain: Domain): Promise<string>;
  agentToken(domain: Domain): Promise<string>;
}

const SA = '{ serviceAccount { clientEmail status } }';

/** Each probe runs as the admin of `domain` and asserts that only `domain`'s data was seen or changed. */
const PROBES: Record<string, (w: World, domain: Domain, other: Domain) => Promise<void>> = {
  'Query.me': async (w, domain) => {
    const res = await w.gw.gql('{ me { email brokerage { domain } } }', { token: await w.token(domain) });
    expect(res.body.data.me).toEqual({ email: `admin@${domain}`, brokerage: { domain } });
  },
  'Query.serviceAccount': async (w, domain) => {
    const res = await w.gw.gql(SA, { token: await w.token(domain) });
    expect(res.body.data.serviceAccount).toEqual({
      clientEmail: w.tenants[domain].key.client_email,
      status: 'VERIFIED',
    });
  },
  'Mutation.verifyServiceAccount': async (w, domain) => {
    const res = await w.gw.gql('mutation { verifyServiceAccount { status serviceAccount { clientEmail } } }', {
      token: await w.token(domain),
    });
    expect(res.body.data.verifyServiceAccount).toEqual({
      status: 'VERIFIED',
      serviceAccount: { clientEmail: w.tenants[domain].key.client_email },
    });
  },
  'Mutation.submitServiceAccountKey': async (w, domain, other) => {
    const submit = async (key: unknown, email: string) =>
      w.gw.gql(
        'mutation ($k: String!, $e: String!) { submitServiceAccountKey(keyJson: $k, testEmail: $e) { status serviceAccount { clientEmail } } }',
        {
          token: await w.token(domain),
          variables: { k: JSON.stringify(key), e: email },
        },
      );
    // Acting on the other brokerage's users is refused before anything happens.
    expect((await submit(w.tenants[other].key, `user@${other}`)).body.errors?.[0].extensions.code).toBe(
      'BAD_USER_INPUT',
    );
    // Re-submitting its own key changes only its own brokerage.
    expect((await submit(w.tenants[domain].key, `user@${domain}`)).body.data.submitServiceAccountKey.status).toBe(
      'VERIFIED',
    );
    const otherView = await w.gw.gql(SA, { token: await w.token(other) });
    expect(otherView.body.data.serviceAccount.clientEmail).toBe(w.tenants[other].key.client_email);
  },
  'Mutation.sendMail': async (w, domain, other) => {
    // Sent as the caller's own mailbox, whoever the recipients are; a reply to the other brokerage's mail is NOT_FOUND.
    const res = await w.gw.gql('mutation ($i: SendMailInput!) { sendMail(input: $i) { id from status } }', {
      token: await w.agentToken(domain),
      variables: { i: { to: [`user@${other}`], subject: `probe from ${domain}`, text: '.' } },
    });
    expect(res.body.data.sendMail).toMatchObject({ from: `user@${domain}`, status: 'SENT' });
    const foreign = await w.gw.gql('mutation ($i: SendMailInput!) { sendMail(input: $i) { id } }', {
      token: await w.agentToken(domain),
      variables: { i: { to: [`user@${domain}`], text: '.', replyToMailId: w.mails[other] } },
    });
    expect(foreign.body.errors?.[0].extensions.code).toBe('NOT_FOUND');
  },
  'Query.sentMail': async (w, domain, other) => {
    const ids = (
      await w.gw.gql('{ sentMail(first: 200) { edges { node { id from } } } }', { token: await w.agentToken(domain) })
    ).body.data.sentMail.edges.map((e: { node: { id: string; from: string } }) => e.node);
    expect(ids.map((n: { id: string }) => n.id)).toContain(w.mails[domain]);
    expect(ids.map((n: { id: string }) => n.id)).not.toContain(w.mails[other]);
    expect(new Set(ids.map((n: { from: string }) => n.from))).toEqual(new Set([`user@${domain}`]));
  },
  'Query.mail': async (w, domain, other) => {
    const q = 'query ($id: ID!) { mail(id: $id) { id } }';
    expect(
      (await w.gw.gql(q, { token: await w.agentToken(domain), variables: { id: w.mails[domain] } })).body.data.mail,
    ).toEqual({ id: w.mails[domain] });
    expect(
      (await w.gw.gql(q, { token: await w.agentToken(domain), variables: { id: w.mails[other] } })).body.data.mail,
    ).toBeNull();
    // Not even the brokerage's admin sees an agent's mail: mail is the agent's own.
    expect(
      (await w.gw.gql(q, { token: await w.token(domain), variables: { id: w.mails[domain] } })).body.data.mail,
    ).toBeNull();
  },
  'Mutation.removeServiceAccountKey': async (w, domain, other) => {
    try {
      await removalProbe(w, domain, other);
    } finally {
      // Put the key back for the probes that follow, whatever happened.
      const back = await w.gw.gql(
        'mutation ($k: String!, $e: String!) { submitServiceAccountKey(keyJson: $k, testEmail: $e) { status } }',
        {
          token: await w.token(domain),
          variables: { k: JSON.stringify(w.tenants[domain].key), e: `user@${domain}` },
        },
      );
      expect(back.body.data.submitServiceAccountKey.status).toBe('VERIFIED');
    }
  },
};

async function removalProbe(w: World, domain: Domain, other: Domain): Promise<void> {
  {
    const res = await w.gw.gql('mutation { removeServiceAccountKey }', { token: await w.token(domain) });
    expect(res.body.data.removeServiceAccountKey).toBe(true);
    expect((await w.gw.gql(SA, { token: await w.token(domain) })).body.data.serviceAccount).toBeNull();
    // The other brokerage keeps its key and its Google access.
    expect((await w.gw.gql(SA, { token: await w.token(other) })).body.data.serviceAccount).toEqual({
      clientEmail: w.tenants[other].key.client_email,
      status: 'VERIFIED',
    });
    const view = '{ events(from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z") { totalCount } }';
    expect((await w.gw.gql(view, { token: await w.agentToken(domain) })).body.errors?.[0].extensions.code).toBe(
      'GOOGLE_NOT_CONFIGURED',
    );
    expect((await w.gw.gql(view, { token: await w.agentToken(other) })).body.data.events.totalCount).toBe(1);
  }
}

/**
 * Contacts: each brokerage's agent has one contact; a probe must see only its own, and get NOT_FOUND (never FORBIDDEN)
 * for the other's.
 */
const CONTACT = '{ id displayName }';
const ownContact = async (w: World, d: Domain) =>
  (
    await w.gw.gql(`{ contacts { edges { node ${CONTACT} } } }`, { token: await w.agentToken(d) })
  ).body.data.contacts.edges.map((e: { node: unknown }) => e.node);
const codeOf = (res: { body: { errors?: { extensions: { code: string } }[] } }) =>
  res.body.errors?.[0]?.extensions.code;

Object.assign(PROBES, {
  'Query.contacts': async (w: World, domain: Domain) => {
    expect(await ownContact(w, domain)).toEqual([{ id: w.contacts[domain], displayName: `Client of ${domain}` }]);
  },
  'Query.contactChanges': async (w: World, domain: Domain, other: Domain) => {
    const t = await w.agentToken(domain);
    const ids = (
      await w.gw.gql('{ contactChanges(first: 500) { edges { node { contactId contact { id } } } } }', { token: t })
    ).body.data.contactChanges.edges.map((e: { node: { contactId: string } }) => e.node.contactId);
    expect(ids).toContain(w.contacts[domain]);
    expect(ids).not.toContain(w.contacts[other]);
    // Another agent's cursor is only positions: read with it, the caller still sees only its own contacts.
    const theirs = (
      await w.gw.gql('{ contactChanges(first: 1) { pageInfo { endCursor } } }', { token: await w.agentToken(other) })
    ).body.data.contactChanges.pageInfo.endCursor;
    const after = (
      await w.gw.gql('query ($a: String) { contactChanges(first: 500, after: $a) { edges { node { contactId } } } }', {
        token: t,
        variables: { a: theirs },
      })
    ).body;
    expect(
      (after.data?.contactChanges.edges ?? []).map((e: { node: { contactId: string } }) => e.node.contactId),
    ).not.toContain(w.contacts[other]);
  },
  'Query.contact': async (w: World, domain: Domain, other: Domain) => {
    const t = await w.agentToken(domain);
    expect(
      (
        await w.gw.gql(`query ($id: ID!) { contact(id: $id) ${CONTACT} }`, {
          token: t,
          variables: { id: w.contacts[domain] },
        })
      ).body.data.contact.id,
    ).toBe(w.contacts[domain]);
    expect(
      (
        await w.gw.gql(`query ($id: ID!) { contact(id: $id) ${CONTACT} }`, {
          token: t,
          variables: { id: w.contacts[other] },
        })
      ).body.data.contact,
    ).toBeNull();
  },
  'Mutation.updateContact': async (w: World, domain: Domain, other: Domain) => {
    const t = await w.agentToken(domain);
    const res = await w.gw.gql('mutation ($id: ID!) { updateContact(id: $id, input: { jobTitle: "Hacked" }) { id } }', {
      token: t,
      variables: { id: w.contacts[other] },
    });
    expect(codeOf(res)).toBe('NOT_FOUND');
    const ok = await w.gw.gql(
      'mutation ($id: ID!) { updateContact(id: $id, input: { jobTitle: "Broker" }) { jobTitle } }',
      { token: t, variables: { id: w.contacts[domain] } },
    );
    expect(ok.body.data.updateContact.jobTitle).toBe('Broker');
    expect(await ownContact(w, other)).toHaveLength(1);
  },
  'Mutation.deleteContact': async (w: World, domain: Domain, other: Domain) => {
    const res = await w.gw.gql('mutation ($id: ID!) { deleteContact(id: $id) }', {
      token: await w.agentToken(domain),
      variables: { id: w.contacts[other] },
    });
    expect(codeOf(res)).toBe('NOT_FOUND');
    expect(await ownContact(w, other)).toHaveLength(1);
  },
  'Mutation.deleteContacts': async (w: World, domain: Domain, other: Domain) => {
    const res = await w.gw.gql('mutation ($ids: [ID!]!) { deleteContacts(ids: $ids) }', {
      token: await w.agentToken(domain),
      variables: { ids: [w.contacts[other]] },
    });
    expect(codeOf(res)).toBe('NOT_FOUND');
    expect(await ownContact(w, other)).toHaveLength(1);
  },
  'Mutation.createContact': async (w: World, domain: Domain, other: Domain) => {
    const res = await w.gw.gql('mutation { createContact(input: { givenName: "Temp" }) { id } }', {
      token: await w.agentToken(domain),
    });
    const id = res.body.data.createContact.id;
    expect(await ownContact(w, other)).toHaveLength(1);
    await w.gw.gql('mutation ($id: ID!) { deleteContact(id: $id) }', {
      token: await w.agentToken(domain),
      variables: { id },
    });
  },
  'Mutation.createContacts': async (w: World, domain: Domain, other: Domain) => {
    const res = await w.gw.gql('mutation { createContacts(input: [{ givenName: "Temp" }]) { id } }', {
      token: await w.agentToken(domain),
    });
    expect(await ownContact(w, other)).toHaveLength(1);
    await w.gw.gql('mutation ($ids: [ID!]!) { deleteContacts(ids: $ids) }', {
      token: await w.agentToken(domain),
      variables: { ids: res.body.data.createContacts.map((c: { id: string }) => c.id) },
    });
  },
  'Mutation.syncContacts': async (w: World, domain: Domain) => {
    const res = await w.gw.gql('mutation { syncContacts { contacts { lastSyncAt } } }', {
      token: await w.agentToken(domain),
    });
    expect(res.body.data.syncContacts.contacts.lastSyncAt).toEqual(expect.any(String));
    expect(await ownContact(w, domain)).toHaveLength(1);
  },
  'Query.syncStatus': async (w: World, domain: Domain, other: Domain) => {
    // The other brokerage's agent gets a contact change Google refused, an event change Google refused and a contact
    // change still on its way (parked in Google); the caller's counts and failed writes must not move.
    const before = { mine: await syncStatus(w, domain), theirs: await syncStatus(w, other) };
    const t = await w.agentToken(other);
    await w.admin.addFault({ api: 'people', method: 'people.people.batchUpdateContacts', status: 400 });
    expect(
      (
        await w.gw.gql('mutation ($id: ID!) { updateContact(id: $id, input: { jobTitle: "Refused" }) { id } }', {
          token: t,
          variables: { id: w.contacts[other] },
        })
      ).body.errors,
    ).toBeUndefined();
    await w.admin.addFault({ api: 'calendar', method: 'calendar.events.patch', status: 400 });
    expect(
      (
        await w.gw.gql('mutation ($id: ID!, $t: String!) { updateEvent(id: $id, input: { title: $t }) { id } }', {
          token: t,
          variables: { id: w.events[other], t: `Refused for ${other}` },
        })
      ).body.errors,
    ).toBeUndefined();
    await until(
      `${other}'s two changes refused for good`,
      () => syncStatus(w, other),
      (x) =>
        x.contacts.failedChanges === before.theirs.contacts.failedChanges + 1 &&
        x.calendar.failedChanges === before.theirs.calendar.failedChanges + 1,
    );
    const held = await w.admin.addFault({ api: 'people', method: 'people.people.batchUpdateContacts', hold: 'call' });
    const pending = w.gw.gql('mutation ($id: ID!) { updateContact(id: $id, input: { jobTitle: "Waiting" }) { id } }', {
      token: t,
      variables: { id: w.contacts[other] },
    });
    try {
      await w.admin.waitHeld(held.id);
      const theirs = await syncStatus(w, other);
      expect(theirs.contacts).toEqual({
        pendingChanges: before.theirs.contacts.pendingChanges + 1,
        failedChanges: before.theirs.contacts.failedChanges + 1,
      });
      expect(theirs.calendar).toMatchObject({
        pendingChanges: before.theirs.calendar.pendingChanges,
        failedChanges: before.theirs.calendar.failedChanges + 1,
      });
      // (A refused patch is dropped: the failed write names the event by the title Google still has.)
      expect(theirs.calendar.failedWrites).toEqual([
        {
          eventId: w.events[other],
          title: `Showing for ${other}`,
          error: expect.stringMatching(/^Google refused the change/),
        },
      ]);
      // The caller sees exactly what it saw before: none of the other agent's changes, pending or failed.
      const mine = await syncStatus(w, domain);
      expect(mine).toEqual(before.mine);
      expect(mine.calendar.failedWrites).toEqual([]);
    } finally {
      await w.admin.release(held.id);
      await pending;
      await w.admin.clearFaults();
      await until(
        `${other}'s parked contact change delivered`,
        () => syncStatus(w, other),
        (s) => s.contacts.pendingChanges === before.theirs.contacts.pendingChanges,
      );
      // Put the event back for the probes that follow.
      await w.gw.gql('mutation ($id: ID!, $t: String!) { updateEvent(id: $id, input: { title: $t }) { id } }', {
        token: t,
        variables: { id: w.events[other], t: `Showing for ${other}` },
      });
      await until(
        `${other}'s event written again`,
        () => syncStatus(w, other),
        (x) => x.calendar.pendingChanges === 0 && x.calendar.failedWrites.length === 0,
      );
    }
  },
});

interface SyncStatusView {
  contacts: { pendingChanges: number; failedChanges: number };
  calendar: {
    pendingChanges: number;
    failedChanges: number;
    failedWrites: { eventId: string; title: string | null; error: string }[];
  };
}
const syncStatus = async (w: World, d: Domain): Promise<SyncStatusView> =>
  (
    await w.gw.gql(
      '{ syncStatus { contacts { pendingChanges failedChanges } calendar { pendingChanges failedChanges failedWrites { eventId title error } } } }',
      { token: await w.agentToken(d) },
    )
  ).body.data.syncStatus;

/**
 * Calendar: each agent has one event; reads go to Google as the caller's own mailbox, so another's id is NOT_FOUND
 * there too.
 */
const RANGE = '(from: "2026-12-01T00:00:00Z", to: "2027-01-01T00:00:00Z")';
const ownEvents = async (w: World, d: Domain) =>
  (
    await w.gw.gql(`{ events${RANGE} { edges { node { id title } } } }`, { token: await w.agentToken(d) })
  ).body.data.events.edges.map((e: { node: unknown }) => e.node);

Object.assign(PROBES, {
  'Query.events': async (w: World, domain: Domain) => {
    expect(await ownEvents(w, domain)).toEqual([{ id: w.events[domain], title: `Showing for ${domain}` }]);
  },
  'Query.event': async (w: World, domain: Domain, other: Domain) => {
    const t = await w.agentToken(domain);
    expect(
      (await w.gw.gql('query ($id: ID!) { event(id: $id) { id } }', { token: t, variables: { id: w.events[domain] } }))
        .body.data.event,
    ).toEqual({ id: w.events[domain] });
    expect(
      (await w.gw.gql('query ($id: ID!) { event(id: $id) { id } }', { token: t, variables: { id: w.events[other] } }))
        .body.data.event,
    ).toBeNull();
  },
  'Mutation.updateEvent': async (w: World, domain: Domain, other: Domain) => {
    const res = await w.gw.gql('mutation ($id: ID!) { updateEvent(id: $id, input: { title: "Hacked" }) { id } }', {
      token: await w.agentToken(domain),
      variables: { id: w.events[other] },
    });
    expect(codeOf(res)).toBe('NOT_FOUND');
    expect(await ownEvents(w, other)).toEqual([{ id: w.events[other], title: `Showing for ${other}` }]);
  },
  'Mutation.deleteEvent': async (w: World, domain: Domain, other: Domain) => {
    const res = await w.gw.gql('mutation ($id: ID!) { deleteEvent(id: $id) }', {
      token: await w.agentToken(domain),
      variables: { id: w.events[other] },
    });
    expect(codeOf(res)).toBe('NOT_FOUND');
    expect(await ownEvents(w, other)).toHaveLength(1);
  },
  'Mutation.createEvent': async (w: World, domain: Domain, other: Domain) => {
    const res = await w.gw.gql(
      'mutation { createEvent(input: { title: "Temp", start: "2026-12-20T10:00:00Z", end: "2026-12-20T11:00:00Z" }) { id } }',
      { token: await w.agentToken(domain) },
    );
    expect(await ownEvents(w, other)).toHaveLength(1);
    await w.gw.gql('mutation ($id: ID!) { deleteEvent(id: $id) }', {
      token: await w.agentToken(domain),
      variables: { id: res.body.data.createEvent.id },
    });
  },
  'Mutation.syncCalendar': async (w: World, domain: Domain, other: Domain) => {
    const lastSync = async (d: Domain) =>
      (await w.gw.gql('{ syncStatus { calendar { lastSyncAt } } }', { token: await w.agentToken(d) })).body.data
        .syncStatus.calendar.lastSyncAt;
    const otherBefore = await lastSync(other);
    await w.admin.clearRequests();
    const res = await w.gw.gql('mutation { syncCalendar { calendar { lastSyncAt } } }', {
      token: await w.agentToken(domain),
    });
    expect(res.body.data.syncCalendar.calendar.lastSyncAt).toEqual(expect.any(String));
    // Google was read as the caller's own mailbox only, and only the caller's sync record moved.
    const calls = await w.admin.requests({ api: 'calendar' });
    expect(calls.map((c) => c.method)).toContain('calendar.events.list');
    expect(new Set(calls.map((c) => c.user))).toEqual(new Set([`user@${domain}`]));
    expect(await lastSync(other)).toBe(otherBefore);
    expect(await lastSync(domain)).toBe(res.body.data.syncCalendar.calendar.lastSyncAt);
  },
  'Query.eventChanges': async (w: World, domain: Domain, other: Domain) => {
    await w.gw.gql('mutation { syncCalendar { calendar { lastSyncAt } } }', { token: await w.agentToken(domain) });
    const ids = (
      await w.gw.gql('{ eventChanges(first: 500) { edges { node { eventId } } } }', {
        token: await w.agentToken(domain),
      })
    ).body.data.eventChanges.edges.map((e: { node: { eventId: string } }) => e.node.eventId);
    expect(ids).toContain(w.events[domain]);
    expect(ids).not.toContain(w.events[other]);
  },
});

/**
 * Labels: each brokerage's agent gets one label (made on first use); a probe must see only its own, NOT_FOUND for the
 * other's.
 */
const labelIds = new WeakMap<World, Partial<Record<Domain, string>>>(); // per world: each database has its own
async function labelOf(w: World, d: Domain): Promise<string> {
  const ids = labelIds.get(w) ?? {};
  labelIds.set(w, ids);
  if (!ids[d]) {
    const res = await w.gw.gql(`mutation { createContactLabel(name: "Label of ${d}") { id } }`, {
      token: await w.agentToken(d),
    });
    expect(res.body.errors).toBeUndefined();
    ids[d] = res.body.data.createContactLabel.id as string;
  }
  return ids[d]!;
}
const labelNames = async (w: World, d: Domain) =>
  (await w.gw.gql('{ contactLabels { id name } }', { token: await w.agentToken(d) })).body.data.contactLabels.map(
    (l: { name: string }) => l.name,
  );
const labelMembers = async (w: World, d: Domain) =>
  (
    await w.gw.gql('query ($l: ID!) { contacts(label: $l) { totalCount } }', {
      token: await w.agentToken(d),
      variables: { l: await labelOf(w, d) },
    })
  ).body.data.contacts.totalCount;

Object.assign(PROBES, {
  'Query.contactLabels': async (w: World, domain: Domain, other: Domain) => {
    await labelOf(w, domain);
    await labelOf(w, other);
    const names = await labelNames(w, domain);
    expect(names).toContain(`Label of ${domain}`);
    expect(names).not.toContain(`Label of ${other}`);
  },
  'Mutation.createContactLabel': async (w: World, domain: Domain, other: Domain) => {
    const t = await w.agentToken(domain);
    // The same name as the other brokerage's label is no duplicate: names are per agent.
    const res = await w.gw.gql(`mutation { createContactLabel(name: "Label of ${other}") { id } }`, { token: t });
    expect(res.body.errors).toBeUndefined();
    expect((await labelNames(w, other)).filter((n: string) => n === `Label of ${other}`)).toHaveLength(1);
    await w.gw.gql('mutation ($id: ID!) { deleteContactLabel(id: $id) }', {
      token: t,
      variables: { id: res.body.data.createContactLabel.id },
    });
  },
  'Mutation.renameContactLabel': async (w: World, domain: Domain, other: Domain) => {
    const t = await w.agentToken(domain);
    const res = await w.gw.gql('mutation ($id: ID!) { renameContactLabel(id: $id, name: "Hijacked") { id } }', {
      token: t,
      variables: { id: await labelOf(w, other) },
    });
    expect(codeOf(res)).toBe('NOT_FOUND');
    expect(await labelNames(w, other)).toContain(`Label of ${other}`);
  },
  'Mutation.deleteContactLabel': async (w: World, domain: Domain, other: Domain) => {
    const res = await w.gw.gql('mutation ($id: ID!) { deleteContactLabel(id: $id) }', {
      token: await w.agentToken(domain),
      variables: { id: await labelOf(w, other) },
    });
    expect(codeOf(res)).toBe('NOT_FOUND');
    expect(await labelNames(w, other)).toContain(`Label of ${other}`);
  },
  'Mutation.addContactsToLabel': async (w: World, domain: Domain, other: Domain) => {
    const t = await w.agentToken(domain);
    const add = async (label: string, contact: string) =>
      w.gw.gql('mutation ($l: ID!, $c: [ID!]!) { addContactsToLabel(labelId: $l, contactIds: $c) { memberCount } }', {
        token: t,
        variables: { l: label, c: [contact] },
      });
    expect(codeOf(await add(await labelOf(w, other), w.contacts[domain]))).toBe('NOT_FOUND');
    expect(codeOf(await add(await labelOf(w, domain), w.contacts[other]))).toBe('NOT_FOUND');
    expect(await labelMembers(w, other)).toBe(0);
  },
  'Mutation.removeContactsFromLabel': async (w: World, domain: Domain, other: Domain) => {
    const theirs = await w.gw.gql(
      'mutation ($l: ID!, $c: [ID!]!) { addContactsToLabel(labelId: $l, contactIds: $c) { memberCount } }',
      { token: await w.agentToken(other), variables: { l: await labelOf(w, other), c: [w.contacts[other]] } },
    );
    expect(theirs.body.data.addContactsToLabel.memberCount).toBe(1);
    const res = await w.gw.gql(
      'mutation ($l: ID!, $c: [ID!]!) { removeContactsFromLabel(labelId: $l, contactIds: $c) { memberCount } }',
      { token: await w.agentToken(domain), variables: { l: await labelOf(w, other), c: [w.contacts[other]] } },
    );
    expect(codeOf(res)).toBe('NOT_FOUND');
    expect(await labelMembers(w, other)).toBe(1);
    await w.gw.gql(
      'mutation ($l: ID!, $c: [ID!]!) { removeContactsFromLabel(labelId: $l, contactIds: $c) { memberCount } }',
      { token: await w.agentToken(other), variables: { l: await labelOf(w, other), c: [w.contacts[other]] } },
    );
  },
});

test('every operation in the schema has a tenant-isolation probe', async () => {
  const schema = await buildGatewaySchema();
  const ops = [
    ...Object.keys(schema.getQueryType()?.getFields() ?? {}).map((f) => `Query.${f}`),
    ...Object.keys(schema.getMutationType()?.getFields() ?? {}).map((f) => `Mutation.${f}`),
  ];
  expect(ops.sort()).toEqual(Object.keys(PROBES).sort());
});

describeEachDb('tenant isolation', (db) => {
  let emu: RunningEmulator;
  let world: World;

  beforeAll(async () => {
    emu = await startEmulator();
    const admin = new EmulatorAdmin(emu.url);
    const gw = await startTestGateway(db().ds, {
      env: { GOOGLE_API_ROOT_URL: `${emu.url}/`, GOOGLE_TOKEN_URIS: `${emu.url}/token`, ...FAST_OUTBOX_ENV },
    });
    const tenants = {} as Record<Domain, Tenant>;
    for (const domain of DOMAINS) {
      await seedBrokerage(db().ds, domain, [{ email: `admin@${domain}`, role: 'admin' }]);
      tenants[domain] = await admin.tenant(domain, [`admin@${domain}`, `user@${domain}`], [...GUIDE_SCOPES]);
    }
    world = {
      gw,
      admin,
      tenants,
      contacts: {} as Record<Domain, string>,
      events: {} as Record<Domain, string>,
      mails: {} as Record<Domain, string>,
      token: (d) => gw.token(`admin@${d}`, { admin: true }),
      agentToken: (d) => gw.token(`user@${d}`),
    };
    for (const domain of DOMAINS) {
      const res = await gw.gql(
        'mutation ($k: String!, $e: String!) { submitServiceAccountKey(keyJson: $k, testEmail: $e) { status } }',
        {
          token: await world.token(domain),
          variables: { k: JSON.stringify(tenants[domain].key), e: `user@${domain}` },
        },
      );
      expect(res.body.data.submitServiceAccountKey.status).toBe('VERIFIED');
      // Each answer may be PENDING/QUEUED when the mutation's 3 s wait ran out first on a slow machine; what
      // the probes need is every write delivered, awaited below.
      const c = await gw.gql(
        `mutation { createContact(input: { givenName: "Client", familyName: "of ${domain}" }) { id syncState } }`,
        { token: await world.agentToken(domain) },
      );
      expect(c.body.data.createContact.syncState).toMatch(/^(SYNCED|PENDING)$/);
      world.contacts[domain] = c.body.data.createContact.id;
      const e = await gw.gql(
        `mutation { createEvent(input: { title: "Showing for ${domain}", start: "2026-12-10T17:00:00Z", end: "2026-12-10T18:00:00Z" }) { id syncState } }`,
        { token: await world.agentToken(domain) },
      );
      expect(e.body.data.createEvent.syncState).toMatch(/^(SYNCED|PENDING)$/);
      world.events[domain] = e.body.data.createEvent.id;
      const m = await gw.gql('mutation ($i: SendMailInput!) { sendMail(input: $i) { id status } }', {
        token: await world.agentToken(domain),
        variables: { i: { to: [`client@${domain}`], subject: 'Hello', text: 'Hi' } },
      });
      expect(m.body.data.sendMail.status).toMatch(/^(SENT|QUEUED)$/);
      world.mails[domain] = m.body.data.sendMail.id;
    }
    for (const domain of DOMAINS) {
      await until(
        `${domain}'s set-up writes delivered`,
        async () => {
          const token = await world.agentToken(domain);
          const r = await gw.gql(
            'query ($c: ID!, $e: ID!, $m: ID!) { contact(id: $c) { syncState } event(id: $e) { syncState } mail(id: $m) { status } }',
            { token, variables: { c: world.contacts[domain], e: world.events[domain], m: world.mails[domain] } },
          );
          return r.body.data;
        },
        (d) => d?.contact?.syncState === 'SYNCED' && d?.event?.syncState === 'SYNCED' && d?.mail?.status === 'SENT',
      );
    }
  });
  afterAll(async () => {
    await world.gw.close();
    await emu.close();
  });

  test.each(Object.entries(PROBES))("%s sees and changes only the caller's brokerage", async (_op, probe) => {
    await probe(world, 'alpha.test', 'beta.test');
    await probe(world, 'beta.test', 'alpha.test');
  });
});
