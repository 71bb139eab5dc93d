/**
 * Reads a Google service-account key file (the JSON an admin downloads in the
 * guide's step "Create a Key for the MoxiEngage Service Account in JSON
 * Format") and says precisely what is wrong with it. The private key never
 * appears in any message.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { GUIDE_SECTIONS, SETUP_GUIDE } from './setup-guide';

export interface ServiceAccountKey {
  type: 'service_account';
  project_id?: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  token_uri: string;
}

export class KeyFileError extends Error {
  constructor(
    /** A stable name for the fault, e.g. `not_json`, `missing_field`. */
    readonly fault: string,
    message: string,
  ) {
    super(message);
    this.name = 'KeyFileError';
  }
}

/**
 * A service account's address (`name@project.iam.gserviceaccount.com`), checked in linear time on at most 254
 * characters.
 */
function isServiceAccountEmail(email: string): boolean {
  if (email.length > 254 || /\s/.test(email)) return false;
  const parts = email.split('@');
  if (parts.length !== 2 || parts[0] === '') return false;
  const labels = parts[1].split('.');
  return labels.length >= 2 && labels.every((l) => l !== '');
}

const REQUIRED = ['client_email', 'client_id', 'private_key', 'private_key_id', 'token_uri'] as const;
const GUIDE_STEP = `the guide's step "Create a Key for the MoxiEngage Service Account in JSON Format" (${SETUP_GUIDE}#${GUIDE_SECTIONS.key})`;

export function parseServiceAccountKey(
  json: string,
  allowedTokenUris: readonly string[],
): { key: ServiceAccountKey; privateKey: KeyObject } {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new KeyFileError(
      'not_json',
      `The key is not valid JSON. Paste the whole content of the .json file downloaded in ${GUIDE_STEP}.`,
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new KeyFileError(
      'not_json',
      `The key must be a JSON object (got ${Array.isArray(raw) ? 'an array' : typeof raw}).`,
    );
  }
  const o = raw as Record<string, unknown>;
  if (o.type !== 'service_account') {
    const got = typeof o.type === 'string' ? `"${o.type.slice(0, 40)}"` : 'no "type"';
    throw new KeyFileError(
      'not_service_account',
      `The key's "type" must be "service_account" (got ${got}). An OAuth client secret or an API key will not work: create a service-account key in ${GUIDE_STEP}.`,
    );
  }
  const missing = REQUIRED.filter((f) => typeof o[f] !== 'string' || (o[f] as string).trim() === '');
  if (missing.length) {
    throw new KeyFileError(
      'missing_field',
      `The key is missing ${missing.map((f) => `"${f}"`).join(', ')}. Use the unmodified file from ${GUIDE_STEP}.`,
    );
  }
  const clientEmail = (o.client_email as string).trim();
  // Length first, then one split: the old pattern backtracked quadratically (64 KB of "a." took 6.4 s, every tenant
  // waiting).
  if (!isServiceAccountEmail(clientEmail)) {
    throw new KeyFileError(
      'bad_field',
      `The key's "client_email" is not an email address (got "${clientEmail.slice(0, 80)}").`,
    );
  }
  const privateKeyId = (o.private_key_id as string).trim();
  // Google's key ids are 40 hex digits (a SHA-1 fingerprint); the column holds 64.
  if (!/^[0-9a-f]{1,64}$/i.test(privateKeyId)) {
    throw new KeyFileError(
      'bad_field',
      `The key's "private_key_id" must be the key's hexadecimal id (got "${privateKeyId.slice(0, 40)}").`,
    );
  }
  const clientId = (o.client_id as string).trim();
  if (!/^\d{5,30}$/.test(clientId)) {
    throw new KeyFileError(
      'bad_field',
      `The key's "client_id" must be the numeric client id (got "${clientId.slice(0, 40)}").`,
    );
  }
  const tokenUri = (o.token_uri as string).trim();
  if (!allowedTokenUris.includes(tokenUri)) {
    throw new KeyFileError(
      'bad_token_uri',
      `The key's "token_uri" must be ${allowedTokenUris.map((u) => `"${u}"`).join(' or ')} (got "${tokenUri.slice(0, 120)}").`,
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: o.private_key as string, format: 'pem' });
  } catch {
    throw new KeyFileError(
      'bad_private_key',
      `The key's "private_key" is not a readable PEM private key (it may have been altered when copied, e.g. its "\\n" line breaks). Use the unmodified file from ${GUIDE_STEP}.`,
    );
  }
  if (privateKey.asymmetricKeyType !== 'rsa') {
    throw new KeyFileError(
      'bad_private_key',
      `The key's "private_key" must be an RSA key (got ${privateKey.asymmetricKeyType ?? 'an unknown type'}).`,
    );
  }
  return {
    key: {
      type: 'service_account',
      project_id: typeof o.project_id === 'string' ? o.project_id : undefined,
      private_key_id: privateKeyId,
      private_key: o.private_key as string,
      client_email: clientEmail,
      client_id: clientId,
      token_uri: tokenUri,
    },
    privateKey,
  };
}
