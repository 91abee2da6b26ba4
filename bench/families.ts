// `npm run bench:families`: bertrt against onnxruntime-node on the families past BERT: the real all-mpnet-base-v2
// (MPNet, 12 layers, hidden 768) from tools/fetch_real_models.sh, and ModernBERT-base- and nomic-embed-text-shaped
// models with seeded weights (tools/make_base_shapes.py: no real ModernBERT or NomicBERT is reachable here), the peer on each one's ONNX export
// (tools/export_onnx.py --int8 --model DIR: FP32, and quantize_dynamic per-channel INT8). For FP32 and INT8, in one
// process, interleaved rounds: a 32x128 batch (sequences/s) and the real-length workload (1,200 real sentences in
// batches of 32; bertrt packs, the peer pads each batch to its longest text), with the accuracy of each engine's
// sentence vectors against onnxruntime's FP32 ones beside. Then ModernBERT-base's layer shapes (hidden 768, 12 heads,
// intermediate 1152, local window 128): one layer's GEMMs and its attention, global and local, per sequence length, so
// that a local layer's cost is seen against a global one's. Writes bench/results/families.{md,json}.
// Measures the compiled package (dist/). Options: --quick; --modern-only (redo the ModernBERT layer table only);
// --only=NAME (redo one model's rows, keep the others').
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Embedder, Encoder, info } from '../dist';
import { compareEmbeddings } from '../dist/accuracy';
import { cpuGeneration, median, syntheticIds, timeAsync } from '../dist/bench';
import { native } from '../dist/native';
import { type OrtModule, type OrtSession, ortVersion, peerEmbed, peerFeeds } from './peer';

const root = path.resolve(__dirname, '..');
const models = process.env.BERTRT_REAL_MODELS ?? path.join(root, '.scratch', 'real-models');
const quick = process.argv.includes('--quick');
const THREADS = os.availableParallelism?.() ?? os.cpus().length;
const settle = () => new Promise((r) => setTimeout(r, 50));

interface Row {
  model: string;
  precision: 'fp32' | 'int8';
  shape: { ours: number; peer: number };
  real: { ours: number; peer: number };
  accuracy: { oursMean: number; oursMin: number; peerMean: number; peerMin: number };
}

async function session(ort: OrtModule, file: string): Promise<OrtSession> {
  return ort.InferenceSession.create(file, { intraOpNumThreads: THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
}

async function main(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = require('onnxruntime-node') as OrtModule;
  const sys = info();
  const sentences = fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').filter(Boolean);
  const batches: string[][] = [];
  for (let i = 0; i < sentences.length; i += 32) batches.push(sentences.slice(i, i + 32));
  // --modern-only: keep the last report's engine rows, redo the layer table; --only=NAME: redo that model's rows only
  const modernOnly = process.argv.includes('--modern-only');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
  const previous = modernOnly || only ? (JSON.parse(fs.readFileSync(path.join(root, 'bench', 'results', 'families.json'), 'utf8')) as { rows: Row[]; notes: string[]; date: string }) : null;
  const rows: Row[] = (previous?.rows ?? []).filter((r) => only === undefined || r.model !== only);
  const notes: string[] = [];
  if (previous) notes.push(`${only ? `The rows of models other than ${only}` : 'The engine rows above'} are from the run of ${previous.date.slice(0, 10)}${only ? `; ${only} and the layer table were measured ${new Date().toISOString().slice(0, 10)} (--only)` : '; the ModernBERT layer table was remeasured (--modern-only)'}.`);
  for (const name of modernOnly ? [] : only ? [only] : ['all-mpnet-base-v2', 'modernbert-base', 'nomic-base']) {
    const dir = path.join(models, name);
    const onnx = path.join(root, 'bench', '.cache', `${name}.onnx`);
    if (!fs.existsSync(path.join(dir, 'model.safetensors')) || !fs.existsSync(onnx)) {
      notes.push(`${name} skipped: run tools/fetch_real_models.sh, then tools/export_onnx.py --int8 --model ${path.relative(root, dir)}`);
      console.log(notes[notes.length - 1]);
      continue;
    }
    const peerFp32 = await session(ort, onnx);
    // the reference vectors of the accuracy columns: onnxruntime FP32, the ONNX export of the same weights
    const refEmb = await Embedder.load(dir, { threads: THREADS });
    const tok = refEmb.tokenizer;
    const maxLength = refEmb.maxSeqLength;
    await refEmb.close();
    const reference: Float32Array[] = [];
    for (const b of batches) reference.push(...(await peerEmbed(ort, peerFp32, tok, b, maxLength)));
    for (const precision of ['fp32', 'int8'] as const) {
      const peerFile = precision === 'int8' ? onnx.replace(/\.onnx$/, '-int8.onnx') : onnx;
      if (!fs.existsSync(peerFile)) {
        notes.push(`${name} ${precision} skipped: ${path.relative(root, peerFile)} is missing (tools/export_onnx.py --int8)`);
        continue;
      }
      const peer = precision === 'int8' ? await session(ort, peerFile) : peerFp32;
      const types = peer.inputNames.includes('token_type_ids');
      const encoder = await Encoder.load(dir, { threads: THREADS, precision });
      const embedder = await Embedder.load(dir, { threads: THREADS, precision });
      // 32 x 128
      const ids = syntheticIds(32, 128);
      const cu = Int32Array.from({ length: 33 }, (_, i) => i * 128);
      const feeds = peerFeeds(ort, ids, new Int32Array(ids.length).fill(1), 32, 128, types);
      await encoder.run({ ids, typeIds: null, cuSeqlens: cu });
      await peer.run(feeds);
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let r = 0; r < (quick ? 2 : 4); r++) {
        await settle();
        ours.push((await timeAsync(() => encoder.run({ ids, typeIds: null, cuSeqlens: cu }), 2, quick ? 0.5 : 2)).median);
        await settle();
        theirs.push((await timeAsync(() => peer.run(feeds), 2, quick ? 0.5 : 2)).median);
      }
      // real-length, with the vectors for the accuracy columns
      const realOurs: number[] = [];
      const realPeer: number[] = [];
      let oursVec: Float32Array[] = [];
      let peerVec: Float32Array[] = [];
      for (let r = 0; r < (quick ? 1 : 3); r++) {
        await settle();
        let t = performance.now();
        oursVec = [];
        for (const b of batches) oursVec.push(...(await embedder.embed(b)));
        realOurs.push((performance.now() - t) / 1000);
        await settle();
        t = performance.now();
        peerVec = [];
        for (const b of batches) peerVec.push(...(await peerEmbed(ort, peer, tok, b, maxLength)));
        realPeer.push((performance.now() - t) / 1000);
      }
      // (every vector is unit-length: the cosine is the dot product compareEmbeddings takes)
      const co = compareEmbeddings(precision, sentences, oursVec, reference).cosine;
      const cp = compareEmbeddings(precision, sentences, peerVec, reference).cosine;
      const row: Row = {
        model: name,
        precision,
        shape: { ours: 32 / median(ours), peer: 32 / median(theirs) },
        real: { ours: sentences.length / median(realOurs), peer: sentences.length / median(realPeer) },
        accuracy: { oursMean: co.mean, oursMin: co.min, peerMean: cp.mean, peerMin: cp.min },
      };
      rows.push(row);
      console.log(`${name} ${precision}: 32x128 bertrt ${row.shape.ours.toFixed(1)} seq/s, peer ${row.shape.peer.toFixed(1)} (${(row.shape.ours / row.shape.peer).toFixed(2)}x); real-length ${row.real.ours.toFixed(1)} vs ${row.real.peer.toFixed(1)} sentences/s (${(row.real.ours / row.real.peer).toFixed(2)}x); cosine to ORT FP32: ours mean ${row.accuracy.oursMean.toFixed(6)} min ${row.accuracy.oursMin.toFixed(6)}, peer mean ${row.accuracy.peerMean.toFixed(6)} min ${row.accuracy.peerMin.toFixed(6)}`);
      encoder.close();
      await embedder.close();
    }
  }
  // ModernBERT-base layer shapes in each precision: the GEMMs are the same in both kinds of layer; the attention differs
  const n = native();
  const H = 768;
  const I = 1152;
  const modern: Array<{ precision: 'fp32' | 'bf16' | 'int8'; len: number; gemmMs: number; globalMs: number; localMs: number }> = [];
  const precisions = (['fp32', 'bf16', 'int8'] as const).filter((p) => p !== 'bf16' || sys.bf16);
  for (const precision of precisions) {
    const gemmOp = precision === 'fp32' ? 'gemm' : precision === 'bf16' ? 'gemm_bf16' : 'gemm_s8';
    const attOp = precision === 'fp32' ? 'attention' : sys.bf16 ? 'attention_bf16' : 'attention'; // INT8 runs the BF16 attention where it can
    for (const len of [128, 512, 1024, 2048]) {
      const batch = Math.max(1, Math.floor(2048 / len));
      const tokens = batch * len;
      let gemm = 0;
      for (const [nn, k, gelu] of [[3 * H, H, false], [H, H, false], [I, H, true], [I, H, false], [H, I, false]] as const) {
        gemm += (await n.microbench({ op: gemmOp, m: tokens, n: nn, k, gelu, minSeconds: quick ? 0.1 : 0.3 })).seconds;
      }
      const att = async (window: number) => (await n.microbench({ op: attOp, batch, len, heads: 12, headDim: 64, window, minSeconds: quick ? 0.1 : 0.3 })).seconds;
      const g = await att(0);
      const l = await att(64);
      modern.push({ precision, len, gemmMs: (gemm * 1e3) / batch, globalMs: (g * 1e3) / batch, localMs: (l * 1e3) / batch });
      console.log(`ModernBERT-base layer ${precision}, one ${len}-token sequence: GEMMs ${((gemm * 1e3) / batch).toFixed(2)} ms, attention global ${((g * 1e3) / batch).toFixed(2)} ms, local ${((l * 1e3) / batch).toFixed(2)} ms`);
    }
  }

  const report = {
    date: new Date().toISOString(),
    machine: { cpu: sys.cpu + cpuGeneration(), physicalCores: sys.physicalCores, flags: sys.cpuFlags, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
    software: { node: process.version, bertrt: sys.version, kernels: sys.isa, int8Kernels: sys.int8Isa, onnxruntimeNode: ortVersion() },
    threads: THREADS,
    rows,
    modern,
    notes,
  };
  const out = path.join(root, 'bench', 'results');
  fs.writeFileSync(path.join(out, 'families.json'), JSON.stringify(report, null, 2) + '\n');
  const L: string[] = [];
  L.push('# Model families vs onnxruntime-node — CPU', '');
  L.push(`Measured ${report.date.slice(0, 10)} by \`npm run bench:families\` (bench/families.ts). Regenerate: \`tools/fetch_real_models.sh\`, \`tools/.venv/bin/python tools/make_base_shapes.py\`, \`tools/.venv/bin/python tools/export_onnx.py --int8 --model .scratch/real-models/NAME\` for each of all-mpnet-base-v2, modernbert-base and nomic-base, \`npm run bench:families\`.`, '');
  L.push(`- Machine: ${report.machine.cpu}, ${report.machine.physicalCores} cores, ${report.machine.memoryGiB} GiB; flags: ${report.machine.flags}`);
  L.push(`- Software: Node ${report.software.node}, bertrt ${report.software.bertrt} (kernels ${report.software.kernels}, INT8 ${report.software.int8Kernels}), onnxruntime-node ${report.software.onnxruntimeNode} (graph optimization "all", ${THREADS} intra-op threads)`);
  L.push('- Peer: the ONNX export of the same weights (tools/export_onnx.py); INT8: onnxruntime quantize_dynamic, per-channel s8 weights, dynamic u8 activations. bertrt INT8: s8 per-channel weights, u8 per-token activations, SmoothQuant at load.');
  L.push(`- Shapes: one 32×128 batch of synthetic ids; real-length: ${sentences.length} real sentences (bench/data/sentences.txt) in batches of 32, tokenization and mean pooling included for both (bertrt packs, the peer pads per batch). Medians of interleaved rounds.`);
  L.push('- Models: all-mpnet-base-v2, the real checkpoint; modernbert-base, ModernBERT-base\'s shape (hidden 768, 22 layers, GeGLU 1152, a global layer every 3rd, 128-token windows) and nomic-base, nomic-embed-text-v1.5\'s shape (NomicBERT: hidden 768, 12 layers, SwiGLU 3072, RoPE) with seeded weights (tools/make_base_shapes.py), since no real ModernBERT or NomicBERT is reachable here — their speed is the shape\'s, their accuracy columns compare the engines on the same weights.');
  L.push('- Accuracy: cosine of each engine\'s sentence vectors (real-length workload) to onnxruntime FP32\'s, mean and min over the sentences.', '');
  L.push('| model | precision | 32×128 bertrt seq/s | peer seq/s | ratio | real-length bertrt sent/s | peer sent/s | ratio | bertrt cosine mean / min | peer cosine mean / min |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |');
  for (const r of rows) {
    L.push(`| ${r.model} | ${r.precision.toUpperCase()} | ${r.shape.ours.toFixed(1)} | ${r.shape.peer.toFixed(1)} | ${(r.shape.ours / r.shape.peer).toFixed(2)}× | ${r.real.ours.toFixed(1)} | ${r.real.peer.toFixed(1)} | ${(r.real.ours / r.real.peer).toFixed(2)}× | ${r.accuracy.oursMean.toFixed(6)} / ${r.accuracy.oursMin.toFixed(6)} | ${r.accuracy.peerMean.toFixed(6)} / ${r.accuracy.peerMin.toFixed(6)} |`);
  }
  L.push('', '## ModernBERT: a local layer against a global one', '');
  L.push('ModernBERT-base\'s layer shapes (hidden 768, 12 heads of 64, intermediate 1152 GeGLU, local window |i − j| ≤ 64), bertrt\'s microbenchmarks of the layer\'s five GEMMs and its attention in each precision (INT8: the s8 GEMMs without the activations\' quantization, and the BF16 attention INT8 runs), per sequence, at 2,048 tokens per call. Both kinds of layer run the same GEMMs; a local layer\'s attention computes only the keys its window needs (FP32: whole vectors of 16 around each tile of 8 queries; BF16: whole blocks of 32 keys).', '');
  L.push('| precision | sequence length | GEMMs ms | global attention ms | local attention ms | global layer ms | local layer ms | local / global |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const m of modern) {
    L.push(`| ${m.precision.toUpperCase()} | ${m.len} | ${m.gemmMs.toFixed(2)} | ${m.globalMs.toFixed(2)} | ${m.localMs.toFixed(2)} | ${(m.gemmMs + m.globalMs).toFixed(2)} | ${(m.gemmMs + m.localMs).toFixed(2)} | ${((m.gemmMs + m.localMs) / (m.gemmMs + m.globalMs)).toFixed(2)} |`);
  }
  for (const n of notes) L.push('', `Note: ${n}`);
  L.push('');
  fs.writeFileSync(path.join(out, 'families.md'), L.join('\n'));
  console.log('wrote bench/results/families.{md,json}');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
