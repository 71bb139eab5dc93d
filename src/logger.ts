/**
 * Structured logs (pino). Secrets are redacted by path as a second line of
 * defence; the first is that code never logs key material or tokens at all.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  '*.authorization',
  'private_key',
  '*.private_key',
  'privateKey',
  '*.privateKey',
  'keyJson',
  '*.keyJson',
  'access_token',
  '*.access_token',
  'accessToken',
  '*.accessToken',
  'password',
  '*.password',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: 'engage-gateway' } }, destination);
}
