import { createReadStream, readFileSync } from 'node:fs';
import { RepodataFilter } from './src/ecosystems/conda/repodata-filter.ts';
let t = performance.now();
let n = 0;
for await (const c of createReadStream('/tmp/bench/repodata.json', { highWaterMark: 1 << 20 })) n += (c as Buffer).length;
console.log('read only', Math.round(performance.now() - t));
const chunks: Buffer[] = [];
for await (const c of createReadStream('/tmp/bench/repodata.json', { highWaterMark: 1 << 20 })) chunks.push(c as Buffer);
for (let k = 0; k < 3; k++) {
  t = performance.now();
  const f = new RepodataFilter({ wantName: () => false });
  for (const c of chunks) f.push(c);
  f.end();
  console.log('filter in memory', Math.round(performance.now() - t));
}
t = performance.now();
let q = 0;
for (const c of chunks) { for (let i = 0; i < c.length; i++) if (c[i] === 0x22) q++; }
console.log('plain byte loop', Math.round(performance.now() - t), q);
