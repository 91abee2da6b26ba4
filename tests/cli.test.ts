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
