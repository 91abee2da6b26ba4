// The CLI as a user runs it (compiled dist/cli.js in a child process).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cosine, f32, golden, root } from './helpers/fixtures';

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

  it('embed --input FILE streams 20,000 lines to JSONL in input order, the same vectors as the API', async () => {
    const texts = Array.from({ length: 20_000 }, (_, i) => `line ${i}`);
    const file = tmp('in.txt');
    fs.writeFileSync(file, texts.join('\n') + '\n');
    const r = run(['embed', '--input', file, '--batch-lines', '512']);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.trimEnd().split('\n');
    assert.equal(out.length, 20_000);
    assert.match(r.stderr, /embedded 20000 texts/);
    const pick = [0, 1, 777, 19_999];
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

  it('embed says when texts were cut, and --truncate error refuses them; bad usage exits 2', () => {
    const long = 'word '.repeat(400);
    const r = run(['embed', '--input', '-'], `short\n${long}\n`);
    assert.equal(r.status, 0);
    assert.match(r.stderr, /1 longer than 256 tokens, cut from the right/);
    const e = run(['embed', '--input', '-', '--truncate', 'error'], `short\n${long}\n`);
    assert.equal(e.status, 1);
    assert.match(e.stderr, /texts\[1\] has more than 256 tokens.*E_INPUT_TOO_LONG/);
    for (const args of [['embed', 'x', '--input', '-'], ['embed'], ['embed', 'x', '--shard', '3/3'], ['embed', '-i', '-', '--format', 'npy'], ['embed', 'x', '--truncate', 'middle']]) {
      const u = run(args, '');
      assert.equal(u.status, 2, `${args.join(' ')}: ${u.stderr}`);
    }
  });
});
