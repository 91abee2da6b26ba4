// `npm run bench:tokenizer`: tokenizer throughput, bertrt vs HF tokenizers (the official npm binding, Rust) and
// transformers.js, in one process, on the same tokenizer.json (the embedded all-MiniLM-L6-v2's):
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

  const ours = Tokenizer.fromDir(modelDir);
  const runners: Runner[] = [
    {
      name: 'bertrt',
      version: (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version,
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
    const tok = hf.Tokenizer.fromFile(path.join(modelDir, 'tokenizer.json'));
    // The file asks for padding to 128 and truncation; off, so every engine emits the same ids.
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
    tjs.env.localModelPath = path.join(root, 'models');
    const tok = await tjs.AutoTokenizer.from_pretrained('all-MiniLM-L6-v2');
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

  const rows: Array<{ workload: string; engine: string; version: string; seconds: number; tokens: number; tokensPerSecond: number }> = [];
  for (const [workload, texts] of [
    ['corpus (5,600 strings)', corpus],
    ['short (10,000 sentences)', short],
    ['long words (500 × 20 words of 60-100 letters)', longWords],
  ] as const) {
    for (const r of runners) {
      const { seconds, tokens } = await timeRuns(r, texts as string[], 5);
      rows.push({ workload, engine: r.name, version: r.version, seconds, tokens, tokensPerSecond: tokens / seconds });
      console.log(`${workload.padEnd(48)} ${r.name.padEnd(40)} ${(tokens / seconds / 1e6).toFixed(2)} M tokens/s (${tokens} tokens, ${(seconds * 1e3).toFixed(0)} ms)`);
    }
  }
  const outDir = path.join(root, 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'tokenizer.json'), JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0].model, cores: os.cpus().length, node: process.version, rows }, null, 2) + '\n');
  const base = (w: string) => rows.find((r) => r.workload === w && r.engine === 'bertrt')!.tokensPerSecond;
  const md = [
    '# Tokenizer throughput — bertrt vs HF tokenizers (npm) vs transformers.js',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} by \`npm run bench:tokenizer\` (bench/tokenizer.ts) on ${os.cpus()[0].model}, ${os.cpus().length} cores, Node ${process.version}.`,
    "Same tokenizer.json (all-MiniLM-L6-v2), special tokens added, no padding; median of 5 rounds after a warm-up. bertrt and transformers.js run on the main thread, one string at a time; HF's encodeBatch runs in Rust on its own thread pool (all cores).",
    '',
    '| workload | engine | version | tokens/s | bertrt ÷ engine |',
    '| --- | --- | --- | ---: | ---: |',
    ...rows.map((r) => `| ${r.workload} | ${r.engine} | ${r.version} | ${(r.tokensPerSecond / 1e6).toFixed(2)} M | ${(base(r.workload) / r.tokensPerSecond).toFixed(2)}× |`),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(outDir, 'tokenizer.md'), md);
  console.log('wrote bench/results/tokenizer.{md,json}');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
