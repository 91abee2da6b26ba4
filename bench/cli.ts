// `npm run bench:cli`: the CLI's bulk embedding (`bertrt embed --input FILE`, JSONL written to a file) against
// Embedder.embed on the same texts in this process, alternating, three rounds each. The CLI's time is the whole
// child process (start, model load, reading, embedding, writing); the API's is load + embed, so both pay the load.
// Writes bench/results/cli.md and cli.json.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Embedder } from '../lib';

const root = path.resolve(__dirname, '..');

async function main(): Promise<void> {
  const sentences = fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').filter(Boolean);
  const texts = Array.from({ length: 6000 }, (_, i) => sentences[i % sentences.length]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bertrt-bench-cli-'));
  const input = path.join(dir, 'in.txt');
  const output = path.join(dir, 'out.jsonl');
  fs.writeFileSync(input, texts.join('\n') + '\n');
  const rows: Array<{ round: number; engine: string; seconds: number; textsPerSecond: number }> = [];
  for (let round = 1; round <= 3; round++) {
    let t0 = performance.now();
    const r = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), 'embed', '--input', input, '--output', output], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`the CLI failed: ${r.stderr}`);
    let s = (performance.now() - t0) / 1000;
    const lines = fs.readFileSync(output, 'utf8').trimEnd().split('\n').length;
    if (lines !== texts.length) throw new Error(`the CLI wrote ${lines} lines for ${texts.length} texts`);
    rows.push({ round, engine: 'bertrt embed --input (CLI)', seconds: s, textsPerSecond: texts.length / s });
    t0 = performance.now();
    const e = await Embedder.load();
    const vs = await e.embed(texts);
    await e.close();
    s = (performance.now() - t0) / 1000;
    if (vs.length !== texts.length) throw new Error('the API returned the wrong count');
    rows.push({ round, engine: 'Embedder.embed (API)', seconds: s, textsPerSecond: texts.length / s });
    console.log(`round ${round}: CLI ${rows[rows.length - 2].textsPerSecond.toFixed(0)} texts/s, API ${rows[rows.length - 1].textsPerSecond.toFixed(0)} texts/s`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const median = (engine: string) => {
    const xs = rows.filter((r) => r.engine === engine).map((r) => r.textsPerSecond).sort((a, b) => a - b);
    return xs[Math.floor(xs.length / 2)];
  };
  const cli = median('bertrt embed --input (CLI)');
  const api = median('Embedder.embed (API)');
  const result = { date: new Date().toISOString(), cpu: os.cpus()[0].model, cores: os.cpus().length, node: process.version, texts: texts.length, rows, cliOverApi: cli / api };
  const out = path.join(root, 'bench', 'results');
  fs.writeFileSync(path.join(out, 'cli.json'), JSON.stringify(result, null, 2) + '\n');
  fs.writeFileSync(
    path.join(out, 'cli.md'),
    [
      '# CLI bulk embedding vs the API',
      '',
      `Measured ${result.date.slice(0, 10)} by \`npm run bench:cli\` (bench/cli.ts) on ${result.cpu}, ${result.cores} cores, Node ${result.node}; the embedded all-MiniLM-L6-v2, FP32; ${texts.length.toLocaleString('en')} sentences of bench/data/sentences.txt (one per line). Alternating, three rounds; the CLI's time is its whole process (start, load, read, embed, write JSONL), the API's load + embed.`,
      '',
      '| round | engine | seconds | texts/s |',
      '| ---: | --- | ---: | ---: |',
      ...rows.map((r) => `| ${r.round} | ${r.engine} | ${r.seconds.toFixed(2)} | ${r.textsPerSecond.toFixed(0)} |`),
      '',
      `Median: CLI ${cli.toFixed(0)} texts/s, API ${api.toFixed(0)} texts/s: **the CLI at ${(100 * cli / api).toFixed(0)}% of the API**.`,
      '',
    ].join('\n'),
  );
  console.log(`CLI / API = ${(cli / api).toFixed(3)}; wrote bench/results/cli.{md,json}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
