// `npm run bench:tokenizer`: tokenizer throughput, bertrt vs HF tokenizers (the official npm binding, Rust) and
// transformers.js, in one process, on the same tokenizer.json: WordPiece (the embedded all-MiniLM-L6-v2's),
// Unigram (XLM-R's pipeline; the real multilingual-e5-small file with BERTRT_E5_TOKENIZER=path) and byte-level
// BPE (RoBERTa's pipeline). Workloads:
//   corpus  the 5,600-string conformance corpus (13 scripts, emoji, control characters, random code points)
//   short   10,000 short sentences (the 1,200 of bench/data/sentences.txt, cycled)
//   long words  500 texts of 20 distinct random words of 60-100 letters each (WordPiece's worst case: many pieces
//           per word; words past 100 characters are one [UNK] at once and would not test it)
// Each engine encodes every string with special tokens and no padding; tokens/s counts the ids produced.
// Measures the compiled package (dist/, what users run; `npm run compile` first). Writes bench/results/tokenizer.{md,json}.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Tokenizer } from '../dist';
import { median } from '../dist/bench';
import { rng } from '../tests/helpers/fixtures';

const root = path.resolve(__dirname, '..');
const modelDir = path.join(root, 'models', 'all-MiniLM-L6-v2');

type Runner = { name: string; version: string; run: (texts: string[]) => Promise<number> };

async function timeRuns(r: Runner, texts: string[], rounds: number): Promise<{ seconds: number; tokens: number }> {
  const times: number[] = [];
  let tokens = 0;
  await r.run(texts.slice(0, 200)); // warm-up (JIT, caches of the first strings only)
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    tokens = await r.run(texts);
    times.push((performance.now() - t) / 1000);
  }
  return { seconds: median(times), tokens };
}

async function main(): Promise<void> {
  const corpus: string[] = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(root, 'tests', 'fixtures', 'tokenizer', 'corpus.json.gz'))).toString());
  const sentences = fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').filter(Boolean);
  const short = Array.from({ length: 10000 }, (_, i) => sentences[i % sentences.length]);
  const r = rng(3);
  const word = () => Array.from({ length: 60 + Math.floor(r() * 41) }, () => String.fromCharCode(97 + Math.floor(r() * 26))).join('');
  const longWords = Array.from({ length: 500 }, () => Array.from({ length: 20 }, word).join(' '));
  const pkgVersion = (name: string) => (JSON.parse(fs.readFileSync(path.join(root, 'node_modules', ...name.split('/'), 'package.json'), 'utf8')) as { version: string }).version;

  // The tokenizers: the embedded MiniLM's WordPiece; XLM-R's Unigram (the real multilingual-e5-small
  // tokenizer.json when BERTRT_E5_TOKENIZER names it, else the committed XLM-R-pipeline fixture); RoBERTa's
  // byte-level BPE (the committed fixture). Each is written to a scratch folder the three engines load.
  const configs: Array<{ name: string; dir: string }> = [{ name: 'WordPiece (all-MiniLM-L6-v2)', dir: modelDir }];
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bertrt-bench-tok-'));
  const fixture = (name: string, label: string, file?: string) => {
    const dir = path.join(scratch, name);
    fs.mkdirSync(dir);
    const json = file ? fs.readFileSync(file) : zlib.brotliDecompressSync(fs.readFileSync(path.join(root, 'tests', 'fixtures', 'tokenizer', `${name}.tokenizer.json.br`)));
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), json);
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'PreTrainedTokenizer' }));
    configs.push({ name: label, dir });
  };
  const e5 = process.env.BERTRT_E5_TOKENIZER;
  if (e5) fixture('e5', 'Unigram (multilingual-e5-small, 250,002 pieces)', e5);
  else fixture('xlmr', 'Unigram (XLM-R pipeline, real charsmap, 8,000 pieces)');
  fixture('roberta', 'byte-level BPE (RoBERTa pipeline, 8,000 tokens)');

  const ourVersion = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const runnersFor = async (dir: string): Promise<Runner[]> => {
    const ours = Tokenizer.fromDir(dir);
    const runners: Runner[] = [
      {
        name: 'bertrt',
        version: ourVersion,
        run: async (texts) => {
          let n = 0;
          for (const t of texts) n += ours.encode(t).ids.length;
          return n;
        },
      },
    ];
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const hf = require('tokenizers') as { Tokenizer: { fromFile(p: string): any } };
      const tok = hf.Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
      // MiniLM's file asks for padding to 128 and truncation; off, so every engine emits the same ids.
      tok.disablePadding();
      tok.disableTruncation();
      runners.push({
        name: 'tokenizers (HF, npm, encodeBatch)',
        version: pkgVersion('tokenizers'),
        run: async (texts) => {
          const encs = await tok.encodeBatch(texts);
          return encs.reduce((a: number, e: any) => a + e.getIds().length, 0);
        },
      });
      runners.push({
        name: 'tokenizers (HF, npm, encode one by one)',
        version: pkgVersion('tokenizers'),
        run: async (texts) => {
          let n = 0;
          for (const t of texts) n += (await tok.encode(t)).getIds().length;
          return n;
        },
      });
    } catch (e) {
      console.log(`HF tokenizers skipped: ${(e as Error).message}`);
    }
    try {
      const tjs = (await import('@huggingface/transformers')) as any;
      tjs.env.allowRemoteModels = false;
      tjs.env.localModelPath = path.dirname(dir);
      const tok = await tjs.AutoTokenizer.from_pretrained(path.basename(dir));
      runners.push({
        name: 'transformers.js',
        version: pkgVersion('@huggingface/transformers'),
        run: async (texts) => {
          let n = 0;
          for (const t of texts) n += tok.encode(t).length;
          return n;
        },
      });
    } catch (e) {
      console.log(`transformers.js skipped: ${(e as Error).message}`);
    }
    return runners;
  };

  const rows: Array<{ tokenizer: string; workload: string; engine: string; version: string; seconds: number; tokens: number; tokensPerSecond: number }> = [];
  for (const [c, config] of configs.entries()) {
    const runners = await runnersFor(config.dir);
    const workloads: Array<[string, string[]]> = [
      ['corpus (5,600 strings)', corpus],
      ['short (10,000 sentences)', short],
    ];
    if (c === 0) workloads.push(['long words (500 × 20 words of 60-100 letters)', longWords]);
    for (const [workload, texts] of workloads) {
      for (const r of runners) {
        const { seconds, tokens } = await timeRuns(r, texts, 5);
        rows.push({ tokenizer: config.name, workload, engine: r.name, version: r.version, seconds, tokens, tokensPerSecond: tokens / seconds });
        console.log(`${config.name.slice(0, 20).padEnd(20)} ${workload.padEnd(48)} ${r.name.padEnd(40)} ${(tokens / seconds / 1e6).toFixed(2)} M tokens/s (${tokens} tokens, ${(seconds * 1e3).toFixed(0)} ms)`);
      }
    }
  }
  fs.rmSync(scratch, { recursive: true, force: true });
  const outDir = path.join(root, 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'tokenizer.json'), JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0].model, cores: os.cpus().length, node: process.version, rows }, null, 2) + '\n');
  const base = (t: string, w: string) => rows.find((r) => r.tokenizer === t && r.workload === w && r.engine === 'bertrt')!.tokensPerSecond;
  const md = [
    '# Tokenizer throughput — bertrt vs HF tokenizers (npm) vs transformers.js',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} by \`npm run bench:tokenizer\` (bench/tokenizer.ts) on ${os.cpus()[0].model}, ${os.cpus().length} cores, Node ${process.version}.`,
    "Each engine loads the same tokenizer.json; special tokens added, no padding; median of 5 rounds after a warm-up. bertrt and transformers.js run on the main thread, one string at a time; HF's encodeBatch runs in Rust on its own thread pool (all cores). All three produce the same ids (tests/tokenizer-conformance.test.ts holds bertrt to HF's).",
    '',
    '| tokenizer | workload | engine | version | tokens/s | bertrt ÷ engine |',
    '| --- | --- | --- | --- | ---: | ---: |',
    ...rows.map((r) => `| ${r.tokenizer} | ${r.workload} | ${r.engine} | ${r.version} | ${(r.tokensPerSecond / 1e6).toFixed(2)} M | ${(base(r.tokenizer, r.workload) / r.tokensPerSecond).toFixed(2)}× |`),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(outDir, 'tokenizer.md'), md);
  console.log('wrote bench/results/tokenizer.{md,json}');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
