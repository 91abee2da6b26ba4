// `npm run bench:outputs`: what the outputs past one dense vector cost. (1) One pass: Embedder.encode asking for
// dense + sparse + ColBERT against dense alone, on a bge-m3-style model — the real multilingual-e5-small (XLM-R, 12
// layers, hidden 384; tools/fetch_real_models.sh) with the seeded bge-m3 heads of tests/fixtures/outputs/m3-e5 —
// on 256 corpus lines in batches of 32 and on 32 x 128-token inputs, rounds alternating; and SPLADE (the MLM head over
// the 30k vocabulary) against dense alone on the real splade-tiny. (2) Memory: peak RSS of a child process that
// loads splade-tiny and encodes 32 inputs of 512 tokens with sparse output, beside one that asks for dense only: the
// fused sparse head never holds the [tokens x vocabulary] logits (16,384 x 30,522 floats = 2.0 GB).
// Measures the compiled package (dist/). Writes bench/results/outputs.{md,json}. Option: --quick.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Embedder, info } from '../dist';
import { median } from '../dist/bench';

const root = path.resolve(__dirname, '..');
const models = process.env.BERTRT_REAL_MODELS ?? path.join(root, '.scratch', 'real-models');
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 2 : 5;

function corpus(): string[] {
  return (JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(root, 'tests', 'fixtures', 'tokenizer', 'corpus.json.gz'))).toString('utf8')) as string[]).filter((t) => t.trim());
}

function m3Folder(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bertrt-bench-m3-'));
  fs.cpSync(path.join(models, 'multilingual-e5-small'), dir, { recursive: true, dereference: true });
  fs.cpSync(path.join(root, 'tests', 'fixtures', 'outputs', 'm3-e5'), dir, { recursive: true });
  return dir;
}

/** Texts of exactly `tokens` tokens: corpus lines joined, then cut by the tokenizer. */
function fixedLength(e: Embedder, lines: string[], n: number, tokens: number): string[] {
  const out: string[] = [];
  for (let k = 0, i = 0; k < n; k++) {
    let s = '';
    while (e.tokenizer.encode(s).ids.length < tokens) s = `${s} ${lines[i++ % lines.length]}`.trim();
    const enc = e.tokenizer.encode(s, null, { truncation: { maxLength: tokens } });
    out.push(e.tokenizer.decode(Array.from(enc.ids), { skipSpecialTokens: true }));
  }
  return out;
}

type Ask = { dense: boolean; sparse: boolean; colbert: boolean };

async function timeRounds(e: Embedder, batches: string[][], asks: Record<string, Ask>): Promise<Record<string, number>> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(asks).map((k) => [k, []]));
  for (const ask of Object.values(asks)) for (const b of batches.slice(0, 2)) await e.encode(b, ask); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, ask] of Object.entries(asks)) {
      const t0 = performance.now();
      for (const b of batches) await e.encode(b, ask);
      times[name].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

function peakRss(what: 'dense' | 'sparse', texts: string[]): number {
  const file = path.join(os.tmpdir(), `bertrt-bench-texts-${process.pid}.json`);
  fs.writeFileSync(file, JSON.stringify(texts));
  const script = `
    const { Embedder } = require(${JSON.stringify(path.join(root, 'dist'))});
    (async () => {
      const e = await Embedder.load(${JSON.stringify(path.join(models, 'splade-tiny'))});
      const texts = JSON.parse(require('fs').readFileSync(${JSON.stringify(file)}, 'utf8'));
      const r = await e.encode(texts, { dense: ${what === 'dense'}, sparse: ${what === 'sparse'}, batchTokens: 16384 });
      if (${what === 'sparse'} && r.sparse.length !== texts.length) throw new Error('short');
      process.stdout.write(String(process.resourceUsage().maxRSS));
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  fs.rmSync(file, { force: true });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout) / 1024; // MiB
}

async function main(): Promise<void> {
  const e5 = path.join(models, 'multilingual-e5-small');
  const splade = path.join(models, 'splade-tiny');
  if (!fs.existsSync(path.join(e5, 'model.safetensors')) || !fs.existsSync(path.join(splade, 'model.safetensors'))) {
    throw new Error(`bench:outputs needs multilingual-e5-small and splade-tiny in ${models}: run tools/fetch_real_models.sh`);
  }
  const lines = corpus();
  const rs = lines.filter((_, i) => i % 7 === 0).slice(0, 256);
  const m3 = await Embedder.load(m3Folder());
  const real = Array.from({ length: rs.length / 32 }, (_, k) => rs.slice(k * 32, (k + 1) * 32));
  const fixed = [fixedLength(m3, lines, 32, 128)];
  const asks = { dense: { dense: true, sparse: false, colbert: false }, all: { dense: true, sparse: true, colbert: true } };
  const m3Real = await timeRounds(m3, real, asks);
  const m3Fixed = await timeRounds(m3, quick ? fixed : [...fixed, ...fixed], asks);
  await m3.close();
  const sp = await Embedder.load(splade);
  const spladeReal = await timeRounds(sp, real, { dense: asks.dense, sparse: { dense: true, sparse: true, colbert: false } });
  const long = fixedLength(sp, lines, 32, 512);
  await sp.close();
  const rss = { dense: peakRss('dense', long), sparse: peakRss('sparse', long) };
  const machine = `${os.cpus()[0].model}, ${info().physicalCores} cores, ${info().cpuFlags}`;
  const doc = {
    machine,
    threads: info().threads,
    rounds: ROUNDS,
    m3: { real: m3Real, fixed: m3Fixed, ratioReal: m3Real.all / m3Real.dense, ratioFixed: m3Fixed.all / m3Fixed.dense },
    splade: { real: spladeReal, ratio: spladeReal.sparse / spladeReal.dense },
    rssMiB: rss,
    fullLogitsMiB: (32 * 512 * 30522 * 4) / 2 ** 20,
  };
  const f = (ms: number) => `${ms.toFixed(0)} ms`;
  const md = `# Outputs past one dense vector: what they cost

\`npm run bench:outputs\` (bench/outputs.ts). Machine: ${machine}; ${doc.threads} threads; median of ${ROUNDS} rounds, the
configurations alternating within each round. FP32.

## One forward pass, three outputs (bge-m3-style model)

The real multilingual-e5-small (XLM-R, 12 layers, hidden 384) with the seeded bge-m3 heads of tests/fixtures/outputs/m3-e5
(colbert_linear 384 x 384, sparse_linear 384 x 1). \`encode(texts, { dense, sparse, colbert })\` runs the encoder once per
batch and derives the three outputs from its hidden states; the projections run natively over every token.

| workload | dense alone | dense + sparse + ColBERT | ratio |
| --- | --- | --- | --- |
| 256 corpus lines, batches of 32 | ${f(m3Real.dense)} | ${f(m3Real.all)} | ${doc.m3.ratioReal.toFixed(3)} |
| 32 x 128 tokens${quick ? '' : ' (twice)'} | ${f(m3Fixed.dense)} | ${f(m3Fixed.all)} | ${doc.m3.ratioFixed.toFixed(3)} |

## SPLADE on splade-tiny (the MLM head over 30,522 ids)

| workload | dense alone | dense + SPLADE | ratio |
| --- | --- | --- | --- |
| 256 corpus lines, batches of 32 | ${f(spladeReal.dense)} | ${f(spladeReal.sparse)} | ${doc.splade.ratio.toFixed(2)} |

splade-tiny's encoder is 2 layers of hidden 128: its MLM decoder (every token against 30,522 vocabulary rows) is most
of the work, so SPLADE costs a multiple of its dense pass; on a 12-layer encoder the same head is a far smaller share.

## Memory: 32 inputs of 512 tokens with sparse output

Peak RSS of a child process (load splade-tiny, encode the batch): dense only ${rss.dense.toFixed(0)} MiB, sparse
${rss.sparse.toFixed(0)} MiB. The [tokens x vocabulary] logits would be ${doc.fullLogitsMiB.toFixed(0)} MiB on their own: the fused
head folds each logit into its sequence's running max as it is made and never stores them.
`;
  fs.mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(root, 'bench', 'results', 'outputs.json'), JSON.stringify(doc, null, 1) + '\n');
  fs.writeFileSync(path.join(root, 'bench', 'results', 'outputs.md'), md);
  process.stdout.write(md);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
