// The server's dynamic batcher on a stand-in engine whose runs finish when the test says: which requests form which
// batch, how many batches are handed to the engine at once (one on the CPU; on a GPU a second one only when full), and
// that every request gets its own rows back whatever the order its batches finish in.
import assert from 'node:assert/strict';
import { Batcher } from '../lib/server/batcher';
import { createMetrics } from '../lib/server/metrics';
import type { Encoder } from '../lib/model/engine';
import type { Encoding } from '../lib/tokenizer/tokenizer';
import type { PackedBatch } from '../lib/batch';

const H = 2;

// An engine whose run(batch) resolves when release() is called: hidden state row t is [first id of its token, t].
function fakeEngine() {
  const runs: Array<{ batch: PackedBatch; release: () => void }> = [];
  const encoder = {
    hiddenSize: H,
    pooled: false,
    takesTokenTypes: false,
    run(batch: PackedBatch): Promise<Float32Array> {
      return new Promise((resolve) => {
        const out = new Float32Array(batch.ids.length * H);
        for (let t = 0; t < batch.ids.length; t++) out.set([batch.ids[t], t], t * H);
        runs.push({ batch, release: () => resolve(out) });
      });
    },
  };
  return { encoder: encoder as unknown as Encoder, runs };
}

// a request of n tokens, every id `id`
const request = (id: number, n: number): Encoding[] => [{ ids: Int32Array.from({ length: n }, () => id) } as unknown as Encoding];
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('batcher', () => {
  it('one batch at a time by default: what arrives meanwhile forms the next batch', async () => {
    const { encoder, runs } = fakeEngine();
    const b = new Batcher(encoder, { maxBatchTokens: 8, maxBatchRequests: 64, maxWaitMs: 0, maxQueue: 100 }, createMetrics(), 'm');
    const first = b.submit(request(1, 4));
    await tick();
    assert.equal(runs.length, 1);
    // two full batches' worth arrives while the first runs: none starts before it ends
    const rest = [b.submit(request(2, 4)), b.submit(request(3, 4)), b.submit(request(4, 4)), b.submit(request(5, 4))];
    await tick();
    assert.equal(runs.length, 1);
    assert.equal(b.inFlight, 1);
    runs[0].release();
    await first;
    await tick();
    assert.equal(runs.length, 2, 'the next batch starts when the engine is free');
    assert.deepEqual(Array.from(runs[1].batch.ids), [2, 2, 2, 2, 3, 3, 3, 3], 'it takes as many requests as fit its 8 tokens');
    runs[1].release();
    await tick();
    runs[2].release();
    const rows = await Promise.all(rest);
    rows.forEach((r, i) => assert.equal(r[0][0], i + 2));
  });

  it('maxInFlight 2: a full batch goes to the engine while one runs, a partial one waits for it; answers stay matched', async () => {
    const { encoder, runs } = fakeEngine();
    const b = new Batcher(encoder, { maxBatchTokens: 8, maxBatchRequests: 64, maxWaitMs: 0, maxQueue: 100, maxInFlight: 2 }, createMetrics(), 'm');
    const a = b.submit(request(1, 8));
    await tick();
    assert.equal(runs.length, 1);
    const partial = b.submit(request(2, 3));
    await tick();
    assert.equal(runs.length, 1, 'a partial batch does not take the second slot');
    const fill = b.submit(request(3, 5)); // 3 + 5 = 8 tokens: full
    await tick();
    assert.equal(runs.length, 2, 'the full batch is handed over while the first still runs');
    assert.equal(b.inFlight, 2);
    assert.deepEqual(Array.from(runs[1].batch.cuSeqlens), [0, 3, 8]);
    const third = b.submit(request(4, 8));
    await tick();
    assert.equal(runs.length, 2, 'never more than maxInFlight');
    // the second batch finishes first: each request still gets its own rows
    runs[1].release();
    const [p, f] = await Promise.all([partial, fill]);
    assert.deepEqual(Array.from(p[0]), [2, 0, 2, 1, 2, 2]);
    assert.deepEqual(Array.from(f[0].subarray(0, 2)), [3, 3]);
    await tick();
    assert.equal(runs.length, 3, 'the freed slot takes the full batch that waited');
    runs[0].release();
    runs[2].release();
    assert.equal((await a)[0][0], 1);
    assert.equal((await third)[0][0], 4);
    assert.equal(b.inFlight, 0);
  });

  it('an idle engine takes a lone request at once with maxWaitMs 0, and only after the wait otherwise', async () => {
    const { encoder, runs } = fakeEngine();
    const now = new Batcher(encoder, { maxBatchTokens: 8, maxBatchRequests: 64, maxWaitMs: 0, maxQueue: 100 }, createMetrics(), 'm');
    const a = now.submit(request(1, 2));
    assert.equal(runs.length, 1, 'handed to the engine in the same turn, no timer');
    runs[0].release();
    await a;
    const later = new Batcher(encoder, { maxBatchTokens: 8, maxBatchRequests: 64, maxWaitMs: 40, maxQueue: 100 }, createMetrics(), 'm');
    const b = later.submit(request(2, 2));
    await tick();
    assert.equal(runs.length, 1, 'a 40 ms wait: still waiting for company');
    const c = later.submit(request(3, 2));
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(runs.length, 2, 'after the wait: one batch with both');
    assert.deepEqual(Array.from(runs[1].batch.ids), [2, 2, 3, 3]);
    runs[1].release();
    await Promise.all([b, c]);
  });
});
