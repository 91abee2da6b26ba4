// The embedded all-MiniLM-L6-v2 against HF transformers + sentence-transformers (tools/make_golden.py):
// 200 sentences, token ids exact, embeddings within stated tolerances.
import assert from 'node:assert/strict';
import { Embedder, Encoder } from '../lib';
import { cosine, defaultModel, f32, golden, maxAbsDiff } from './helpers/fixtures';

// FP32 engine vs PyTorch FP32 on identical weights: the two differ only in summation order and in the erf/exp
// approximations (<= 2e-7 relative), which gives ~4e-7 on unit vectors. 1e-5 is the goal; we assert it.
const TOL_NORMALIZED = 1e-5;
// Unnormalized pooled vectors have norms up to ~8, so the same relative error is a few 1e-6 absolute.
const TOL_POOLED = 2e-5;
const MIN_COSINE = 0.99999;

describe('golden parity: all-MiniLM-L6-v2 vs sentence-transformers', function () {
  const g = golden();
  let e: Embedder;
  before(async () => {
    e = await Embedder.load();
  });
  after(async () => e.close());

  it('has at least 200 reference sentences', () => assert.ok(g.sentences.length >= 200));

  it('token ids equal HF tokenizers (truncated at max_seq_length) on every sentence', () => {
    assert.equal(e.maxSeqLength, g.max_seq_length);
    const bad = g.sentences.filter((s) => {
      const ids = Array.from(e.tokenizer.encode(s.text, null, { maxLength: e.maxSeqLength }).ids);
      return JSON.stringify(ids) !== JSON.stringify(s.ids);
    });
    assert.deepEqual(bad.map((s) => s.text), []);
  });

  it(`normalized embeddings within ${TOL_NORMALIZED} max-abs, cosine >= ${MIN_COSINE}`, async () => {
    const vecs = await e.embed(g.sentences.map((s) => s.text));
    let worst = 0;
    g.sentences.forEach((s, i) => {
      const ref = f32(s.embedding);
      const d = maxAbsDiff(vecs[i], ref);
      worst = Math.max(worst, d);
      assert.ok(d <= TOL_NORMALIZED, `sentence ${i} ${JSON.stringify(s.text.slice(0, 40))}: max-abs ${d}`);
      assert.ok(cosine(vecs[i], ref) >= MIN_COSINE, `sentence ${i}: cosine ${cosine(vecs[i], ref)}`);
    });
    console.log(`      worst max-abs difference: ${worst.toExponential(2)}`);
  });

  it(`unnormalized (pooled) embeddings within ${TOL_POOLED} max-abs`, async () => {
    const vecs = await e.embed(g.sentences.map((s) => s.text), { normalize: false });
    g.sentences.forEach((s, i) => {
      const d = maxAbsDiff(vecs[i], f32(s.pooled));
      assert.ok(d <= TOL_POOLED, `sentence ${i}: max-abs ${d}`);
    });
  });

  it("reproduces sentence-transformers' published quickstart similarities within F16 rounding (5e-4)", async () => {
    const q = g.quickstart_similarity;
    const v = await e.embed(q.texts);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const sim = cosine(v[i], v[j]);
        assert.ok(Math.abs(sim - q.published[i][j]) <= 5e-4, `sim[${i}][${j}] = ${sim}, published ${q.published[i][j]}`);
      }
    }
  });
});

describe('an F16 checkpoint keeps its GEMM weights in 16 bits (FP32 precision)', function () {
  // The embedded model is stored in F16: every weight is an exact half, widened in the GEMM exactly, so the engine's
  // hidden states must equal those of FP32 panels (BERTRT_F16_WEIGHTS=0, read at load) bit for bit, on batches of
  // one sentence (halves widened in the micro-kernel) and of many (widened once per K block).
  const g = golden();
  let e16: Encoder;
  let e32: Encoder;
  before(async () => {
    process.env.BERTRT_F16_WEIGHTS = '0';
    try {
      e32 = await Encoder.load(defaultModel, { threads: 2 });
    } finally {
      delete process.env.BERTRT_F16_WEIGHTS;
    }
    e16 = await Encoder.load(defaultModel, { threads: 2 });
  });
  after(() => {
    e16.close();
    e32.close();
  });

  it("holds the word table and the layers' Q/K/V, attention-out and FFN weights in 2 bytes each instead of 4", () => {
    const c = e16.config;
    const perLayer = c.hiddenSize * (4 * c.hiddenSize + 2 * c.intermediateSize);  // panels of 16 or 32 columns: no padding at MiniLM's widths
    assert.equal(e32.weightBytes! - e16.weightBytes!, 2 * (c.numHiddenLayers * perLayer + c.vocabSize * c.hiddenSize));
  });

  it('gives hidden states bit-identical to FP32 panels (1, 3 and 200 sentences)', async () => {
    for (const n of [1, 3, 200]) {
      const encs = g.sentences.slice(0, n).map((s) => s.ids);
      const cu = new Int32Array(n + 1);
      encs.forEach((ids, i) => (cu[i + 1] = cu[i] + ids.length));
      const batch = { ids: Int32Array.from(encs.flat()), typeIds: null, cuSeqlens: cu };
      const [a, b] = [await e16.run(batch), await e32.run(batch)];
      assert.equal(a.length, cu[n] * e16.hiddenSize);
      assert.ok(same(a, b), `${n} sentences differ`);
    }
  });

  it('gives the same logits over the half word table (the tied MLM decoder, 1 and 40 rows)', async () => {
    for (const rows of [1, 40]) {
      const x = await e32.run({ ids: Int32Array.from(g.sentences.flatMap((s) => s.ids).slice(0, rows)), typeIds: null, cuSeqlens: Int32Array.of(0, rows) });
      const bias = Float32Array.from({ length: e16.config.vocabSize }, (_, i) => Math.sin(i));
      const [a, b] = [await e16.vocabLogits(x, bias), await e32.vocabLogits(x, bias)];
      assert.equal(a.length, rows * e16.config.vocabSize);
      assert.ok(same(a, b), `${rows} rows differ`);
    }
  });

  const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
});
