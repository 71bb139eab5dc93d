/**
 * Persisted operations (issue 15): automatic persisted queries for every client, and trusted documents from the apps'
 * operation manifest.
 *
 * **Automatic persisted queries (APQ)**, Apollo's protocol, spoken by Apollo Client's persisted-query link and by
 * Apollo iOS and Kotlin: a client sends `extensions.persistedQuery: { version: 1, sha256Hash }` without the document;
 * on a miss Apollo Server answers `PERSISTED_QUERY_NOT_FOUND` (message `PersistedQueryNotFound`, exactly what the
 * clients look for) and the client sends the hash with the document, which is checked against the hash and kept. Apollo
 * Server does all of that; what is ours is the store it keeps documents in (`PersistedDocuments`):
 *
 * - **Bounded in bytes** (`APQ_CACHE_BYTES`, default 8 MiB; 0 turns APQ off), least recently used out first, in an
 *   `InMemoryLRUCache` of @apollo/utils.keyvaluecache. Its default size calculation counts a string's `length`: UTF-16
 *   code units of the document alone, so a document in Cyrillic or with emoji counted half or less of its bytes, and
 *   neither the 64-character hash it is kept under nor the cache's own bookkeeping counted at all. Ours counts each
 *   entry as `entryBytes`: the document's bytes (its UTF-8 size, or two bytes a character when V8 must hold it as a
 *   two-byte string, whichever is more), its key, and `ENTRY_OVERHEAD_BYTES` (two string headers, lru-cache's slots
 *   and our size map: ~130 B an entry measured on Node 20). So the bound is the memory the documents really take:
 *   measured with 100,000 registrations under the default 8 MiB, the heap held 1.05-1.16 times the bound (map and
 *   array slack), where InMemoryLRUCache's own calculation let the same 8 MiB take 17.6 MB (ASCII documents) and
 *   23.8 MB (documents with Cyrillic comments). A document larger than the whole bound is not kept (it runs, and
 *   its next hash-only request misses).
 * - Per process, in memory, not shared between replicas: a miss on another replica costs the client one more round
 *   trip, which the protocol is made for. Nothing in it is trusted: it holds what callers sent, each entry checked
 *   against its hash by Apollo before it is kept.
 *
 * **Trusted documents**: a manifest in the format Apollo's tools generate (`@apollo/generate-persisted-query-manifest`
 * for Apollo Client; Apollo iOS and Kotlin write the same format), `{"format":"apollo-persisted-query-manifest",
 * "version":1,"operations":[{"id","body","name","type"}]}`, read once at startup from PERSISTED_OPERATIONS_FILE and
 * checked whole (`readManifest`): the gateway does not start with a manifest whose operation has an id that is not
 * the SHA-256 of its body, appears twice, or whose body does not parse, holds other than one operation, or would be
 * refused by the schema or our limits (every line names the operation). Its documents are served:
 * - by the APQ hash: `extensions.persistedQuery.sha256Hash` = a manifest id, no text (Apollo Client's
 *   `generatePersistedQueryIdsFromManifest`, Apollo iOS/Kotlin's persisted-queries-only mode): the store answers
 *   manifest ids before its cache, never evicts them and never counts them against APQ_CACHE_BYTES;
 * - by `documentId` (the GraphQL-over-HTTP draft's persisted documents appendix): `"sha256:<64 lowercase hex>"` (or
 *   the manifest's bare id), in a POST body or a GET parameter; this middleware puts the document's text in its place.
 *
 * **PERSISTED_OPERATIONS=require**: a caller may run the manifest's documents only. Ad-hoc text whose SHA-256 is not a
 * manifest id, and an APQ registration of such a document, are `403 FORBIDDEN` (`reason:
 * persisted_operation_required`);
 * a hash or documentId the manifest does not hold is `400 BAD_USER_INPUT` (`reason: unknown_operation_id`; Apollo
 * Client's APQ link then sends the text, which meets the first refusal, so the app sees why). Callers whose token
 * carries one of INTROSPECTION_ROLES are exempt (staff using the explorer), with APQ as usual. `allow` (the default)
 * runs any document, manifest ids too; an unknown documentId is `unknown_operation_id` in both modes (there is no
 * registration by documentId).
 *
 * Malformed persisted-query extensions (a version other than 1, a hash that is not 64 lowercase hex digits, a hash that
 * is not the SHA-256 of the text sent with it) are refused here with typed errors; Apollo's own answers to them carry
 * no
 * code and would be masked as internal errors.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InMemoryLRUCache, type KeyValueCache } from '@apollo/utils.keyvaluecache';
import type { Request, RequestHandler, Response } from 'express';
import {
  GraphQLError,
  Kind,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import { ConfigError, type Config } from '../config';
import { ErrorCode, quote } from '../errors';
import { graphqlParams, isRecord, MALFORMED, setSearchParams } from './graphql-params';
import { exceedsTokenLimit } from './limit-tokens.middleware';
import { claimsOf } from './request-body';

export const MANIFEST_FORMAT = 'apollo-persisted-query-manifest';
const OPERATION_TYPES = ['query', 'mutation', 'subscription'] as const;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The SHA-256 of a document's UTF-8 text, lower-case hex: the APQ hash, a manifest id, a `sha256:` documentId. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export interface ManifestOperation {
  id: string;
  body: string;
  name: string | null;
  type: (typeof OPERATION_TYPES)[number];
}

export interface ManifestChecks {
  /** Validation rules beyond graphql's own (graphql-armor's limits). */
  validationRules?: readonly ValidationRule[];
  /** The most lexical tokens a document may have (limit-tokens.middleware.ts). */
  maxTokens?: number;
}

/** Problems listed at startup before "and N more". */
const MAX_PROBLEMS = 20;

/**
 * The manifest at `file`, checked whole against `schema`: a ConfigError listing every problem (naming the operation by
 * its position, name and id) when anything is wrong, so the gateway refuses to start.
 */
export function readManifest(
  file: string,
  schema: GraphQLSchema,
  checks: ManifestChecks = {},
): Map<string, ManifestOperation> {
  const where = `PERSISTED_OPERATIONS_FILE (${file})`;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError([
      `${where} must be a JSON operation manifest: ${err instanceof SyntaxError ? `it is not JSON (${err.message})` : `it cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`}`,
    ]);
  }
  if (!isRecord(raw) || raw.format !== MANIFEST_FORMAT || raw.version !== 1 || !Array.isArray(raw.operations)) {
    throw new ConfigError([
      `${where} must be an Apollo persisted-query manifest: {"format":"${MANIFEST_FORMAT}","version":1,"operations":[{"id","body","name","type"}, …]}, as @apollo/generate-persisted-query-manifest, Apollo iOS and Apollo Kotlin write it`,
    ]);
  }
  const problems: string[] = [];
  const operations = new Map<string, ManifestOperation>();
  const position = new Map<string, number>();
  raw.operations.forEach((op: unknown, i: number) => {
    const n = i + 1;
    if (!isRecord(op)) {
      problems.push(`${where}: operation ${n} must be an object {"id","body","name","type"}`);
      return;
    }
    const label = `operation ${n}${typeof op.name === 'string' ? ` "${quote(op.name)}"` : ''}${typeof op.id === 'string' ? ` (id ${quote(op.id, 16)})` : ''}`;
    const bad = (what: string) => problems.push(`${where}: ${label} ${what}`);
    if (typeof op.id !== 'string' || !SHA256_HEX.test(op.id))
      return bad('must have an "id" of 64 lower-case hex digits (the SHA-256 of its body, as Apollo\'s tools make it)');
    if (typeof op.body !== 'string' || op.body.trim() === '') return bad('must have a "body": the operation\'s text');
    if (op.name !== undefined && op.name !== null && typeof op.name !== 'string')
      return bad('has a "name" that is not a string');
    if (!OPERATION_TYPES.includes(op.type as ManifestOperation['type']))
      return bad(`must have a "type" of ${OPERATION_TYPES.join(', ')}`);
    const actual = sha256Hex(op.body);
    if (actual !== op.id)
      return bad(
        `has an id that is not the SHA-256 of its body (the body's is ${actual}); regenerate the manifest rather than editing it`,
      );
    if (position.has(op.id))
      return bad(
        `appears twice (also operation ${position.get(op.id)}): keep each id once (when merging the manifests of several app builds, drop the repeats)`,
      );
    position.set(op.id, n);
    if (checks.maxTokens !== undefined && exceedsTokenLimit(op.body, checks.maxTokens))
      return bad(`has more than ${checks.maxTokens} tokens: every request running it would be refused`);
    let document: DocumentNode;
    try {
      document = parse(op.body);
    } catch (err) {
      return bad(`does not parse: ${(err as GraphQLError).message}`);
    }
    const ops = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
    if (ops.length !== 1) return bad(`must hold exactly one operation (and its fragments); it holds ${ops.length}`);
    if (ops[0].operation !== op.type) return bad(`is a ${ops[0].operation}, but its "type" says ${String(op.type)}`);
    if (typeof op.name === 'string' && ops[0].name?.value !== op.name)
      return bad(
        `is named ${ops[0].name ? `"${ops[0].name.value}"` : '(anonymous)'} in its body, but its "name" says "${quote(op.name)}"`,
      );
    const errors = validate(schema, document, [...specifiedRules, ...(checks.validationRules ?? [])]);
    if (errors.length)
      return bad(
        `does not validate against the schema: ${errors
          .slice(0, 3)
          .map((e) => e.message)
          .join('; ')}`,
      );
    operations.set(op.id, {
      id: op.id,
      body: op.body,
      name: typeof op.name === 'string' ? op.name : null,
      type: op.type as ManifestOperation['type'],
    });
  });
  if (problems.length) {
    throw new ConfigError(
      problems.length > MAX_PROBLEMS
        ? [...problems.slice(0, MAX_PROBLEMS), `${where}: and ${problems.length - MAX_PROBLEMS} more problems`]
        : problems,
    );
  }
  return operations;
}

/**
 * String headers of the key and the document, lru-cache's per-entry slots and our size map (~130 B measured on Node
 * 20).
 */
export const ENTRY_OVERHEAD_BYTES = 128;

/** What a document takes: its UTF-8 bytes, or two bytes a character when V8 holds it as a two-byte string. */
export function documentBytes(text: string): number {
  const twoByte = /[^\u0000-\u00ff]/.test(text);
  return Math.max(Buffer.byteLength(text, 'utf8'), twoByte ? 2 * text.length : text.length);
}

/** What one cache entry is counted as against APQ_CACHE_BYTES. */
export function entryBytes(hash: string, text: string): number {
  return documentBytes(text) + hash.length + ENTRY_OVERHEAD_BYTES;
}

/** Longest document the APQ cache keeps (an app's documents are a few KB); a longer one runs, and is not kept. */
const MAX_APQ_DOCUMENT_BYTES = 64 * 1024;
/** The share of APQ_CACHE_BYTES one brokerage's documents may hold. */
export const APQ_TENANT_SHARE = 4;

/**
 * The store Apollo Server's persisted queries use: the manifest's documents (fixed, not counted), then the APQ cache
 * (bounded in bytes, least recently used out first). Apollo calls `get` with the hash of a hash-only request and `set`
 * once it has checked a registration's text against its hash and the operation resolved.
 *
 * Per brokerage: each has its own key space (a hash registered by one is unknown to another, so a hit tells nobody
 * what another brokerage sent) and may hold at most 1/APQ_TENANT_SHARE of the bytes (its own oldest go first), and a
 * document over MAX_APQ_DOCUMENT_BYTES is not kept. Before, one tenant registering nine 1 MB documents (a comment is
 * no token) emptied everyone's cache. The brokerage comes from the request (`runAs`, set by the middleware below:
 * Apollo's cache interface carries no request).
 */
export class PersistedDocuments implements KeyValueCache<string> {
  private readonly lru: InMemoryLRUCache<string> | null;
  /** Bytes counted per cached key, per tenant, oldest first (the same `entryBytes` lru-cache counts). */
  private readonly tenants = new Map<string, Map<string, number>>();
  private readonly tenantBytes = new Map<string, number>();
  private total = 0;
  private readonly requestTenant = new AsyncLocalStorage<string>();
  readonly maxTenantBytes: number;

  constructor(
    readonly manifest: ReadonlyMap<string, ManifestOperation>,
    /** APQ_CACHE_BYTES; 0: no APQ cache (manifest ids are still served by hash). */
    readonly maxBytes: number,
  ) {
    this.maxTenantBytes = Math.floor(maxBytes / APQ_TENANT_SHARE);
    this.lru =
      maxBytes > 0
        ? new InMemoryLRUCache<string>({
            maxSize: maxBytes,
            sizeCalculation: (text: string, key: string) => entryBytes(hashOf(key), text),
            // Called for every entry leaving the cache (evicted, deleted, replaced).
            dispose: (_text: string, key: string) => this.forget(key),
          })
        : null;
  }

  /** Runs `work` (the rest of the request) as `tenant`'s: the cache's reads and writes in it use its key space. */
  runAs<T>(tenant: string, work: () => T): T {
    return this.requestTenant.run(tenant, work);
  }

  /**
   * Apollo's persisted queries are on when there is a cache or a manifest; else it answers
   * PERSISTED_QUERY_NOT_SUPPORTED.
   */
  get enabled(): boolean {
    return this.lru !== null || this.manifest.size > 0;
  }

  private key(hash: string): string {
    return `${this.requestTenant.getStore() ?? ''}\u0000${hash}`;
  }

  private forget(key: string): void {
    const tenant = tenantOf(key);
    const entries = this.tenants.get(tenant);
    const size = entries?.get(key);
    if (!entries || size === undefined) return;
    entries.delete(key);
    this.total -= size;
    const left = (this.tenantBytes.get(tenant) ?? 0) - size;
    if (entries.size === 0) {
      this.tenants.delete(tenant);
      this.tenantBytes.delete(tenant);
    } else this.tenantBytes.set(tenant, left);
  }

  async get(hash: string): Promise<string | undefined> {
    const manifested = this.manifest.get(hash)?.body;
    if (manifested !== undefined) return manifested;
    const key = this.key(hash);
    const text = await this.lru?.get(key);
    if (text !== undefined) {
      // Used now: last in its tenant's order, so the tenant's own evictions take the least recently used first.
      const entries = this.tenants.get(tenantOf(key));
      const size = entries?.get(key);
      if (entries && size !== undefined) {
        entries.delete(key);
        entries.set(key, size);
      }
    }
    return text;
  }

  async set(hash: string, text: string): Promise<void> {
    // A manifest document is served from the manifest; a hash already cached holds this very text (Apollo checked it).
    const key = this.key(hash);
    const tenant = this.requestTenant.getStore() ?? '';
    if (!this.lru || this.manifest.has(hash) || this.tenants.get(tenant)?.has(key)) return;
    const size = entryBytes(hash, text);
    if (size > this.maxTenantBytes || documentBytes(text) > MAX_APQ_DOCUMENT_BYTES) return;
    // Counted before anything is awaited: a second registration of the same document meanwhile finds it and stops
    // (it used to be counted twice, lru-cache disposing of neither).
    let entries = this.tenants.get(tenant);
    if (!entries) this.tenants.set(tenant, (entries = new Map()));
    entries.set(key, size);
    this.tenantBytes.set(tenant, (this.tenantBytes.get(tenant) ?? 0) + size);
    this.total += size;
    // The tenant's own least recently used documents make room within its share (Map order: get() moves a hit last).
    for (const [old] of entries) {
      if ((this.tenantBytes.get(tenant) ?? 0) <= this.maxTenantBytes || old === key) break;
      void this.lru.delete(old); // dispose: forget (synchronous inside; the promise only echoes it)
    }
    // Synchronous inside: older entries are evicted (dispose above) before this returns.
    await this.lru.set(key, text);
  }

  async delete(hash: string): Promise<boolean> {
    return (await this.lru?.delete(this.key(hash))) ?? false;
  }

  /** The APQ cache's entries and counted bytes (tests, diagnostics). */
  stats(): { entries: number; bytes: number; maxBytes: number; tenants: number } {
    let entries = 0;
    for (const t of this.tenants.values()) entries += t.size;
    return { entries, bytes: this.total, maxBytes: this.maxBytes, tenants: this.tenants.size };
  }
}

/** The parts of a cache key (tenant NUL hash). */
function hashOf(key: string): string {
  return key.slice(key.indexOf('\u0000') + 1);
}

function tenantOf(key: string): string {
  return key.slice(0, key.indexOf('\u0000'));
}

/** The persisted document a `documentId` names: "sha256:<hex>" or the manifest's bare id. */
function documentHash(documentId: string): string | null {
  const m = /^sha256:([0-9a-f]{64})$/.exec(documentId) ?? /^([0-9a-f]{64})$/.exec(documentId);
  return m ? m[1] : null;
}

function refuse(res: Response, status: number, code: ErrorCode, reason: string, message: string): void {
  res.status(status).json({ errors: [{ message, extensions: { code, reason, requestId: res.locals.requestId } }] });
}

const REQUIRED_MESSAGE =
  "This gateway runs only the operations of the apps' persisted-operation manifest (PERSISTED_OPERATIONS=require): send the operation's manifest id " +
  '(extensions.persistedQuery.sha256Hash, or documentId "sha256:<id>") instead of its text; an operation the manifest lacks must be added to the app\'s manifest and deployed with the gateway';

export interface PersistedOperationsOptions {
  documents: PersistedDocuments;
  mode: Config['clients']['persistedOperations'];
  /** Token roles exempt from `require` (INTROSPECTION_ROLES). */
  internalRoles: readonly string[];
}

/**
 * Express middleware in front of Apollo, after the bearer check and the body: resolves `documentId`, checks persisted
 * query extensions, and enforces `require`. Constant work per request (one SHA-256 of the text, map lookups).
 */
export function persistedOperations(opts: PersistedOperationsOptions): RequestHandler {
  const { documents, mode, internalRoles } = opts;
  const exempt = (res: Response) => mode === 'allow' || claimsOf(res).roles.some((r) => internalRoles.includes(r));
  // The rest of the request runs as the caller's brokerage (by its domain: the token alone, no database): the APQ cache
  // keeps each brokerage's documents apart (PersistedDocuments).
  return (req: Request, res: Response, next) => {
    const email = claimsOf(res).email;
    documents.runAs(email.slice(email.lastIndexOf('@') + 1), () => check(req, res, next));
  };

  function check(req: Request, res: Response, next: (err?: unknown) => void): void {
    if (req.method !== 'GET' && req.method !== 'POST') return next();
    const params = graphqlParams(req);
    // Decided here, not left to Apollo: a repeated documentId (a parameter Apollo does not read) must not let the
    // query beside it through unchecked.
    if (params.repeated !== null)
      return refuse(
        res,
        400,
        ErrorCode.BAD_USER_INPUT,
        'bad_request',
        `The "${params.repeated}" parameter may be given only once`,
      );
    if (params.extensions === MALFORMED)
      return refuse(
        res,
        400,
        ErrorCode.BAD_USER_INPUT,
        'bad_request',
        'The extensions parameter must be a JSON object',
      );
    const query = params.query;
    const pq = isRecord(params.extensions) ? params.extensions.persistedQuery : undefined;

    if (params.documentId !== undefined && params.documentId !== null) {
      if (typeof params.documentId !== 'string')
        return refuse(
          res,
          400,
          ErrorCode.BAD_USER_INPUT,
          'bad_document_id',
          'documentId must be a string: "sha256:" and the 64 lower-case hex digits of the document\'s SHA-256',
        );
      if ((query !== undefined && query !== null) || pq) {
        return refuse(
          res,
          400,
          ErrorCode.BAD_USER_INPUT,
          'bad_document_id',
          'Send either documentId, or query (and extensions.persistedQuery), not both',
        );
      }
      const hash = documentHash(params.documentId);
      if (hash === null)
        return refuse(
          res,
          400,
          ErrorCode.BAD_USER_INPUT,
          'bad_document_id',
          `documentId must be "sha256:" and the 64 lower-case hex digits of the document's SHA-256 (got "${quote(params.documentId)}")`,
        );
      const operation = documents.manifest.get(hash);
      if (!operation)
        return refuse(
          res,
          400,
          ErrorCode.BAD_USER_INPUT,
          'unknown_operation_id',
          unknownMessage(documents, params.documentId, mode),
        );
      if (req.method === 'GET') {
        setSearchParams(req, (search) => {
          search.delete('documentId');
          search.set('query', operation.body);
        });
      } else {
        const { documentId: _id, ...rest } = req.body as Record<string, unknown>;
        req.body = { ...rest, query: operation.body };
      }
      return next();
    }

    if (pq && documents.enabled) {
      if (!isRecord(pq) || pq.version !== 1 || typeof pq.sha256Hash !== 'string' || !SHA256_HEX.test(pq.sha256Hash)) {
        return refuse(
          res,
          400,
          ErrorCode.BAD_USER_INPUT,
          'bad_persisted_query',
          'extensions.persistedQuery must be { "version": 1, "sha256Hash": <the 64 lower-case hex digits of the SHA-256 of the query> }',
        );
      }
      const hash = pq.sha256Hash;
      if (typeof query === 'string' && sha256Hex(query) !== hash) {
        return refuse(
          res,
          400,
          ErrorCode.BAD_USER_INPUT,
          'persisted_query_hash_mismatch',
          'extensions.persistedQuery.sha256Hash is not the SHA-256 of the query sent with it (hex of the UTF-8 text, exactly as sent); nothing was stored',
        );
      }
      if (exempt(res) || documents.manifest.has(hash)) return next();
      if (query === undefined || query === null)
        return refuse(
          res,
          400,
          ErrorCode.BAD_USER_INPUT,
          'unknown_operation_id',
          unknownMessage(documents, hash, mode),
        );
      return refuse(res, 403, ErrorCode.FORBIDDEN, 'persisted_operation_required', REQUIRED_MESSAGE);
    }

    if (typeof query === 'string' && !exempt(res) && !documents.manifest.has(sha256Hex(query))) {
      return refuse(res, 403, ErrorCode.FORBIDDEN, 'persisted_operation_required', REQUIRED_MESSAGE);
    }
    next();
  }
}

function unknownMessage(documents: PersistedDocuments, id: string, mode: PersistedOperationsOptions['mode']): string {
  const orText = mode === 'allow' ? ", or send the query's text" : '';
  return documents.manifest.size === 0
    ? `No persisted operation "${quote(id)}": this gateway has no operation manifest (PERSISTED_OPERATIONS_FILE)${orText}`
    : `No persisted operation "${quote(id)}" in the gateway's operation manifest: deploy the manifest of the app build that sends it (PERSISTED_OPERATIONS_FILE)${orText}`;
}
