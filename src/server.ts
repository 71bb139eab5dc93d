/**
 * HTTP wiring: Express 5 with Apollo Server 5's official integration, health
 * endpoints, and the security baseline.
 *
 * - graphql-armor limits. Armor's defaults leave two holes open (measured):
 *   `__typename` aliases are allow-listed, and 50 directives pass. We close
 *   them with maxAliases {n: 15, allowList: []} and maxDirectives {n: 5}.
 * - Introspection for every caller outside production, and in production only
 *   for the token roles in INTROSPECTION_ROLES (http/introspection.ts); stack
 *   traces never sent; "Did you mean" suggestions hidden; CSRF prevention on
 *   (the bearer token counts as the preflight-forcing header, see below);
 *   batched HTTP requests off.
 * - Queries over GET too (never mutations: 405), answered private to the caller
 *   with an ETag (http/get-caching.ts); automatic persisted queries in a cache
 *   bounded in bytes, and the apps' operation manifest, optionally required
 *   (http/persisted-operations.ts). The persisted-query codes
 *   PERSISTED_QUERY_NOT_FOUND / _NOT_SUPPORTED reach clients as Apollo sends
 *   them: Apollo's clients act on exactly those.
 * - Unexpected errors are masked as INTERNAL_SERVER_ERROR with a request id
 *   (the details go to the log); every error a client sees carries one of the
 *   contract's codes (errors.ts), or a persisted-query code.
 * - Apollo's cache-control plugin is its main per-request cost and we use no
 *   cache hints: it is disabled (docs/architecture.md §1).
 * - GET /explorer: GraphiQL, when EXPLORER is on (src/explorer/).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { PrefixingKeyValueCache } from '@apollo/utils.keyvaluecache';
import { unwrapResolverError } from '@apollo/server/errors';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import express, { type ErrorRequestHandler } from 'express';
import { GraphQLError, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { ArgumentValidationError } from 'type-graphql';
import type { CallerTokenVerifier } from './auth/caller-token';
import { createContext, type GatewayContext, type Services } from './context';
import {
  DATABASE_RETRY_AFTER_SECONDS,
  databaseUnavailable,
  isDatabaseUnavailable,
  withinDatabaseDeadline,
} from './db/unavailable';
import { Brokerage } from './entities';
import { AppError, ErrorCode, isPublicCode, quote } from './errors';
import { withExpressPrototypes } from './http/express-prototypes';
import { cacheableGet } from './http/get-caching';
import { searchOf } from './http/graphql-params';
import { introspectionByRole } from './http/introspection';
import { limitTokens } from './http/limit-tokens.middleware';
import {
  PersistedDocuments,
  persistedOperations,
  readManifest,
  type ManifestOperation,
} from './http/persisted-operations';
import { reloadCertificateOnChange } from './http/tls-reload';
import { limitVariables } from './http/limit-variables.middleware';
import { mimeBuilder } from './mail/mime-builder';
import { claimsOf, LargeBodyGate, onlyMailIfLarge, readBody, requireBearer } from './http/request-body';
import { WEBHOOK_PATH } from './calendar/calendar.watch';
import { signSandboxToken } from './auth/sandbox-token';
import { explorerRouter } from './explorer/explorer';
import { DEMO_AGENT } from './sandbox/demo';
import { MAX_BULK } from './contacts/contact.service';
import type { Metrics } from './metrics/metrics';

/** Limits of graphql-armor, tuned (see the header comment). */
const ARMOR_LIMITS = {
  maxAliases: { n: 15, allowList: [] as string[] },
  maxDirectives: { n: 5 },
  // Counted through introspection too (deep `ofType` chains are a known DoS);
  // the standard introspection query stays well under it.
  maxDepth: { n: 24, ignoreIntrospection: false }, // graphql-js's getIntrospectionQuery() is 21 deep
  maxTokens: { n: 2000 },
  // Armor's cost grows 1.5x per level: measured, a full 500-event page with attendees and their contacts
  // costs ~72,000 and a full 200-contact page ~25,000; twice the heaviest legitimate query.
  costLimit: { maxCost: 150_000 },
};

/** Request-level failures Apollo reports with its own codes: all are the client's mistake (answered BAD_USER_INPUT). */
const APOLLO_REQUEST_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
]);

/**
 * The automatic-persisted-query protocol's answers, part of the public error contract as Apollo sends them (message
 * `PersistedQueryNotFound` / `PersistedQueryNotSupported`, this code, HTTP 200): Apollo Client's persisted-query link
 * and Apollo iOS/Kotlin resend the full query on NOT_FOUND and stop hashing on NOT_SUPPORTED, and recognise nothing
 * else. Never rewritten to BAD_USER_INPUT.
 */
const PERSISTED_QUERY_CODES: ReadonlySet<string> = new Set([
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

export interface Gateway {
  app: express.Express;
  apollo: ApolloServer<GatewayContext>;
  /** The manifest and the APQ cache (its size, for tests and diagnostics). */
  persistedDocuments: PersistedDocuments;
  /** Listens on host:port (0 = a free port) and resolves to the base URL; /metrics on METRICS_PORT too when set. */
  listen(port: number, host?: string): Promise<string>;
  /** The base URL of the metrics port, once listening (null: /metrics is on the API's port). */
  metricsUrl: string | null;
  close(): Promise<void>;
}

/**
 * Paths a plain-HTTP probe may reach: they carry no caller data (kubelet probes and scrapers speak plain HTTP to the
 * pod).
 */
const PLAIN_HTTP_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Production serves HTTPS only: a request that did not arrive over TLS (directly, or per X-Forwarded-Proto from a
 * proxy named in TRUST_PROXY) is refused before anything is read, and every answer carries HSTS so browsers never
 * try plain HTTP again. A proxy not trusted cannot vouch for a request: its X-Forwarded-Proto is ignored.
 */
const requireHttps: express.RequestHandler = (req, res, next) => {
  if (req.secure) {
    res.setHeader('strict-transport-security', 'max-age=31536000; includeSubDomains');
    next();
    return;
  }
  if (PLAIN_HTTP_PATHS.has(req.path)) {
    next();
    return;
  }
  res.status(403).json({
    errors: [
      {
        message: 'HTTPS is required: this request did not arrive over TLS (or through a proxy the gateway trusts)',
        extensions: { code: ErrorCode.FORBIDDEN, reason: 'https_required' },
      },
    ],
  });
};

/** TRUST_PROXY as express's "trust proxy": a hop count, true, or addresses/subnets/names (loopback, 10.0.0.0/8, …). */
function trustProxyValue(raw: string): boolean | number | string[] {
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  return raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

/** What the explorer opens with outside the sandbox: how to start. */
const EXPLORER_QUERY_WITHOUT_TOKEN = `# Paste your bearer token in the Headers tab below: {"Authorization": "Bearer <token>"}
query Me {
  me {
    email
    role
  }
}
`;

/** What the explorer opens with: a working query for the sandbox's demo agent (its contacts come from the emulator). */
export const EXPLORER_DEFAULT_QUERY = `# The demo agent's token is already in the Headers tab (sandbox only).
query Me {
  me {
    email
    role
    brokerage {
      name
      domain
    }
  }
  contacts(first: 5) {
    totalCount
    edges {
      node {
        id
        displayName
        emails {
          value
        }
      }
    }
  }
}
`;

/** Whether the explorer's page carries the demo agent's token (and the banner says so): see explorerHeaders. */
export function explorerHandsOutToken(config: Services['config']): boolean {
  return config.sandbox && config.auth.generatedSecret;
}

/**
 * The explorer's starting headers: in the sandbox with its own generated secret, the demo agent's bearer token, signed
 * for each page view with the banner's 12-hour lifetime; never otherwise (a development box with an operator's
 * JWT_SECRET would hand every visitor a token signed with a shared secret), where the page starts with no credentials.
 */
function explorerHeaders(config: Services['config']): (() => Promise<Record<string, string> | undefined>) | undefined {
  if (!explorerHandsOutToken(config)) return undefined;
  return async () => ({ Authorization: `Bearer ${await signSandboxToken(config.auth, DEMO_AGENT)}` });
}

/** A browser opening GET /graphql as a page: no operation in the URL, and HTML preferred over JSON. */
function isBrowserNavigation(req: express.Request): boolean {
  const search = new URLSearchParams(searchOf(req.url));
  if (search.has('query') || search.has('documentId') || search.has('extensions')) return false;
  return req.accepts(['application/graphql-response+json', 'application/json', 'text/html']) === 'text/html';
}

/** The code a request refused before GraphQL ran was answered with, by its HTTP status (bounded). */
const REFUSED_OUTCOME: Record<number, string> = {
  400: ErrorCode.BAD_USER_INPUT,
  401: ErrorCode.UNAUTHENTICATED,
  403: ErrorCode.FORBIDDEN,
  413: ErrorCode.BAD_USER_INPUT,
  429: ErrorCode.RATE_LIMITED,
  500: ErrorCode.INTERNAL_SERVER_ERROR,
  503: ErrorCode.SERVICE_UNAVAILABLE,
};

/**
 * engage_graphql_requests_total for requests answered before GraphQL ran (no or a bad token, plain HTTP in
 * production, a body too large or malformed): operation "(refused)", outcome the code they were answered with.
 */
function countRefused(metrics: Metrics): express.RequestHandler {
  return (_req, res, next) => {
    // Counted as the answer's head is written (res.end writes it too): 'finish' waits until the whole answer is out,
    // which for a refused upload still streaming in comes later, after the client has read the answer.
    const writeHead = res.writeHead;
    res.writeHead = function (this: typeof res, ...args: Parameters<typeof writeHead>) {
      // A redirect (a browser sent to the explorer) or a 304 is no refusal.
      if (!res.locals.reachedGraphql && args[0] >= 400)
        metrics.graphqlRequests.inc({
          operation_type: 'unknown',
          operation_name: '(refused)',
          outcome: REFUSED_OUTCOME[args[0]] ?? 'error',
        });
      return writeHead.apply(this, args);
    } as typeof writeHead;
    next();
  };
}

/**
 * engage_graphql_* per request. The operation is named by its first root field (a schema field: a bounded set),
 * never by the client's operation name, which any client may choose freely; unparsed or invalid documents count
 * as "(invalid)". The outcome is "ok" or the first error's public code.
 */
function graphqlMetrics(metrics: Metrics): ApolloServerPlugin<GatewayContext> {
  return {
    // A request refused while its context was built (the database away, a caller not allowed) runs no other hook.
    async contextCreationDidFail({ error }) {
      const code = (error as GraphQLError).extensions?.code;
      metrics.graphqlRequests.inc({
        operation_type: 'unknown',
        operation_name: '(context)',
        outcome: isPublicCode(code) ? code : 'error',
      });
    },
    async requestDidStart() {
      const started = performance.now();
      let type = 'unknown';
      let name = '(invalid)';
      return {
        async didResolveOperation({ operation }) {
          if (!operation) return;
          type = operation.operation;
          const first = operation.selectionSet.selections[0];
          name = first?.kind === 'Field' ? first.name.value : '(fragment)';
        },
        async willSendResponse({ response }) {
          const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
          const code = errors?.[0]?.extensions?.code;
          const outcome = !errors?.length
            ? 'ok'
            : isPublicCode(code) || PERSISTED_QUERY_CODES.has(String(code))
              ? String(code)
              : 'error';
          metrics.graphqlRequests.inc({ operation_type: type, operation_name: name, outcome });
          metrics.graphqlDuration.observe(
            { operation_type: type, operation_name: name },
            (performance.now() - started) / 1000,
          );
        },
      };
    },
  };
}

/**
 * True when the client may see the error as it is: one we raised on purpose (AppError), or a GraphQLError of a
 * library with one of our public codes but INTERNAL_SERVER_ERROR, which Apollo also gives what it wraps (its
 * "Context creation failed: <the driver's message>" carried the database's words to the client).
 */
function isExpected(error: unknown, code: unknown): boolean {
  const original = unwrapResolverError(error);
  return (
    original instanceof AppError ||
    (original instanceof GraphQLError && isPublicCode(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR)
  );
}

interface ValidationIssue {
  property: string;
  constraints?: Record<string, string>;
  children?: ValidationIssue[];
}

/** class-validator's nested errors as `path: message` pairs (without echoing the whole input back). */
function flattenValidation(issues: ValidationIssue[], prefix = ''): { path: string; message: string }[] {
  return issues.flatMap((i) => {
    const path = prefix ? `${prefix}.${i.property}` : i.property;
    // class-validator's messages quote the value ("$value"): cut, so a megabyte of input is not echoed back twice.
    return [
      ...Object.values(i.constraints ?? {}).map((message) => ({ path, message: quote(message, 200) })),
      ...flattenValidation(i.children ?? [], path),
    ];
  });
}

function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const code = formatted.extensions?.code;
  const original = unwrapResolverError(error);
  if (original instanceof ArgumentValidationError) {
    const problems = flattenValidation(original.extensions.validationErrors as ValidationIssue[]);
    return {
      message: `Invalid input: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: ErrorCode.BAD_USER_INPUT, problems },
    };
  }
  // The database is away (however deep a service wrapped it): retryable, said so, never masked as a bug.
  if (code === ErrorCode.SERVICE_UNAVAILABLE || isDatabaseUnavailable(original)) {
    return {
      message: databaseUnavailable().message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS },
    };
  }
  if (isExpected(error, code)) {
    const { http: _http, stacktrace: _stack, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  }
  if (typeof code === 'string' && PERSISTED_QUERY_CODES.has(code)) {
    return { message: formatted.message, extensions: { code } };
  }
  if (typeof code === 'string' && APOLLO_REQUEST_CODES.has(code)) {
    return {
      message: formatted.message,
      locations: formatted.locations,
      extensions: { code: ErrorCode.BAD_USER_INPUT, reason: code },
    };
  }
  // Logged with the request id by the plugin below; the client sees no detail.
  return {
    message: 'Internal server error',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}

/** Logs unexpected errors with their request id and hands that id to the client, to quote to support. */
const maskedErrorReporting: ApolloServerPlugin<GatewayContext> = {
  async requestDidStart() {
    return {
      async didEncounterErrors({ errors, contextValue }) {
        for (const e of errors) {
          const code = e.extensions?.code;
          if (isDatabaseUnavailable(unwrapResolverError(e))) {
            // An outage, not a bug: /readyz says so too; one line per request, without the stack.
            contextValue?.log.warn(
              { path: e.path, code: (unwrapResolverError(e) as { code?: string }).code },
              'database unavailable: answered SERVICE_UNAVAILABLE',
            );
            continue;
          }
          // An INTERNAL_SERVER_ERROR is logged even when raised on purpose (an AppError, e.g. an unknown failure
          // calling
          // Google): the client quotes its request id to support, who must find it here, with what was thrown.
          if (
            (!isExpected(e, code) &&
              !APOLLO_REQUEST_CODES.has(String(code)) &&
              !PERSISTED_QUERY_CODES.has(String(code))) ||
            code === ErrorCode.INTERNAL_SERVER_ERROR
          ) {
            const original = unwrapResolverError(e) as { failure?: { cause?: unknown } };
            contextValue?.log.error(
              { err: original.failure?.cause ?? original, path: e.path },
              'unexpected error (masked for the client)',
            );
          }
        }
      },
      async willSendResponse({ response, contextValue }) {
        if (response.body.kind !== 'single') return;
        // Only when nothing was answered: a response with data may carry a write that went through, which a client
        // retrying on 503 would repeat.
        if (
          response.body.singleResult.data == null &&
          response.body.singleResult.errors?.some((e) => e.extensions?.code === ErrorCode.SERVICE_UNAVAILABLE)
        ) {
          // A client or proxy that only looks at the status also knows to come back later.
          response.http.status = 503;
          response.http.headers.set('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
        }
        if (!contextValue) return;
        for (const e of response.body.singleResult.errors ?? []) {
          if (e.extensions?.code === ErrorCode.INTERNAL_SERVER_ERROR)
            (e.extensions as Record<string, unknown>).requestId = contextValue.requestId;
        }
      },
    };
  },
};

export async function createGateway(
  services: Services,
  schema: GraphQLSchema,
  verifier: CallerTokenVerifier,
): Promise<Gateway> {
  // Armor's max-tokens plugin turns syntax errors into 500s: limitTokens replaces it.
  const armor = new ApolloArmor({ ...ARMOR_LIMITS, maxTokens: { enabled: false } }).protect();
  const clients = services.config.clients;
  // Checked whole before anything is opened: a bad manifest stops the start with one line per problem, naming each
  // operation (against the schema and the same limits a request meets).
  const manifest =
    clients.persistedOperationsFile === null
      ? new Map<string, ManifestOperation>()
      : readManifest(clients.persistedOperationsFile, schema, {
          validationRules: armor.validationRules,
          maxTokens: ARMOR_LIMITS.maxTokens.n,
        });
  const documents = new PersistedDocuments(manifest, clients.apqCacheBytes);
  const largeBodies = new LargeBodyGate(services.config.http.largeBodySlots);
  const app = express();
  app.disable('x-powered-by');
  // No ETag of express's own (a SHA-1 of every answer's body): GET answers get our strong one (get-caching.ts), and
  // nothing revalidates a POST.
  app.set('etag', false);
  const { tls, trustProxy, required: httpsRequired } = services.config.https;
  if (trustProxy !== null) app.set('trust proxy', trustProxyValue(trustProxy));
  // Counted before anything may refuse it: a request answered before GraphQL runs is counted here, as "(refused)".
  app.use('/graphql', countRefused(services.metrics));
  if (httpsRequired) app.use(requireHttps);
  // Requests made with express's prototypes already: express's per-request setPrototypeOf then changes nothing.
  const prototypes = withExpressPrototypes(app);
  const httpServer = tls
    ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), ...prototypes }, app)
    : createServer(prototypes, app);
  const stopReloading = tls ? reloadCertificateOnChange(httpServer as HttpsServer, tls, services.log) : () => undefined;
  // Idle connections outlast a load balancer's idle timeout (config.ts). Node's headers timer (60 s) runs only
  // once a request has begun, so it needs no change with it.
  httpServer.keepAliveTimeout = services.config.http.keepAliveTimeoutMs;
  const apollo = new ApolloServer<GatewayContext>({
    schema,
    // Allowed here, decided per request by the caller's roles (introspectionByRole below).
    introspection: true,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: true,
    // Apollo refuses a request that a browser could send cross-site without a CORS preflight (a GET, or a POST of a
    // form content type) unless it carries one of these headers; a page on another origin cannot set any of them
    // without a preflight, which we never answer. Every request reaching Apollo carries `Authorization: Bearer …`
    // (requireBearer answers 401 before), and Authorization is not a CORS-safelisted header: setting it forces the
    // preflight exactly as Apollo's own headers do, and browsers never add a Bearer token by themselves (the only
    // Authorization they add on their own is Basic/Digest, which requireBearer refuses). So a GET with just the
    // bearer token, as mobile clients send persisted queries, is as safe as one with apollo-require-preflight.
    // Apollo's defaults are listed too: naming headers replaces them.
    csrfPrevention: { requestHeaders: ['authorization', 'x-apollo-operation-name', 'apollo-require-preflight'] },
    allowBatchedHttpRequests: false,
    // Our store (manifest first, then the APQ cache bounded in bytes) is used by nothing else: Apollo's "apq:" key
    // prefix is not needed. Off altogether (PERSISTED_QUERY_NOT_SUPPORTED) with no cache and no manifest.
    persistedQueries: documents.enabled
      ? { cache: PrefixingKeyValueCache.cacheDangerouslyDoesNotNeedPrefixesForIsolation(documents) }
      : false,
    // main.ts owns SIGINT/SIGTERM and stops the gateway, the emulator and the database in order.
    stopOnTerminationSignals: false,
    formatError,
    // Apollo pretty-prints by default (two-space indents): a third more bytes on a contacts page and 4% of the CPU
    // profile of contacts(first: 50) (docs/performance.md). Clients parse JSON; nobody reads it as sent.
    stringifyResult: (value) => JSON.stringify(value),
    logger: services.log,
    plugins: [
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginLandingPageDisabled(),
      ...armor.plugins,
      // On stop: no new connections, idle ones closed, requests under way given SHUTDOWN_DRAIN_SECONDS.
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: services.config.http.drainMs }),
      maskedErrorReporting,
      graphqlMetrics(services.metrics),
      introspectionByRole({ forAll: clients.introspectionForAll, roles: clients.internalRoles }),
      // A body over MAX_BODY_BYTES was read for a mail (request-body.ts): any other operation in it is refused.
      {
        requestDidStart: async () => ({
          didResolveOperation: async ({ operation, contextValue }) => {
            if (contextValue.largeBody) onlyMailIfLarge(operation, services.config.http.maxBodyBytes);
          },
        }),
      },
    ],
    validationRules: armor.validationRules,
  });
  await apollo.start();

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    // Shutting down (SIGTERM): the load balancer takes this replica out while it finishes what it has.
    if (services.lifecycle.draining) {
      res.status(503).json({ status: 'draining' });
      return;
    }
    try {
      await withinDatabaseDeadline(services.ds.query('SELECT 1'), 2000);
      res.json({ status: 'ready', database: 'ok' });
    } catch {
      res.status(503).json({ status: 'not ready', database: 'unreachable' });
    }
  });

  // Prometheus scrape: on its own port when METRICS_PORT is set (kept off the public API), else here.
  const scrape: express.RequestHandler = async (_req, res) => {
    try {
      res.setHeader('content-type', services.metrics.registry.contentType);
      res.send(await services.metrics.registry.metrics());
    } catch (err) {
      services.log.warn({ err }, 'metrics scrape failed');
      res.status(503).send('# metrics unavailable (the database did not answer)\n');
    }
  };
  let metricsServer: ReturnType<typeof createServer> | undefined;
  if (services.config.metricsPort === null) app.get('/metrics', scrape);
  else metricsServer = createServer(express().get('/metrics', scrape));

  app.post(WEBHOOK_PATH, services.calendarWatch.handler());

  // The explorer (GraphiQL): a public page holding no data, so it is mounted before the bearer check (its requests to
  // /graphql carry the token typed into it); after requireHttps, so production serves it over HTTPS only. Its router
  // sets its own CSP and security headers: nothing here overrides them.
  if (services.config.clients.explorer) {
    app.use(
      '/explorer',
      explorerRouter({
        endpoint: '/graphql',
        initialHeaders: explorerHeaders(services.config),
        defaultQuery: explorerHandsOutToken(services.config) ? EXPLORER_DEFAULT_QUERY : EXPLORER_QUERY_WITHOUT_TOKEN,
      }),
    );
    // A browser opening /graphql (no operation in the URL, HTML preferred) is sent to the explorer.
    app.get('/graphql', (req, res, next) => {
      if (isBrowserNavigation(req)) res.redirect(302, '/explorer');
      else next();
    });
  }

  app.use(
    '/graphql',
    (req, res, next) => {
      const incoming = req.header('x-request-id');
      const requestId = incoming && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
      res.locals.requestId = requestId;
      res.setHeader('x-request-id', requestId);
      next();
    },
    cacheableGet,
    requireBearer(verifier),
    readBody(
      services.config.http,
      largeBodies,
      async (domain) => (await services.ds.getRepository(Brokerage).count({ where: { domain } })) > 0,
      (body, max, tenant) => mimeBuilder.parseJson(body, max, tenant),
    ),
    // documentId → the manifest's text; persisted-query extensions checked; PERSISTED_OPERATIONS=require enforced.
    persistedOperations({ documents, mode: clients.persistedOperations, internalRoles: clients.internalRoles }),
    // The longest list any operation takes: a bulk of contacts, or a mail's recipients (MAIL_MAX_RECIPIENTS).
    limitVariables(Math.max(MAX_BULK, services.config.mail.maxRecipients)),
    limitTokens(ARMOR_LIMITS.maxTokens.n),
    (_req, res, next) => {
      res.locals.reachedGraphql = true; // from here on the Apollo plugin counts it (graphqlMetrics)
      next();
    },
    expressMiddleware(apollo, {
      context: async ({ res }) => {
        const requestId = res.locals.requestId as string;
        try {
          const claims = claimsOf(res);
          const caller = await withinDatabaseDeadline(services.callers.resolve(claims));
          return createContext(services, requestId, caller, res.locals.largeBody === true, claims.roles);
        } catch (err) {
          if (err instanceof AppError && err.code !== ErrorCode.INTERNAL_SERVER_ERROR) throw err;
          if (isDatabaseUnavailable(err)) {
            services.log.warn(
              { requestId, code: (err as { code?: string }).code },
              'database unavailable while identifying the caller: answered SERVICE_UNAVAILABLE',
            );
            throw databaseUnavailable();
          }
          // Apollo would send the message as is ("Context creation failed: Access denied for user …") and log nothing.
          services.log.error(
            { err, requestId },
            'unexpected error while building the request context (masked for the client)',
          );
          throw new AppError(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error', { requestId });
        }
      },
    }),
  );

  // Body parsing failures (malformed JSON, oversized body) answered in GraphQL's error shape.
  const bodyErrors: ErrorRequestHandler = (err, _req, res, next) => {
    if (res.headersSent) return next(err);
    const status = typeof err?.status === 'number' ? err.status : 500;
    if (err?.type === 'entity.too.large') {
      // The limit the parser applied (counted after inflation): MAX_BODY_BYTES, or MAX_MAIL_BODY_BYTES for a mail.
      const limit = typeof err.limit === 'number' ? err.limit : services.config.http.maxBodyBytes;
      const hint =
        limit < services.config.http.maxMailBodyBytes
          ? `; only sendMail may send more (up to ${services.config.http.maxMailBodyBytes} bytes, uncompressed, with a Content-Length)`
          : '';
      res.status(413).json({
        errors: [
          {
            message: `Request body is larger than ${limit} bytes${hint}`,
            extensions: { code: ErrorCode.BAD_USER_INPUT, reason: 'too_large' },
          },
        ],
      });
    } else if (err?.type === 'entity.parse.failed' || (status >= 400 && status < 500)) {
      res.status(400).json({
        errors: [
          {
            message: err?.type === 'entity.parse.failed' ? 'Malformed JSON in request body' : 'Bad request',
            extensions: { code: ErrorCode.BAD_USER_INPUT },
          },
        ],
      });
    } else if (isDatabaseUnavailable(err)) {
      res.status(503).setHeader('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
      res.json({
        errors: [
          {
            message: databaseUnavailable().message,
            extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS },
          },
        ],
      });
    } else if (err instanceof AppError) {
      const code = err.extensions.code as ErrorCode;
      res
        .status((err.extensions.http as { status?: number } | undefined)?.status ?? 400)
        .json({ errors: [{ message: err.message, extensions: { code } }] });
    } else {
      services.log.error({ err, requestId: res.locals.requestId }, 'unexpected error in the HTTP layer');
      res.status(500).json({
        errors: [
          {
            message: 'Internal server error',
            extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId: res.locals.requestId },
          },
        ],
      });
    }
  };
  app.use(bodyErrors);
  app.use((_req, res) => {
    res.status(404).json({
      errors: [{ message: 'Not found: the GraphQL endpoint is /graphql', extensions: { code: ErrorCode.NOT_FOUND } }],
    });
  });

  const listenOn = (server: ReturnType<typeof createServer>, port: number, host: string) =>
    new Promise<string>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const { port: actual } = server.address() as AddressInfo;
        resolve(
          `${server === httpServer && tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${actual}`,
        );
      });
    });
  const gateway: Gateway = {
    app,
    apollo,
    persistedDocuments: documents,
    metricsUrl: null,
    async listen(port, host = '127.0.0.1') {
      if (metricsServer) gateway.metricsUrl = await listenOn(metricsServer, services.config.metricsPort!, host);
      return listenOn(httpServer, port, host);
    },
    async close() {
      stopReloading();
      if (metricsServer?.listening) await new Promise<void>((r) => metricsServer!.close(() => r()));
      // The drain plugin stops accepting connections and waits for in-flight requests.
      await apollo.stop();
      if (httpServer.listening) await new Promise<void>((r) => httpServer.close(() => r()));
    },
  };
  return gateway;
}
