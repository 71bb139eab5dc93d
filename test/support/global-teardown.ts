import type { MariaDbInstance } from './mariadb';

export default async function globalTeardown(): Promise<void> {
  const instance = (globalThis as Record<string, unknown>).__ENGAGE_MARIADB__ as MariaDbInstance | undefined;
  if (instance) await instance.stop();
}
