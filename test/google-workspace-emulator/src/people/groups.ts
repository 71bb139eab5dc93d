/**
 * Contact groups ("labels") of the People emulator, per user: the eight system groups, the user's own groups with
 * tombstones for deleted ones (contactGroups.list sync reports them), their rendering, and the operations that change
 * groups and memberships (shared by the API methods and the admin routes in ../people.ts).
 *
 * Reference: https://developers.google.com/people/api/rest/v1/contactGroups (`CG`), the ContactGroup* types of
 * @googleapis/people v1.d.ts, and docs/google-people-contact-details.md §3 and §4 (every fact there has its source).
 *
 * A contact's memberships are stored on the contact (person.ts `memberships`), as on Google, where they belong to the
 * CONTACT source (doc §1.10); a group's members and memberCount are computed from the live contacts.
 */
import { randomBytes } from 'node:crypto';
import { OpaqueTokenStore } from '../opaque-tokens';
import type { EmulatorState, EmulatorUser } from '../state';
import {
  GENERIC_INVALID,
  MY_CONTACTS_GROUP,
  PersonInputError,
  groupNamesOf,
  type FieldItem,
  type PersonData,
  type StoredContact,
} from './person';
import {
  contactStore,
  deleteContact,
  liveContact,
  peopleSettings,
  setMemberships,
  type ContactStore,
  type PageTokenRecord,
  type SyncTokenRecord,
} from './store';

/**
 * The system groups every user has, with their English formattedName (doc §3.2 [obs IamNator capture]). `canAdd`:
 * "The only system contact groups that can have members added are contactGroups/myContacts and
 * contactGroups/starred. Other system contact groups are deprecated and can only have contacts removed."
 * (contactGroups.members.modify description).
 */
export const SYSTEM_GROUPS: ReadonlyArray<{ id: string; formattedName: string; canAdd: boolean }> = [
  { id: 'myContacts', formattedName: 'My Contacts', canAdd: true },
  { id: 'starred', formattedName: 'Starred', canAdd: true },
  { id: 'friends', formattedName: 'Friends', canAdd: false },
  { id: 'family', formattedName: 'Family', canAdd: false },
  { id: 'coworkers', formattedName: 'Coworkers', canAdd: false },
  { id: 'chatBuddies', formattedName: 'Chat contacts', canAdd: false },
  { id: 'all', formattedName: 'All Contacts', canAdd: false },
  { id: 'blocked', formattedName: 'Blocked', canAdd: false },
];
const SYSTEM_BY_NAME = new Map(SYSTEM_GROUPS.map((g) => [`contactGroups/${g.id}`, g]));

/** Text of the 400 for adding to a deprecated system group [obs, weak: veltzer/rscontacts helpers.rs; doc §3.2]. */
export const DEPRECATED_GROUP_MESSAGE = 'Cannot add contacts to deprecated system contact group';

export function isDeprecatedSystemGroup(resourceName: string): boolean {
  const g = SYSTEM_BY_NAME.get(resourceName);
  return g !== undefined && !g.canAdd;
}

/** Every `groupFields` / `readGroupFields` path (contactGroups.list / get / batchGet / update). */
export const GROUP_FIELDS = ['clientData', 'groupType', 'memberCount', 'metadata', 'name'] as const;
export type GroupField = (typeof GROUP_FIELDS)[number];
/** list / get / batchGet: "Defaults to metadata, groupType, memberCount, and name if not set or set to empty." */
export const DEFAULT_GROUP_FIELDS: readonly GroupField[] = ['metadata', 'groupType', 'memberCount', 'name'];
/** create / update readGroupFields: "Defaults to metadata, groupType, and name"; create does not accept memberCount. */
export const DEFAULT_READ_GROUP_FIELDS: readonly GroupField[] = ['metadata', 'groupType', 'name'];
export const CREATE_READ_GROUP_FIELDS: readonly GroupField[] = ['clientData', 'groupType', 'metadata', 'name'];
/** updateGroupFields: "Defaults to name if not set or set to empty. … Valid values are: clientData, name". */
export const UPDATE_GROUP_FIELDS = ['clientData', 'name'] as const;
export type UpdateGroupField = (typeof UPDATE_GROUP_FIELDS)[number];

export interface StoredGroup {
  /** `contactGroups/{id}` */
  resourceName: string;
  system: boolean;
  /** for system groups the system name, which is the id (e.g. `myContacts`) */
  name: string;
  clientData?: FieldItem[];
  /** user groups only: base64 of 8 random bytes ("UPTmggxWH8g="), new on every change */
  etag: string;
  updateTime: string;
  deleted: boolean;
  /** group-store change sequence of the last change; 0 for the seeded system groups (never in a group sync) */
  changeSeq: number;
}

/**
 * The records behind contact-group sync and page tokens: the contacts' (store.ts), without the parameter fingerprint.
 */
export type GroupSyncRecord = Omit<SyncTokenRecord, 'fingerprint'>;
export type GroupPageRecord = Omit<PageTokenRecord, 'fingerprint'>;

export interface GroupStore {
  groups: Map<string, StoredGroup>;
  seq: number;
  tokens: OpaqueTokenStore<GroupSyncRecord | GroupPageRecord>;
}

export function groupStore(state: EmulatorState, user: EmulatorUser): GroupStore {
  return state.userData(user, 'people.groups', () => {
    const groups = new Map<string, StoredGroup>();
    for (const g of SYSTEM_GROUPS) {
      const resourceName = `contactGroups/${g.id}`;
      groups.set(resourceName, {
        resourceName,
        system: true,
        name: g.id,
        etag: '',
        updateTime: '',
        deleted: false,
        changeSeq: 0,
      });
    }
    return { groups, seq: 0, tokens: new OpaqueTokenStore<GroupSyncRecord | GroupPageRecord>() };
  });
}

export function liveGroup(store: GroupStore, resourceName: string): StoredGroup | undefined {
  const g = store.groups.get(resourceName);
  return g && !g.deleted ? g : undefined;
}

/** Live groups in creation order (the system groups first). */
export function liveGroups(store: GroupStore): StoredGroup[] {
  return [...store.groups.values()].filter((g) => !g.deleted);
}

function stampGroup(state: EmulatorState, store: GroupStore, g: StoredGroup): void {
  g.etag = randomBytes(8).toString('base64');
  g.updateTime = state.now().toISOString();
  store.seq += 1;
  g.changeSeq = store.seq;
}

// --- rendering ------------------------------------------------------------------------------------------------------

/** Member counts of every group, from the live contacts' memberships (one pass for a whole listing). */
export function memberCounts(contacts: ContactStore): Map<string, number> {
  const counts = new Map<string, number>();
  for (const c of contacts.contacts.values()) {
    if (c.deleted) continue;
    for (const g of groupNamesOf(c.data)) counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  return counts;
}

/** The live members of a group, in contact creation order. */
export function membersOf(contacts: ContactStore, resourceName: string): StoredContact[] {
  return [...contacts.contacts.values()].filter((c) => !c.deleted && groupNamesOf(c.data).includes(resourceName));
}

/**
 * A group as Google answers it, key order as in the observed list answer (doc §3.1): resourceName, etag, metadata,
 * groupType, name, formattedName, memberCount. System groups have no etag and no metadata; memberCount 0 is left out
 * (proto3 JSON); `memberResourceNames` holds at most `maxMembers` names (get / batchGet only). A deleted group
 * (group sync only) is `{resourceName, metadata: {deleted: true, updateTime}}`.
 */
export function renderGroup(
  g: StoredGroup,
  fields: readonly GroupField[],
  counts: Map<string, number>,
  members?: StoredContact[],
): Record<string, unknown> {
  if (g.deleted) return { resourceName: g.resourceName, metadata: { deleted: true, updateTime: g.updateTime } };
  const out: Record<string, unknown> = { resourceName: g.resourceName };
  if (!g.system) out.etag = g.etag;
  if (fields.includes('metadata') && !g.system) out.metadata = { updateTime: g.updateTime };
  if (fields.includes('groupType')) out.groupType = g.system ? 'SYSTEM_CONTACT_GROUP' : 'USER_CONTACT_GROUP';
  if (fields.includes('name')) {
    out.name = g.name;
    // "The name translated and formatted in the viewer's account locale … for system groups names. Group names set
    // by the owner are the same as name." The emulator's locale is English.
    out.formattedName = g.system ? SYSTEM_BY_NAME.get(g.resourceName)!.formattedName : g.name;
  }
  if (fields.includes('clientData') && g.clientData && g.clientData.length > 0)
    out.clientData = g.clientData.map((d) => ({ ...d }));
  const count = counts.get(g.resourceName) ?? 0;
  if (fields.includes('memberCount') && count > 0) out.memberCount = count;
  if (members && members.length > 0) out.memberResourceNames = members.map((c) => c.resourceName);
  return out;
}

// --- changes --------------------------------------------------------------------------------------------------------

/**
 * A rule a group request broke. people.ts answers it as Google would (400 INVALID_ARGUMENT, 400 FAILED_PRECONDITION,
 * 409 ALREADY_EXISTS, 404 NOT_FOUND), the admin routes as `{error: description}` with the same HTTP status.
 */
export class GroupError extends Error {
  constructor(
    readonly kind: 'invalid' | 'alreadyExists' | 'failedPrecondition' | 'notFound',
    message: string,
    readonly field: string,
    readonly description: string,
  ) {
    super(message);
  }
}

/**
 * Google's text for ALREADY_EXISTS (the 409 of a duplicate group name; GAM matches "requested entity already exists").
 */
export const ALREADY_EXISTS_MESSAGE = 'Requested entity already exists';

/**
 * Checks a new or changed group name: non-blank (doc §3.3 [?]), at most settings.maxGroupNameLength characters [?],
 * unique among the user's live groups, system names included (comparison per settings.groupNamesCaseInsensitive) →
 * 409 "Attempting to create a group with a duplicate name will return a HTTP 409 error." (ContactGroup.name).
 */
export function checkGroupName(
  state: EmulatorState,
  store: GroupStore,
  name: unknown,
  field: string,
  self?: StoredGroup,
): string {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new GroupError(
      'invalid',
      GENERIC_INVALID,
      field,
      `a contact group needs a name that is not blank, got ${JSON.stringify(name)}`,
    );
  }
  const settings = peopleSettings(state);
  const length = [...name].length;
  if (length > settings.maxGroupNameLength) {
    throw new GroupError(
      'invalid',
      GENERIC_INVALID,
      field,
      `a contact group name may have at most ${settings.maxGroupNameLength} characters, got ${length}`,
    );
  }
  const key = (s: string) => (settings.groupNamesCaseInsensitive ? s.toLowerCase() : s);
  const clash = liveGroups(store).find((g) => g !== self && key(g.name) === key(name));
  if (clash) {
    throw new GroupError(
      'alreadyExists',
      ALREADY_EXISTS_MESSAGE,
      field,
      `the user already has a contact group named ${JSON.stringify(clash.name)} (${clash.resourceName})`,
    );
  }
  return name;
}

/** GroupClientData: `[{key, value}]`. */
export function checkGroupClientData(raw: unknown, field: string): FieldItem[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw) || raw.some((d) => typeof d !== 'object' || d === null || Array.isArray(d))) {
    throw new GroupError(
      'invalid',
      `Invalid value at '${field}': expected a JSON array of {key, value}, got ${JSON.stringify(raw)}`,
      field,
      `expected a JSON array of {key, value}, got ${JSON.stringify(raw)}`,
    );
  }
  return (raw as FieldItem[]).map((d, i) => {
    for (const k of Object.keys(d)) {
      if (k !== 'key' && k !== 'value') {
        throw new GroupError(
          'invalid',
          `Invalid JSON payload received. Unknown name "${k}" at '${field}[${i}]': Cannot find field.`,
          `${field}[${i}].${k}`,
          `GroupClientData has only key and value, got "${k}"`,
        );
      }
    }
    const out: FieldItem = {};
    if (d.key !== undefined && d.key !== null) out.key = String(d.key);
    if (d.value !== undefined && d.value !== null) out.value = String(d.value);
    return out;
  });
}

export function createGroup(
  state: EmulatorState,
  store: GroupStore,
  name: string,
  clientData?: FieldItem[],
): StoredGroup {
  let rn = `contactGroups/${randomBytes(8).toString('hex')}`;
  while (store.groups.has(rn)) rn = `contactGroups/${randomBytes(8).toString('hex')}`;
  const g: StoredGroup = {
    resourceName: rn,
    system: false,
    name,
    etag: '',
    updateTime: '',
    deleted: false,
    changeSeq: 0,
  };
  if (clientData && clientData.length > 0) g.clientData = clientData;
  stampGroup(state, store, g);
  store.groups.set(rn, g);
  return g;
}

/** "All updated fields will be replaced": an empty clientData clears it. Every update gives a new etag. */
export function updateGroup(
  state: EmulatorState,
  store: GroupStore,
  g: StoredGroup,
  change: { name?: string; clientData?: FieldItem[] | null },
): void {
  if (change.name !== undefined) g.name = change.name;
  if (change.clientData !== undefined) {
    if (change.clientData && change.clientData.length > 0) g.clientData = change.clientData;
    else delete g.clientData;
  }
  stampGroup(state, store, g);
}

/** [?] Renaming or deleting a system group is not documented (doc §3.2); the emulator refuses it with 400. */
export function refuseSystemGroup(g: StoredGroup, what: 'updated' | 'deleted', field: string): void {
  if (g.system) {
    throw new GroupError(
      'invalid',
      GENERIC_INVALID,
      field,
      `${g.resourceName} is a system contact group and cannot be ${what}`,
    );
  }
}

/**
 * Deletes a user group: a tombstone for group sync. With deleteContacts ("Set to true to also delete the contacts in
 * the specified group") its members are deleted (connections sync reports them deleted); otherwise each member loses
 * that membership (a contact change, settings.membershipChangesBumpContact) and one left without any group gets
 * myContacts, since "a contact must always have at least one contact group membership" [?] (doc §4).
 */
export function deleteGroup(
  state: EmulatorState,
  user: EmulatorUser,
  g: StoredGroup,
  deleteContacts: boolean,
): { contacts: number } {
  const contacts = contactStore(state, user);
  const members = membersOf(contacts, g.resourceName);
  for (const c of members) {
    if (deleteContacts) {
      deleteContact(state, contacts, c);
      continue;
    }
    const rest = groupNamesOf(c.data).filter((rn) => rn !== g.resourceName);
    setMemberships(state, contacts, c, rest.length > 0 ? rest : [MY_CONTACTS_GROUP]);
  }
  g.deleted = true;
  delete g.clientData;
  stampGroup(state, groupStore(state, user), g);
  return { contacts: members.length };
}

export interface ModifyResult {
  notFoundResourceNames: string[];
  canNotRemoveLastContactGroupResourceNames: string[];
  /** contacts whose memberships changed */
  changed: string[];
}

/**
 * contactGroups.members.modify: adds then removes `g` on each named contact. Unknown, deleted or malformed names go to
 * notFoundResourceNames; a removal that would leave a contact without any contact group goes to
 * canNotRemoveLastContactGroupResourceNames and leaves that contact untouched (ModifyContactGroupMembersResponse).
 * Adding a member again or removing a non-member changes nothing [?]. Adds to a deprecated system group are refused
 * by the caller before this runs.
 */
export function modifyMembers(
  state: EmulatorState,
  user: EmulatorUser,
  g: StoredGroup,
  add: readonly string[],
  remove: readonly string[],
): ModifyResult {
  const contacts = contactStore(state, user);
  const result: ModifyResult = {
    notFoundResourceNames: [],
    canNotRemoveLastContactGroupResourceNames: [],
    changed: [],
  };
  const adds = new Set(add);
  const removes = new Set(remove);
  for (const rn of new Set([...add, ...remove])) {
    const c = liveContact(contacts, rn);
    if (!c) {
      result.notFoundResourceNames.push(rn);
      continue;
    }
    const current = groupNamesOf(c.data);
    let next = adds.has(rn) && !current.includes(g.resourceName) ? [...current, g.resourceName] : current;
    if (removes.has(rn)) {
      next = next.filter((x) => x !== g.resourceName);
      if (next.length === 0) {
        result.canNotRemoveLastContactGroupResourceNames.push(rn);
        continue;
      }
    }
    if (setMemberships(state, contacts, c, next)) result.changed.push(rn);
  }
  return result;
}

/**
 * The groups a create or update names in `memberships` must be the user's live groups (400 otherwise [?]; doc §1.10
 * leaves 400 or 404 open), and only "user group or myContacts or starred system groups memberships can be added"
 * (ContactGroupMembership): naming a deprecated system group the contact is not already in (`current`) → 400
 * "Cannot add contacts to deprecated system contact group". `allowDeprecated`: the admin contact routes, which seed
 * contacts as they may be in Google (legacy contacts can sit in friends or family from before the deprecation).
 */
export function checkMembershipTargets(
  state: EmulatorState,
  user: EmulatorUser,
  data: PersonData,
  path: string,
  current: readonly string[] = [],
  allowDeprecated = false,
): void {
  const groups = groupStore(state, user);
  groupNamesOf(data).forEach((rn, i) => {
    const field = `${path}.memberships[${i}].contactGroupMembership.contactGroupResourceName`;
    if (!liveGroup(groups, rn)) {
      throw new PersonInputError(GENERIC_INVALID, field, 'invalid', `the user has no contact group ${rn}`);
    }
    if (isDeprecatedSystemGroup(rn) && !current.includes(rn) && !allowDeprecated) {
      throw new PersonInputError(
        DEPRECATED_GROUP_MESSAGE,
        field,
        'invalid',
        `${rn} is a deprecated system contact group: only user groups, contactGroups/myContacts and contactGroups/starred can be added`,
      );
    }
  });
}

export function newGroupToken(
  store: GroupStore,
  record: GroupSyncRecord | GroupPageRecord,
  pageTokenLifetimeMs: number,
): string {
  return store.tokens.issue(record, record.issuedAtMs, record.kind === 'page' ? pageTokenLifetimeMs : Infinity);
}
