// Turns a GPU run of bench/cuda/run.sh (bench_cuda.jsonl, torch_peer.jsonl, gpu.txt in one folder) into
// bench/results/cuda.md: bertrt FP16 and INT8 against PyTorch FP16 (eager and SDPA) per model, batch and length,
// with the goals checked. Usage: node bench/cuda/report.mjs <folder> [out.md]
import * as fs from 'node:fs';
import * as path from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node bench/cuda/report.mjs <folder with bench_cuda.jsonl and torch_peer.jsonl> [out.md]');
  process.exit(2);
}
const lines = (f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const ours = lines('bench_cuda.jsonl');
const peer = lines('torch_peer.jsonl');
const gpu = fs.existsSync(path.join(dir, 'gpu.txt')) ? fs.readFileSync(path.join(dir, 'gpu.txt'), 'utf8').trim() : ours[0].device;
const find = (list, q) => list.find((r) => Object.entries(q).every(([k, v]) => r[k] === v));
const L = [
  `# CUDA backend vs PyTorch FP16 — ${gpu}`,
  '',
  `Measured by \`bench/cuda/run.sh\` (bench_cuda.cu and torch_peer.py in the same session on the same card), summarized by`,
  '`node bench/cuda/report.mjs`. Random weights of the named shape, every sequence full length; sequences/s from the',
  'median pass; hidden states left on the GPU for both (bertrt "to host" adds the copy the Node addon pays).',
  '',
  '| model | batch x seq | bertrt FP16 seq/s | bertrt INT8 seq/s | torch eager seq/s | torch SDPA seq/s | FP16 / SDPA | INT8 / SDPA | INT8 / FP16 | FP16 latency ms | FP16 to host ms |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const r of ours.filter((x) => x.precision === 'fp16')) {
  const q = { model: r.model, batch: r.batch, seq: r.seq };
  const i8 = find(ours, { ...q, precision: 'int8' });
  const eager = find(peer, { ...q, peer: 'torch-fp16-eager' });
  const sdpa = find(peer, { ...q, peer: 'torch-fp16-sdpa' });
  const f = (v) => (v === undefined ? '—' : v.toFixed(0));
  const x = (a, b) => (a && b ? (a / b).toFixed(2) + '×' : '—');
  L.push(`| ${r.model} | ${r.batch} x ${r.seq} | ${f(r.seq_per_s)} | ${f(i8?.seq_per_s)} | ${f(eager?.seq_per_s)} | ${f(sdpa?.seq_per_s)} | ${x(r.seq_per_s, sdpa?.seq_per_s)} | ${x(i8?.seq_per_s, sdpa?.seq_per_s)} | ${x(i8?.seq_per_s, r.seq_per_s)} | ${r.ms.toFixed(3)} | ${r.ms_to_host.toFixed(3)} |`);
}
const base = find(ours, { model: 'bert-base', precision: 'fp16', batch: 128, seq: 128 });
const base8 = find(ours, { model: 'bert-base', precision: 'int8', batch: 128, seq: 128 });
const sdpa = find(peer, { model: 'bert-base', peer: 'torch-fp16-sdpa', batch: 128, seq: 128 });
const one = find(ours, { model: 'bert-base', precision: 'fp16', batch: 1, seq: 128 });
const goal = (ok) => (ok ? 'met' : '**not met**');
L.push('', '## Goals (BERT-base)', '', '| goal | measured | |', '| --- | ---: | --- |');
if (base) L.push(`| FP16 ≥ 17,000 seq/s at 128 x 128 | ${base.seq_per_s.toFixed(0)} | ${goal(base.seq_per_s >= 17000)} |`);
if (base && base8) L.push(`| INT8 ≥ 1.3× our FP16 at 128 x 128 | ${(base8.seq_per_s / base.seq_per_s).toFixed(2)}× | ${goal(base8.seq_per_s >= 1.3 * base.seq_per_s)} |`);
if (base8 && sdpa) L.push(`| INT8 ≥ 1.5× PyTorch FP16 (SDPA) at 128 x 128 | ${(base8.seq_per_s / sdpa.seq_per_s).toFixed(2)}× | ${goal(base8.seq_per_s >= 1.5 * sdpa.seq_per_s)} |`);
if (one) L.push(`| batch 1 x 128 ≤ 0.5 ms | ${one.ms.toFixed(3)} ms | ${goal(one.ms <= 0.5)} |`);
const out = process.argv[3] ?? path.join('bench', 'results', 'cuda.md');
fs.writeFileSync(out, L.join('\n') + '\n');
console.log(`wrote ${out}`);
