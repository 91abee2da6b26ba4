// Turns a GPU run of bench/cuda/run.sh (bench_cuda.jsonl, torch_peer.jsonl, accuracy.jsonl, gpu.txt, test_cuda.txt in
// one folder) into bench/results/cuda.md: the encoder, bertrt FP16, INT8 and FP8 against PyTorch FP16 (eager and SDPA)
// per model, batch and length, with the issue's goals checked; the precisions' accuracy on a real model; then each
// kernel against cuBLAS and SDPA.
// Usage: node bench/cuda/report.mjs <folder> [out.md]
import * as fs from 'node:fs';
import * as path from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node bench/cuda/report.mjs <folder with bench_cuda.jsonl and torch_peer.jsonl> [out.md]');
  process.exit(2);
}
const read = (f) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8') : '');
const lines = (f) => read(f).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const ours = lines('bench_cuda.jsonl');
const peer = lines('torch_peer.jsonl');
const gpu = read('gpu.txt').trim() || ours[0]?.device;
const torchVersion = peer.find((r) => r.torch)?.torch ?? '?';
const tests = read('test_cuda.txt').split('\n').find((l) => /passed, \d+ failed/.test(l));
const sanitize = read('sanitize.txt').split('\n').filter((l) => /ERROR SUMMARY|RACECHECK SUMMARY/.test(l)).map((l) => l.replace(/^=+ /, '').trim());
const find = (list, q) => list.find((r) => Object.entries(q).every(([k, v]) => r[k] === v));
const f0 = (v) => (v === undefined ? '—' : v.toFixed(0));
const x = (a, b) => (a && b ? (a / b).toFixed(2) + '×' : '—');
const L = [
  `# CUDA backend vs PyTorch — ${gpu}`,
  '',
  'Measured by `bench/cuda/run.sh` (bench_cuda.cu and torch_peer.py in the same session on the same card), summarized',
  `by \`node bench/cuda/report.mjs\`. PyTorch ${torchVersion}, transformers' BertModel in FP16. Random weights of the`,
  'named shape, every sequence full length (no padding for either side); sequences/s from the median pass; hidden',
  'states left on the GPU for both ("to host" adds the copy into host memory that the Node addon pays).',
  tests ? `GPU tests in the same session (tests/native/test_cuda.cu): ${tests.trim()}.` : '',
  sanitize.length ? `compute-sanitizer over those tests: memcheck ${sanitize[0] ?? '—'}; racecheck ${sanitize[1] ?? '—'}.` : '',
  '',
  '## Encoder',
  '',
  '| model | batch x seq | bertrt FP16 seq/s | FP16 own GEMMs seq/s | bertrt INT8 seq/s | INT8 own GEMMs seq/s | bertrt FP8 seq/s | torch eager seq/s | torch SDPA seq/s | FP16 / SDPA | INT8 / FP16 | FP8 / FP16 | FP16 ms | INT8 ms | FP8 ms | SDPA ms | FP16 to host ms |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const r of ours.filter((o) => o.model && o.precision === 'fp16')) {
  const q = { model: r.model, batch: r.batch, seq: r.seq };
  const i8 = find(ours, { ...q, precision: 'int8' });
  const own = find(ours, { ...q, precision: 'fp16-own' });
  const own8 = find(ours, { ...q, precision: 'int8-own' });
  const f8 = find(ours, { ...q, precision: 'fp8' });
  const eager = find(peer, { ...q, peer: 'torch-fp16-eager' });
  const sdpa = find(peer, { ...q, peer: 'torch-fp16-sdpa' });
  const ms = (o) => (o ? o.ms.toFixed(3) : '—');
  L.push(`| ${r.model} | ${r.batch} x ${r.seq} | ${f0(r.seq_per_s)} | ${own ? f0(own.seq_per_s) : '—'} | ${f0(i8?.seq_per_s)} | ${own8 ? f0(own8.seq_per_s) : '—'} | ${f8 ? f0(f8.seq_per_s) : '—'} | ${f0(eager?.seq_per_s)} | ${f0(sdpa?.seq_per_s)} | ${x(r.seq_per_s, sdpa?.seq_per_s)} | ${x(i8?.seq_per_s, r.seq_per_s)} | ${f8 ? x(f8.seq_per_s, r.seq_per_s) : '—'} | ${ms(r)} | ${ms(i8)} | ${ms(f8)} | ${ms(sdpa)} | ${r.ms_to_host.toFixed(3)} |`);
}
const gemmPaths = [...new Set(ours.filter((o) => o.model && o.gemm).map((o) => `${o.precision}: ${o.gemm}`))];
if (gemmPaths.length) L.push('', `GEMMs per column: ${gemmPaths.join('; ')}.`);
const base = find(ours, { model: 'bert-base', precision: 'fp16', batch: 128, seq: 128 });
const base8 = find(ours, { model: 'bert-base', precision: 'int8', batch: 128, seq: 128 });
const sdpa = find(peer, { model: 'bert-base', peer: 'torch-fp16-sdpa', batch: 128, seq: 128 });
const one = find(ours, { model: 'bert-base', precision: 'fp16', batch: 1, seq: 128 });
const one8 = find(ours, { model: 'bert-base', precision: 'int8', batch: 1, seq: 128 });
const base8f = find(ours, { model: 'bert-base', precision: 'fp8', batch: 128, seq: 128 });
const mini = find(ours, { model: 'minilm-l6', precision: 'fp16', batch: 32, seq: 128 });
const miniSdpa = find(peer, { model: 'minilm-l6', peer: 'torch-fp16-sdpa', batch: 32, seq: 128 });
const goal = (ok) => (ok ? 'met' : '**not met**');
L.push('', '## Goals (the GPU issue\'s, BERT-base unless named; stated for an H100 or H200, this card is named above)', '', '| goal | measured | |', '| --- | ---: | --- |');
if (base) L.push(`| FP16 ≥ 17,000 seq/s at 128 x 128 | ${base.seq_per_s.toFixed(0)} | ${goal(base.seq_per_s >= 17000)} |`);
if (base && sdpa) L.push(`| FP16 ≥ 1.05× PyTorch SDPA FP16 at 128 x 128 | ${(base.seq_per_s / sdpa.seq_per_s).toFixed(2)}× | ${goal(base.seq_per_s >= 1.05 * sdpa.seq_per_s)} |`);
if (base && base8) L.push(`| INT8 ≥ 1.3× our FP16 at 128 x 128 | ${(base8.seq_per_s / base.seq_per_s).toFixed(2)}× | ${goal(base8.seq_per_s >= 1.3 * base.seq_per_s)} |`);
if (base && base8f) L.push(`| FP8 ≥ 1.5× our FP16 at 128 x 128 | ${(base8f.seq_per_s / base.seq_per_s).toFixed(2)}× | ${goal(base8f.seq_per_s >= 1.5 * base.seq_per_s)} |`);
if (one) L.push(`| batch 1 x 128 ≤ 0.5 ms (FP16) | ${one.ms.toFixed(3)} ms | ${goal(one.ms <= 0.5)} |`);
if (one8) L.push(`| batch 1 x 128 (INT8, for comparison) | ${one8.ms.toFixed(3)} ms | |`);
if (mini && miniSdpa) L.push(`| MiniLM-L6 32 x 128 ≥ 2× SDPA (FP16) | ${(mini.seq_per_s / miniSdpa.seq_per_s).toFixed(2)}× | ${goal(mini.seq_per_s >= 2 * miniSdpa.seq_per_s)} |`);

const acc = lines('accuracy.jsonl').filter((r) => r.accuracy);
if (acc.length) {
  L.push('', '## Accuracy (all-MiniLM-L6-v2, the real checkpoint, on the 6,000 serving sentences: bench/cuda/accuracy.py)', '',
    'Sentence vectors (mean pooling, unit length) through the library\'s C interface against HF transformers\' FP32 model on the CPU: the cosine per sentence, and how often a sentence\'s nearest other sentence is the reference\'s. Gates: FP16 mean cosine ≥ 0.9999, INT8 and FP8 ≥ 0.995.', '',
    '| precision | GEMMs | cosine mean | cosine min | top-1 agreement | gate |', '| --- | --- | ---: | ---: | ---: | --- |');
  for (const r of acc) {
    if (r.error) L.push(`| ${r.precision} | not run: ${r.error} | — | — | — | — |`);
    else L.push(`| ${r.precision} | ${r.gemm} | ${r.cosine_mean.toFixed(6)} | ${r.cosine_min.toFixed(6)} | ${(r.top1_agreement * 100).toFixed(2)}% | ${r.gate_met ? 'met' : '**not met**'} (≥ ${r.gate_mean}) |`);
  }
}

const served = ours.filter((o) => o.serve);
if (served.length) {
  L.push('', `## Serving (bench_cuda serve: ${served[0].sentences} real sentences of bench/data/serve-sentences.txt.gz, one a request, from ${served[0].clients} closed-loop clients through the server's batching policy — 16,384 tokens / 256 requests a batch, one batch at a time — and the C interface, hidden states to the host; offline: the same sentences in file order in batches of the same budget)`, '',
    '| model | precision | offline sent/s | served sent/s | served / offline | p50 ms | p99 ms | mean batch |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of served)
    L.push(`| ${r.serve} | ${r.precision} | ${f0(r.offline_per_s)} | ${f0(r.served_per_s)} | ${(r.ratio * 100).toFixed(0)}% | ${r.p50_ms.toFixed(2)} | ${r.p99_ms.toFixed(2)} | ${r.mean_batch.toFixed(1)} |`);
  L.push('', 'Goal (the GPU issue): served ≥ 80% of offline for MiniLM-L6 and BERT-base.');
}
const gemms = ours.filter((o) => o.kernel === 'gemm');
if (gemms.length) {
  const tiles = [...new Set(gemms.map((g) => g.tile))];
  L.push('', '## GEMM kernels (BERT-base linear layers; µs per launch: 20 launches captured in a CUDA graph, median of 7 replays by CUDA events, on both sides; cuBLAS through PyTorch; bold: our fastest tile)', '',
    `| tokens | layer (N x K) | precision | cuBLAS | ${tiles.join(' | ')} | best ours / cuBLAS |`,
    `| ---: | --- | --- | ---: | ${tiles.map(() => '---:').join(' | ')} | ---: |`);
  for (const m of [...new Set(gemms.map((g) => g.m))])
    for (const op of [...new Set(gemms.map((g) => g.op))])
      for (const precision of ['fp16', 'int8', 'fp8']) {
        const row = gemms.filter((g) => g.m === m && g.op === op && g.precision === precision);
        if (!row.length) continue;
        const cub = find(peer, { kernel: 'gemm', m, op, peer: `cublas-${precision}` });
        const best = Math.min(...row.map((r) => r.ms));
        const cells = tiles.map((t) => {
          const r = row.find((g) => g.tile === t);
          if (!r) return '—';
          const us = (r.ms * 1000).toFixed(1);
          return r.ms === best ? `**${us}**` : us;
        });
        L.push(`| ${m} | ${op} (${row[0].n} x ${row[0].k}) | ${precision} | ${cub?.ms ? (cub.ms * 1000).toFixed(1) : '—'} | ${cells.join(' | ')} | ${cub?.ms ? (cub.ms / best).toFixed(2) + '×' : '—'} |`);
      }
}
const atts = ours.filter((o) => o.kernel === 'attention');
if (atts.length) {
  L.push('', '## Attention (BERT-base: 12 heads of 64, timed as the GEMMs; TFLOP/s counts 4·L²·D per head and sequence)', '',
    '| seqs x len | kernel | µs | TFLOP/s | SDPA µs | SDPA TFLOP/s | SDPA / ours (time) |', '| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const a of atts) {
    const p = find(peer, { kernel: 'attention', seqs: a.seqs, len: a.len });
    L.push(`| ${a.seqs} x ${a.len} | ${a.variant ?? 'ours'} | ${(a.ms * 1000).toFixed(1)} | ${a.tflops.toFixed(1)} | ${p ? (p.ms * 1000).toFixed(1) : '—'} | ${p ? p.tflops.toFixed(1) : '—'} | ${p ? (p.ms / a.ms).toFixed(2) + '×' : '—'} |`);
  }
}
const out = process.argv[3] ?? path.join('bench', 'results', 'cuda.md');
fs.writeFileSync(out, L.filter((l, i) => l !== '' || L[i - 1] !== '').join('\n') + '\n');
console.log(`wrote ${out}`);
