// Weights resident at the checkpoint's precision (npm run bench:weights): the embedded all-MiniLM-L6-v2 (an F16 file)
// in FP32 with its GEMM weights and word table kept as halves (the default) against FP32 panels (BERTRT_F16_WEIGHTS=0),
// in the same run, alternating: the bytes each engine holds, peak RSS of a child that loads the model and embeds one
// sentence, median latency of one short sentence and of 32 x 128 tokens, and whether the outputs are the same bits.
// Writes bench/results/weights.{json,md}.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Encoder, info, Tokenizer } from '../dist';
import { cpuGeneration, median, syntheticIds } from '../dist/bench';

const root = path.resolve(__dirname, '..');
const modelDir = path.join(root, 'models', 'all-MiniLM-L6-v2');
const outDir = path.join(root, 'bench', 'results');
const quick = process.argv.includes('--quick');
const SENTENCE = 'The weather is lovely today.';

type Batch = Parameters<Encoder['run']>[0];

/** RSS (MiB) of a fresh process that loads the model and embeds one sentence, with the given environment: after the
 *  call, and its peak (loading included). */
function rssOf(env: Record<string, string>): { after: number; peak: number } {
  const code = `const { Embedder } = require(${JSON.stringify(path.join(root, 'dist'))});
    (async () => { const e = await Embedder.load(${JSON.stringify(modelDir)}, { threads: 2 }); await e.embed([${JSON.stringify(SENTENCE)}]);
    const after = process.memoryUsage().rss / 2 ** 20; await e.close();
    process.stdout.write(JSON.stringify({ after, peak: process.resourceUsage().maxRSS / 1024 })); })();`;
  const r = spawnSync(process.execPath, ['-e', code], { env: { ...process.env, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

async function time(enc: Encoder, b: Batch, calls: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    await enc.run(b);
    out.push(performance.now() - t);
  }
  return out;
}

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

async function main(): Promise<void> {
  process.env.BERTRT_F16_WEIGHTS = '0';
  const f32 = await Encoder.load(modelDir, { threads: 2 });
  delete process.env.BERTRT_F16_WEIGHTS;
  const f16 = await Encoder.load(modelDir, { threads: 2 });
  const ids = Int32Array.from(Tokenizer.fromDir(modelDir).encode(SENTENCE).ids);
  const shapes: Array<{ name: string; batch: Batch; calls: number }> = [
    { name: `one sentence (${ids.length} tokens)`, batch: { ids, typeIds: null, cuSeqlens: Int32Array.of(0, ids.length) }, calls: quick ? 50 : 300 },
    // 20 and 48 tokens: on either side of the row count past which a K block of halves is widened once (kernels_impl.h)
    { name: 'one 20-token input', batch: { ids: syntheticIds(1, 20), typeIds: null, cuSeqlens: Int32Array.of(0, 20) }, calls: quick ? 50 : 200 },
    { name: 'one 48-token input', batch: { ids: syntheticIds(1, 48), typeIds: null, cuSeqlens: Int32Array.of(0, 48) }, calls: quick ? 20 : 100 },
    { name: '32 × 128 tokens', batch: { ids: syntheticIds(32, 128), typeIds: null, cuSeqlens: Int32Array.from({ length: 33 }, (_, i) => i * 128) }, calls: quick ? 1 : 4 },
  ];
  const rows = [];
  for (const s of shapes) {
    const t = { f16: [] as number[], f32: [] as number[] };
    for (let r = 0; r < (quick ? 2 : 6); r++) {
      for (const [k, e] of (r % 2 ? [['f32', f32], ['f16', f16]] : [['f16', f16], ['f32', f32]]) as Array<['f16' | 'f32', Encoder]>) {
        await time(e, s.batch, 3);
        t[k].push(...(await time(e, s.batch, s.calls)));
      }
    }
    const identical = same(await f16.run(s.batch), await f32.run(s.batch));
    rows.push({ shape: s.name, halvesMs: median(t.f16), fp32Ms: median(t.f32), speedup: median(t.f32) / median(t.f16), identical });
    console.error(`  ${s.name}: halves ${median(t.f16).toFixed(3)} ms, FP32 panels ${median(t.f32).toFixed(3)} ms, same bits: ${identical}`);
  }
  const rss = { halves: rssOf({}), fp32: rssOf({ BERTRT_F16_WEIGHTS: '0' }) };
  const sys = { ...info(), cpu: info().cpu + cpuGeneration() };
  const report = {
    date: new Date().toISOString(),
    machine: { cpu: sys.cpu, physicalCores: sys.physicalCores, memoryGiB: Math.round(os.totalmem() / 2 ** 30), flags: sys.cpuFlags },
    kernels: f16.gemmIsa,
    weightBytes: { halves: f16.weightBytes, fp32: f32.weightBytes },
    rssMiB: rss,
    rows,
  };
  f16.close();
  f32.close();
  if (quick) return;
  fs.writeFileSync(path.join(outDir, 'weights.json'), JSON.stringify(report, null, 2) + '\n');
  const mb = (b: number | undefined) => ((b ?? 0) / 1e6).toFixed(1);
  const md = [
    '# Weights resident at the checkpoint\'s precision',
    '',
    `Measured ${report.date.slice(0, 10)} on ${sys.cpu} (${sys.physicalCores} cores), by \`npm run bench:weights\` (bench/weights.ts): the embedded`,
    `all-MiniLM-L6-v2, an F16 safetensors file, run in FP32 on the ${report.kernels} kernels with 2 threads — its GEMM weights and word table`,
    'kept as IEEE halves and widened where they are read (the default), against the same model with FP32 panels',
    '(`BERTRT_F16_WEIGHTS=0`), both loaded in one process and timed alternately (medians); RSS from a fresh Node process each',
    '(Node itself and the tokenizer included). Last column above 1: the halves take less (memory) or are faster (latency).',
    '',
    '| | halves (default) | FP32 panels | FP32 panels / halves |',
    '| --- | ---: | ---: | ---: |',
    `| weights held (encoder.weightBytes) | ${mb(report.weightBytes.halves)} MB | ${mb(report.weightBytes.fp32)} MB | ${((report.weightBytes.fp32 ?? 0) / (report.weightBytes.halves ?? 1)).toFixed(2)}× |`,
    `| RSS after loading and embedding one sentence | ${rss.halves.after.toFixed(0)} MiB | ${rss.fp32.after.toFixed(0)} MiB | ${(rss.fp32.after / rss.halves.after).toFixed(2)}× |`,
    `| peak RSS (loading included) | ${rss.halves.peak.toFixed(0)} MiB | ${rss.fp32.peak.toFixed(0)} MiB | ${(rss.fp32.peak / rss.halves.peak).toFixed(2)}× |`,
    ...rows.map((r) => `| ${r.shape}, latency | ${r.halvesMs.toFixed(3)} ms | ${r.fp32Ms.toFixed(3)} ms | ${r.speedup.toFixed(2)}× |`),
    '',
    `Outputs: ${rows.every((r) => r.identical) ? 'bit-identical' : 'NOT identical'} hidden states for every shape (the halves are the file\'s values; widening is exact).`,
    '',
  ];
  fs.writeFileSync(path.join(outDir, 'weights.md'), md.join('\n'));
  console.error('wrote bench/results/weights.{json,md}');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
