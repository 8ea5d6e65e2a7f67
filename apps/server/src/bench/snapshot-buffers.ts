import { readFileSync } from 'node:fs';

/**
 * `node apps/server/dist/src/bench/snapshot-buffers.js FILE.heapsnapshot [DEPTH]`: what holds
 * the Buffers of a V8 heap snapshot (e.g. one `pnpm soak --snapshot-external-mb` took). Each
 * ArrayBuffer backing store is followed up its shortest retaining path towards the GC roots
 * (as DevTools' "Retainers" shows it), the first DEPTH steps (default 6) name a group, and the
 * groups are printed by total bytes, with a histogram of the backing stores' sizes.
 */
function main(argv: readonly string[]): number {
  const [file, depthArg] = argv;
  if (!file) {
    process.stderr.write('usage: node snapshot-buffers.js FILE.heapsnapshot [DEPTH]\n');
    return 2;
  }
  const depth = depthArg ? Number(depthArg) : 6;
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
  const groups = backingStoreGroups(snapshot, depth);
  const total = groups.reduce((s, g) => s + g.bytes, 0);
  process.stdout.write(`${groups.reduce((s, g) => s + g.count, 0)} backing stores, ${(total / 1e6).toFixed(1)} MB\n\n`);
  process.stdout.write('| MB | stores | sizes < 16 kB / < 64 kB / < 128 kB / larger | retaining path (nearest first) |\n|---|---|---|---|\n');
  for (const g of groups.slice(0, 25)) {
    process.stdout.write(`| ${(g.bytes / 1e6).toFixed(2)} | ${g.count} | ${g.sizes.join(' / ')} | ${g.path} |\n`);
  }
  return 0;
}

/** The parts of the `.heapsnapshot` JSON this reads. */
interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Backing stores grouped by their retaining path, largest total first. */
export interface BufferGroup {
  readonly path: string;
  readonly bytes: number;
  readonly count: number;
  /** Counts of stores below 16 kB, below 64 kB, below 128 kB and of 128 kB or more. */
  readonly sizes: [number, number, number, number];
}

/** Groups a snapshot's ArrayBuffer backing stores by the first `depth` steps of their shortest retaining path. */
export function backingStoreGroups(snapshot: HeapSnapshot, depth: number): BufferGroup[] {
  const { meta } = snapshot.snapshot;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const [typeF, nameF, sizeF, edgeCountF] = ['type', 'name', 'self_size', 'edge_count'].map((f) => meta.node_fields.indexOf(f));
  const [eTypeF, eNameF, eToF] = ['type', 'name_or_index', 'to_node'].map((f) => meta.edge_fields.indexOf(f));
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snapshot;
  const count = nodes.length / nf;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) firstEdge[i + 1] = firstEdge[i] + nodes[i * nf + edgeCountF] * ef;
  // Breadth-first distances from the root over strong edges: the shortest retaining path.
  const distance = new Int32Array(count).fill(-1);
  const via = new Int32Array(count).fill(-1);
  const viaEdge = new Int32Array(count).fill(-1);
  const queue = new Int32Array(count);
  let head = 0;
  let tail = 0;
  distance[0] = 0;
  queue[tail++] = 0;
  while (head < tail) {
    const n = queue[head++];
    for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += ef) {
      if (edgeTypes[edges[e + eTypeF]] === 'weak') continue;
      const to = edges[e + eToF] / nf;
      if (distance[to] >= 0) continue;
      distance[to] = distance[n] + 1;
      via[to] = n;
      viaEdge[to] = e;
      queue[tail++] = to;
    }
  }
  const nodeName = (n: number): string => {
    const type = nodeTypes[nodes[n * nf + typeF]];
    const name = strings[nodes[n * nf + nameF]];
    return type === 'object' || type === 'native' || type === 'closure' ? name : `(${type}) ${name.slice(0, 40)}`;
  };
  const edgeName = (e: number): string => {
    const type = edgeTypes[edges[e + eTypeF]];
    const v = edges[e + eNameF];
    return type === 'element' || type === 'hidden' ? `[${type === 'element' ? 'i' : v}]` : strings[v];
  };
  const byPath = new Map<string, { bytes: number; count: number; sizes: [number, number, number, number] }>();
  for (let n = 0; n < count; n++) {
    const name = strings[nodes[n * nf + nameF]];
    if (nodeTypes[nodes[n * nf + typeF]] !== 'native' || !/ArrayBufferData|backing_store/i.test(name)) continue;
    const size = nodes[n * nf + sizeF];
    const steps: string[] = [];
    let at = n;
    for (let d = 0; d < depth && via[at] >= 0; d++) {
      steps.push(`${edgeName(viaEdge[at])} of ${nodeName(via[at])}`);
      at = via[at];
    }
    const path = distance[n] < 0 ? '(unreachable from the roots)' : steps.join(' ← ');
    const group = byPath.get(path) ?? { bytes: 0, count: 0, sizes: [0, 0, 0, 0] };
    group.bytes += size;
    group.count++;
    group.sizes[size < 16_384 ? 0 : size < 65_536 ? 1 : size < 131_072 ? 2 : 3]++;
    byPath.set(path, group);
  }
  return [...byPath].map(([path, g]) => ({ path, ...g })).sort((a, b) => b.bytes - a.bytes);
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
