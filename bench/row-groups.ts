// `npm run bench:groups`: the engine's row groups (each layer run over groups of whole sequences, every step for one
// group before the next) against one group holding the whole batch, on all-MiniLM-L6-v2 in FP32, INT8 and BF16, and
// what INT8's smoothing calibration adds to load time. Both variants are loaded in one process (BERTRT_SEQ_CHUNK
// and BERTRT_INT8_SMOOTHING are read at load) and timed in interleaved 1-second rounds; medians of the rounds.
// Writes bench/results/row-groups.{md,json}. Measures the compiled package (dist/).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Encoder, info, pack, Tokenizer } from '../dist';
import { median, syntheticIds } from '../dist/bench';
import type { Precision } from '../dist/native';

const root = path.resolve(__dirname, '..');
const modelDir = path.join(root, 'models', 'all-MiniLM-L6-v2');
const ROUNDS = process.argv.includes('--quick') ? 4 : 10;
const ONE_GROUP = '1000000'; // tokens: more than any batch here, so the whole batch is one group

async function load(precision: Precision, env: Record<string, string | undefined>): Promise<{ encoder: Encoder; ms: number }> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
  const t0 = performance.now();
  const encoder = await Encoder.load(modelDir, { threads: 2, precision });
  const ms = performance.now() - t0;
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
  return { encoder, ms };
}

function batchOf(batch: number, len: number): { ids: Int32Array; typeIds: null; cuSeqlens: Int32Array } {
  return { ids: syntheticIds(batch, len), typeIds: null, cuSeqlens: Int32Array.from({ length: batch + 1 }, (_, i) => i * len) };
}

// Real sentences, tokenized and packed as the embedder does it (truncated at 256 tokens), 32 per batch.
function realBatches(): Array<ReturnType<typeof pack>> {
  const texts = fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').filter(Boolean);
  const tok = Tokenizer.fromDir(modelDir);
  const out = [];
  for (let i = 0; i < texts.length; i += 32) out.push(pack(tok.encodeBatch(texts.slice(i, i + 32), { maxLength: 256 }), false));
  return out;
}

async function rate(e: Encoder, batches: Array<ReturnType<typeof pack>>, seqs: number): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1000) {
    for (const b of batches) await e.run(b);
    n++;
  }
  return (n * seqs) / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const sys = info();
  const precisions: Precision[] = sys.bf16 ? ['fp32', 'int8', 'bf16'] : ['fp32', 'int8'];
  const real = realBatches();
  const realSeqs = real.reduce((n, b) => n + b.cuSeqlens.length - 1, 0);
  const workloads = [
    { name: '32 × 128', batches: [batchOf(32, 128)], seqs: 32 },
    { name: '8 × 256', batches: [batchOf(8, 256)], seqs: 8 },
    { name: `${realSeqs} real sentences, batches of 32`, batches: real, seqs: realSeqs },
  ];
  const rows = [];
  for (const precision of precisions) {
    const grouped = (await load(precision, { BERTRT_SEQ_CHUNK: undefined })).encoder;
    const single = (await load(precision, { BERTRT_SEQ_CHUNK: ONE_GROUP })).encoder;
    for (const w of workloads) {
      await grouped.run(w.batches[0]);
      await single.run(w.batches[0]);
      const g: number[] = [];
      const s: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        g.push(await rate(grouped, w.batches, w.seqs));
        s.push(await rate(single, w.batches, w.seqs));
      }
      // this VM switches between a fast and a slow state from minute to minute: the ratio of each round's two
      // back-to-back measurements is steadier than the ratio of the medians
      const paired = g.map((x, i) => x / s[i]);
      const row = { precision, workload: w.name, grouped: median(g), oneGroup: median(s), ratio: median(paired), roundRatios: paired };
      rows.push(row);
      console.log(`  ${precision} ${w.name}: groups ${row.grouped.toFixed(1)}/s, one group ${row.oneGroup.toFixed(1)}/s, paired ${row.ratio.toFixed(2)}x [${paired.map((x) => x.toFixed(2)).join(' ')}]`);
    }
    await grouped.close();
    await single.close();
  }
  // INT8 load time with and without the smoothing calibration (alternating, median of 5 each)
  const loads: Record<'on' | 'off', number[]> = { on: [], off: [] };
  for (let r = 0; r < 5; r++) {
    for (const mode of ['on', 'off'] as const) {
      const { encoder, ms } = await load('int8', { BERTRT_INT8_SMOOTHING: mode === 'on' ? undefined : '0' });
      loads[mode].push(ms);
      await encoder.close();
    }
  }
  const loadOn = median(loads.on);
  const loadOff = median(loads.off);
  console.log(`  INT8 load: ${loadOn.toFixed(0)} ms with smoothing, ${loadOff.toFixed(0)} ms without`);

  const date = new Date().toISOString();
  const L = [
    '# Row groups and INT8 smoothing: each against its off state, one run',
    '',
    `Measured ${date.slice(0, 10)} by \`npm run bench:groups\` (bench/row-groups.ts) on ${sys.cpu} (${sys.physicalCores} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB), bertrt ${sys.version}, kernels ${sys.isa}, 2 threads, all-MiniLM-L6-v2.`,
    '',
    'Row groups: each layer runs over groups of whole sequences (INT8/BF16 about 512 KB of Q/K/V rows — one 128-token sequence here; FP32 768 tokens), all its steps for one group before the next, against one group holding the whole batch (`BERTRT_SEQ_CHUNK=' +
      ONE_GROUP +
      '`). Same bits either way (tested). Sequences per second, median of ' +
      ROUNDS +
      ' interleaved 1-second rounds; the real sentences are bench/data/sentences.txt tokenized and packed 32 to a batch (inference only).',
    '',
    '| precision | workload | groups (default) | one group | ratio, median of the rounds | each round\'s ratio |',
    '| --- | --- | ---: | ---: | ---: | --- |',
    ...rows.map(
      (r) =>
        `| ${r.precision.toUpperCase()} | ${r.workload} | ${r.grouped.toFixed(1)} | ${r.oneGroup.toFixed(1)} | ${r.ratio.toFixed(2)}× | ${r.roundRatios.map((x) => x.toFixed(2)).join(' ')} |`,
    ),
    '',
    `INT8 load time (median of 5, alternating): **${loadOn.toFixed(0)} ms** with the smoothing calibration (the FP32 layers over 16 × 32 token ids), ${loadOff.toFixed(0)} ms without (\`BERTRT_INT8_SMOOTHING=0\`). Its accuracy effect: [accuracy.md](accuracy.md).`,
    '',
  ];
  const out = path.join(root, 'bench', 'results');
  fs.writeFileSync(path.join(out, 'row-groups.json'), JSON.stringify({ date, cpu: sys.cpu, rounds: ROUNDS, rows, int8LoadMs: { smoothing: loadOn, without: loadOff } }, null, 2) + '\n');
  fs.writeFileSync(path.join(out, 'row-groups.md'), L.join('\n'));
  console.log('wrote bench/results/row-groups.{md,json}');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
