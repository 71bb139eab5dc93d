/** What a driver (people.ts, calendar.ts, gmail.ts) builds its client from: the agent's token and the transport. */
export interface DriverOptions {
  /**
   * For the driver's feature's scope; the broker guarantees at least 5 minutes of validity, and there is no refresh
   * token.
   */
  accessToken: string;
  /** Options of the generated client (rootUrl, retry off, transport, timeout, User-Agent). */
  client: {
    rootUrl: string;
    retry: false;
    fetchImplementation: typeof fetch;
    timeout: number;
    userAgentDirectives?: { product: string; version: string; comment?: string }[];
  };
}

/** The OAuth2 client class each @googleapis package exports (`auth.OAuth2`), as far as a driver uses it. */
interface OAuth2Class<C> {
  new (options: {
    transporterOptions: { fetchImplementation: typeof fetch };
  }): C & { setCredentials(credentials: { access_token: string }): void };
}

/**
 * A driver's auth: the agent's access token on Google's own OAuth2 client (the driver passes its package's class),
 * with no expiry_date and no refresh token, so the client never tries to refresh by itself (the broker guarantees at
 * least 5 minutes of validity), over the same fetch as the API calls.
 */
export function bearerAuth<C>(OAuth2: OAuth2Class<C>, options: DriverOptions): C {
  const client = new OAuth2({ transporterOptions: { fetchImplementation: options.client.fetchImplementation } });
  client.setCredentials({ access_token: options.accessToken });
  return client;
}
