// The ONNX backend against onnxruntime-node on the same file, and against bertrt's native engine on the same weights,
// in one run with the engines alternating (npm run bench:onnx). The same onnxruntime library runs under both ONNX
// columns, so their ratio is what bertrt's batching, threading and copies add or cost, not a kernel difference.
// File: bench/.cache/all-MiniLM-L6-v2.onnx (tools/export_onnx.py: the embedded model's weights, FP32), so the native
// column runs exactly the same weights. Workloads: one batch of 32 x 128 tokens; 1,200 real sentences
// (bench/data/sentences.txt) in length-sorted batches of 32, as sentence-transformers batches them, and in batches
// of 32 in arrival order, as a server gets them, tokenized beforehand; one short sentence. Then the event loop's delay while each engine is saturated, and accuracy.
// Writes bench/results/onnx.{json,md}.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Encoder, info, onnxruntimeInfo, pack, Tokenizer } from '../dist';
import { cpuGeneration, median, syntheticIds, timeAsync } from '../dist/bench';
import { type OrtModule, ortVersion, peerFeeds } from './peer';

const root = path.resolve(__dirname, '..');
const modelDir = path.join(root, 'models', 'all-MiniLM-L6-v2');
const onnxFile = path.join(root, 'bench', '.cache', 'all-MiniLM-L6-v2.onnx');
const outDir = path.join(root, 'bench', 'results');
const quick = process.argv.includes('--quick');
const THREADS = Number(process.env.BENCH_THREADS ?? os.availableParallelism?.() ?? os.cpus().length);
const settle = () => new Promise((r) => setTimeout(r, 50));

interface Engine {
  name: string;
  /** one padded or packed batch of sequences (token id arrays); resolves when the hidden states are there */
  run(seqs: Int32Array[]): Promise<Float32Array>;
}

function packSeqs(seqs: Int32Array[]) {
  const cu = new Int32Array(seqs.length + 1);
  seqs.forEach((s, i) => (cu[i + 1] = cu[i] + s.length));
  const ids = new Int32Array(cu[seqs.length]);
  seqs.forEach((s, i) => ids.set(s, cu[i]));
  return { ids, typeIds: new Int32Array(ids.length), cuSeqlens: cu };
}

async function main(): Promise<void> {
  if (!fs.existsSync(onnxFile)) {
    console.log(`${path.relative(root, onnxFile)} is missing: make it with tools/.venv/bin/python tools/export_onnx.py`);
    process.exit(1);
  }
  const sys = info();
  const ortInfo = onnxruntimeInfo();
  // a folder that holds only the graph and the tokenizer, as an ONNX user has it
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bertrt-bench-onnx-'));
  fs.symlinkSync(onnxFile, path.join(dir, 'model.onnx'));
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(modelDir, f), path.join(dir, f));
  const oursOnnx = await Encoder.load(dir, { threads: THREADS });
  const oursNative = await Encoder.load(modelDir, { threads: THREADS });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = require('onnxruntime-node') as OrtModule;
  const session = await ort.InferenceSession.create(onnxFile, { intraOpNumThreads: THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const tok = Tokenizer.fromDir(modelDir);
  console.log(`machine: ${sys.cpu}, ${sys.physicalCores} cores, ${THREADS} threads; onnxruntime ${ortInfo.version} (${ortInfo.library}); onnxruntime-node ${ortVersion()}; node ${process.version}`);

  const engines: Engine[] = [
    { name: 'bertrt onnx', run: (seqs) => oursOnnx.run(packSeqs(seqs)) },
    {
      name: 'onnxruntime-node',
      run: async (seqs) => {
        const L = Math.max(...seqs.map((s) => s.length));
        const ids = new Int32Array(seqs.length * L);
        const mask = new Int32Array(seqs.length * L);
        seqs.forEach((s, i) => {
          ids.set(s, i * L);
          mask.fill(1, i * L, i * L + s.length);
        });
        return (await session.run(peerFeeds(ort, ids, mask, seqs.length, L))).last_hidden_state.data as Float32Array;
      },
    },
    { name: 'bertrt native', run: (seqs) => oursNative.run(packSeqs(seqs)) },
  ];

  // workloads
  const fixed = Array.from({ length: 32 }, (_, b) => syntheticIds(32, 128).subarray(b * 128, (b + 1) * 128));
  const sentences = fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').filter(Boolean).slice(0, 1200);
  const arrival = sentences.map((s) => Int32Array.from(tok.encode(s, null, { maxLength: 256 }).ids));
  const encs = [...arrival].sort((a, b) => a.length - b.length);
  const sorted: Int32Array[][] = [];
  for (let i = 0; i < encs.length; i += 32) sorted.push(encs.slice(i, i + 32));
  // as a server meets them: batches of 32 in arrival order (bertrt runs each shortest first in runs of similar
  // lengths; onnxruntime-node pads each to its longest)
  const unsorted: Int32Array[][] = [];
  for (let i = 0; i < arrival.length; i += 32) unsorted.push(arrival.slice(i, i + 32));
  const short = [Int32Array.from(tok.encode('The weather is lovely today.').ids)];
  const workloads: Array<{ name: string; run: (e: Engine) => Promise<unknown>; items: number }> = [
    { name: '32x128, one batch', run: (e) => e.run(fixed), items: 32 },
    { name: `${sentences.length} sentences, length-sorted batches of 32`, run: async (e) => { for (const b of sorted) await e.run(b); }, items: sentences.length },
    { name: `${sentences.length} sentences, batches of 32 in arrival order`, run: async (e) => { for (const b of unsorted) await e.run(b); }, items: sentences.length },
    { name: `one short sentence (${short[0].length} tokens)`, run: (e) => e.run(short), items: 1 },
  ];
  const rounds = quick ? 2 : Number(process.env.BENCH_ROUNDS ?? 5);
  const rows: Array<{ workload: string; ms: Record<string, number> }> = [];
  for (const w of workloads) {
    const times: Record<string, number[]> = Object.fromEntries(engines.map((e) => [e.name, []]));
    for (const e of engines) await w.run(e); // warm
    for (let r = 0; r < rounds; r++) {
      for (const e of r % 2 ? [...engines].reverse() : engines) {
        await settle();
        times[e.name].push((await timeAsync(() => w.run(e), w.items > 100 ? 1 : 3, quick ? 0.2 : 0.6)).median);
      }
    }
    const ms = Object.fromEntries(engines.map((e) => [e.name, median(times[e.name]) * 1e3]));
    rows.push({ workload: w.name, ms });
    console.log(`  ${w.name}: ${engines.map((e) => `${e.name} ${ms[e.name].toFixed(2)} ms`).join(', ')}; onnxruntime-node / bertrt onnx ${(ms['onnxruntime-node'] / ms['bertrt onnx']).toFixed(2)}`);
  }

  // the event loop while saturated: 32x128, two calls in flight, the main thread only waiting
  const lag = async (e: Engine) => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const end = performance.now() + (quick ? 1500 : 4000);
    while (performance.now() < end) await Promise.all([e.run(fixed), e.run(fixed)]);
    h.disable();
    return { p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  };
  const delay: Record<string, { p99: number; max: number }> = {};
  for (const e of engines) {
    await settle();
    delay[e.name] = await lag(e);
    console.log(`  event-loop delay while saturated, ${e.name}: p99 ${delay[e.name].p99.toFixed(2)} ms, max ${delay[e.name].max.toFixed(2)} ms`);
  }

  // accuracy on the sorted real batches: ours vs onnxruntime-node (same graph), and native vs the graph
  let maxOnnx = 0;
  let maxNative = 0;
  for (const b of sorted.slice(0, 8)) {
    const [a, p, n] = [await engines[0].run(b), await engines[1].run(b), await engines[2].run(b)];
    const L = Math.max(...b.map((s) => s.length));
    const H = 384;
    let off = 0;
    b.forEach((s, i) => {
      for (let t = 0; t < s.length; t++) {
        for (let j = 0; j < H; j++) {
          const x = a[(off + t) * H + j];
          maxOnnx = Math.max(maxOnnx, Math.abs(x - p[(i * L + t) * H + j]));
          maxNative = Math.max(maxNative, Math.abs(x - n[(off + t) * H + j]));
        }
      }
      off += s.length;
    });
  }
  console.log(`  hidden states, max abs difference: bertrt onnx vs onnxruntime-node ${maxOnnx.toExponential(2)}; bertrt native vs bertrt onnx ${maxNative.toExponential(2)}`);

  const report = {
    date: new Date().toISOString(),
    machine: { cpu: sys.cpu + cpuGeneration(), physicalCores: sys.physicalCores, threads: THREADS, flags: sys.cpuFlags, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
    model: 'all-MiniLM-L6-v2 (the embedded weights exported to ONNX FP32 by tools/export_onnx.py)',
    onnxruntime: { library: ortInfo.library, version: ortInfo.version, node: ortVersion() },
    rounds,
    workloads: rows,
    eventLoopDelayMs: delay,
    accuracy: { maxAbsOnnxVsOnnxruntimeNode: maxOnnx, maxAbsNativeVsOnnx: maxNative },
  };
  if (quick) return;
  fs.writeFileSync(path.join(outDir, 'onnx.json'), JSON.stringify(report, null, 2) + '\n');
  const lines = [
    '# ONNX backend vs onnxruntime-node vs the native engine',
    '',
    `Measured ${report.date.slice(0, 10)} on ${sys.cpu}${cpuGeneration()} (${sys.physicalCores} cores, ${THREADS} threads for every engine), by \`npm run bench:onnx\`.`,
    `Same file for both ONNX columns: ${report.model}; onnxruntime ${ortInfo.version} under both (bertrt through the C API, onnxruntime-node ${ortVersion()} through its binding).`,
    'The native column runs the same weights on bertrt\'s own engine. Medians of alternating rounds; tokens prepared beforehand for all.',
    '',
    '| workload | bertrt onnx | onnxruntime-node | bertrt native | onnxruntime-node / bertrt onnx | bertrt onnx / bertrt native |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.workload} | ${r.ms['bertrt onnx'].toFixed(2)} ms | ${r.ms['onnxruntime-node'].toFixed(2)} ms | ${r.ms['bertrt native'].toFixed(2)} ms | ${(r.ms['onnxruntime-node'] / r.ms['bertrt onnx']).toFixed(2)} | ${(r.ms['bertrt onnx'] / r.ms['bertrt native']).toFixed(2)} |`),
    '',
    `Event-loop delay while saturated (32x128, two calls in flight): ${engines.map((e) => `${e.name} p99 ${delay[e.name].p99.toFixed(2)} ms (max ${delay[e.name].max.toFixed(2)})`).join('; ')}.`,
    '',
    `Accuracy: hidden states of the first 8 real batches, max abs difference bertrt onnx vs onnxruntime-node ${maxOnnx.toExponential(2)}, bertrt native vs bertrt onnx ${maxNative.toExponential(2)}.`,
    '',
  ];
  fs.writeFileSync(path.join(outDir, 'onnx.md'), lines.join('\n'));
  console.log('wrote bench/results/onnx.{json,md}');
  oursOnnx.close();
  oursNative.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
