/**
 * A Google API call's URL as bounded metric labels: the API, and the method as "<HTTP method> <path template>" with
 * every path segment that is not a known word of the People, Calendar or Gmail URL grammar replaced by {id} (emails,
 * resource names, event ids). So the label set is fixed by the APIs' surface, whatever the data.
 */
import type { GoogleRoots } from '../google/google-session';
import type { Metrics } from './metrics';

const WORDS = new Set([
  'v1',
  'v3',
  'people',
  'me',
  'connections',
  'contactGroups',
  'members',
  'otherContacts',
  'batchGet',
  'calendar',
  'calendars',
  'events',
  'instances',
  'watch',
  'channels',
  'stop',
  'users',
  'settings',
  'calendarList',
  'primary',
  'freeBusy',
  'gmail',
  'upload',
  'drafts',
  'send',
  'messages',
  'profile',
  'labels',
  'threads',
  'import',
  'insert',
]);

interface GoogleCallLabels {
  api: 'people' | 'calendar' | 'gmail' | 'other';
  method: string;
}

function googleCallLabels(roots: GoogleRoots, url: string, httpMethod: string): GoogleCallLabels {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { api: 'other', method: 'other' };
  }
  // By the path first: one root may serve all three APIs (GOOGLE_API_ROOT_URL: an emulator, an egress proxy).
  const path = u.pathname;
  const api: GoogleCallLabels['api'] = /^\/(upload\/)?gmail\//.test(path)
    ? 'gmail'
    : /^\/calendar\//.test(path)
      ? 'calendar'
      : /^\/v1\/(people|contactGroups|otherContacts)\b/.test(path)
        ? 'people'
        : ((Object.keys(roots) as (keyof GoogleRoots)[]).find((k) => url.startsWith(roots[k])) ?? 'other');
  const template = u.pathname
    .split('/')
    .map((segment) => {
      if (!segment) return segment;
      const [word, verb] = segment.split(':', 2);
      const head = WORDS.has(word) ? word : '{id}';
      return verb === undefined ? head : `${head}:${/^[A-Za-z]{1,40}$/.test(verb) ? verb : '{verb}'}`;
    })
    .join('/');
  return { api, method: `${httpMethod.toUpperCase()} ${template}` };
}

/** `fetch` that counts and times each Google API call (engage_google_api_*), for the generated clients. */
export function instrumentedFetch(
  metrics: Pick<Metrics, 'googleRequests' | 'googleDuration'>,
  roots: GoogleRoots,
  inner: typeof fetch = fetch,
): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const labels = googleCallLabels(
      roots,
      url,
      init?.method ?? (typeof input === 'object' && 'method' in input ? input.method : 'GET'),
    );
    const started = performance.now();
    try {
      const res = await inner(input, init);
      metrics.googleRequests.inc({ ...labels, status_code: String(res.status) });
      return res;
    } catch (err) {
      metrics.googleRequests.inc({ ...labels, status_code: '0' });
      throw err;
    } finally {
      metrics.googleDuration.observe({ api: labels.api, method: labels.method }, (performance.now() - started) / 1000);
    }
  };
}
