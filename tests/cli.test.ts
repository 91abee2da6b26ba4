// The CLI as a user runs it (compiled dist/cli.js in a child process).
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cosine, f32, familyFixture, golden, overlayDir, root } from './helpers/fixtures';
import { Embedder, quantizeEmbeddings } from '../lib';

const cli = path.join(root, 'dist', 'cli.js');

describe('bertrt CLI', function () {
  it('embed prints a JSON array of vectors equal to the reference', () => {
    const out = execFileSync(process.execPath, [cli, 'embed', 'The weather is lovely today.', "It's so sunny outside!"], { encoding: 'utf8' });
    const vecs = JSON.parse(out) as number[][];
    assert.equal(vecs.length, 2);
    const g = golden().sentences;
    for (const [i, text] of ['The weather is lovely today.', "It's so sunny outside!"].entries()) {
      const ref = f32(g.find((s) => s.text === text)!.embedding);
      assert.equal(vecs[i].length, 384);
      assert.ok(vecs[i].every((x, j) => Math.abs(x - ref[j]) < 1e-5));
    }
  });

  it('--no-normalize prints the pooled (unnormalized) vector', () => {
    const out = execFileSync(process.execPath, [cli, 'embed', '--no-normalize', 'The weather is lovely today.'], { encoding: 'utf8' });
    const [v] = JSON.parse(out) as number[][];
    const ref = f32(golden().sentences.find((s) => s.text === 'The weather is lovely today.')!.pooled);
    assert.ok(Math.abs(Math.hypot(...v) - Math.hypot(...ref)) < 1e-4);
    assert.ok(cosine(v, ref) > 0.99999);
  });

  it('info prints model, dimension, CPU features and the build', () => {
    const i = JSON.parse(execFileSync(process.execPath, [cli, 'info'], { encoding: 'utf8' }));
    assert.equal(i.dimension, 384);
    assert.ok(i.cpu.available.includes(i.cpu.kernels));
    assert.equal(typeof i.build.version, 'string');
  });

  it('bench --accuracy measures INT8 against FP32 on the texts of a file (the INT8 gates of bench/accuracy.ts)', () => {
    // 60 real sentences of the accuracy corpus: INT8 must stay as close to FP32 as the gates of the full report
    // (mean >= 0.995, min >= 0.98); the full corpus measures 0.9993 and 0.9965
    const file = path.join(os.tmpdir(), `bertrt-acc-${process.pid}.txt`);
    fs.writeFileSync(file, fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').slice(0, 60).join('\n'));
    try {
      const r = JSON.parse(execFileSync(process.execPath, [cli, 'bench', '--accuracy', file, '--precision', 'int8'], { encoding: 'utf8' }));
      assert.equal(r.precision, 'int8');
      assert.equal(r.texts, 60);
      assert.ok(r.cosine.mean >= 0.995 && r.cosine.mean < 1, `mean ${r.cosine.mean}`);
      assert.ok(r.cosine.min >= 0.98 && r.cosine.min <= r.cosine.mean, `min ${r.cosine.min}`);
      assert.ok(r.top1Agreement > 0.5 && r.top1Agreement <= 1, `top-1 ${r.top1Agreement}`);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('bench --accuracy with fewer than two texts exits 2 and says so', () => {
    const file = path.join(os.tmpdir(), `bertrt-acc1-${process.pid}.txt`);
    fs.writeFileSync(file, 'only one line\n\n');
    try {
      const r = spawnSync(process.execPath, [cli, 'bench', '--accuracy', file], { encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /needs at least 2 texts \(one per line\), found 1 \(E_INVALID_ARGUMENT\)/);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('a missing model directory exits 1 with the error code on stderr', () => {
    const r = spawnSync(process.execPath, [cli, 'embed', '--model', '/nonexistent', 'x'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /E_MODEL_NOT_FOUND/);
    assert.equal(r.stdout, '');
  });
});

describe('bertrt CLI for bulk work', function () {
  this.timeout(300_000);
  const run = (args: string[], input?: string) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', input, maxBuffer: 1 << 30 });
  const tmp = (name: string) => path.join(os.tmpdir(), `bertrt-cli-${process.pid}-${name}`);
  let ref: import('../lib').Embedder;
  before(async () => {
    const { Embedder } = await import('../lib');
    ref = await Embedder.load();
  });
  after(async () => ref.close());

  it('--version prints the package version', () => {
    const r = run(['--version']);
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version);
  });

  it('tokenize prints ids, tokens and offsets equal to the Tokenizer', () => {
    const r = run(['tokenize', 'Hello, naïve world!', 'two']);
    assert.equal(r.status, 0, r.stderr);
    const [a, b] = JSON.parse(r.stdout);
    const want = ref.tokenizer.encode('Hello, naïve world!');
    assert.deepEqual(a.ids, Array.from(want.ids));
    assert.deepEqual(a.tokens, want.tokens);
    assert.deepEqual(a.offsets, want.offsets);
    assert.equal(b.text, 'two');
    assert.equal(JSON.parse(run(['tokenize', '--no-special-tokens', 'two']).stdout)[0].ids.length, 1);
  });

  it('embed --input FILE streams 6,000 lines to JSONL in input order, the same vectors as the API', async () => {
    const texts = Array.from({ length: 6_000 }, (_, i) => `line ${i}`);
    const file = tmp('in.txt');
    fs.writeFileSync(file, texts.join('\n') + '\n');
    const r = run(['embed', '--input', file, '--batch-lines', '512']);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.trimEnd().split('\n');
    assert.equal(out.length, 6_000);
    assert.match(r.stderr, /embedded 6000 texts/);
    // --batch-tokens changes how many tokens go to one engine call, not the vectors
    const small = run(['embed', '--input', file, '--batch-lines', '512', '--batch-tokens', '300']);
    assert.equal(small.status, 0, small.stderr);
    assert.equal(small.stdout, r.stdout);
    assert.equal(run(['embed', 'x', '--batch-tokens', '0']).status, 2);
    const pick = [0, 1, 777, 5_999];
    const want = await ref.embed(pick.map((i) => texts[i]));
    pick.forEach((i, k) => assert.deepEqual(Float32Array.from(JSON.parse(out[i])), want[k], `line ${i}`));
    fs.rmSync(file);
  });

  it("embed --input - reads standard input; --shard i/n takes every n-th line from line i; --field reads JSONL", async () => {
    const texts = Array.from({ length: 10 }, (_, i) => `text number ${i}`);
    const r = run(['embed', '--input', '-', '--shard', '1/3'], texts.join('\n'));
    assert.equal(r.status, 0, r.stderr);
    const got = r.stdout.trimEnd().split('\n').map((l) => Float32Array.from(JSON.parse(l)));
    const want = await ref.embed([texts[1], texts[4], texts[7]]);
    assert.deepEqual(got, want);
    const jsonl = texts.slice(0, 3).map((t) => JSON.stringify({ id: t.length, body: t })).join('\n');
    const f = run(['embed', '-i', '-', '--field', 'body'], jsonl);
    assert.deepEqual(f.stdout.trimEnd().split('\n').map((l) => Float32Array.from(JSON.parse(l))), await ref.embed(texts.slice(0, 3)));
    const bad = run(['embed', '-i', '-', '--field', 'nope'], jsonl);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /line 1 has no string field "nope"/);
  });

  it('embed --format npy --output FILE writes a float32 matrix with its row count', async () => {
    const file = tmp('out.npy');
    const r = run(['embed', '--input', '-', '--format', 'npy', '--output', file, '--dimensions', '64'], 'a\nb c\nd e f\n');
    assert.equal(r.status, 0, r.stderr);
    const b = fs.readFileSync(file);
    assert.equal(b.subarray(0, 6).toString('latin1'), '\x93NUMPY');
    const hlen = b.readUInt16LE(8);
    const header = b.subarray(10, 10 + hlen).toString('latin1');
    assert.match(header, /'descr': '<f4'/);
    assert.match(header, /'shape': \(3, 64\)/);
    assert.equal((10 + hlen) % 64, 0);
    const data = new Float32Array(b.buffer.slice(b.byteOffset + 10 + hlen, b.byteOffset + b.length));
    const want = await ref.embed(['a', 'b c', 'd e f'], { truncateDim: 64 });
    assert.deepEqual(data, Float32Array.from(want.flatMap((v) => Array.from(v))));
    fs.rmSync(file);
  });

  it('embed --quantize: binary as a packed int8 .npy, int8 as JSONL integers from --calibration ranges (= quantizeEmbeddings)', async () => {
    const texts = ['a', 'b c', 'd e f'];
    const floats = await ref.embed(texts);
    const file = tmp('bin.npy');
    const r = run(['embed', '--input', '-', '--format', 'npy', '--output', file, '--quantize', 'binary'], texts.join('\n') + '\n');
    assert.equal(r.status, 0, r.stderr);
    const b = fs.readFileSync(file);
    const hlen = b.readUInt16LE(8);
    const header = b.subarray(10, 10 + hlen).toString('latin1');
    assert.match(header, /'descr': '\|i1'/);
    assert.match(header, /'shape': \(3, 48\)/);
    const want = quantizeEmbeddings(floats, 'binary');
    assert.deepEqual(new Int8Array(b.buffer.slice(b.byteOffset + 10 + hlen, b.byteOffset + b.length)), Int8Array.from(want.flatMap((v) => Array.from(v))));
    fs.rmSync(file);
    const cal = tmp('cal.txt');
    const calTexts = golden().sentences.slice(0, 20).map((s) => s.text);
    fs.writeFileSync(cal, calTexts.join('\n') + '\n');
    const q = run(['embed', '--input', '-', '--quantize', 'int8', '--calibration', cal], texts.join('\n') + '\n');
    assert.equal(q.status, 0, q.stderr);
    const wantInt8 = quantizeEmbeddings(floats, 'int8', { calibration: await ref.embed(calTexts) });
    assert.deepEqual(q.stdout.trim().split('\n').map((l) => JSON.parse(l)), wantInt8.map((v) => Array.from(v)));
    for (const bad of [['--quantize', 'int8'], ['--quantize', 'int4'], ['--quantize', 'binary', '--calibration', cal]]) {
      const e = run(['embed', 'x', ...bad], '');
      assert.equal(e.status, 2, bad.join(' '));
      assert.match(e.stderr, /--quantize|--calibration/);
    }
    fs.rmSync(cal);
  });

  it('embed --outputs dense,sparse,colbert writes one JSON object per line, equal to Embedder.encode', async () => {
    const dir = overlayDir(familyFixture('xlm-roberta').dir, path.join(root, 'tests', 'fixtures', 'outputs', 'm3'));
    const texts = ['a first line', 'and a second, longer one'];
    const r = run(['embed', '--model', dir, '--input', '-', '--outputs', 'dense,sparse,colbert'], texts.join('\n') + '\n');
    assert.equal(r.status, 0, r.stderr);
    const e = await Embedder.load(dir);
    const want = await e.encode(texts, { dense: true, sparse: true, colbert: true });
    await e.close();
    r.stdout.trim().split('\n').forEach((line, i) => {
      const o = JSON.parse(line);
      assert.deepEqual(Float32Array.from(o.dense), want.dense![i]);
      assert.deepEqual(o.sparse.indices, [...want.sparse![i].indices]);
      assert.deepEqual(Float32Array.from(o.sparse.values), want.sparse![i].values);
      assert.deepEqual(Float32Array.from(o.colbert.flat()), want.colbert![i].data);
    });
    for (const bad of [['--outputs', 'dense,vectors'], ['--outputs', 'sparse', '--format', 'npy', '-o', path.join(dir, 'x.npy')], ['--query']]) {
      const b = run(['embed', '--model', dir, 'x', ...bad], '');
      assert.equal(b.status, 2, bad.join(' '));
      assert.match(b.stderr, /--outputs|--query/);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('embed says when texts were cut, and --truncate error refuses them; bad usage exits 2', () => {
    const long = 'word '.repeat(400);
    const r = run(['embed', '--input', '-'], `short\n${long}\n`);
    assert.equal(r.status, 0);
    assert.match(r.stderr, /1 longer than 256 tokens, cut from the right/);
    const e = run(['embed', '--input', '-', '--truncate', 'error'], `short\n${long}\n`);
    assert.equal(e.status, 1);
    assert.match(e.stderr, /texts\[1\] has more than 256 tokens.*E_INPUT_TOO_LONG/);
    for (const args of [['embed', 'x', '--input', '-'], ['embed'], ['embed', 'x', '--shard', '3/3'], ['embed', '-i', '-', '--format', 'npy'], ['embed', 'x', '--truncate', 'middle'], ['serve', '--port', '65536']]) {
      const u = run(args, '');
      assert.equal(u.status, 2, `${args.join(' ')}: ${u.stderr}`);
    }
  });

  it('embed: an output it cannot write or an input it cannot read is an E_IO error, never a stack trace; a reader that leaves (| head) ends it quietly', async function () {
    const lines = Array.from({ length: 3000 }, (_, i) => `text number ${i}`).join('\n') + '\n';
    // a path that cannot be opened fails before the model loads; a full disk fails on a write
    for (const [out, want] of [[path.join(os.tmpdir(), 'no-such-dir-bertrt', 'x.jsonl'), /cannot write --output .*ENOENT.*\(E_IO\)/], [os.tmpdir(), /cannot write --output .*EISDIR.*\(E_IO\)/]] as const) {
      const r = run(['embed', '--input', '-', '--output', out], lines);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, want);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    }
    if (fs.existsSync('/dev/full')) {
      const r = run(['embed', '--input', '-', '--output', '/dev/full'], lines);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /cannot write the output: ENOSPC.*\(E_IO\)/);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    }
    // an input that cannot be read: E_IO too
    const d = run(['embed', '--input', os.tmpdir()]);
    assert.equal(d.status, 1, d.stderr);
    assert.match(d.stderr, /cannot read the input: EISDIR.*\(E_IO\)/);
    // standard output closed after the first bytes, as `| head -c 100` closes it: exit 0, nothing on stderr
    const child = spawn(process.execPath, [cli, 'embed', '--input', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    child.stdin.end(lines.repeat(4));
    const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    assert.equal(status, 0, stderr);
    assert.equal(stderr, '');
  });

  it('a terminal gets a progress bar on stderr (run in a pseudo-terminal); a pipe gets one summary line with true token counts', async function () {
    const texts = Array.from({ length: 300 }, (_, i) => `sentence ${i}: ${'many words here '.repeat(i % 40)}`);
    const file = tmp('tty-in.txt');
    fs.writeFileSync(file, texts.join('\n') + '\n');
    const piped = run(['embed', '--input', file, '--batch-lines', '32']);
    assert.equal(piped.status, 0, piped.stderr);
    // not a terminal: no bar, no control characters, one line; its token count is the tokenizer's (each text cut
    // to the model's 256 tokens, special tokens included)
    assert.doesNotMatch(piped.stderr, /[\r\x1b]/);
    const lines = piped.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, piped.stderr);
    const tokens = texts.reduce((n, t) => n + Math.min(256, ref.tokenizer.encode(t).ids.length), 0);
    assert.match(lines[0], new RegExp(`^bertrt: embedded 300 texts \\(${tokens} tokens\\) in [\\d.]+ s \\(\\d+ texts/s, \\d+ tokens/s\\)$`));
    // a terminal: script(1) runs the CLI with a pseudo-terminal as its stdin, stdout and stderr
    const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
    if (script.status !== 0) this.skip(); // util-linux's script(1) is not installed: no pseudo-terminal to run in
    const out = tmp('tty-out.jsonl');
    const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const tty = spawnSync('script', ['-qfec', [process.execPath, cli, 'embed', '--input', file, '--output', out, '--batch-lines', '32'].map(q).join(' '), '/dev/null'], { encoding: 'utf8' });
    assert.equal(tty.status, 0, tty.stdout);
    const screen = tty.stdout;
    assert.match(screen, /\x1b\[/); // the bar redraws itself in place
    const frames = [...screen.matchAll(/(\d+)% \| (\d+) texts \| (\d+) texts\/s \| (\d+) tokens\/s \| ETA/g)];
    assert.ok(frames.length >= 2, screen);
    const last = frames[frames.length - 1];
    assert.deepEqual([last[1], last[2]], ['100', '300']);
    assert.ok(Number(last[4]) > Number(last[3]), 'more tokens than texts per second');
    // the same vectors either way
    assert.equal(fs.readFileSync(out, 'utf8'), piped.stdout);
    fs.rmSync(file);
    fs.rmSync(out);
  });

  it('embed --input - streams 1 GB with flat memory: median RSS of the second half within 1.4x the first, peak under half the input', async function () {
    // 1 GiB of distinct ~100-byte lines written into the CLI's standard input as fast as it reads them; --shard
    // 0/2000 embeds every 2,000th so the run is about reading. The child's V8 heap is capped at 128 MB, so a leak
    // of JS objects would end it; RSS (native and external memory too) is sampled from /proc every 250 ms. A
    // reader that held its input would grow with it (twice as large at the end as at the half). Medians, not peaks:
    // the JS heap saws up and down by tens of MB between collections and the tokenizer's word cache fills (bounded,
    // 100,000 words), so the peak of a half is one lucky sample (a CI run saw 224 then 285 MB with nothing held);
    // medians here were 211-245 then 232-252 MB (at most 1.15x), peaks 228-267 then 243-280 MB. A reader that kept
    // the 64 KiB input chunk of each line it took (checked by planting it) ran at medians 357 then 572 MB (1.6x),
    // peak 649 MB.
    if (!fs.existsSync('/proc/self/status')) this.skip(); // RSS is read from /proc (Linux)
    const total = 1 << 30;
    const line = (i: number) => `line ${i} the quick brown fox jumps over the lazy dog and keeps running far away ${i % 9973}\n`;
    const out = tmp('big.jsonl');
    const child = spawn(process.execPath, ['--max-old-space-size=128', cli, 'embed', '--input', '-', '--shard', '0/2000', '--output', out], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const samples: number[] = [];
    const timer = setInterval(() => {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) samples.push(Number(m[1]) / 1024);
    }, 250);
    let written = 0;
    let n = 0;
    const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    while (written < total) {
      let chunk = '';
      for (let k = 0; k < 2000; k++) chunk += line(n++);
      written += chunk.length;
      if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
    }
    child.stdin.end();
    const code = await done;
    clearInterval(timer);
    assert.equal(code, 0, stderr);
    const got = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
    assert.equal(got.length, Math.ceil(n / 2000));
    const want = await ref.embed([line(0).trimEnd(), line(2000 * (got.length - 1)).trimEnd()]);
    assert.deepEqual(Float32Array.from(JSON.parse(got[0])), want[0]);
    assert.deepEqual(Float32Array.from(JSON.parse(got[got.length - 1])), want[1]);
    assert.ok(samples.length >= 20, 'the run lasted long enough to sample');
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
    const half = Math.floor(samples.length / 2);
    const first = median(samples.slice(Math.floor(samples.length / 10), half)); // past the model's loading
    const second = median(samples.slice(half));
    const peak = Math.max(...samples);
    console.log(`      1 GiB through stdin: ${samples.length} RSS samples, median ${first.toFixed(0)} MB in the first half, ${second.toFixed(0)} MB in the second, peak ${peak.toFixed(0)} MB`);
    assert.ok(second <= first * 1.4, `RSS grew from ${first.toFixed(0)} to ${second.toFixed(0)} MB`);
    assert.ok(peak < 512, `RSS peaked at ${peak.toFixed(0)} MB`);
    fs.rmSync(out);
  });

  it('embed --input: CRLF line ends, a last line without one, empty lines, and a line over the 64 MiB bound refused', async () => {
    const r = run(['embed', '--input', '-'], 'alpha\r\nbeta\n\ngamma');
    assert.equal(r.status, 0, r.stderr);
    const got = r.stdout.trimEnd().split('\n').map((l) => Float32Array.from(JSON.parse(l)));
    assert.deepEqual(got, await ref.embed(['alpha', 'beta', '', 'gamma']));
    const big = run(['embed', '--input', '-', '--shard', '1/2'], 'a\n' + 'x'.repeat(64 * 1024 * 1024 + 10));
    assert.equal(big.status, 2);
    assert.match(big.stderr, /input line 2 is longer than 67108864 bytes/);
  });
});
