/**
 * People API v1, the contact methods the gateway uses: people.connections.list (full and incremental sync),
 * people.get, people.getBatchGet, people.createContact, people.updateContact, people.deleteContact,
 * people.batchCreateContacts, people.batchUpdateContacts, people.batchDeleteContacts and people.searchContacts;
 * and contact groups ("labels"): contactGroups.list (with sync tokens), get, batchGet, create, update, delete and
 * contactGroups.members.modify (store and rendering in people/groups.ts).
 * Reference: https://developers.google.com/people/api/rest/v1/people,
 * https://developers.google.com/people/api/rest/v1/contactGroups and the method texts in @googleapis/people v1.d.ts;
 * wire facts and their sources in docs/google-behaviour.md §2 and §5, and for contact details, labels and
 * memberships in docs/google-people-contact-details.md.
 *
 * People errors use the OnePlatform envelope (code, message, status, details; no `errors[]`), except the stale-etag
 * answer, whose legacy reason `failedPrecondition` Google documents and clients print
 * (https://developers.google.com/people/api/rest/v1/people/updateContact; docs/google-behaviour.md §2.3).
 *
 * Not emulated (the gateway does not depend on them): other contacts, the directory, photos, the extra fixed quota on
 * the first page of a full sync, and the staleness of the searchContacts cache (Google asks for a warm-up request with
 * an empty query; the emulator answers it with no results and its index is always fresh).
 */
import { API_INFO, GoogleApiError, apiError, errorInfo, notFound } from './errors';
import type { AdminRequest, ApiCall, ApiRegistry, ApiResponse, HttpMethod } from './registry';
import type { EmulatorState, EmulatorUser } from './state';
import {
  GENERIC_INVALID,
  GROUP_RESOURCE_NAME,
  PersonInputError,
  READ_FIELDS,
  UPDATE_FIELDS,
  groupNamesOf,
  matchesQuery,
  nameKey,
  parseMask,
  personDataFromBody,
  renderPerson,
  type FieldItem,
  type PersonData,
  type PersonInputOptions,
  type ReadField,
  type StoredContact,
  type UpdateField,
} from './people/person';
import {
  PAGE_TOKEN_LIFETIME_SECONDS,
  contactStore,
  createContact,
  deleteContact,
  liveContact,
  newToken,
  peopleSettings,
  updateContact,
  updatePeopleSettings,
  visibleSeq,
  type ContactStore,
  type ListFingerprint,
  type PageTokenRecord,
  type SyncTokenRecord,
} from './people/store';
import {
  CREATE_READ_GROUP_FIELDS,
  DEFAULT_GROUP_FIELDS,
  DEFAULT_READ_GROUP_FIELDS,
  DEPRECATED_GROUP_MESSAGE,
  GROUP_FIELDS,
  GroupError,
  UPDATE_GROUP_FIELDS,
  checkGroupClientData,
  checkGroupName,
  checkMembershipTargets,
  createGroup,
  deleteGroup,
  groupStore,
  isDeprecatedSystemGroup,
  liveGroup,
  liveGroups,
  memberCounts,
  membersOf,
  modifyMembers,
  newGroupToken,
  refuseSystemGroup,
  renderGroup,
  updateGroup,
  type GroupField,
  type GroupPageRecord,
  type GroupSyncRecord,
  type StoredGroup,
  type UpdateGroupField,
} from './people/groups';

export { defaultPeopleSettings, type PeopleSettings } from './people/store';

// --- limits (generated client docs unless noted) ---------------------------------------------------------------

/**
 * connections.list pageSize: "Valid values are between 1 and 1000, inclusive. Defaults to 100 if not set or set to 0."
 */
export const CONNECTIONS_DEFAULT_PAGE_SIZE = 100;
export const CONNECTIONS_MAX_PAGE_SIZE = 1000;
/** getBatchGet: "There is a maximum of 200 resource names." */
export const BATCH_GET_MAX_RESOURCE_NAMES = 200;
/** batchCreateContacts / batchUpdateContacts: "Allows up to 200 contacts in a single request." */
export const BATCH_MUTATE_MAX_CONTACTS = 200;
/** batchDeleteContacts: "Allows up to 500 resource names in a single request." */
export const BATCH_DELETE_MAX_RESOURCE_NAMES = 500;
/**
 * searchContacts pageSize: "Defaults to 10 if field is not set, or set to 0. Values greater than 30 will be capped to
 * 30."
 */
export const SEARCH_DEFAULT_PAGE_SIZE = 10;
export const SEARCH_MAX_PAGE_SIZE = 30;
/**
 * contactGroups.list pageSize: "Valid values are between 1 and 1000, inclusive. Defaults to 30 if not set or set to 0."
 */
export const GROUPS_DEFAULT_PAGE_SIZE = 30;
export const GROUPS_MAX_PAGE_SIZE = 1000;
/** contactGroups.batchGet: "There is a maximum of 200 resource names." */
export const GROUPS_BATCH_GET_MAX_RESOURCE_NAMES = 200;
/**
 * contactGroups.members.modify: "The total number of resource names in resource_names_to_add and
 * resource_names_to_remove must be less than or equal to 1000." More → 400 [? wording].
 */
export const MODIFY_MEMBERS_MAX_RESOURCE_NAMES = 1000;

/**
 * Per-user per-minute quotas (Cloud console defaults, not in public docs; docs/google-behaviour.md §2.6).
 * Reads: "Critical read requests (Contact and Profile Reads) per minute per user", about 90 [obs MrCaspan PR#1];
 * updateContact draws from it too [obs fleapower#14/#16].
 * Writes: Google's write limit is not documented anywhere we found [?]; 90 per minute per user is a guess of the same
 * order as the read limit, low enough that a client which does not batch notices. Override either with
 * settings.quotas['people.criticalReads' | 'people.writes'].limitPerMinute.
 */
export const PEOPLE_READS_BUCKET = 'people.criticalReads';
export const PEOPLE_WRITES_BUCKET = 'people.writes';
export const PEOPLE_CRITICAL_READS_PER_USER_PER_MINUTE = 90;
export const PEOPLE_WRITES_PER_USER_PER_MINUTE = 90;

const CONTACTS = 'https://www.googleapis.com/auth/contacts';
const CONTACTS_READONLY = 'https://www.googleapis.com/auth/contacts.readonly';
/**
 * Scopes per method from the generated samples: reads accept contacts and contacts.readonly, writes only contacts.
 * The registry adds https://www.google.com/m8/feeds while settings.acceptM8FeedsForPeople is on (docs/google-behaviour.md §2.5;
 * https://developers.google.com/people/contacts-api-migration names its replacements).
 * [?] people.get / getBatchGet also accept profile scopes for people/me; the gateway never reads profiles.
 */
const READ_SCOPES = [CONTACTS, CONTACTS_READONLY];
const WRITE_SCOPES = [CONTACTS];

const RPC = 'google.people.v1.PeopleService.';
const GROUP_RPC = 'google.people.v1.ContactGroupService.';
const BAD_REQUEST = 'type.googleapis.com/google.rpc.BadRequest';
const RESOURCE_INFO = 'type.googleapis.com/google.rpc.ResourceInfo';

/** `people/c<digits>`: a contact. `people/<digits>`: a profile. */
const CONTACT_NAME = /^people\/c\d+$/;
const PROFILE_NAME = /^people\/\d+$/;
const PERSON_IN_PATH = '(?<resourceName>people/[^/:]+)';
const GROUP_IN_PATH = '(?<resourceName>contactGroups/[^/:]+)';

type SortOrder =
  'LAST_MODIFIED_ASCENDING' | 'LAST_MODIFIED_DESCENDING' | 'FIRST_NAME_ASCENDING' | 'LAST_NAME_ASCENDING';
const SORT_ORDERS: readonly SortOrder[] = [
  'LAST_MODIFIED_ASCENDING',
  'LAST_MODIFIED_DESCENDING',
  'FIRST_NAME_ASCENDING',
  'LAST_NAME_ASCENDING',
];

export function register(registry: ApiRegistry, state: EmulatorState): void {
  registry.defineQuotaBucket({
    id: PEOPLE_READS_BUCKET,
    api: 'people',
    defaultLimitPerMinute: PEOPLE_CRITICAL_READS_PER_USER_PER_MINUTE,
    defaultErrorStatus: 429,
    metric: 'Critical read requests (Contact and Profile Reads)',
    limitName: 'Critical read requests (Contact and Profile Reads) per minute per user',
    metricId: 'people.googleapis.com/contact_profile_reads_critical',
    limitId: 'CriticalReadRequestsContactAndProfileReadsPerMinutePerUser',
    legacyReason: 'rateLimitExceeded',
    source: 'docs/google-behaviour.md §2.6 [obs MrCaspan PR#1, GAMADV-XTD3#315]',
  });
  registry.defineQuotaBucket({
    id: PEOPLE_WRITES_BUCKET,
    api: 'people',
    defaultLimitPerMinute: PEOPLE_WRITES_PER_USER_PER_MINUTE,
    defaultErrorStatus: 429,
    metric: 'Write requests (Contact and Profile Writes)',
    limitName: 'Write requests (Contact and Profile Writes) per minute per user',
    metricId: 'people.googleapis.com/contact_profile_writes',
    limitId: 'WriteRequestsContactAndProfileWritesPerMinutePerUser',
    legacyReason: 'rateLimitExceeded',
    source: 'uncertain [?]: Google publishes no People write quota; see PEOPLE_WRITES_PER_USER_PER_MINUTE',
  });
  const reads = { bucket: PEOPLE_READS_BUCKET, cost: 1 };
  const writes = { bucket: PEOPLE_WRITES_BUCKET, cost: 1 };
  const method = (
    id: string,
    rpc: string,
    httpMethod: HttpMethod,
    path: RegExp,
    write: boolean,
    quota: typeof reads,
    handler: (call: ApiCall) => ApiResponse,
  ) =>
    registry.register({
      api: 'people',
      id: `people.people.${id}`,
      rpcMethod: RPC + rpc,
      httpMethod,
      path,
      scopes: write ? WRITE_SCOPES : READ_SCOPES,
      quota,
      handler: (call) => guard(handler, call),
    });
  // Contact groups: reads accept contacts and contacts.readonly, writes only contacts (generated samples); writes
  // draw from the write bucket and reads from the critical-read bucket (doc §7; the numbers are [?] as above).
  const groupMethod = (
    id: string,
    rpc: string,
    httpMethod: HttpMethod,
    path: RegExp,
    write: boolean,
    handler: (call: ApiCall) => ApiResponse,
  ) =>
    registry.register({
      api: 'people',
      id: `people.contactGroups.${id}`,
      rpcMethod: GROUP_RPC + rpc,
      httpMethod,
      path,
      scopes: write ? WRITE_SCOPES : READ_SCOPES,
      quota: write ? writes : reads,
      handler: (call) => guard(handler, call),
    });

  method(
    'connections.list',
    'ListConnections',
    'GET',
    new RegExp(`^/v1/${PERSON_IN_PATH}/connections$`),
    false,
    reads,
    listConnections,
  );
  method('getBatchGet', 'GetPeople', 'GET', /^\/v1\/people:batchGet$/, false, reads, getBatchGet);
  method('searchContacts', 'SearchContacts', 'GET', /^\/v1\/people:searchContacts$/, false, reads, searchContacts);
  method('createContact', 'CreateContact', 'POST', /^\/v1\/people:createContact$/, true, writes, createContactCall);
  method(
    'batchCreateContacts',
    'BatchCreateContacts',
    'POST',
    /^\/v1\/people:batchCreateContacts$/,
    true,
    writes,
    batchCreateContacts,
  );
  method(
    'batchUpdateContacts',
    'BatchUpdateContacts',
    'POST',
    /^\/v1\/people:batchUpdateContacts$/,
    true,
    writes,
    batchUpdateContacts,
  );
  method(
    'batchDeleteContacts',
    'BatchDeleteContacts',
    'POST',
    /^\/v1\/people:batchDeleteContacts$/,
    true,
    writes,
    batchDeleteContacts,
  );
  // updateContact is metered as a read [obs fleapower#14/#16]; it still needs the read-write scope.
  method(
    'updateContact',
    'UpdateContact',
    'PATCH',
    new RegExp(`^/v1/${PERSON_IN_PATH}:updateContact$`),
    true,
    reads,
    updateContactCall,
  );
  method(
    'deleteContact',
    'DeleteContact',
    'DELETE',
    new RegExp(`^/v1/${PERSON_IN_PATH}:deleteContact$`),
    true,
    writes,
    deleteContactCall,
  );
  method('get', 'GetPerson', 'GET', new RegExp(`^/v1/${PERSON_IN_PATH}$`), false, reads, getPerson);

  groupMethod('list', 'ListContactGroups', 'GET', /^\/v1\/contactGroups$/, false, listGroups);
  groupMethod('batchGet', 'BatchGetContactGroups', 'GET', /^\/v1\/contactGroups:batchGet$/, false, batchGetGroups);
  groupMethod('create', 'CreateContactGroup', 'POST', /^\/v1\/contactGroups$/, true, createGroupCall);
  groupMethod('get', 'GetContactGroup', 'GET', new RegExp(`^/v1/${GROUP_IN_PATH}$`), false, getGroup);
  groupMethod('update', 'UpdateContactGroup', 'PUT', new RegExp(`^/v1/${GROUP_IN_PATH}$`), true, updateGroupCall);
  groupMethod('delete', 'DeleteContactGroup', 'DELETE', new RegExp(`^/v1/${GROUP_IN_PATH}$`), true, deleteGroupCall);
  groupMethod(
    'members.modify',
    'ModifyContactGroupMembers',
    'POST',
    new RegExp(`^/v1/${GROUP_IN_PATH}/members:modify$`),
    true,
    modifyMembersCall,
  );

  registerAdminRoutes(registry, state);
}

/** Turns the person and group validators' errors into Google's answers. */
function guard(handler: (call: ApiCall) => ApiResponse, call: ApiCall): ApiResponse {
  try {
    return handler(call);
  } catch (e) {
    if (e instanceof PersonInputError) throw invalidArgument(e.message, e.field, e.description ?? e.message);
    if (e instanceof GroupError) throw groupError(e);
    throw e;
  }
}

/** The person validators' options from the settings. */
function personOptions(state: EmulatorState): PersonInputOptions {
  return { strictDates: peopleSettings(state).strictDates };
}

// --- errors -------------------------------------------------------------------------------------------------------

/**
 * 400 INVALID_ARGUMENT. Google's OnePlatform answer is usually "Request contains an invalid argument." with a
 * google.rpc.BadRequest detail naming the field; the detail here also says what was expected and what was received.
 */
function invalidArgument(message: string, field: string, description: string): GoogleApiError {
  return apiError('people', {
    code: 400,
    status: 'INVALID_ARGUMENT',
    message,
    reason: 'badRequest',
    details: [{ '@type': BAD_REQUEST, fieldViolations: [{ field, description }] }],
  });
}

function maskRequired(param: string, doc: string): GoogleApiError {
  // Text observed for personFields [obs googleapis/google-api-nodejs-client#989]; the same pattern is used for the
  // other masks [?].
  return invalidArgument(
    `${param} mask is required. Please specify one or more valid paths. Valid paths are documented at https://developers.google.com/people/api/rest/v1/people/${doc}.`,
    param,
    `${param} is required and was not set`,
  );
}

/**
 * The exact EXPIRED_SYNC_TOKEN body (docs/google-behaviour.md §2.2; tokens expire after 7 days:
 * https://developers.google.com/people/api/rest/v1/people.connections/list), status per settings.expiredSyncTokenStatus.
 */
function expiredSyncToken(state: EmulatorState): GoogleApiError {
  return apiError('people', {
    code: 400,
    status: peopleSettings(state).expiredSyncTokenStatus,
    message: 'Sync token is expired. Clear local cache and retry call without the sync token.',
    reason: 'failedPrecondition',
    details: [errorInfo('EXPIRED_SYNC_TOKEN', API_INFO.people.service)],
  });
}

/**
 * Stale etag: docs/google-behaviour.md §2.3 [src v1.ts; obs google-api-go-client#1904 "…latest person.,
 * failedPrecondition"].
 */
const STALE_ETAG_MESSAGE =
  'Request person.etag is different than the current person.etag. Clear local cache and get the latest person.';
function staleEtag(resourceNames: string[]): GoogleApiError {
  return apiError('people', {
    code: 400,
    status: 'FAILED_PRECONDITION',
    message: STALE_ETAG_MESSAGE,
    reason: 'failedPrecondition',
    legacyErrors: true,
    details: resourceNames.map((rn) => ({
      '@type': RESOURCE_INFO,
      resourceType: 'person',
      resourceName: rn,
      description: 'person.etag is stale',
    })),
  });
}

/**
 * [obs] several client reports quote this text for an update without any etag (status reported as INVALID_ARGUMENT).
 */
const ETAG_REQUIRED_MESSAGE =
  'Request must set person.etag or person.metadata.sources.etag for the source that is being updated.';

function notFoundNames(resourceNames: string[]): GoogleApiError {
  const e = notFound('people');
  e.body.error.details = resourceNames.map((rn) => ({
    '@type': RESOURCE_INFO,
    resourceType: 'person',
    resourceName: rn,
    description: 'no such contact',
  }));
  return e;
}

function checkContactName(rn: string, field: string): void {
  if (!CONTACT_NAME.test(rn)) {
    throw invalidArgument(
      `Resource name "${rn}" is not a valid contact resource name.`,
      field,
      `expected a contact resource name like people/c1234567890 (as returned by connections.list), got "${rn}"`,
    );
  }
}

// --- query parameters -----------------------------------------------------------------------------------------------

function readMaskParam(call: ApiCall, param: 'personFields' | 'readMask', doc: string, required: boolean): ReadField[] {
  let raw = call.query.get(param);
  // The deprecated `requestMask.includeField` ("person.names,person.email_addresses") still works on Google.
  if ((raw === null || raw === '') && param === 'personFields') raw = call.query.get('requestMask.includeField');
  const mask = parseMask(raw, READ_FIELDS, param);
  if (mask.length === 0 && required) throw maskRequired(param, doc);
  return mask;
}

function intParam(call: ApiCall, name: string, protoName: string): number | undefined {
  const raw = call.query.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^-?\d+$/.test(raw))
    throw invalidArgument(
      `Invalid value at '${protoName}' (TYPE_INT32), "${raw}"`,
      protoName,
      `expected an integer, got "${raw}"`,
    );
  return Number(raw);
}

function boolParam(call: ApiCall, name: string, protoName: string): boolean {
  const raw = call.query.get(name);
  if (raw === null || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  throw invalidArgument(
    `Invalid value at '${protoName}' (TYPE_BOOL), "${raw}"`,
    protoName,
    `expected true or false, got "${raw}"`,
  );
}

// --- connections.list -----------------------------------------------------------------------------------------------

function listConnections(call: ApiCall): ApiResponse {
  const { state } = call;
  if (call.params.resourceName !== 'people/me') {
    throw invalidArgument(
      GENERIC_INVALID,
      'resource_name',
      `only people/me is valid, got "${call.params.resourceName}"`,
    );
  }
  const store = contactStore(state, call.user);
  const mask = readMaskParam(call, 'personFields', 'get', true);
  const size = intParam(call, 'pageSize', 'page_size') ?? 0;
  if (size < 0 || size > CONNECTIONS_MAX_PAGE_SIZE) {
    throw invalidArgument(
      GENERIC_INVALID,
      'page_size',
      `pageSize must be between 1 and ${CONNECTIONS_MAX_PAGE_SIZE}, got ${size}`,
    );
  }
  const pageSize = size === 0 ? CONNECTIONS_DEFAULT_PAGE_SIZE : size;
  const sortOrder = (call.query.get('sortOrder') || 'LAST_MODIFIED_ASCENDING') as SortOrder;
  if (!SORT_ORDERS.includes(sortOrder)) {
    throw invalidArgument(
      `Invalid value at 'sort_order' (type.googleapis.com/google.people.v1.ListConnectionsRequest.SortOrder), "${sortOrder}"`,
      'sort_order',
      `expected one of ${SORT_ORDERS.join(', ')}, got "${sortOrder}"`,
    );
  }
  const requestSyncToken = boolParam(call, 'requestSyncToken', 'request_sync_token');
  const syncToken = call.query.get('syncToken') || undefined;
  const pageToken = call.query.get('pageToken') || undefined;
  // "When the pageToken or syncToken is specified, all other request parameters must match the first call."
  // Masks are compared as sets. A sync token does not pin pageSize: the older text of the same page said "…must match
  // the initial call that provided the sync token, except pageSize and pageToken" [?]. It pins requestSyncToken
  // unless settings.requestSyncTokenMustMatch is off (store.ts).
  const syncFingerprint: ListFingerprint = {
    personFields: [...mask].sort().join(','),
    sortOrder,
    sources: call.query.getAll('sources').sort().join(','),
  };
  if (peopleSettings(state).requestSyncTokenMustMatch) syncFingerprint.requestSyncToken = String(requestSyncToken);
  const pageFingerprint: ListFingerprint = {
    ...syncFingerprint,
    pageSize: String(pageSize),
    requestSyncToken: String(requestSyncToken),
    syncToken: syncToken ?? '',
  };
  const now = state.nowMs();

  if (pageToken) {
    const rec = store.tokens.get(pageToken, now);
    if (!rec || rec.kind !== 'page') {
      throw invalidArgument(
        GENERIC_INVALID,
        'page_token',
        'the page token is not one this server issued for this user, or it has expired',
      );
    }
    checkFingerprint(rec.fingerprint, pageFingerprint, 'page token');
    return { body: listPage(call, store, rec, mask, pageSize, requestSyncToken || rec.incremental) };
  }

  let listing: Omit<PageTokenRecord, 'offset'>;
  if (syncToken) {
    const rec = liveSyncToken<SyncTokenRecord>(state, store.tokens, syncToken, now);
    // With the setting off, a token issued while it was on does not pin requestSyncToken either.
    const { requestSyncToken: _pinned, ...withoutRequestSyncToken } = rec.fingerprint;
    checkFingerprint(
      peopleSettings(state).requestSyncTokenMustMatch ? rec.fingerprint : withoutRequestSyncToken,
      syncFingerprint,
      'sync token',
    );
    const cutoff = visibleSeq(state, store);
    const changed = [...store.contacts.values()].filter((c) => c.changeSeq > rec.seq && c.changeSeq <= cutoff);
    listing = {
      kind: 'page',
      names: sortContacts(changed, sortOrder).map((c) => c.resourceName),
      fingerprint: pageFingerprint,
      syncSeq: cutoff,
      fullSyncAtMs: rec.fullSyncAtMs,
      issuedAtMs: now,
      incremental: true,
    };
  } else {
    const cutoff = visibleSeq(state, store);
    // A full sync lists the live contacts whose creation has propagated (syncPropagationDelaySeconds).
    const live = [...store.contacts.values()].filter((c) => !c.deleted && c.createdVisibleAtMs <= now);
    listing = {
      kind: 'page',
      names: sortContacts(live, sortOrder).map((c) => c.resourceName),
      fingerprint: pageFingerprint,
      syncSeq: cutoff,
      fullSyncAtMs: now,
      issuedAtMs: now,
      incremental: false,
    };
  }
  // Incremental calls always get a next sync token on the last page: without one the client could not continue.
  return {
    body: listPage(call, store, { ...listing, offset: 0 }, mask, pageSize, requestSyncToken || listing.incremental),
  };
}

/**
 * The record of a sync token this server issued for this user (400 otherwise), not expired: the lifetime and what it
 * counts from are the people settings', for contacts and contact groups alike (EXPIRED_SYNC_TOKEN otherwise).
 */
function liveSyncToken<S extends { kind: 'sync'; fullSyncAtMs: number; issuedAtMs: number }>(
  state: EmulatorState,
  tokens: { get(token: string, nowMs: number): S | { kind: string } | undefined },
  token: string,
  now: number,
): S {
  const rec = tokens.get(token, now);
  if (!rec || rec.kind !== 'sync')
    throw invalidArgument(GENERIC_INVALID, 'sync_token', 'the sync token is not one this server issued for this user');
  const sync = rec as S;
  const settings = peopleSettings(state);
  const from = settings.syncTokenExpiresFrom === 'fullSync' ? sync.fullSyncAtMs : sync.issuedAtMs;
  if (now > from + settings.syncTokenLifetimeSeconds * 1000) throw expiredSyncToken(state);
  return sync;
}

function checkFingerprint(issued: ListFingerprint, now: ListFingerprint, what: string): void {
  for (const [key, expected] of Object.entries(issued)) {
    const got = now[key] ?? '';
    if (got !== expected) {
      throw invalidArgument(
        GENERIC_INVALID,
        key,
        `${key} must match the call that issued the ${what}: expected "${expected}", got "${got}"`,
      );
    }
  }
}

function sortContacts(contacts: StoredContact[], order: SortOrder): StoredContact[] {
  const bySeq = (a: StoredContact, b: StoredContact) => a.changeSeq - b.changeSeq;
  switch (order) {
    case 'LAST_MODIFIED_DESCENDING':
      return contacts.sort((a, b) => bySeq(b, a));
    case 'FIRST_NAME_ASCENDING':
      return contacts.sort((a, b) => nameKey(a, 'givenName').localeCompare(nameKey(b, 'givenName')) || bySeq(a, b));
    case 'LAST_NAME_ASCENDING':
      return contacts.sort((a, b) => nameKey(a, 'familyName').localeCompare(nameKey(b, 'familyName')) || bySeq(a, b));
    default:
      return contacts.sort(bySeq);
  }
}

function listPage(
  call: ApiCall,
  store: ContactStore,
  listing: PageTokenRecord,
  mask: ReadField[],
  pageSize: number,
  withSyncToken: boolean,
): Record<string, unknown> {
  const slice = listing.names.slice(listing.offset, listing.offset + pageSize);
  const connections: Record<string, unknown>[] = [];
  for (const rn of slice) {
    const c = store.contacts.get(rn);
    if (!c) continue;
    // A contact deleted while a full sync is being paged is left out; the next incremental sync reports the deletion.
    if (c.deleted && !listing.incremental) continue;
    connections.push(renderPerson(c, mask));
  }
  const body: Record<string, unknown> = {};
  if (connections.length > 0) body.connections = connections;
  const nextOffset = listing.offset + pageSize;
  if (nextOffset < listing.names.length) {
    body.nextPageToken = newToken(store, { ...listing, offset: nextOffset });
  } else if (withSyncToken) {
    // "When the response is paginated, only the last page will contain nextSyncToken." (ListConnectionsResponse)
    const record: SyncTokenRecord = {
      kind: 'sync',
      seq: listing.syncSeq,
      fullSyncAtMs: listing.fullSyncAtMs,
      issuedAtMs: call.state.nowMs(),
      fingerprint: {
        personFields: listing.fingerprint.personFields,
        sortOrder: listing.fingerprint.sortOrder,
        sources: listing.fingerprint.sources,
      },
    };
    // Only with the setting on: tokens then require requestSyncToken=true on the incremental call too.
    if (peopleSettings(call.state).requestSyncTokenMustMatch)
      record.fingerprint.requestSyncToken = listing.fingerprint.requestSyncToken;
    body.nextSyncToken = newToken(store, record);
  }
  // [?] proto3 JSON would omit zero totals; they are always sent so clients need no special case.
  body.totalPeople = listing.names.length;
  body.totalItems = listing.names.length;
  return body;
}

// --- get / getBatchGet -------------------------------------------------------------------------------------------

function getPerson(call: ApiCall): ApiResponse {
  const mask = readMaskParam(call, 'personFields', 'get', true);
  const rn = call.params.resourceName;
  const person = lookupForRead(call, rn, 'resource_name');
  if (!person) throw notFound('people');
  return { body: person(mask) };
}

/** A renderer for a readable person, undefined when unknown; 400 for a malformed name. */
function lookupForRead(
  call: ApiCall,
  rn: string,
  field: string,
): ((mask: ReadField[]) => Record<string, unknown>) | undefined {
  if (rn === 'people/me') return (mask) => profilePerson(call.user, mask);
  if (PROFILE_NAME.test(rn))
    return rn === profileResourceName(call.user) ? (mask) => profilePerson(call.user, mask) : undefined;
  checkContactName(rn, field);
  const c = liveContact(contactStore(call.state, call.user), rn);
  return c ? (mask) => renderPerson(c, mask) : undefined;
}

function getBatchGet(call: ApiCall): ApiResponse {
  const mask = readMaskParam(call, 'personFields', 'getBatchGet', true);
  const names = call.query.getAll('resourceNames');
  if (names.length === 0)
    throw invalidArgument(GENERIC_INVALID, 'resource_names', 'at least one resourceNames value is required, got none');
  if (names.length > BATCH_GET_MAX_RESOURCE_NAMES) {
    throw invalidArgument(
      GENERIC_INVALID,
      'resource_names',
      `at most ${BATCH_GET_MAX_RESOURCE_NAMES} resource names are allowed per request, got ${names.length}`,
    );
  }
  const responses = names.map((rn) => {
    let found;
    try {
      found = lookupForRead(call, rn, 'resource_names');
    } catch (e) {
      if (!(e instanceof GoogleApiError)) throw e;
      return {
        httpStatusCode: 400,
        requestedResourceName: rn,
        status: { code: 3, message: `Resource name "${rn}" is not a valid person resource name.` },
      };
    }
    if (!found)
      return {
        httpStatusCode: 404,
        requestedResourceName: rn,
        status: { code: 5, message: 'Requested entity was not found.' },
      };
    return { httpStatusCode: 200, person: found(mask), requestedResourceName: rn, status: {} };
  });
  return { body: { responses } };
}

/** people/me: the user's own profile (a PROFILE source with the primary address), enough for "who am I" reads. */
function profileResourceName(user: EmulatorUser): string {
  let h = 0n;
  for (const ch of user.email) h = (h * 131n + BigInt(ch.codePointAt(0)!)) % 10n ** 20n;
  return `people/1${h.toString().padStart(20, '0')}`;
}
function profilePerson(user: EmulatorUser, mask: ReadField[]): Record<string, unknown> {
  const rn = profileResourceName(user);
  const source = { type: 'PROFILE', id: rn.slice('people/'.length) };
  const out: Record<string, unknown> = { resourceName: rn, etag: `%${Buffer.from(rn).toString('base64')}` };
  const local = user.email.split('@')[0];
  if (mask.includes('metadata')) out.metadata = { sources: [source], objectType: 'PERSON' };
  if (mask.includes('names'))
    out.names = [{ metadata: { primary: true, source }, displayName: local, unstructuredName: local }];
  if (mask.includes('emailAddresses'))
    out.emailAddresses = [{ metadata: { primary: true, verified: true, source }, value: user.email }];
  return out;
}

// --- writes -------------------------------------------------------------------------------------------------------

function createContactCall(call: ApiCall): ApiResponse {
  const data = personDataFromBody(call.jsonObject(), 'person', undefined, personOptions(call.state));
  checkMembershipTargets(call.state, call.user, data, 'person');
  const mask = readMaskParam(call, 'personFields', 'createContact', false);
  const c = createContact(call.state, contactStore(call.state, call.user), data);
  // "Defaults to all fields if not set."
  return { body: renderPerson(c, mask.length ? mask : READ_FIELDS) };
}

function updateMaskParam(raw: unknown, param: 'updatePersonFields' | 'updateMask'): UpdateField[] {
  if (raw !== undefined && raw !== null && typeof raw !== 'string') {
    throw invalidArgument(
      GENERIC_INVALID,
      param,
      `expected a comma-separated field mask string, got ${JSON.stringify(raw)}`,
    );
  }
  const fields = parseMask(raw, UPDATE_FIELDS, param);
  if (fields.length === 0)
    throw maskRequired(param, param === 'updatePersonFields' ? 'updateContact' : 'batchUpdateContacts');
  return fields;
}

/** The etag the request carries: person.etag, else the CONTACT source's etag (updateContact description). */
function requestEtag(body: Record<string, unknown>): { etag?: string; sourceEtag?: string } {
  if (typeof body.etag === 'string' && body.etag !== '') return { etag: body.etag };
  const sources = (body.metadata as { sources?: Array<{ type?: string; etag?: string }> } | undefined)?.sources;
  const s = Array.isArray(sources)
    ? sources.find((x) => x && typeof x.etag === 'string' && (x.type === undefined || x.type === 'CONTACT'))
    : undefined;
  return s ? { sourceEtag: s.etag } : {};
}

type UpdateCheck = { ok: true; contact: StoredContact; data: PersonData } | { ok: false; kind: 'notFound' | 'stale' };

/** Validates one contact update; throws 400 for malformed input, reports not-found and stale etags to the caller. */
function checkUpdate(
  call: ApiCall,
  store: ContactStore,
  rn: string,
  body: unknown,
  fields: UpdateField[],
  path: string,
): UpdateCheck {
  checkContactName(rn, path);
  const data = personDataFromBody(body, path, fields, personOptions(call.state));
  if (fields.includes('memberships') && !(data.memberships ?? []).some((m) => m.contactGroupMembership)) {
    // "The server returns a 400 error if memberships are being updated and there are no contact group memberships
    // specified on the person." (updateContact description)
    throw invalidArgument(
      GENERIC_INVALID,
      `${path}.memberships`,
      'updating memberships needs at least one contactGroupMembership, got none',
    );
  }
  const contact = liveContact(store, rn);
  if (!contact) return { ok: false, kind: 'notFound' };
  const sent = requestEtag(body as Record<string, unknown>);
  if (sent.etag === undefined && sent.sourceEtag === undefined) {
    throw invalidArgument(
      ETAG_REQUIRED_MESSAGE,
      `${path}.etag`,
      'expected the etag from the latest read of this person, got none',
    );
  }
  const current = sent.etag !== undefined ? sent.etag === contact.etag : sent.sourceEtag === contact.sourceEtag;
  if (!current) return { ok: false, kind: 'stale' };
  // The memberships replace the whole set (GAMADV-X#86); a deprecated system group may stay but not be added.
  if (fields.includes('memberships'))
    checkMembershipTargets(call.state, call.user, data, path, groupNamesOf(contact.data));
  return { ok: true, contact, data };
}

function updateContactCall(call: ApiCall): ApiResponse {
  const fields = updateMaskParam(call.query.get('updatePersonFields'), 'updatePersonFields');
  const mask = readMaskParam(call, 'personFields', 'updateContact', false);
  const store = contactStore(call.state, call.user);
  const rn = call.params.resourceName;
  const check = checkUpdate(call, store, rn, call.jsonObject(), fields, 'person');
  if (!check.ok) throw check.kind === 'notFound' ? notFound('people') : staleEtag([rn]);
  updateContact(call.state, store, check.contact, fields, check.data);
  return { body: renderPerson(check.contact, mask.length ? mask : READ_FIELDS) };
}

function deleteContactCall(call: ApiCall): ApiResponse {
  const rn = call.params.resourceName;
  checkContactName(rn, 'resource_name');
  const store = contactStore(call.state, call.user);
  const c = liveContact(store, rn);
  if (!c) throw notFound('people');
  deleteContact(call.state, store, c);
  return { body: {} };
}

function bodyReadMask(body: Record<string, unknown>): ReadField[] {
  const raw = body.readMask;
  if (raw !== undefined && raw !== null && typeof raw !== 'string') {
    throw invalidArgument(
      GENERIC_INVALID,
      'read_mask',
      `expected a comma-separated field mask string, got ${JSON.stringify(raw)}`,
    );
  }
  return parseMask(raw, READ_FIELDS, 'readMask');
}

/**
 * All-or-nothing: Google answers an invalid contact with BatchCreateContactsErrorDetails for the whole request, so
 * nothing is created unless every contact is valid [?].
 */
function batchCreateContacts(call: ApiCall): ApiResponse {
  const body = call.jsonObject();
  const contacts = body.contacts;
  if (!Array.isArray(contacts) || contacts.length === 0) {
    throw invalidArgument(
      GENERIC_INVALID,
      'contacts',
      `expected a non-empty array of {contactPerson}, got ${JSON.stringify(contacts)?.slice(0, 100)}`,
    );
  }
  if (contacts.length > BATCH_MUTATE_MAX_CONTACTS) {
    throw invalidArgument(
      GENERIC_INVALID,
      'contacts',
      `at most ${BATCH_MUTATE_MAX_CONTACTS} contacts are allowed per request, got ${contacts.length}`,
    );
  }
  const mask = bodyReadMask(body);
  const datas = contacts.map((c, i) => {
    const person = (c as { contactPerson?: unknown } | null)?.contactPerson;
    if (person === undefined)
      throw invalidArgument(
        GENERIC_INVALID,
        `contacts[${i}].contact_person`,
        `contacts[${i}] needs a contactPerson, got ${JSON.stringify(c)}`,
      );
    const data = personDataFromBody(person, `contacts[${i}].contactPerson`, undefined, personOptions(call.state));
    checkMembershipTargets(call.state, call.user, data, `contacts[${i}].contactPerson`);
    return data;
  });
  const store = contactStore(call.state, call.user);
  const created = datas.map((d) => createContact(call.state, store, d));
  // "The contacts that were created, unless the request read_mask is empty."
  if (mask.length === 0) return { body: {} };
  return {
    body: { createdPeople: created.map((c) => ({ httpStatusCode: 200, person: renderPerson(c, mask), status: {} })) },
  };
}

/**
 * All-or-nothing with per-contact checks: one stale etag fails the request with the same 400 FAILED_PRECONDITION
 * as updateContact, naming every stale contact in a google.rpc.ResourceInfo detail; unknown contacts → 404 naming
 * them. [?] Google reports per-contact failures in BatchUpdateContactsErrorDetails; its JSON shape is not published.
 */
function batchUpdateContacts(call: ApiCall): ApiResponse {
  const body = call.jsonObject();
  const contacts = body.contacts;
  if (
    typeof contacts !== 'object' ||
    contacts === null ||
    Array.isArray(contacts) ||
    Object.keys(contacts).length === 0
  ) {
    throw invalidArgument(
      GENERIC_INVALID,
      'contacts',
      `expected a non-empty map of resource name → Person, got ${JSON.stringify(contacts)?.slice(0, 100)}`,
    );
  }
  const entries = Object.entries(contacts as Record<string, unknown>);
  if (entries.length > BATCH_MUTATE_MAX_CONTACTS) {
    throw invalidArgument(
      GENERIC_INVALID,
      'contacts',
      `at most ${BATCH_MUTATE_MAX_CONTACTS} contacts are allowed per request, got ${entries.length}`,
    );
  }
  const fields = updateMaskParam(body.updateMask, 'updateMask');
  const mask = bodyReadMask(body);
  const store = contactStore(call.state, call.user);
  const checks = entries.map(
    ([rn, person]) => [rn, checkUpdate(call, store, rn, person, fields, `contacts[${rn}]`)] as const,
  );
  const missing = checks.filter(([, c]) => !c.ok && c.kind === 'notFound').map(([rn]) => rn);
  if (missing.length > 0) throw notFoundNames(missing);
  const stale = checks.filter(([, c]) => !c.ok && c.kind === 'stale').map(([rn]) => rn);
  if (stale.length > 0) throw staleEtag(stale);
  const updateResult: Record<string, unknown> = {};
  for (const [rn, check] of checks) {
    if (!check.ok) continue;
    updateContact(call.state, store, check.contact, fields, check.data);
    updateResult[rn] = {
      httpStatusCode: 200,
      person: renderPerson(check.contact, mask),
      requestedResourceName: rn,
      status: {},
    };
  }
  // "A map of resource names to the contacts that were updated, unless the request read_mask is empty."
  return { body: mask.length === 0 ? {} : { updateResult } };
}

/** All-or-nothing: an unknown or already deleted contact → 404 naming it, nothing deleted [?]. */
function batchDeleteContacts(call: ApiCall): ApiResponse {
  const body = call.jsonObject();
  const names = body.resourceNames;
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string')) {
    throw invalidArgument(
      GENERIC_INVALID,
      'resource_names',
      `expected a non-empty array of resource names, got ${JSON.stringify(names)?.slice(0, 100)}`,
    );
  }
  if (names.length > BATCH_DELETE_MAX_RESOURCE_NAMES) {
    throw invalidArgument(
      GENERIC_INVALID,
      'resource_names',
      `at most ${BATCH_DELETE_MAX_RESOURCE_NAMES} resource names are allowed per request, got ${names.length}`,
    );
  }
  for (const rn of names as string[]) checkContactName(rn, 'resource_names');
  const store = contactStore(call.state, call.user);
  const unique = [...new Set(names as string[])];
  const missing = unique.filter((rn) => !liveContact(store, rn));
  if (missing.length > 0) throw notFoundNames(missing);
  for (const rn of unique) deleteContact(call.state, store, liveContact(store, rn)!);
  return { body: {} };
}

// --- searchContacts -------------------------------------------------------------------------------------------------

function searchContacts(call: ApiCall): ApiResponse {
  const mask = readMaskParam(call, 'readMask', 'searchContacts', true);
  const size = intParam(call, 'pageSize', 'page_size') ?? 0;
  if (size < 0) throw invalidArgument(GENERIC_INVALID, 'page_size', `pageSize must not be negative, got ${size}`);
  const pageSize = size === 0 ? SEARCH_DEFAULT_PAGE_SIZE : Math.min(size, SEARCH_MAX_PAGE_SIZE);
  const query = call.query.get('query') ?? '';
  // The empty query is Google's documented cache warm-up request; it returns no results.
  if (query.trim() === '') return { body: {} };
  const store = contactStore(call.state, call.user);
  const hits = [...store.contacts.values()].filter((c) => !c.deleted && matchesQuery(c, query)).slice(0, pageSize);
  return { body: hits.length ? { results: hits.map((c) => ({ person: renderPerson(c, mask) })) } : {} };
}

// --- contactGroups
// ----------------------------------------------------------------------------------------------------

/**
 * A GroupError (people/groups.ts) as Google answers it. Duplicate name → 409 ALREADY_EXISTS [doc: "will return a HTTP
 * 409 error"; status and text per GAM's matching, doc §3.3]; stale group etag → 400 FAILED_PRECONDITION [?].
 */
function groupError(e: GroupError): GoogleApiError {
  switch (e.kind) {
    case 'alreadyExists':
      return apiError('people', { code: 409, status: 'ALREADY_EXISTS', message: e.message, reason: 'alreadyExists' });
    case 'failedPrecondition':
      return apiError('people', {
        code: 400,
        status: 'FAILED_PRECONDITION',
        message: e.message,
        reason: 'failedPrecondition',
        details: [
          { '@type': RESOURCE_INFO, resourceType: 'contactGroup', resourceName: e.field, description: e.description },
        ],
      });
    case 'notFound':
      return notFound('people');
    default:
      return invalidArgument(e.message, e.field, e.description);
  }
}

/**
 * [?] Modelled on the person text (docs/google-behaviour.md §2.3); Google does not document the group answer (doc
 * §3.3).
 */
const STALE_GROUP_ETAG_MESSAGE =
  'Request contactGroup.etag is different than the current contactGroup.etag. Clear local cache and get the latest contactGroup.';

/** A group field mask (groupFields, readGroupFields, updateGroupFields) against its valid paths; empty → `fallback`. */
function groupMask<T extends string>(
  raw: unknown,
  valid: readonly T[],
  fallback: readonly T[],
  param: string,
  doc: string,
): T[] {
  if (raw !== undefined && raw !== null && typeof raw !== 'string') {
    throw invalidArgument(
      GENERIC_INVALID,
      param,
      `expected a comma-separated field mask string, got ${JSON.stringify(raw)}`,
    );
  }
  if (raw === undefined || raw === null || raw.trim() === '') return [...fallback];
  const out: T[] = [];
  for (const part of raw.split(',')) {
    const path = part
      .trim()
      .replace(/^contact_group\./, '')
      .replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()) as T;
    if (!valid.includes(path)) {
      const message = `Invalid ${param} mask path: "${part.trim()}". Valid paths are documented at https://developers.google.com/people/api/rest/v1/contactGroups/${doc}.`;
      throw invalidArgument(message, param, `valid paths: ${valid.join(', ')}`);
    }
    if (!out.includes(path)) out.push(path);
  }
  return out;
}

/** Top-level keys of a request body that Google's JSON-to-proto mapping knows; others → 400 "Unknown name". */
function checkKeys(body: Record<string, unknown>, known: readonly string[], at: string): void {
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) {
      throw invalidArgument(
        `Invalid JSON payload received. Unknown name "${key}"${at ? ` at '${at}'` : ''}: Cannot find field.`,
        at ? `${at}.${key}` : key,
        `unknown field "${key}"`,
      );
    }
  }
}

/** Every ContactGroup key; the output-only ones are accepted in requests (clients echo what they read) and ignored. */
const CONTACT_GROUP_KEYS = [
  'resourceName',
  'etag',
  'metadata',
  'groupType',
  'name',
  'formattedName',
  'memberResourceNames',
  'memberCount',
  'clientData',
];

function contactGroupBody(body: Record<string, unknown>): Record<string, unknown> {
  const cg = body.contactGroup;
  if (typeof cg !== 'object' || cg === null || Array.isArray(cg)) {
    throw invalidArgument(
      GENERIC_INVALID,
      'contact_group',
      `contactGroup is required and must be a ContactGroup object, got ${JSON.stringify(cg)}`,
    );
  }
  checkKeys(cg as Record<string, unknown>, CONTACT_GROUP_KEYS, 'contact_group');
  return cg as Record<string, unknown>;
}

function groupFieldsParam(call: ApiCall): GroupField[] {
  return groupMask(call.query.get('groupFields'), GROUP_FIELDS, DEFAULT_GROUP_FIELDS, 'groupFields', 'list');
}

function maxMembersParam(call: ApiCall): number {
  const n = intParam(call, 'maxMembers', 'max_members') ?? 0;
  if (n < 0) throw invalidArgument(GENERIC_INVALID, 'max_members', `maxMembers must not be negative, got ${n}`);
  return n;
}

function liveGroupOr404(call: ApiCall, rn: string): StoredGroup {
  const g = liveGroup(groupStore(call.state, call.user), rn);
  if (!g) throw notFound('people');
  return g;
}

/**
 * contactGroups.list: full listing (live groups, system groups first, then the user's in creation order [?]) or, with
 * a syncToken, "only resources changed since the sync token was created", deleted ones as
 * `{resourceName, metadata: {deleted: true, updateTime}}`. There is no requestSyncToken parameter: the last page
 * always carries a nextSyncToken (doc §3.3 [obs IamNator capture]). Token lifetime and its EXPIRED_SYNC_TOKEN answer
 * follow the connections settings [?]. A page token fixes the listing of its first page; groupFields and pageSize are
 * read from each call [?]. Group writes show up at once (syncPropagationDelaySeconds applies to connections only).
 */
function listGroups(call: ApiCall): ApiResponse {
  const { state } = call;
  const store = groupStore(state, call.user);
  const fields = groupFieldsParam(call);
  const size = intParam(call, 'pageSize', 'page_size') ?? 0;
  if (size < 0 || size > GROUPS_MAX_PAGE_SIZE) {
    throw invalidArgument(
      GENERIC_INVALID,
      'page_size',
      `pageSize must be between 1 and ${GROUPS_MAX_PAGE_SIZE}, got ${size}`,
    );
  }
  const pageSize = size === 0 ? GROUPS_DEFAULT_PAGE_SIZE : size;
  const pageToken = call.query.get('pageToken') || undefined;
  const syncToken = call.query.get('syncToken') || undefined;
  const now = state.nowMs();
  let listing: GroupPageRecord;
  if (pageToken) {
    const rec = store.tokens.get(pageToken, now);
    if (!rec || rec.kind !== 'page') {
      throw invalidArgument(
        GENERIC_INVALID,
        'page_token',
        'the page token is not one this server issued for this user, or it has expired',
      );
    }
    listing = rec;
  } else if (syncToken) {
    const rec = liveSyncToken<GroupSyncRecord>(state, store.tokens, syncToken, now);
    const changed = [...store.groups.values()]
      .filter((g) => g.changeSeq > rec.seq)
      .sort((a, b) => a.changeSeq - b.changeSeq);
    listing = {
      kind: 'page',
      names: changed.map((g) => g.resourceName),
      offset: 0,
      syncSeq: store.seq,
      fullSyncAtMs: rec.fullSyncAtMs,
      issuedAtMs: now,
      incremental: true,
    };
  } else {
    listing = {
      kind: 'page',
      names: liveGroups(store).map((g) => g.resourceName),
      offset: 0,
      syncSeq: store.seq,
      fullSyncAtMs: now,
      issuedAtMs: now,
      incremental: false,
    };
  }
  const counts = memberCounts(contactStore(state, call.user));
  const groups: Record<string, unknown>[] = [];
  for (const rn of listing.names.slice(listing.offset, listing.offset + pageSize)) {
    const g = store.groups.get(rn);
    // A group deleted while a full listing is paged is left out; the next group sync reports the deletion.
    if (!g || (g.deleted && !listing.incremental)) continue;
    groups.push(renderGroup(g, fields, counts));
  }
  const body: Record<string, unknown> = {};
  if (groups.length > 0) body.contactGroups = groups;
  const nextOffset = listing.offset + pageSize;
  if (nextOffset < listing.names.length) {
    body.nextPageToken = newGroupToken(
      store,
      { ...listing, offset: nextOffset, issuedAtMs: now },
      PAGE_TOKEN_LIFETIME_SECONDS * 1000,
    );
  } else {
    body.nextSyncToken = newGroupToken(
      store,
      { kind: 'sync', seq: listing.syncSeq, fullSyncAtMs: listing.fullSyncAtMs, issuedAtMs: now },
      PAGE_TOKEN_LIFETIME_SECONDS * 1000,
    );
  }
  // [?] proto3 JSON would omit a zero total; it is always sent, as in connections.list.
  body.totalItems = listing.names.length;
  return { body };
}

/** contactGroups.get: `maxMembers` (default 0: no memberResourceNames) of the members; unknown or deleted → 404. */
function getGroup(call: ApiCall): ApiResponse {
  const fields = groupFieldsParam(call);
  const maxMembers = maxMembersParam(call);
  const g = liveGroupOr404(call, call.params.resourceName);
  const contacts = contactStore(call.state, call.user);
  const members = maxMembers > 0 ? membersOf(contacts, g.resourceName).slice(0, maxMembers) : undefined;
  return { body: renderGroup(g, fields, memberCounts(contacts), members) };
}

/**
 * contactGroups.batchGet: at most 200 names (more → 400 [?]); a ContactGroupResponse per name, in request order.
 * Unknown or deleted → status {code: 5} [?]; not a contact group name → status {code: 3} [?].
 */
function batchGetGroups(call: ApiCall): ApiResponse {
  const fields = groupFieldsParam(call);
  const maxMembers = maxMembersParam(call);
  const names = call.query.getAll('resourceNames');
  if (names.length === 0)
    throw invalidArgument(GENERIC_INVALID, 'resource_names', 'at least one resourceNames value is required, got none');
  if (names.length > GROUPS_BATCH_GET_MAX_RESOURCE_NAMES) {
    throw invalidArgument(
      GENERIC_INVALID,
      'resource_names',
      `at most ${GROUPS_BATCH_GET_MAX_RESOURCE_NAMES} resource names are allowed per request, got ${names.length}`,
    );
  }
  const store = groupStore(call.state, call.user);
  const contacts = contactStore(call.state, call.user);
  const counts = memberCounts(contacts);
  const responses = names.map((rn) => {
    if (!GROUP_RESOURCE_NAME.test(rn)) {
      return {
        requestedResourceName: rn,
        status: { code: 3, message: `Resource name "${rn}" is not a valid contact group resource name.` },
      };
    }
    const g = liveGroup(store, rn);
    if (!g) return { requestedResourceName: rn, status: { code: 5, message: 'Requested entity was not found.' } };
    const members = maxMembers > 0 ? membersOf(contacts, rn).slice(0, maxMembers) : undefined;
    return { contactGroup: renderGroup(g, fields, counts, members), requestedResourceName: rn, status: {} };
  });
  return { body: { responses } };
}

/**
 * contactGroups.create: `{contactGroup: {name, clientData?}, readGroupFields?}` (memberCount is not a valid read field
 * here).
 */
function createGroupCall(call: ApiCall): ApiResponse {
  const body = call.jsonObject();
  checkKeys(body, ['contactGroup', 'readGroupFields'], '');
  const cg = contactGroupBody(body);
  const fields = groupMask(
    body.readGroupFields,
    CREATE_READ_GROUP_FIELDS,
    DEFAULT_READ_GROUP_FIELDS,
    'readGroupFields',
    'create',
  );
  const store = groupStore(call.state, call.user);
  const name = checkGroupName(call.state, store, cg.name, 'contact_group.name');
  const clientData = checkGroupClientData(cg.clientData, 'contact_group.client_data');
  const g = createGroup(call.state, store, name, clientData);
  return { body: renderGroup(g, fields, new Map()) };
}

/**
 * contactGroups.update (PUT /v1/contactGroups/{id}): updateGroupFields (default name; name, clientData) are replaced.
 * A system group → 400 [?]; `contactGroup.etag`, when sent, must be the current one (400 FAILED_PRECONDITION [?]; GAM
 * always sends it, doc §3.3); a body resourceName other than the path's → 400 [?].
 */
function updateGroupCall(call: ApiCall): ApiResponse {
  const rn = call.params.resourceName;
  const body = call.jsonObject();
  checkKeys(body, ['contactGroup', 'updateGroupFields', 'readGroupFields'], '');
  const cg = contactGroupBody(body);
  const update = groupMask<UpdateGroupField>(
    body.updateGroupFields,
    UPDATE_GROUP_FIELDS,
    ['name'],
    'updateGroupFields',
    'update',
  );
  const fields = groupMask(body.readGroupFields, GROUP_FIELDS, DEFAULT_READ_GROUP_FIELDS, 'readGroupFields', 'update');
  if (cg.resourceName !== undefined && cg.resourceName !== null && cg.resourceName !== '' && cg.resourceName !== rn) {
    throw invalidArgument(
      GENERIC_INVALID,
      'contact_group.resource_name',
      `contactGroup.resourceName must be the group in the URL, ${rn}, got ${JSON.stringify(cg.resourceName)}`,
    );
  }
  const store = groupStore(call.state, call.user);
  const g = liveGroupOr404(call, rn);
  refuseSystemGroup(g, 'updated', 'contact_group.resource_name');
  if (typeof cg.etag === 'string' && cg.etag !== '' && cg.etag !== g.etag) {
    throw new GroupError('failedPrecondition', STALE_GROUP_ETAG_MESSAGE, g.resourceName, 'contactGroup.etag is stale');
  }
  const change: { name?: string; clientData?: FieldItem[] | null } = {};
  if (update.includes('name')) change.name = checkGroupName(call.state, store, cg.name, 'contact_group.name', g);
  if (update.includes('clientData'))
    change.clientData = checkGroupClientData(cg.clientData, 'contact_group.client_data') ?? null;
  updateGroup(call.state, store, g, change);
  return { body: renderGroup(g, fields, memberCounts(contactStore(call.state, call.user))) };
}

/** contactGroups.delete: `{}`; a system group → 400 [?]; `deleteContacts=true` also deletes the members. */
function deleteGroupCall(call: ApiCall): ApiResponse {
  const deleteContacts = boolParam(call, 'deleteContacts', 'delete_contacts');
  const g = liveGroupOr404(call, call.params.resourceName);
  refuseSystemGroup(g, 'deleted', 'resource_name');
  deleteGroup(call.state, call.user, g, deleteContacts);
  return { body: {} };
}

function nameList(body: Record<string, unknown>, key: string, protoName: string): string[] {
  const v = body[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw invalidArgument(
      GENERIC_INVALID,
      protoName,
      `${key} must be an array of person resource names, got ${JSON.stringify(v)?.slice(0, 100)}`,
    );
  }
  return v as string[];
}

/**
 * contactGroups.members.modify: at most 1000 names in adds plus removes (more → 400); adds to a deprecated system
 * group → 400 "Cannot add contacts to deprecated system contact group"; unknown group → 404 [?]. Unknown contacts and
 * removals that would leave a contact without a group are reported in the 200 answer (people/groups.ts modifyMembers),
 * which is `{}` when there is nothing to report.
 */
function modifyMembersCall(call: ApiCall): ApiResponse {
  const body = call.jsonObject();
  checkKeys(body, ['resourceNamesToAdd', 'resourceNamesToRemove'], '');
  const add = nameList(body, 'resourceNamesToAdd', 'resource_names_to_add');
  const remove = nameList(body, 'resourceNamesToRemove', 'resource_names_to_remove');
  if (add.length + remove.length > MODIFY_MEMBERS_MAX_RESOURCE_NAMES) {
    throw invalidArgument(
      GENERIC_INVALID,
      add.length > 0 ? 'resource_names_to_add' : 'resource_names_to_remove',
      `at most ${MODIFY_MEMBERS_MAX_RESOURCE_NAMES} resource names in resourceNamesToAdd and resourceNamesToRemove together are allowed per request, got ${add.length + remove.length}`,
    );
  }
  const g = liveGroupOr404(call, call.params.resourceName);
  if (add.length > 0 && isDeprecatedSystemGroup(g.resourceName)) {
    throw invalidArgument(
      DEPRECATED_GROUP_MESSAGE,
      'resource_names_to_add',
      `${g.resourceName} is a deprecated system contact group: contacts can only be removed from it`,
    );
  }
  const result = modifyMembers(call.state, call.user, g, add, remove);
  const out: Record<string, unknown> = {};
  if (result.notFoundResourceNames.length > 0) out.notFoundResourceNames = result.notFoundResourceNames;
  if (result.canNotRemoveLastContactGroupResourceNames.length > 0)
    out.canNotRemoveLastContactGroupResourceNames = result.canNotRemoveLastContactGroupResourceNames;
  return { body: out };
}

// --- admin data routes (README.md, "Admin API") --------------------------------------------------------------------

function registerAdminRoutes(registry: ApiRegistry, state: EmulatorState): void {
  const USER = '(?<email>[^/]+)';
  const withUser =
    (fn: (user: EmulatorUser, req: AdminRequest) => ApiResponse) =>
    (req: AdminRequest): ApiResponse => {
      const user = state.findUser(req.params.email);
      if (!user)
        return {
          status: 404,
          body: { error: `no user ${req.params.email}; create it with POST /emulator/v1/domains` },
        };
      try {
        return fn(user, req);
      } catch (e) {
        if (e instanceof PersonInputError) {
          return {
            status: 400,
            body: { error: e.description ? `${e.message} ${e.field}: ${e.description}` : e.message },
          };
        }
        if (e instanceof GroupError) {
          const status = e.kind === 'alreadyExists' ? 409 : e.kind === 'notFound' ? 404 : 400;
          return { status, body: { error: `${e.field}: ${e.description}` } };
        }
        throw e;
      }
    };
  const contactFor = (user: EmulatorUser, id: string): StoredContact | undefined => {
    const rn = id.startsWith('people/') ? id : `people/${id}`;
    return liveContact(contactStore(state, user), rn);
  };

  // POST: a Person (or an array of Persons, to seed many in one call) created as if in Google → the stored Person(s).
  registry.addAdminRoute({
    httpMethod: 'POST',
    path: new RegExp(`^/users/${USER}/contacts$`),
    handler: withUser((user, { body }) => {
      const store = contactStore(state, user);
      const bodies = Array.isArray(body) ? body : [body];
      const datas = bodies.map((b, i) => {
        const path = Array.isArray(body) ? `body[${i}]` : 'body';
        const data = personDataFromBody(b, path, undefined, personOptions(state));
        checkMembershipTargets(state, user, data, path, [], true);
        return data;
      });
      const created = datas.map((d) => renderPerson(createContact(state, store, d), READ_FIELDS));
      return { body: Array.isArray(body) ? created : created[0] };
    }),
  });
  // GET: the user's current (not deleted) Persons with every field, in creation order.
  registry.addAdminRoute({
    httpMethod: 'GET',
    path: new RegExp(`^/users/${USER}/contacts$`),
    handler: withUser((user) => ({
      body: [...contactStore(state, user).contacts.values()]
        .filter((c) => !c.deleted)
        .map((c) => renderPerson(c, READ_FIELDS)),
    })),
  });
  // PATCH …/contacts/{c123 | people/c123}: an edit made in Google; the fields present in the body are replaced
  // (null or [] clears), a new etag is issued and the change shows up in the next incremental sync.
  registry.addAdminRoute({
    httpMethod: 'PATCH',
    path: new RegExp(`^/users/${USER}/contacts/(?<id>.+)$`),
    handler: withUser((user, { params, body }) => {
      const c = contactFor(user, params.id);
      if (!c)
        return {
          status: 404,
          body: {
            error: `user ${user.email} has no contact ${params.id}; GET /emulator/v1/users/${user.email}/contacts lists them`,
          },
        };
      const data = personDataFromBody(body, 'body', undefined, personOptions(state));
      const fields = Object.keys(body as object).filter((k): k is UpdateField =>
        (UPDATE_FIELDS as readonly string[]).includes(k),
      );
      if (fields.includes('memberships')) {
        // As on Google, a contact always keeps at least one contact group membership.
        if (groupNamesOf(data).length === 0) {
          return {
            status: 400,
            body: { error: 'body.memberships: a contact needs at least one contactGroupMembership, got none' },
          };
        }
        checkMembershipTargets(state, user, data, 'body', groupNamesOf(c.data), true);
      }
      updateContact(state, contactStore(state, user), c, fields, data);
      return { body: renderPerson(c, READ_FIELDS) };
    }),
  });
  // DELETE …/contacts/{id}: a deletion made in Google; incremental sync reports it with metadata.deleted.
  registry.addAdminRoute({
    httpMethod: 'DELETE',
    path: new RegExp(`^/users/${USER}/contacts/(?<id>.+)$`),
    handler: withUser((user, { params }) => {
      const c = contactFor(user, params.id);
      if (!c)
        return {
          status: 404,
          body: {
            error: `user ${user.email} has no contact ${params.id}; GET /emulator/v1/users/${user.email}/contacts lists them`,
          },
        };
      deleteContact(state, contactStore(state, user), c);
      return { body: { deleted: c.resourceName } };
    }),
  });
  // DELETE …/contacts: every contact of the user deleted in Google at once (each reported deleted, as above).
  registry.addAdminRoute({
    httpMethod: 'DELETE',
    path: new RegExp(`^/users/${USER}/contacts$`),
    handler: withUser((user) => {
      const store = contactStore(state, user);
      const live = [...store.contacts.values()].filter((c) => !c.deleted);
      for (const c of live) deleteContact(state, store, c);
      return { body: { deleted: live.length } };
    }),
  });
  registerGroupAdminRoutes(registry, state, USER, withUser);
  // People behaviour Google leaves uncertain (store.ts PeopleSettings); reset by POST /reset.
  registry.addAdminRoute({
    httpMethod: 'GET',
    path: /^\/people\/settings$/,
    handler: () => ({ body: peopleSettings(state) }),
  });
  registry.addAdminRoute({
    httpMethod: 'PUT',
    path: /^\/people\/settings$/,
    handler: ({ body }) => {
      try {
        return { body: updatePeopleSettings(state, body) };
      } catch (e) {
        return { status: 400, body: { error: (e as Error).message } };
      }
    },
  });
}

/**
 * Contact groups changed "in Google" (the Contacts UI): list, create, rename or change clientData, delete, and add or
 * remove members. Group changes show up in the next contactGroups.list sync; member changes in the next
 * connections.list sync (per settings.membershipChangesBumpContact), as the API methods' do.
 */
function registerGroupAdminRoutes(
  registry: ApiRegistry,
  state: EmulatorState,
  USER: string,
  withUser: (fn: (user: EmulatorUser, req: AdminRequest) => ApiResponse) => (req: AdminRequest) => ApiResponse,
): void {
  const GROUP = '(?<id>(?:contactGroups/)?[^/]+)';
  const groupFor = (user: EmulatorUser, id: string): StoredGroup | undefined =>
    liveGroup(groupStore(state, user), id.startsWith('contactGroups/') ? id : `contactGroups/${id}`);
  const missing = (user: EmulatorUser, id: string): ApiResponse => ({
    status: 404,
    body: {
      error: `user ${user.email} has no contact group ${id}; GET /emulator/v1/users/${user.email}/contactGroups lists them`,
    },
  });
  const full = (user: EmulatorUser, g: StoredGroup): Record<string, unknown> => {
    const contacts = contactStore(state, user);
    return renderGroup(g, GROUP_FIELDS, memberCounts(contacts), membersOf(contacts, g.resourceName));
  };
  const object = (body: unknown): Record<string, unknown> | undefined =>
    typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;

  // GET: the user's live groups (system ones included) with every field and all their members.
  registry.addAdminRoute({
    httpMethod: 'GET',
    path: new RegExp(`^/users/${USER}/contactGroups$`),
    handler: withUser((user) => ({ body: liveGroups(groupStore(state, user)).map((g) => full(user, g)) })),
  });
  // POST {name, clientData?}: a label created in Google → the group.
  registry.addAdminRoute({
    httpMethod: 'POST',
    path: new RegExp(`^/users/${USER}/contactGroups$`),
    handler: withUser((user, { body }) => {
      const b = object(body);
      if (!b)
        return {
          status: 400,
          body: { error: `body must be a JSON object {name, clientData?}, got ${JSON.stringify(body)}` },
        };
      const store = groupStore(state, user);
      const name = checkGroupName(state, store, b.name, 'body.name');
      return {
        body: full(user, createGroup(state, store, name, checkGroupClientData(b.clientData, 'body.clientData'))),
      };
    }),
  });
  // PATCH …/contactGroups/{id | contactGroups/id} {name?, clientData?}: a rename (or clientData change) in Google.
  registry.addAdminRoute({
    httpMethod: 'PATCH',
    path: new RegExp(`^/users/${USER}/contactGroups/${GROUP}$`),
    handler: withUser((user, { params, body }) => {
      const g = groupFor(user, params.id);
      if (!g) return missing(user, params.id);
      const b = object(body);
      if (!b)
        return {
          status: 400,
          body: { error: `body must be a JSON object {name?, clientData?}, got ${JSON.stringify(body)}` },
        };
      refuseSystemGroup(g, 'updated', 'body');
      const store = groupStore(state, user);
      const change: { name?: string; clientData?: FieldItem[] | null } = {};
      if (b.name !== undefined) change.name = checkGroupName(state, store, b.name, 'body.name', g);
      if (b.clientData !== undefined) change.clientData = checkGroupClientData(b.clientData, 'body.clientData') ?? null;
      updateGroup(state, store, g, change);
      return { body: full(user, g) };
    }),
  });
  // DELETE …/contactGroups/{id}[?deleteContacts=true]: a label deleted in Google (with its contacts when asked).
  registry.addAdminRoute({
    httpMethod: 'DELETE',
    path: new RegExp(`^/users/${USER}/contactGroups/${GROUP}$`),
    handler: withUser((user, { params, query }) => {
      const g = groupFor(user, params.id);
      if (!g) return missing(user, params.id);
      refuseSystemGroup(g, 'deleted', 'id');
      const deleteContacts = query.get('deleteContacts') === 'true';
      const { contacts } = deleteGroup(state, user, g, deleteContacts);
      return { body: { deleted: g.resourceName, members: contacts, contactsDeleted: deleteContacts } };
    }),
  });
  // POST …/contactGroups/{id}/members {add?: [...], remove?: [...]} (c123 or people/c123): labels applied or removed
  // in Google, with members.modify's rules → {changed, notFoundResourceNames?,
  // canNotRemoveLastContactGroupResourceNames?}.
  registry.addAdminRoute({
    httpMethod: 'POST',
    path: new RegExp(`^/users/${USER}/contactGroups/${GROUP}/members$`),
    handler: withUser((user, { params, body }) => {
      const g = groupFor(user, params.id);
      if (!g) return missing(user, params.id);
      const b = object(body);
      const list = (v: unknown): string[] | undefined =>
        v === undefined
          ? []
          : Array.isArray(v) && v.every((x) => typeof x === 'string')
            ? v.map((x: string) => (x.startsWith('people/') ? x : `people/${x}`))
            : undefined;
      const add = list(b?.add);
      const remove = list(b?.remove);
      if (!b || !add || !remove)
        return {
          status: 400,
          body: {
            error: `body must be {add?: [resource names], remove?: [resource names]}, got ${JSON.stringify(body)}`,
          },
        };
      if (add.length > 0 && isDeprecatedSystemGroup(g.resourceName)) {
        return {
          status: 400,
          body: { error: `${DEPRECATED_GROUP_MESSAGE}: ${g.resourceName} can only have contacts removed` },
        };
      }
      const r = modifyMembers(state, user, g, add, remove);
      const out: Record<string, unknown> = { changed: r.changed };
      if (r.notFoundResourceNames.length > 0) out.notFoundResourceNames = r.notFoundResourceNames;
      if (r.canNotRemoveLastContactGroupResourceNames.length > 0)
        out.canNotRemoveLastContactGroupResourceNames = r.canNotRemoveLastContactGroupResourceNames;
      return { body: out };
    }),
  });
}
