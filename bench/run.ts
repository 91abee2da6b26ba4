// `npm run bench`: bertrt against onnxruntime-node (in this process) and OpenVINO (bench/openvino.ts, a Python child
// that times each call itself) on all-MiniLM-L6-v2, same inputs, engines alternating.
//   1. kernel microbenchmarks on every ISA path, against the FP32 FMA peak measured in the same run
//   2. fixed shapes, batch {1, 8, 32} x length {16, 128, 256}: sequences/s, ours vs peers, interleaved rounds
//   3. the real-length workload: 1,200 real sentences in batches of 32, in arrival order and sorted by length (as
//      sentence-transformers batches); the peers pad each batch to its longest text, bertrt packs them; the
//      vectors' cosine to bertrt's FP32 ones beside
//   4. event-loop delay p99 while each in-process engine is saturated
// Measures the compiled package (dist/). Writes bench/results/cpu-fp32.{md,json,svg}. Options: --quick, --no-peer.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Embedder, Encoder, info, pack } from '../dist';
import { cpuGeneration, fp32Peak, median, microbenchBf16, microbenchInt8, microbenchModel, syntheticIds, timeAsync } from '../dist/bench';
import { native } from '../dist/native';
import { calibration, OpenVinoPeer, padded } from './openvino';
import { type OrtModule, type OrtSession, ortVersion, peerEmbed, peerFeeds } from './peer';

const root = path.resolve(__dirname, '..');
const modelDir = path.join(root, 'models', 'all-MiniLM-L6-v2');
const precision = process.argv.includes('--int8') ? 'int8' : process.argv.includes('--bf16') ? 'bf16' : 'fp32';
// The INT8 peer: onnxruntime.quantization.quantize_dynamic of the same export (per-channel s8 weights, dynamic
// u8 activations), made by `python tools/export_onnx.py --int8`.
const onnxPath = path.join(root, 'bench', '.cache', precision === 'int8' ? 'all-MiniLM-L6-v2-int8.onnx' : 'all-MiniLM-L6-v2.onnx');
const outDir = path.join(root, 'bench', 'results');
const tag = `cpu-${precision}`;
const quick = process.argv.includes('--quick');
const noPeer = process.argv.includes('--no-peer');
const THREADS = os.availableParallelism?.() ?? os.cpus().length;

interface ShapeRow {
  batch: number;
  len: number;
  ours: number; // seq/s
  peer: number | null;
  ov: number | null;
  oursLatencyMs: number;
  peerLatencyMs: number | null;
  ovLatencyMs: number | null;
}

/** One real-length workload: sentences/s per engine, and each engine's vectors against bertrt's FP32 ones. */
interface RealRow {
  order: 'arrival' | 'length-sorted';
  ours: number;
  peer: number | null;
  ov: number | null;
}

/** Both engines' worker threads spin-wait for a while after a run (onnxruntime's for longer); switching engines
 *  without a pause would time one while the other's threads still burn the cores. */
const settle = () => new Promise((r) => setTimeout(r, 50));

async function loadPeer(): Promise<{ ort: OrtModule; session: OrtSession; version: string } | null> {
  if (noPeer) return null;
  if (!fs.existsSync(onnxPath)) {
    console.log(`peer skipped: ${path.relative(root, onnxPath)} is missing; make it with tools/export_onnx.py (see README)`);
    return null;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ort = require('onnxruntime-node') as OrtModule;
    const session = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
    return { ort, session, version: ortVersion() };
  } catch (e) {
    console.log(`peer skipped: onnxruntime-node did not load (${(e as Error).message})`);
    return null;
  }
}

async function main(): Promise<void> {
  fs.mkdirSync(outDir, { recursive: true });
  const sys = info();
  const encoder = await Encoder.load(modelDir, { threads: THREADS, precision });
  const embedder = await Embedder.load(modelDir, { threads: THREADS, precision });
  const peer = await loadPeer();
  // OpenVINO runs the FP32 export at each precision: f32 or bf16 inference, or NNCF's INT8 of it, calibrated on
  // 320 texts of the tokenizer corpus (not the benchmark's sentences)
  const ov = noPeer ? null : await OpenVinoPeer.start(path.join(root, 'bench', '.cache', 'all-MiniLM-L6-v2.onnx'), precision, THREADS, calibration(embedder.tokenizer, embedder.maxSeqLength));
  const cfg = encoder.config;
  console.log(`machine: ${sys.cpu}, ${sys.physicalCores} cores, ${sys.cpuFlags}; kernels ${sys.isa}; node ${process.version}`);

  // 1. microbenchmarks
  const peak = precision === 'int8' ? await native().microbench({ op: 'peak-int8' }) : await fp32Peak();
  console.log(`${precision === 'int8' ? 'INT8 VNNI' : 'FP32 FMA'} peak: ${peak.gflops.toFixed(1)} G(FL)OPS (${peak.shape})`);
  const micro = [];
  for (const isa of (precision === 'int8' ? sys.int8Isas : sys.isas).filter((i) => i !== 'generic')) {
    if (precision === 'bf16' && isa !== 'avx512') continue;
    const rs =
      precision === 'int8'
        ? await microbenchInt8(cfg, 32 * 128, isa, quick ? 0.1 : 0.3)
        : precision === 'bf16'
          ? await microbenchBf16(cfg, 32 * 128, quick ? 0.1 : 0.3)
          : await microbenchModel(cfg, 32 * 128, 128, isa, quick ? 0.1 : 0.3, /* halves: the embedded model's weights are F16 */ true);
    for (const r of rs) {
      micro.push(r);
      console.log(`  ${r.isa.padEnd(12)} ${r.op.padEnd(29)} ${r.shape.padEnd(20)} ${(r.seconds * 1e3).toFixed(3).padStart(8)} ms ${r.gflops ? `${r.gflops.toFixed(1)} GFLOPS (${((100 * r.gflops) / peak.gflops).toFixed(0)}% of peak)` : `${r.gbps.toFixed(1)} GB/s`}`);
    }
  }

  // 2. fixed shapes, interleaved rounds so drifts in machine speed hit both engines alike
  const shapes: ShapeRow[] = [];
  const rounds = quick ? 2 : 4;
  for (const batch of [1, 8, 32]) {
    for (const len of [16, 128, 256]) {
      const ids = syntheticIds(batch, len);
      const cu = Int32Array.from({ length: batch + 1 }, (_, i) => i * len);
      const ours: number[] = [];
      const theirs: number[] = [];
      const ovs: number[] = [];
      const feeds = peer ? peerFeeds(peer.ort, ids, new Int32Array(batch * len).fill(1), batch, len) : null;
      const ovBatch = { ids: Array.from(ids), mask: new Array<number>(batch * len).fill(1), rows: batch, len };
      const budget = quick ? 0.3 : 1;
      await encoder.run({ ids, typeIds: null, cuSeqlens: cu });
      if (peer && feeds) await peer.session.run(feeds);
      for (let r = 0; r < rounds; r++) {
        await settle();
        const mine = await timeAsync(() => encoder.run({ ids, typeIds: null, cuSeqlens: cu }), 2, budget / rounds);
        ours.push(mine.median);
        await settle();
        if (peer && feeds) theirs.push((await timeAsync(() => peer.session.run(feeds), 2, budget / rounds)).median);
        await settle();
        // as many calls as fill the same budget at our speed, at least 2
        if (ov) ovs.push(median(await ov.time(ovBatch, Math.max(2, Math.min(200, Math.round(budget / rounds / mine.median))))));
      }
      const o = median(ours);
      const p = peer ? median(theirs) : null;
      const v = ov ? median(ovs) : null;
      shapes.push({ batch, len, ours: batch / o, peer: p ? batch / p : null, ov: v ? batch / v : null, oursLatencyMs: o * 1e3, peerLatencyMs: p ? p * 1e3 : null, ovLatencyMs: v ? v * 1e3 : null });
      console.log(
        `  ${batch}x${len}: bertrt ${(batch / o).toFixed(1)} seq/s (${(o * 1e3).toFixed(2)} ms)` +
          (p ? `, onnxruntime-node ${(batch / p).toFixed(1)} seq/s (${(p * 1e3).toFixed(2)} ms), ratio ${(p / o).toFixed(2)}` : '') +
          (v ? `, OpenVINO ${(batch / v).toFixed(1)} seq/s (${(v * 1e3).toFixed(2)} ms), ratio ${(v / o).toFixed(2)}` : ''),
      );
    }
  }

  // 3. real-length workload: tokenization, engine and mean pooling for the in-process engines (OpenVINO: bertrt's
  // tokenization in this process, timed, plus its child's inference and pooling); the peers pad per batch
  const sentences = fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').filter(Boolean);
  const tok = embedder.tokenizer;
  const encs = sentences.map((s) => tok.encode(s, null, { maxLength: embedder.maxSeqLength }));
  const realTokens = encs.reduce((a, e) => a + e.ids.length, 0);
  const fp32 = precision === 'fp32' ? embedder : await Embedder.load(modelDir, { threads: THREADS });
  const reference = await fp32.embed(sentences);
  if (fp32 !== embedder) await fp32.close();
  const real: RealRow[] = [];
  const accuracy: Record<'ours' | 'peer' | 'ov', { mean: number; min: number } | null> = { ours: null, peer: null, ov: null };
  const agreement = (vs: ArrayLike<number>[], order: number[]) => {
    const cos = order.map((k, i) => {
      let d = 0;
      for (let j = 0; j < vs[i].length; j++) d += vs[i][j] * reference[k][j];
      return d;
    });
    return { mean: cos.reduce((a, b) => a + b, 0) / cos.length, min: Math.min(...cos) };
  };
  let paddedTokens = 0;
  for (const order of ['arrival', 'length-sorted'] as const) {
    const idx = sentences.map((_, i) => i);
    if (order === 'length-sorted') idx.sort((a, b) => encs[b].ids.length - encs[a].ids.length);
    const batches: number[][] = [];
    for (let i = 0; i < idx.length; i += 32) batches.push(idx.slice(i, i + 32));
    if (order === 'arrival') paddedTokens = batches.reduce((n, b) => n + b.length * Math.max(...b.map((k) => encs[k].ids.length)), 0);
    const texts = batches.map((b) => b.map((k) => sentences[k]));
    const times: Record<'ours' | 'peer' | 'ov', number[]> = { ours: [], peer: [], ov: [] };
    for (let r = 0; r < (quick ? 1 : 3); r++) {
      await settle();
      let t = performance.now();
      const mine: Float32Array[] = [];
      for (const b of texts) mine.push(...(await embedder.embed(b)));
      times.ours.push((performance.now() - t) / 1000);
      if (r === 0 && order === 'arrival') accuracy.ours = agreement(mine, idx);
      if (peer) {
        await settle();
        t = performance.now();
        const theirs: Float32Array[] = [];
        for (const b of texts) theirs.push(...(await peerEmbed(peer.ort, peer.session, tok, b, embedder.maxSeqLength)));
        times.peer.push((performance.now() - t) / 1000);
        if (r === 0 && order === 'arrival') accuracy.peer = agreement(theirs, idx);
      }
      if (ov) {
        await settle();
        t = performance.now();
        const inputs = texts.map((b) => padded(b.map((s) => tok.encode(s, null, { maxLength: embedder.maxSeqLength }))));
        const tokenizing = (performance.now() - t) / 1000;
        const got = await ov.embed(inputs);
        times.ov.push(tokenizing + got.seconds.reduce((a, b) => a + b, 0));
        const H = got.vectors.length / sentences.length;
        if (r === 0 && order === 'arrival') accuracy.ov = agreement(idx.map((_, i) => got.vectors.subarray(i * H, (i + 1) * H)), idx);
      }
    }
    const rate = (xs: number[]) => (xs.length ? sentences.length / median(xs) : null);
    const row: RealRow = { order, ours: rate(times.ours)!, peer: rate(times.peer), ov: rate(times.ov) };
    real.push(row);
    console.log(
      `  real-length (${order}): bertrt ${row.ours.toFixed(1)} sentences/s` +
        (row.peer ? `, onnxruntime-node ${row.peer.toFixed(1)}, ratio ${(row.ours / row.peer).toFixed(2)}` : '') +
        (row.ov ? `, OpenVINO ${row.ov.toFixed(1)}, ratio ${(row.ours / row.ov).toFixed(2)}` : ''),
    );
  }
  console.log(`  ${realTokens} real tokens, ${paddedTokens} padded in arrival order; cosine to bertrt FP32: ${JSON.stringify(accuracy)}`);

  // 4. event-loop delay while saturated
  const lag = async (work: () => Promise<unknown>, seconds: number) => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) await work();
    h.disable();
    return { p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  };
  const lagIds = syntheticIds(32, 128);
  const lagCu = Int32Array.from({ length: 33 }, (_, i) => i * 128);
  const lagOurs = await lag(() => Promise.all([encoder.run({ ids: lagIds, typeIds: null, cuSeqlens: lagCu }), encoder.run({ ids: lagIds, typeIds: null, cuSeqlens: lagCu })]), quick ? 1.5 : 4);
  const lagPeer = peer ? await lag(() => peer.session.run(peerFeeds(peer.ort, lagIds, new Int32Array(lagIds.length).fill(1), 32, 128)), quick ? 1.5 : 4) : null;
  console.log(`  event-loop delay p99 while saturated (32x128): bertrt ${lagOurs.p99.toFixed(2)} ms` + (lagPeer ? `, onnxruntime-node ${lagPeer.p99.toFixed(2)} ms` : ''));

  const report = {
    date: new Date().toISOString(),
    machine: { cpu: sys.cpu + cpuGeneration(), physicalCores: sys.physicalCores, flags: sys.cpuFlags, memoryGiB: Math.round(os.totalmem() / 2 ** 30), platform: `${process.platform}-${process.arch}` },
    software: { node: process.version, bertrt: sys.version, kernels: encoder.gemmIsa ?? sys.isa, compiler: sys.compiler, onnxruntimeNode: peer?.version ?? null, openvino: ov ? { version: ov.version, precisionHint: ov.precisionHint } : null },
    model: `all-MiniLM-L6-v2 (${precision === 'int8' ? 'INT8 GEMMs: s8 per-channel weights, u8 per-token activations with a zero point' : precision === 'bf16' ? 'BF16 GEMMs, FP32 sums; the peer runs FP32, as neither onnxruntime nor transformers.js has BF16 on CPU' : 'FP32 compute'}; 6 layers, hidden 384, 12 heads)`,
    precision,
    threads: THREADS,
    peak,
    micro,
    shapes,
    real: { sentences: sentences.length, realTokens, paddedTokens, rows: real },
    accuracy,
    eventLoop: { ours: lagOurs, peer: lagPeer },
  };
  ov?.close();
  fs.writeFileSync(path.join(outDir, `${tag}.json`), JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(path.join(outDir, `${tag}.md`), markdown(report));
  fs.writeFileSync(path.join(outDir, `${tag}.svg`), svg(shapes, real, precision));
  console.log(`wrote ${path.relative(root, outDir)}/${tag}.{md,json,svg}`);
  encoder.close();
  await embedder.close();
}

type Report = {
  date: string;
  machine: { cpu: string; physicalCores: number; flags: string; amx?: string; memoryGiB: number; platform: string }; // amx: the flags of reports from before bertrt listed them
  software: { node: string; bertrt: string; kernels: string; compiler: string; onnxruntimeNode: string | null; openvino: { version: string; precisionHint: string } | null };
  model: string;
  precision: string;
  threads: number;
  peak: { gflops: number };
  micro: Array<{ isa: string; op: string; shape: string; seconds: number; gflops: number; gbps: number }>;
  shapes: ShapeRow[];
  real: { sentences: number; realTokens: number; paddedTokens: number; rows: RealRow[] };
  accuracy: Record<'ours' | 'peer' | 'ov', { mean: number; min: number } | null>;
  eventLoop: { ours: { p99: number; max: number }; peer: { p99: number; max: number } | null };
};

function markdown(r: Report): string {
  const L: string[] = [];
  const ratio = (a: number | null, b: number | null) => (a && b ? `${(a / b).toFixed(2)}×` : '—');
  const n = (v: number | null, d = 1) => v?.toFixed(d) ?? '—';
  const ov = r.software.openvino;
  L.push(`# bertrt vs onnxruntime-node and OpenVINO — CPU, ${r.precision.toUpperCase()}`, '');
  L.push(`Measured ${r.date.slice(0, 10)} by \`npm run bench${r.precision === 'fp32' ? '' : `:${r.precision}`}\` (bench/run.ts). Regenerate with the same command.`, '');
  L.push(`- Machine: ${r.machine.cpu}, ${r.machine.physicalCores} cores, ${r.machine.memoryGiB} GiB, ${r.machine.platform}; flags: ${r.machine.flags}${r.machine.amx ? ` ${r.machine.amx}` : ''}${/amx/.test(r.machine.flags + (r.machine.amx ?? '')) ? ` (OpenVINO uses AMX; bertrt's BF16 GEMMs do, its FP32 and INT8 ones do not by default)` : ''}`);
  L.push(`- Software: Node ${r.software.node}, bertrt ${r.software.bertrt} (${r.software.compiler}, GEMM kernels: ${r.software.kernels}); onnxruntime-node ${r.software.onnxruntimeNode ?? 'not run'} (graph optimization "all", ${r.threads} intra-op threads); OpenVINO ${ov ? `${ov.version} (Python child, bench/openvino_peer.py; ${r.threads} inference threads, one stream, latency hint, inference precision ${ov.precisionHint}; each call timed inside the child)` : 'not run'}`);
  L.push(
    `- Model: ${r.model}. onnxruntime-node runs the ONNX export of the same weights (tools/export_onnx.py${r.precision === 'int8' ? ' --int8: onnxruntime quantize_dynamic, per-channel' : ''}); OpenVINO runs the FP32 export${r.precision === 'int8' ? ' quantized by NNCF (static post-training INT8, transformer preset, calibrated on 320 texts of tests/fixtures/tokenizer/corpus.json.gz)' : r.precision === 'bf16' ? ' in BF16' : ''}.`,
  );
  L.push(`- Threads: ${r.threads} for every engine. Each number is the median of interleaved rounds.`, '');
  const unit = r.precision === 'int8' ? 'GOPS' : 'GFLOPS';
  L.push(`## Kernels (32×128 tokens), against the ${r.precision === 'int8' ? 'INT8 VNNI' : 'FP32 FMA'} peak of ${r.peak.gflops.toFixed(1)} ${unit} measured in the same run`, '');
  L.push(`| ISA | kernel | shape (M×N×K) | ms | ${unit} | % of peak |`, '| --- | --- | --- | ---: | ---: | ---: |');
  for (const m of r.micro) {
    L.push(`| ${m.isa} | ${m.op} | ${m.shape} | ${(m.seconds * 1e3).toFixed(3)} | ${m.gflops ? m.gflops.toFixed(1) : `${m.gbps.toFixed(1)} GB/s`} | ${m.gflops ? ((100 * m.gflops) / r.peak.gflops).toFixed(0) + '%' : '—'} |`);
  }
  L.push('', '## Fixed shapes: sequences per second (higher is better; ratio = bertrt / peer)', '');
  L.push('| batch × length | bertrt seq/s | onnxruntime-node seq/s | ratio | OpenVINO seq/s | ratio | bertrt ms | onnxruntime ms | OpenVINO ms |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of r.shapes) {
    L.push(`| ${s.batch} × ${s.len} | ${n(s.ours)} | ${n(s.peer)} | ${ratio(s.ours, s.peer)} | ${n(s.ov)} | ${ratio(s.ours, s.ov)} | ${n(s.oursLatencyMs, 2)} | ${n(s.peerLatencyMs, 2)} | ${n(s.ovLatencyMs, 2)} |`);
  }
  L.push('', '## Real-length workload', '');
  L.push(
    `${r.real.sentences} real sentences (bench/data/sentences.txt) in batches of 32, in arrival order and sorted by token count (as sentence-transformers batches), tokenization and mean pooling included for every engine (OpenVINO: bertrt's tokenizer in the parent, timed, plus the child's inference and pooling). bertrt packs each batch (${r.real.realTokens} tokens in all); the peers pad it to its longest text (${r.real.paddedTokens} tokens in arrival order).`,
    '',
  );
  L.push('| order | bertrt sentences/s | onnxruntime-node | ratio | OpenVINO | ratio |', '| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const x of r.real.rows) L.push(`| ${x.order} | ${n(x.ours)} | ${n(x.peer)} | ${ratio(x.ours, x.peer)} | ${n(x.ov)} | ${ratio(x.ours, x.ov)} |`);
  L.push('', `## Accuracy: each engine's sentence vectors against bertrt FP32's (the ${r.real.sentences} sentences, cosine)`, '');
  L.push('| engine | mean | min |', '| --- | ---: | ---: |');
  for (const [k, label] of [['ours', `bertrt ${r.precision.toUpperCase()}`], ['peer', 'onnxruntime-node'], ['ov', 'OpenVINO']] as const) {
    const a = r.accuracy[k];
    if (a) L.push(`| ${label} | ${a.mean.toFixed(6)} | ${a.min.toFixed(6)} |`);
  }
  L.push('', '## Event-loop delay while the engine is saturated (32×128 batches back to back; the in-process engines)', '');
  L.push('| engine | p99 ms | max ms |', '| --- | ---: | ---: |', `| bertrt | ${r.eventLoop.ours.p99.toFixed(2)} | ${r.eventLoop.ours.max.toFixed(2)} |`);
  if (r.eventLoop.peer) L.push(`| onnxruntime-node | ${r.eventLoop.peer.p99.toFixed(2)} | ${r.eventLoop.peer.max.toFixed(2)} |`);
  L.push('');
  return L.join('\n');
}

function svg(shapes: ShapeRow[], real: RealRow[], prec: string): string {
  const rows = [...shapes.map((s) => ({ label: `${s.batch}×${s.len}`, ours: s.ours, peer: s.peer, ov: s.ov })), ...real.map((x) => ({ label: x.order === 'arrival' ? 'real' : 'sorted', ...x }))];
  const W = 820;
  const H = 320;
  const left = 50;
  const bottom = 260;
  const top = 40;
  const ratios = rows.flatMap((r) => [r.peer ? r.ours / r.peer : 1, r.ov ? r.ours / r.ov : 1]);
  const maxRatio = Math.max(2, ...ratios) * 1.1;
  const bw = (W - left - 20) / rows.length;
  const y = (v: number) => bottom - ((bottom - top) * v) / maxRatio;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">bertrt speed relative to onnxruntime-node (blue) and OpenVINO (orange), ${prec.toUpperCase()}, all-MiniLM-L6-v2; 1.0 = equal</text>`);
  for (let v = 0; v <= maxRatio; v += 0.5) {
    parts.push(`<line x1="${left}" x2="${W - 20}" y1="${y(v)}" y2="${y(v)}" stroke="${v === 1 ? '#c00' : '#ddd'}"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(1)}×</text>`);
  }
  rows.forEach((r, i) => {
    const x0 = left + i * bw + bw * 0.1;
    [[r.peer, '#2a6ebb'], [r.ov, '#e08a1e']].forEach(([peer, colour], j) => {
      if (!peer) return;
      const ratio = r.ours / (peer as number);
      const x = x0 + j * bw * 0.4;
      parts.push(`<rect x="${x}" y="${y(ratio)}" width="${bw * 0.38}" height="${bottom - y(ratio)}" fill="${colour}"/>`);
      parts.push(`<text x="${x + bw * 0.19}" y="${y(ratio) - 4}" text-anchor="middle" font-size="9">${ratio.toFixed(2)}</text>`);
    });
    parts.push(`<text x="${x0 + bw * 0.4}" y="${bottom + 16}" text-anchor="middle">${r.label}</text>`);
  });
  parts.push(`<text x="${W / 2}" y="${H - 8}" text-anchor="middle" fill="#555">batch×length; "real" = 1,200 real sentences in batches of 32 in arrival order, "sorted" = sorted by length; peers padded per batch</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
