// The CLI as a user runs it (compiled dist/cli.js in a child process).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
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

  it('a missing model directory exits 1 with the error code on stderr', () => {
    const r = spawnSync(process.execPath, [cli, 'embed', '--model', '/nonexistent', 'x'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /E_MODEL_NOT_FOUND/);
    assert.equal(r.stdout, '');
  });
});
