/**
 * `node dist-bench/bench/scale/heap-summary.js file.heapsnapshot [top]`: what a heap snapshot holds, summed by kind
 * and constructor (self sizes: an object's own bytes, not what it keeps alive), largest first. For comparing two
 * snapshots of the scale bench (BENCH_HEAP_SNAPSHOTS) without DevTools.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  strings: string[];
}

export function summarize(file: string, top = 30): string {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [TYPE, NAME, SIZE] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const groups = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + TYPE]];
    const bytes = snap.nodes[i + SIZE];
    total += bytes;
    // Strings and code by kind; objects by constructor.
    const key = ['object', 'closure', 'native'].includes(type)
      ? `${type} ${snap.strings[snap.nodes[i + NAME]].slice(0, 60)}`
      : type;
    const g = groups.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += bytes;
    groups.set(key, g);
  }
  const mb = (n: number) => (n / 1048576).toFixed(2).padStart(8);
  const rows = [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top);
  return [
    `${file}: ${mb(total)} MiB in ${snap.nodes.length / width} nodes`,
    ...rows.map(([k, g]) => `${mb(g.bytes)} MiB ${String(g.count).padStart(9)}  ${k}`),
  ].join('\n');
}

if (require.main === module) console.log(summarize(process.argv[2], Number(process.argv[3] ?? 30)));
