// `npm run soak [-- --calls N --requests M]`: a long run that must leave bertrt as it found it (issue 15).
//   1. N embed() calls (default 100,000) of 1-3 texts each, mixed lengths (a few tokens to past max_seq_length),
//      eight calls in flight at a time; every vector compared with the reference made for its text alone.
//   2. M HTTP requests (default 50,000) on 16 connections over the routes a client uses: /embed, /v1/embeddings
//      (floats and base64), /tokenize, /health, and bodies that must be refused (413, 422); every answer checked
//      against its own input (vectors bit for bit against the reference, token ids against the tokenizer, status
//      codes against what the body asks for).
// RSS is sampled every 5 s. A leak raises RSS for good, while single samples swing by a tenth as collections return
// memory and the heap grows back: after warm-up (the first 10% of each phase), the median RSS of the last third of the
// samples may exceed the median of the first third by less than 5% (medians, so that no one dip or spike decides).
// Writes bench/results/soak.md and soak.json.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createServer, Embedder } from '../lib';
import { median } from '../lib/bench';
import { rng } from '../tests/helpers/fixtures';

const root = path.resolve(__dirname, '..');

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}


interface Sample {
  phase: string;
  seconds: number;
  rssMiB: number;
  done: number;
}

async function main(): Promise<void> {
  const calls = arg('calls', 100_000);
  const requests = arg('requests', 50_000);
  const r = rng(7);
  const sentences = fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').filter(Boolean);
  // 400 distinct texts: mostly single sentences (a soak counts calls, not tokens), some of two or three, and one
  // in fifty past the 256-token limit (cut from the right)
  const texts = Array.from({ length: 400 }, (_, i) => {
    const k = i % 50 === 0 ? 40 : i % 5 === 0 ? 2 + Math.floor(r() * 2) : 1;
    return Array.from({ length: k }, () => sentences[Math.floor(r() * sentences.length)]).join(' ');
  });
  const e = await Embedder.load();
  const ref = new Map<string, Float32Array>();
  for (const t of texts) ref.set(t, (await e.embed([t]))[0]);
  const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (x: number, i: number) => x === b[i]);

  const samples: Sample[] = [];
  const t0 = performance.now();
  let phase = 'embed';
  let done = 0;
  const sample = () => samples.push({ phase, seconds: (performance.now() - t0) / 1000, rssMiB: process.memoryUsage.rss() / 2 ** 20, done });
  sample();
  const timer = setInterval(sample, 5000);

  // ------------------------------------------------------------------ phase 1: embed() calls
  let wrong = 0;
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      next++;
      const batch = Array.from({ length: 1 + Math.floor(r() * 3) }, () => texts[Math.floor(r() * texts.length)]);
      const vs = await e.embed(batch);
      vs.forEach((v, i) => {
        if (!same(v, ref.get(batch[i])!)) wrong++;
      });
      done++;
    }
  };
  const p1 = performance.now();
  await Promise.all(Array.from({ length: 8 }, worker));
  const embedSeconds = (performance.now() - p1) / 1000;
  sample();
  console.log(`embed: ${calls} calls in ${embedSeconds.toFixed(0)} s, ${wrong} vectors differ from their reference`);

  // ------------------------------------------------------------------ phase 2: HTTP
  phase = 'http';
  done = 0;
  const s = await createServer({ models: [{ name: 'minilm' }] });
  const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
  let bad = 0;
  const statuses: Record<string, number> = {};
  const fail = (why: string) => {
    if (bad++ < 10) console.log(`  wrong answer: ${why}`);
  };
  const post = async (route: string, body: unknown) => {
    const res = await fetch(url + route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    statuses[`${route} ${res.status}`] = (statuses[`${route} ${res.status}`] ?? 0) + 1;
    return { status: res.status, body: (await res.json()) as any };
  };
  const long = 'word '.repeat(400);
  const one = async () => {
    const k = r();
    const batch = Array.from({ length: 1 + Math.floor(r() * 3) }, () => texts[Math.floor(r() * texts.length)]);
    if (k < 0.4) {
      const a = await post('/embed', { inputs: batch, truncate: true });
      if (a.status !== 200 || !a.body.every((v: number[], i: number) => same(Float32Array.from(v), ref.get(batch[i])!))) fail(`/embed ${a.status}`);
    } else if (k < 0.6) {
      const b64 = r() < 0.5;
      const a = await post('/v1/embeddings', { input: batch, encoding_format: b64 ? 'base64' : 'float' });
      const vec = (d: any) => (b64 ? new Float32Array(Uint8Array.from(Buffer.from(d.embedding, 'base64')).buffer) : Float32Array.from(d.embedding));
      // /v1 refuses rather than cuts: the long texts answer 413
      const tooLong = batch.some((t) => e.tokenizer.encode(t).ids.length > e.maxSeqLength);
      if (tooLong ? a.status !== 413 : a.status !== 200 || !a.body.data.every((d: any, i: number) => same(vec(d), ref.get(batch[i])!))) fail(`/v1/embeddings ${a.status}`);
    } else if (k < 0.75) {
      const a = await post('/tokenize', { inputs: batch, truncate: true });
      const want = batch.map((t) => Array.from(e.tokenizer.encode(t, null, { truncation: { maxLength: e.maxSeqLength } }).ids));
      if (a.status !== 200 || !a.body.every((toks: any[], i: number) => same(toks.map((x) => x.id), want[i]))) fail(`/tokenize ${a.status}`);
    } else if (k < 0.85) {
      const res = await fetch(url + '/health');
      statuses[`/health ${res.status}`] = (statuses[`/health ${res.status}`] ?? 0) + 1;
      if (res.status !== 200) fail(`/health ${res.status}`);
      await res.arrayBuffer();
    } else if (k < 0.93) {
      const a = await post('/embed', { inputs: [long] });
      if (a.status !== 413 || a.body.error_type !== 'Validation') fail(`long /embed ${a.status}`);
    } else {
      const a = await post('/embed', { inputs: [], normalize: true });
      if (a.status !== 422) fail(`empty /embed ${a.status}`);
    }
    done++;
  };
  let sent = 0;
  const conn = async () => {
    while (sent < requests) {
      sent++;
      await one();
    }
  };
  const p2 = performance.now();
  await Promise.all(Array.from({ length: 16 }, conn));
  const httpSeconds = (performance.now() - p2) / 1000;
  sample();
  clearInterval(timer);
  await s.close();
  await e.close();
  console.log(`http: ${requests} requests in ${httpSeconds.toFixed(0)} s, ${bad} wrong answers`);

  const growth = (p: string) => {
    const xs = samples.filter((x) => x.phase === p);
    const warm = xs.filter((x) => x.done >= (p === 'embed' ? calls : requests) * 0.1);
    if (warm.length < 3) return { first: NaN, last: NaN, max: NaN, early: NaN, late: NaN, growth: NaN };
    const first = warm[0].rssMiB;
    const last = warm[warm.length - 1].rssMiB;
    const max = Math.max(...warm.map((x) => x.rssMiB));
    const third = Math.floor(warm.length / 3);
    const early = median(warm.slice(0, third).map((x) => x.rssMiB));
    const late = median(warm.slice(warm.length - third).map((x) => x.rssMiB));
    return { first, last, max, early, late, growth: (late - early) / early };
  };
  const g1 = growth('embed');
  const g2 = growth('http');
  const ok = wrong === 0 && bad === 0 && g1.growth < 0.05 && g2.growth < 0.05;
  const result = {
    date: new Date().toISOString(),
    cpu: os.cpus()[0].model,
    cores: os.cpus().length,
    node: process.version,
    calls,
    requests,
    embedSeconds,
    httpSeconds,
    wrongVectors: wrong,
    wrongAnswers: bad,
    statuses,
    rss: { embed: g1, http: g2 },
    samples,
    ok,
  };
  const out = path.join(root, 'bench', 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'soak.json'), JSON.stringify(result, null, 2) + '\n');
  const mib = (x: number) => `${x.toFixed(1)} MiB`;
  const md = [
    '# Soak — a long run must leave bertrt as it found it',
    '',
    `Measured ${result.date.slice(0, 10)} by \`npm run soak\` (bench/soak.ts) on ${result.cpu}, ${result.cores} cores, Node ${result.node}; the embedded all-MiniLM-L6-v2, FP32.`,
    '',
    '| phase | work | time | wrong answers | RSS after warm-up → end (max) | median RSS, first → last third | growth of the median |',
    '| --- | --- | ---: | ---: | --- | --- | ---: |',
    `| embed() | ${calls.toLocaleString('en')} calls of 1-3 texts, 8 in flight | ${embedSeconds.toFixed(0)} s | ${wrong} vectors | ${mib(g1.first)} → ${mib(g1.last)} (${mib(g1.max)}) | ${mib(g1.early)} → ${mib(g1.late)} | ${(100 * g1.growth).toFixed(2)}% |`,
    `| HTTP | ${requests.toLocaleString('en')} requests on 16 connections | ${httpSeconds.toFixed(0)} s | ${bad} | ${mib(g2.first)} → ${mib(g2.last)} (${mib(g2.max)}) | ${mib(g2.early)} → ${mib(g2.late)} | ${(100 * g2.growth).toFixed(2)}% |`,
    '',
    'Every vector is compared bit for bit with the one its text gets alone; token ids with the tokenizer; refusals',
    'with the status the body asks for. RSS is sampled every 5 s; warm-up is the first 10% of each phase. A leak raises',
    'RSS for good, while single samples swing by a tenth as collections return memory and the heap grows back: the test',
    'is the median RSS of the last third of the samples against the median of the first third (no one dip or spike',
    'decides it).',
    '',
    `Answers by route and status: ${Object.entries(statuses).sort().map(([k, v]) => `${k}: ${v}`).join(', ')}.`,
    '',
    ok ? '**Result: pass** (no wrong answer, median RSS grows by less than 5% in both phases).' : '**Result: FAIL**.',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(out, 'soak.md'), md);
  console.log(`wrote bench/results/soak.{md,json}: ${ok ? 'pass' : 'FAIL'}`);
  process.exitCode = ok ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
