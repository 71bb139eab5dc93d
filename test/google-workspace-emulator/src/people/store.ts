/**
 * Per-user contact storage of the People emulator: contacts (with tombstones for deleted ones), the change sequence
 * that incremental sync reads, and the server-side records behind sync and page tokens (the tokens themselves are
 * random strings, so clients cannot read or forge them — Google's are opaque too).
 *
 * Writes are applied one at a time in arrival order: Google asks clients to send mutations for one user
 * sequentially ("Mutate requests for the same user should be sent sequentially", every mutate method's description);
 * the emulator's handlers are synchronous, so per-user serialization holds by construction.
 */
import { OpaqueTokenStore } from '../opaque-tokens';
import type { EmulatorState, EmulatorUser } from '../state';
import {
  MY_CONTACTS_MEMBERSHIP,
  groupNamesOf,
  membershipItem,
  newEtags,
  newSourceId,
  resourceNameFor,
  type PersonData,
  type StoredContact,
  type UpdateField,
} from './person';

/** "Sync tokens expire 7 days after the full sync" (people.connections.list description). */
export const SYNC_TOKEN_LIFETIME_SECONDS = 7 * 24 * 60 * 60;
/** Page tokens are kept this long (emulator time); Google does not document a lifetime [?]. */
export const PAGE_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

/** Default of PeopleSettings.maxGroupNameLength: not documented by Google [?]. */
export const MAX_GROUP_NAME_LENGTH = 255;

/**
 * People behaviour that docs/google-behaviour.md marks uncertain [?], with documented defaults. Changed through the
 * admin
 * route `PUT /emulator/v1/people/settings` (added by people.ts); `POST /reset` restores the defaults.
 */
export interface PeopleSettings {
  /**
   * `error.status` of the 400 EXPIRED_SYNC_TOKEN answer. Default FAILED_PRECONDITION, the consensus of captures;
   * one capture shows INVALID_ARGUMENT (docs/google-behaviour.md §2.2).
   */
  expiredSyncTokenStatus: 'FAILED_PRECONDITION' | 'INVALID_ARGUMENT';
  /** Sync token lifetime, seconds of emulator time. Default 7 days (SYNC_TOKEN_LIFETIME_SECONDS). */
  syncTokenLifetimeSeconds: number;
  /**
   * What the lifetime counts from. `fullSync` (default): Google's text, "Sync tokens expire 7 days after the full
   * sync", so tokens issued by incremental syncs inherit the full sync's time. `issue`: each token lives 7 days.
   */
  syncTokenExpiresFrom: 'fullSync' | 'issue';
  /**
   * Seconds before a write shows up in connections.list sync results. Google: "Writes may have a propagation delay of
   * several minutes for sync requests". Default 0 so tests are deterministic.
   */
  syncPropagationDelaySeconds: number;
  /**
   * Whether an incremental call (`syncToken`) must repeat the first call's `requestSyncToken=true`. Default true:
   * connections.list says "When the page_token or sync_token is specified, all other request parameters must match
   * the first call" (v1.d.ts), so a call without it is 400 INVALID_ARGUMENT like any other mismatch. False: the
   * older reading ("…except pageSize and pageToken" [?]), where an incremental call gets a nextSyncToken anyway.
   */
  requestSyncTokenMustMatch: boolean;
  /**
   * Whether impossible dates in birthdays[].date and events[].date (year over 9999, month 13, 31 February, a day
   * without a month), a birthday with neither date nor text and an event without a date are 400 INVALID_ARGUMENT.
   * Default true. Google's answer to these is not documented [?] (docs/google-people-contact-details.md §2); false
   * stores them as sent. JSON that does not parse as a Date (a string month, an unknown key) is 400 either way.
   */
  strictDates: boolean;
  /**
   * Whether a change to a contact's memberships alone (contactGroups.members.modify, a contact group deleted with its
   * contacts kept, the admin member routes) gives the contact a new etag and source etag and puts it in the next
   * incremental connections.list. Default true: memberships belong to the CONTACT source (doc §1.10, §4), but nothing
   * public confirms it [?]. false lets the gateway be tested against a Google that does not report label changes in
   * sync. updateContact / batchUpdateContacts are contact writes and always give a new etag.
   */
  membershipChangesBumpContact: boolean;
  /**
   * Longest contact group name (characters) that contactGroups.create / update accept; longer → 400 INVALID_ARGUMENT.
   * Google documents no limit [?] (doc §3.3); default 255.
   */
  maxGroupNameLength: number;
  /**
   * Whether contact group names clash ignoring case ("VIP" vs "vip" → 409). Default false: exact comparison; Google
   * only says the name "must be unique to the users contact groups" [?] (doc §3.3).
   */
  groupNamesCaseInsensitive: boolean;
}

export function defaultPeopleSettings(): PeopleSettings {
  return {
    expiredSyncTokenStatus: 'FAILED_PRECONDITION',
    syncTokenLifetimeSeconds: SYNC_TOKEN_LIFETIME_SECONDS,
    syncTokenExpiresFrom: 'fullSync',
    syncPropagationDelaySeconds: 0,
    requestSyncTokenMustMatch: true,
    strictDates: true,
    membershipChangesBumpContact: true,
    maxGroupNameLength: MAX_GROUP_NAME_LENGTH,
    groupNamesCaseInsensitive: false,
  };
}

export function peopleSettings(state: EmulatorState): PeopleSettings {
  return state.moduleData('people.settings', defaultPeopleSettings);
}

/** Applies a partial settings object; throws naming the bad field and what it expected. */
export function updatePeopleSettings(state: EmulatorState, patch: unknown): PeopleSettings {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new Error(`people settings must be a JSON object, got ${JSON.stringify(patch)}`);
  }
  const next = { ...peopleSettings(state) };
  for (const [key, value] of Object.entries(patch)) {
    switch (key) {
      case 'expiredSyncTokenStatus':
        if (value !== 'FAILED_PRECONDITION' && value !== 'INVALID_ARGUMENT')
          throw new Error(
            `expiredSyncTokenStatus must be "FAILED_PRECONDITION" or "INVALID_ARGUMENT", got ${JSON.stringify(value)}`,
          );
        next.expiredSyncTokenStatus = value;
        break;
      case 'syncTokenExpiresFrom':
        if (value !== 'fullSync' && value !== 'issue')
          throw new Error(`syncTokenExpiresFrom must be "fullSync" or "issue", got ${JSON.stringify(value)}`);
        next.syncTokenExpiresFrom = value;
        break;
      case 'requestSyncTokenMustMatch':
      case 'strictDates':
      case 'membershipChangesBumpContact':
      case 'groupNamesCaseInsensitive':
        if (typeof value !== 'boolean') throw new Error(`${key} must be true or false, got ${JSON.stringify(value)}`);
        next[key] = value;
        break;
      case 'maxGroupNameLength':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
          throw new Error(`maxGroupNameLength must be a positive integer, got ${JSON.stringify(value)}`);
        next.maxGroupNameLength = value;
        break;
      case 'syncTokenLifetimeSeconds':
      case 'syncPropagationDelaySeconds':
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
          throw new Error(`${key} must be a non-negative number of seconds, got ${JSON.stringify(value)}`);
        next[key] = value;
        break;
      default:
        throw new Error(`unknown people setting "${key}"; known: ${Object.keys(defaultPeopleSettings()).join(', ')}`);
    }
  }
  state.globalData.set('people.settings', next);
  return next;
}

/** The parameters that must match between the call that issued a token and the calls that use it. */
export type ListFingerprint = Record<string, string>;

export interface SyncTokenRecord {
  kind: 'sync';
  /** changes with changeSeq > seq are "since" this token */
  seq: number;
  /** emulator ms of the full sync this token descends from, and of its own issue */
  fullSyncAtMs: number;
  issuedAtMs: number;
  fingerprint: ListFingerprint;
}

export interface PageTokenRecord {
  kind: 'page';
  /** the resource names of the whole listing, fixed at the first page so paging is stable */
  names: string[];
  offset: number;
  fingerprint: ListFingerprint;
  /** what the last page's nextSyncToken will carry */
  syncSeq: number;
  fullSyncAtMs: number;
  issuedAtMs: number;
  /** incremental listings page over changes, which include tombstones */
  incremental: boolean;
}

export interface ContactStore {
  contacts: Map<string, StoredContact>;
  seq: number;
  /** sync and page tokens (the store Calendar's page tokens use too, ../opaque-tokens.ts) */
  tokens: OpaqueTokenStore<SyncTokenRecord | PageTokenRecord>;
}

export function contactStore(state: EmulatorState, user: EmulatorUser): ContactStore {
  return state.userData(user, 'people', () => ({ contacts: new Map(), seq: 0, tokens: new OpaqueTokenStore() }));
}

/**
 * A token for `record`. Page tokens expire after PAGE_TOKEN_LIFETIME_SECONDS; sync tokens are kept, since their
 * expiry is answered with EXPIRED_SYNC_TOKEN (per the settings) rather than as an unknown token.
 */
export function newToken(store: ContactStore, record: SyncTokenRecord | PageTokenRecord): string {
  const lifetimeMs = record.kind === 'page' ? PAGE_TOKEN_LIFETIME_SECONDS * 1000 : Infinity;
  return store.tokens.issue(record, record.issuedAtMs, lifetimeMs);
}

/** A new etag, source etag, updateTime and change sequence: the contact shows up in the next incremental sync. */
export function stamp(state: EmulatorState, store: ContactStore, c: StoredContact): void {
  const { etag, sourceEtag } = newEtags();
  c.etag = etag;
  c.sourceEtag = sourceEtag;
  c.updateTime = state.now().toISOString();
  store.seq += 1;
  c.changeSeq = store.seq;
  c.visibleAtMs = state.nowMs() + peopleSettings(state).syncPropagationDelaySeconds * 1000;
}

/** Creates a contact; like Google, every new contact joins the system group myContacts unless it names groups. */
export function createContact(state: EmulatorState, store: ContactStore, data: PersonData): StoredContact {
  let sourceId = newSourceId();
  while (store.contacts.has(resourceNameFor(sourceId))) sourceId = newSourceId();
  const stored: StoredContact = {
    resourceName: resourceNameFor(sourceId),
    sourceId,
    data: withDefaultMembership(data),
    etag: '',
    sourceEtag: '',
    updateTime: '',
    deleted: false,
    changeSeq: 0,
    visibleAtMs: 0,
    createdVisibleAtMs: 0,
  };
  stamp(state, store, stored);
  stored.createdVisibleAtMs = stored.visibleAtMs;
  store.contacts.set(stored.resourceName, stored);
  return stored;
}

/** Replaces the listed fields (an empty or absent value clears the field, as updatePersonFields documents). */
export function updateContact(
  state: EmulatorState,
  store: ContactStore,
  c: StoredContact,
  fields: readonly UpdateField[],
  data: PersonData,
): void {
  for (const f of fields) {
    if (data[f] && data[f]!.length > 0) c.data[f] = data[f];
    else delete c.data[f];
  }
  stamp(state, store, c);
}

export function deleteContact(state: EmulatorState, store: ContactStore, c: StoredContact): void {
  c.deleted = true;
  c.data = {};
  stamp(state, store, c);
}

/**
 * Replaces a contact's contact-group memberships (members.modify, a group deleted, the admin member routes): the
 * contact gets a new etag and change sequence unless settings.membershipChangesBumpContact is off. Returns whether the
 * set changed (nothing is stamped when it did not).
 */
export function setMemberships(
  state: EmulatorState,
  store: ContactStore,
  c: StoredContact,
  groupResourceNames: readonly string[],
): boolean {
  const current = groupNamesOf(c.data);
  if (current.length === groupResourceNames.length && current.every((g, i) => g === groupResourceNames[i]))
    return false;
  if (groupResourceNames.length > 0) c.data.memberships = groupResourceNames.map(membershipItem);
  else delete c.data.memberships;
  if (peopleSettings(state).membershipChangesBumpContact) stamp(state, store, c);
  return true;
}

function withDefaultMembership(data: PersonData): PersonData {
  const hasGroup = (data.memberships ?? []).some((m) => m.contactGroupMembership);
  return hasGroup ? data : { ...data, memberships: [...(data.memberships ?? []), { ...MY_CONTACTS_MEMBERSHIP }] };
}

/** A live (not deleted) contact by resource name. */
export function liveContact(store: ContactStore, resourceName: string): StoredContact | undefined {
  const c = store.contacts.get(resourceName);
  return c && !c.deleted ? c : undefined;
}

/**
 * The highest change sequence whose changes have all propagated to sync (propagation delay setting). Changes after
 * it are left for a later incremental sync, so nothing is skipped.
 */
export function visibleSeq(state: EmulatorState, store: ContactStore): number {
  const now = state.nowMs();
  let cutoff = store.seq;
  for (const c of store.contacts.values())
    if (c.visibleAtMs > now && c.changeSeq - 1 < cutoff) cutoff = c.changeSeq - 1;
  return cutoff;
}
