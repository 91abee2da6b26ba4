// `npm run bench:tjs`: bertrt against transformers.js end to end, the way an application calls each: the
// feature-extraction pipeline (tokenize, run, mean-pool, normalize) on the same model — transformers.js on the ONNX
// export of the embedded all-MiniLM-L6-v2 (FP32, its default onnxruntime-node backend on the CPU), bertrt on the
// safetensors file (FP32, and INT8 for reference). Workloads, interleaved round by round, medians reported:
//   real   the 1,200 sentences of bench/data/sentences.txt in batches of 32 (transformers.js pads each batch)
//   one    one short sentence at a time (latency), 200 calls
// Also checks that both give the same vectors (cosine per sentence). Needs bench/.cache/all-MiniLM-L6-v2.onnx
// (`python tools/export_onnx.py`). Measures the compiled package (dist/). Writes bench/results/transformersjs.{md,json}.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Embedder, info } from '../dist';
import { median } from '../dist/bench';

const root = path.resolve(__dirname, '..');
const cache = path.join(root, 'bench', '.cache');
const onnx = path.join(cache, 'all-MiniLM-L6-v2.onnx');
const quick = process.argv.includes('--quick');
const settle = () => new Promise((r) => setTimeout(r, 50));

/** transformers.js wants a model folder laid out as on the hub: config, tokenizer, onnx/model.onnx. */
function tjsFolder(): string {
  const dir = path.join(cache, 'tjs', 'all-MiniLM-L6-v2');
  fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(root, 'models', 'all-MiniLM-L6-v2', f), path.join(dir, f));
  fs.copyFileSync(onnx, path.join(dir, 'onnx', 'model.onnx'));
  return path.dirname(dir);
}

async function main(): Promise<void> {
  if (!fs.existsSync(onnx)) {
    console.error(`bench:tjs needs ${path.relative(root, onnx)}: run \`python tools/export_onnx.py\` once (see README, Benchmarks)`);
    process.exit(1);
  }
  const sys = info();
  const sentences = fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').filter(Boolean);
  const batches: string[][] = [];
  for (let i = 0; i < sentences.length; i += 32) batches.push(sentences.slice(i, i + 32));
  const one = sentences.filter((s) => s.split(' ').length >= 8 && s.split(' ').length <= 12).slice(0, 200);

  const tjs = (await import('@huggingface/transformers')) as any;
  tjs.env.localModelPath = tjsFolder() + path.sep;
  tjs.env.allowRemoteModels = false;
  const extractor = await tjs.pipeline('feature-extraction', 'all-MiniLM-L6-v2', { dtype: 'fp32', device: 'cpu' });
  const theirs = async (texts: string[]): Promise<Float32Array[]> => {
    const t = await extractor(texts, { pooling: 'mean', normalize: true });
    const d = t.dims[1] as number;
    return texts.map((_, i) => (t.data as Float32Array).slice(i * d, (i + 1) * d));
  };
  const fp32 = await Embedder.load();
  const int8 = await Embedder.load(undefined, { precision: 'int8' });

  // the same vectors?
  const a = await fp32.embed(sentences);
  let minCos = 1;
  for (const b of batches) {
    const got = await theirs(b);
    got.forEach((v, i) => {
      const ours = a[sentences.indexOf(b[i])];
      minCos = Math.min(minCos, v.reduce((s, x, j) => s + x * ours[j], 0));
    });
  }
  console.log(`agreement: min cosine(bertrt FP32, transformers.js) over ${sentences.length} sentences = ${minCos.toFixed(6)}`);

  const engines: Array<{ name: string; real: (b: string[]) => Promise<unknown> }> = [
    { name: 'bertrt FP32', real: (b) => fp32.embed(b) },
    { name: 'bertrt INT8', real: (b) => int8.embed(b) },
    { name: 'transformers.js FP32', real: (b) => theirs(b) },
  ];
  const realTimes = engines.map(() => [] as number[]);
  const oneTimes = engines.map(() => [] as number[]);
  for (const e of engines) await e.real(batches[0]); // warm-up
  const rounds = quick ? 1 : 3;
  for (let r = 0; r < rounds; r++) {
    for (const [k, e] of engines.entries()) {
      await settle();
      let t = performance.now();
      for (const b of batches) await e.real(b);
      realTimes[k].push((performance.now() - t) / 1000);
      await settle();
      const lat: number[] = [];
      for (const s of one) {
        t = performance.now();
        await e.real([s]);
        lat.push(performance.now() - t);
      }
      oneTimes[k].push(median(lat));
    }
  }
  const rows = engines.map((e, k) => ({
    engine: e.name,
    realSentencesPerSecond: sentences.length / median(realTimes[k]),
    oneSentenceMs: median(oneTimes[k]),
  }));
  const peer = rows[2];
  for (const r of rows) console.log(`  ${r.engine}: ${r.realSentencesPerSecond.toFixed(0)} sentences/s (real batches), ${r.oneSentenceMs.toFixed(2)} ms per short sentence`);
  const pkg = (name: string) => (JSON.parse(fs.readFileSync(path.join(root, 'node_modules', ...name.split('/'), 'package.json'), 'utf8')) as { version: string }).version;
  const report = {
    date: new Date().toISOString(),
    machine: { cpu: sys.cpu, physicalCores: sys.physicalCores, memoryGiB: Math.round(os.totalmem() / 2 ** 30), platform: `${process.platform}-${process.arch}` },
    software: { node: process.version, bertrt: sys.version, kernels: sys.isa, transformersJs: pkg('@huggingface/transformers') },
    model: 'all-MiniLM-L6-v2 (mean pooling, normalized); transformers.js on its ONNX export (FP32), bertrt on the safetensors weights',
    threads: sys.threads,
    agreementMinCosine: minCos,
    rows,
  };
  const L = [
    '# bertrt vs transformers.js, end to end (feature-extraction)',
    '',
    `Measured ${report.date.slice(0, 10)} by \`npm run bench:tjs\` (bench/transformersjs.ts) on ${sys.cpu} (${sys.physicalCores} cores, ${report.machine.memoryGiB} GiB), Node ${process.version}, transformers.js ${report.software.transformersJs} (onnxruntime-node backend, CPU), bertrt ${sys.version} (kernels ${sys.isa}, ${sys.threads} threads).`,
    '',
    `Model: ${report.model}. Each engine is called as an application would: texts in, normalized sentence vectors out (tokenization, inference, pooling included). ${rounds} interleaved rounds, medians.`,
    '',
    `Agreement: the smallest cosine between bertrt FP32 and transformers.js vectors over the ${sentences.length} sentences is ${minCos.toFixed(6)}.`,
    '',
    '| engine | real sentences, batches of 32 (sentences/s) | vs transformers.js | one short sentence (ms) | vs transformers.js |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.engine} | ${r.realSentencesPerSecond.toFixed(0)} | ${(r.realSentencesPerSecond / peer.realSentencesPerSecond).toFixed(2)}× | ${r.oneSentenceMs.toFixed(2)} | ${(peer.oneSentenceMs / r.oneSentenceMs).toFixed(2)}× |`),
    '',
    'Real sentences: the 1,200 lines of bench/data/sentences.txt in batches of 32; transformers.js pads each batch to its longest text, bertrt packs them. One short sentence: 200 sentences of 8–12 words, one call each, median latency.',
  ];
  const outDir = path.join(root, 'bench', 'results');
  fs.writeFileSync(path.join(outDir, 'transformersjs.json'), JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(path.join(outDir, 'transformersjs.md'), L.join('\n') + '\n');
  console.log('wrote bench/results/transformersjs.{md,json}');
  await fp32.close();
  await int8.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
