export interface BenchResult {
  name: string;
  figures: Record<string, number | string>;
}

/** The emulator's admin API (architecture.md §5). */
export async function adminCall(url: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${url}/emulator/v1${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`admin ${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
