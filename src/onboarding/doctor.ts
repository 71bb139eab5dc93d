/**
 * The "doctor": verifies a service-account key the way the gateway will use
 * it, as the test user's mailbox, and says for each step what is wrong and
 * which step of the brokerage's integration guide fixes it.
 *
 * Per feature (contacts, calendar, mail; the three run in parallel):
 *   token:<feature>  a token for the feature's scope (JWT-bearer, domain-wide delegation)
 *   api:<api>        one real, cheap call to the API
 *   sync:contacts    a contact sync: the first full page of connections.list
 * A step whose prerequisite failed is reported as NOT_RUN, so the list is
 * always complete and the first failure is the one to fix.
 */
import { mapGoogleError, type FailureKind, type GoogleApi, type GoogleFailure } from '../google/google-errors';
import { GoogleSession, type GoogleSessionOptions, type LoadedCredential } from '../google/google-session';
import { FEATURE_SCOPES, LEGACY_CONTACTS_SCOPE, CONTACTS_SCOPE, type Feature } from '../google/scopes';
import type { TokenBroker } from '../google/token-broker';
import type { Config } from '../config';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** Null when ok; otherwise a stable diagnosis code such as DELEGATION_MISSING or API_DISABLED. */
  code: string | null;
  message: string;
  remedy: string | null;
}

export interface DoctorReport {
  ok: boolean;
  checks: CheckResult[];
  /** Scopes a token was obtained for. */
  grantedScopes: string[];
}

const CHECK_ORDER = [
  'token:contacts',
  'token:calendar',
  'token:mail',
  'api:people',
  'api:calendar',
  'api:gmail',
  'sync:contacts',
];

const code = (kind: FailureKind) => kind.toUpperCase().replace(/-/g, '_');

function failed(name: string, f: GoogleFailure): CheckResult {
  return { name, ok: false, code: code(f.kind), message: f.message, remedy: f.remedy ?? null };
}

function notRun(name: string, because: string): CheckResult {
  return { name, ok: false, code: 'NOT_RUN', message: `Not run: ${because} failed`, remedy: null };
}

export interface DoctorDeps {
  broker: TokenBroker;
  google: Config['google'] & Pick<GoogleSessionOptions, 'fetch' | 'userAgent'>;
}

export async function runDoctor(
  deps: DoctorDeps,
  cred: LoadedCredential,
  testEmail: string,
  onCheck: (c: CheckResult) => void = () => {},
): Promise<DoctorReport> {
  const results: CheckResult[] = [];
  const report = (c: CheckResult) => {
    results.push(c);
    onCheck(c);
    return c;
  };
  const granted: string[] = [];

  const tokenCheck = async (feature: Feature): Promise<boolean> => {
    const name = `token:${feature}`;
    // Contacts: the guide authorizes m8/feeds; People's docs name auth/contacts. Either serves.
    const candidates = feature === 'contacts' ? [LEGACY_CONTACTS_SCOPE, CONTACTS_SCOPE] : [...FEATURE_SCOPES[feature]];
    let failure: GoogleFailure | undefined;
    for (const scope of candidates) {
      try {
        await deps.broker.getToken({
          credentialId: cred.id,
          clientEmail: cred.key.client_email,
          privateKey: cred.privateKey,
          tokenUri: cred.key.token_uri,
          subject: testEmail,
          scope,
        });
        granted.push(scope);
        report({ name, ok: true, code: null, message: `Token for ${scope} as ${testEmail}`, remedy: null });
        return true;
      } catch (err) {
        failure = mapGoogleError(err, {
          api: 'token',
          clientId: cred.key.client_id,
          scopes: feature === 'contacts' ? [LEGACY_CONTACTS_SCOPE] : [scope],
          subject: testEmail,
        });
        if (failure.kind !== 'delegation-missing' && failure.kind !== 'invalid-scope') break; // same answer for any scope
      }
    }
    if (failure?.kind === 'delegation-missing' && feature === 'contacts') {
      failure = {
        ...failure,
        message: `Google refused domain-wide delegation for ${LEGACY_CONTACTS_SCOPE} (and ${CONTACTS_SCOPE})`,
      };
    }
    report(failed(name, failure!));
    return false;
  };

  const session = () =>
    new GoogleSession(deps.broker, deps.google, { ...cred, grantedScopes: new Set(granted) }, testEmail);

  const apiCheck = async (api: GoogleApi, call: () => Promise<string>): Promise<boolean> => {
    const name = `api:${api}`;
    try {
      report({ name, ok: true, code: null, message: await call(), remedy: null });
      return true;
    } catch (err) {
      report(failed(name, mapGoogleError(err, { api, clientId: cred.key.client_id, subject: testEmail })));
      return false;
    }
  };

  const contacts = async () => {
    if (!(await tokenCheck('contacts')))
      return [report(notRun('api:people', 'token:contacts')), report(notRun('sync:contacts', 'token:contacts'))];
    const people = await session().people();
    const apiOk = await apiCheck('people', async () => {
      await people.probe();
      return `People API answers for ${testEmail}`;
    });
    if (!apiOk) return report(notRun('sync:contacts', 'api:people'));
    try {
      // The first page of a full sync, read exactly as the gateway's first sync reads it (the same personFields).
      const page = await people.listConnections();
      const n = page.persons.length;
      const total = page.total ?? n;
      return report({
        name: 'sync:contacts',
        ok: true,
        code: null,
        message: `Read ${n} of ${total} contacts of ${testEmail} (first page of a full sync)`,
        remedy: null,
      });
    } catch (err) {
      return report(
        failed(
          'sync:contacts',
          mapGoogleError(err, { api: 'people', clientId: cred.key.client_id, subject: testEmail }),
        ),
      );
    }
  };

  const calendar = async () => {
    if (!(await tokenCheck('calendar'))) return report(notRun('api:calendar', 'token:calendar'));
    const cal = await session().calendar();
    return apiCheck('calendar', async () => {
      await cal.listEvents({ maxResults: 1, timeMin: new Date().toISOString() });
      return `Calendar API answers for ${testEmail}'s primary calendar`;
    });
  };

  const mail = async () => {
    if (!(await tokenCheck('mail'))) return report(notRun('api:gmail', 'token:mail'));
    const gm = await session().gmail();
    return apiCheck('gmail', async () => {
      const p = await gm.profile();
      return `Gmail API answers for ${p.emailAddress ?? testEmail}`;
    });
  };

  await Promise.all([contacts(), calendar(), mail()]);
  const checks = [...results].sort((a, b) => CHECK_ORDER.indexOf(a.name) - CHECK_ORDER.indexOf(b.name));
  return { ok: checks.every((c) => c.ok), checks, grantedScopes: granted };
}
