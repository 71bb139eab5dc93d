/**
 * Sandbox start-up: a fresh in-process Google Workspace emulator with the
 * demo domain, a service-account key authorized for the guide's three
 * scopes, some demo contacts and events, and that key submitted through the
 * real onboarding path (so it is verified and stored exactly like a
 * brokerage's). The emulator keeps its data in memory, so this runs at every
 * start and the new key replaces the previous start's.
 */
import type { Services } from '../context';
import type { RunningEmulator } from 'google-workspace-emulator';
import { GUIDE_SCOPES } from '../google/scopes';
import type { VerificationResult } from '../onboarding/onboarding.service';
import { DEMO_ADMIN, DEMO_AGENT, DEMO_DOMAIN } from './demo';

const DEMO_USERS = [DEMO_AGENT, DEMO_ADMIN, 'lee@demo.test', 'sam@demo.test'];

async function admin<T>(
  emu: RunningEmulator,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${emu.url}/emulator/v1${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function must<T>(p: Promise<{ status: number; body: T }>, what: string): Promise<T> {
  const r = await p;
  if (r.status !== 200 && r.status !== 201)
    throw new Error(`sandbox: ${what} failed in the emulator (${r.status}: ${JSON.stringify(r.body)})`);
  return r.body;
}

export async function provisionSandbox(
  emu: RunningEmulator,
  services: Services,
  brokerageId: string,
): Promise<VerificationResult> {
  await must(admin(emu, 'POST', '/domains', { domain: DEMO_DOMAIN, users: DEMO_USERS }), 'creating the demo domain');
  const { key, clientId } = await must(
    admin<{ key: Record<string, string>; clientId: string }>(emu, 'POST', '/service-accounts', { domain: DEMO_DOMAIN }),
    'creating the service account',
  );
  await must(
    admin(emu, 'PUT', `/delegations/${clientId}`, { scopes: GUIDE_SCOPES }),
    'authorizing domain-wide delegation',
  );
  await seedDemoData(emu);
  return services.onboarding.submit({ brokerageId, actor: 'sandbox' }, JSON.stringify(key), DEMO_AGENT);
}

const DEMO_CONTACTS = [
  {
    names: [{ givenName: 'Zoë', familyName: 'Buyer' }],
    emailAddresses: [{ value: 'zoe@buyer.test', type: 'home' }],
    phoneNumbers: [{ value: '+1 206 555 0101', type: 'mobile' }],
  },
  {
    names: [{ givenName: 'Marco', familyName: 'Seller' }],
    emailAddresses: [{ value: 'marco@seller.test', type: 'work' }],
    organizations: [{ name: 'Seller & Sons', title: 'Owner' }],
  },
  {
    names: [{ givenName: 'Priya', familyName: 'Lender' }],
    emailAddresses: [{ value: 'priya@lender.test', type: 'work' }],
    phoneNumbers: [{ value: '+1 206 555 0199', type: 'work' }],
  },
];

async function seedDemoData(emu: RunningEmulator): Promise<void> {
  // Contacts and events need the People and Calendar modules; skip what the emulator does not have.
  for (const c of DEMO_CONTACTS) {
    const r = await admin(emu, 'POST', `/users/${encodeURIComponent(DEMO_AGENT)}/contacts`, c);
    if (r.status === 501) break;
  }
  const day = new Date();
  day.setUTCHours(0, 0, 0, 0);
  const at = (days: number, hour: number) => new Date(day.getTime() + days * 86400_000 + hour * 3600_000).toISOString();
  const events = [
    {
      summary: 'Showing: 12 Pine St',
      location: '12 Pine St, Seattle',
      start: { dateTime: at(1, 17), timeZone: 'America/Los_Angeles' },
      end: { dateTime: at(1, 18), timeZone: 'America/Los_Angeles' },
      attendees: [{ email: 'zoe@buyer.test' }],
    },
    {
      summary: 'Team meeting',
      start: { dateTime: at(2, 16), timeZone: 'America/Los_Angeles' },
      end: { dateTime: at(2, 17), timeZone: 'America/Los_Angeles' },
      recurrence: ['RRULE:FREQ=WEEKLY;COUNT=8'],
    },
  ];
  for (const e of events) {
    const r = await admin(emu, 'POST', `/users/${encodeURIComponent(DEMO_AGENT)}/events`, e);
    if (r.status === 501) break;
  }
}
