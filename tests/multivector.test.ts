// bge-m3's three outputs and ColBERT vectors against their Python references (tools/make_multivector_fixtures.py):
// FlagEmbedding 1.4's BGEM3FlagModel.encode on a seeded XLM-R (200 inputs) and on the real multilingual-e5-small (40
// corpus lines) with seeded bge-m3 heads; pylate 1.6's ColBERT on the embedded MiniLM with a seeded Dense (200
// documents, 60 queries). Tolerances: dense and ColBERT vectors cosine >= 0.99999 (FP32 against FP32 on the same
// weights; only the order of the sums differs), sparse weights the same ids and values within 1e-5 relative, 1e-5
// absolute below 1 (a weight is a dot product of O(1) terms: its error follows the terms, not the result; measured
// 3.4e-6 on the seeded model, whose hidden states are large), maxSim scores within 1e-5 relative to their size (a sum of up to 32 dot products of unit vectors).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError, Embedder, maxSim, type MultiVector } from '../lib';
import { Encoder } from '../lib/model/engine';
import { halfToFloat } from '../lib/model/safetensors';
import { cosine, defaultModel, f32, familyFixture, maxAbsDiff, overlayDir, readFixture, root } from './helpers/fixtures';

const FIX = path.join(root, 'tests', 'fixtures', 'outputs');
const MODELS = process.env.BERTRT_REAL_MODELS ?? path.join(root, '.scratch', 'real-models');

function f16(b64: string): Float32Array {
  const b = Buffer.from(b64, 'base64');
  return Float32Array.from({ length: b.length / 2 }, (_, i) => halfToFloat(b.readUInt16LE(2 * i)));
}

/** Each row's cosine to the reference's row, and the row counts equal. */
function sameVectors(got: MultiVector, want: Float32Array, rows: number, what: string): void {
  assert.equal(got.rows, rows, `${what}: rows`);
  assert.equal(got.data.length, want.length, `${what}: floats`);
  for (let r = 0; r < rows; r++) {
    const c = cosine(got.data.subarray(r * got.dim, (r + 1) * got.dim), want.subarray(r * got.dim, (r + 1) * got.dim));
    assert.ok(c >= 0.99999, `${what} row ${r}: cosine ${c}`);
  }
}

interface M3Text {
  text: string;
  dense: string;
  sparse_ids: number[];
  sparse_values: string;
  colbert_rows: number;
  colbert?: string;
  colbert_score_next?: number;
}

function checkM3(name: string, dir: () => string): void {
  let e: Embedder;
  let fx: { texts: M3Text[] };
  before(async () => {
    fx = readFixture(path.join(FIX, `${name}.json.br`));
    e = await Embedder.load(dir());
  });
  after(() => e?.close());

  it('dense, sparse and ColBERT from one pass equal FlagEmbedding, and each alone equals them too', async () => {
    const texts = fx.texts.map((t) => t.text);
    assert.deepEqual(e.outputs, ['dense', 'sparse', 'colbert']);
    const out = await e.encode(texts, { dense: true, sparse: true, colbert: true });
    let worst = 1;
    fx.texts.forEach((t, i) => {
      const c = cosine(out.dense![i], f32(t.dense));
      worst = Math.min(worst, c);
      assert.ok(c >= 0.99999, `texts[${i}] dense cosine ${c}`);
      const sp = out.sparse![i];
      assert.deepEqual([...sp.indices], t.sparse_ids, `texts[${i}] sparse ids`);
      const want = f32(t.sparse_values);
      sp.values.forEach((v, k) => assert.ok(Math.abs(v - want[k]) <= 1e-5 * Math.max(Math.abs(want[k]), 1), `texts[${i}] sparse id ${sp.indices[k]}: ${v} vs ${want[k]}`));
      assert.equal(out.colbert![i].rows, t.colbert_rows, `texts[${i}] ColBERT rows`);
      if (t.colbert) sameVectors(out.colbert![i], f32(t.colbert), t.colbert_rows, `texts[${i}] ColBERT`);
      if (t.colbert_score_next !== undefined) {
        // M3's colbert_score: maxSim divided by the query's rows
        const s = maxSim(out.colbert![i], out.colbert![i + 1]) / out.colbert![i].rows;
        assert.ok(Math.abs(s - t.colbert_score_next) <= 1e-5, `texts[${i}] colbert_score ${s} vs ${t.colbert_score_next}`);
      }
    });
    assert.ok(worst >= 0.99999);
    // the outputs asked for one at a time are the same numbers (the pass is shared, nothing else)
    const some = texts.slice(0, 24);
    const [d, s, c] = await Promise.all([e.encode(some), e.encode(some, { dense: false, sparse: true }), e.embedMultiVector(some)]);
    const dense = await e.embed(some);
    some.forEach((_, i) => {
      assert.deepEqual(d.dense![i], out.dense![i]);
      assert.deepEqual(dense[i], out.dense![i]);
      assert.deepEqual(s.sparse![i], out.sparse![i]);
      assert.deepEqual(c[i], out.colbert![i]);
    });
  });

  it('topK and threshold select among the sparse weights; bad options are refused by name', async () => {
    const texts = fx.texts.slice(0, 20).map((t) => t.text);
    const all = (await e.encode(texts, { dense: false, sparse: true })).sparse!;
    const top = (await e.encode(texts, { dense: false, sparse: true, topK: 3, threshold: 0.01 })).sparse!;
    all.forEach((v, i) => {
      const want = [...v.indices].map((id, k) => [id, v.values[k]] as const).filter(([, x]) => x > 0.01).sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 3).sort((a, b) => a[0] - b[0]);
      assert.deepEqual([...top[i].indices], want.map(([id]) => id), `texts[${i}]`);
    });
    await assert.rejects(e.encode(texts, { dense: false, sparse: true, topK: 0 }), (err: BertrtError) => err.code === 'E_INVALID_ARGUMENT' && /topK/.test(err.message));
    await assert.rejects(e.encode(texts, { dense: false }), (err: BertrtError) => err.code === 'E_INVALID_ARGUMENT' && /at least one/.test(err.message));
    await assert.rejects(e.encode(texts, { colbert: 'yes' as unknown as boolean }), (err: BertrtError) => err.code === 'E_INVALID_ARGUMENT' && /colbert/.test(err.message));
  });
}

describe('multi-vector outputs', function () {
  this.timeout(300_000);

  describe('bge-m3 heads on a seeded XLM-R vs FlagEmbedding (200 inputs)', () => {
    checkM3('m3', () => overlayDir(familyFixture('xlm-roberta').dir, path.join(FIX, 'm3')));
  });

  describe('bge-m3 heads on the real multilingual-e5-small vs FlagEmbedding (40 texts)', function () {
    const e5 = path.join(MODELS, 'multilingual-e5-small');
    before(function () {
      if (!fs.existsSync(path.join(e5, 'model.safetensors'))) this.skip(); // tools/fetch_real_models.sh
    });
    checkM3('m3-e5', () => overlayDir(e5, path.join(FIX, 'm3-e5')));
  });

  describe('pylate ColBERT on the embedded MiniLM (200 documents, 60 queries)', () => {
    let e: Embedder;
    let fx: { documents: Array<{ text: string; rows: number; vectors16?: string }>; queries: Array<{ text: string; rows: number; vectors16?: string }>; scores: string };
    before(async () => {
      fx = readFixture(path.join(FIX, 'colbert.json.br'));
      e = await Embedder.load(overlayDir(defaultModel, path.join(FIX, 'colbert')));
    });
    after(() => e?.close());

    it('document and query vectors equal pylate, query [MASK] expansion included; maxSim equals its scores (60 × 60)', async () => {
      assert.deepEqual(e.outputs, ['colbert']);
      const docs = await e.embedMultiVector(fx.documents.map((d) => d.text));
      const queries = await e.embedMultiVector(fx.queries.map((q) => q.text), { isQuery: true });
      fx.documents.forEach((d, i) => {
        assert.equal(docs[i].rows, d.rows, `documents[${i}] rows (skip-list, 180-token limit)`);
        assert.equal(docs[i].dim, 128);
        if (d.vectors16) sameVectors(docs[i], f16(d.vectors16), d.rows, `documents[${i}]`);
      });
      fx.queries.forEach((q, i) => {
        assert.equal(queries[i].rows, 32, `queries[${i}]: expanded to query_length`);
        if (q.vectors16) sameVectors(queries[i], f16(q.vectors16), q.rows, `queries[${i}]`);
      });
      const want = f32(fx.scores);
      let worst = 0;
      // every query against the first 60 documents (maxSim runs in JavaScript: all 12,000 pairs take ~10 s)
      for (let qi = 0; qi < queries.length; qi++)
        for (let di = 0; di < 60; di++) {
          const w = want[qi * 60 + di];
          const err = Math.abs(maxSim(queries[qi], docs[di]) - w) / Math.max(1, Math.abs(w));
          worst = Math.max(worst, err);
        }
      assert.ok(worst <= 1e-5, `maxSim worst relative error ${worst}`);
    });

    it('a ColBERT model has no dense output, and maxSim refuses vectors of two widths', async () => {
      await assert.rejects(e.encode(['x']), (err: BertrtError) => err.code === 'E_UNSUPPORTED' && /dense/.test(err.message));
      assert.throws(() => maxSim({ data: new Float32Array(4), rows: 1, dim: 4 }, { data: new Float32Array(3), rows: 1, dim: 3 }), (err: BertrtError) => err.code === 'E_SHAPE');
    });
  });

  it("token vectors equal sentence-transformers' token_embeddings on 200 texts (max abs <= 1e-5)", async () => {
    // every token through 2 random unit directions (a projection error <= the vector's max-abs error times the
    // direction's L1 norm, ~16 here: bound 1.6e-4), and whole vectors for every hundredth text; the embedded model's
    // F16 weights are the same for both, the sums' order is what differs
    const fx = readFixture(path.join(FIX, 'tokens.json.br')) as { directions: string; texts: Array<{ text: string; rows: number; proj: string; vectors?: string }> };
    const e = await Embedder.load();
    try {
      const dirs = f32(fx.directions);
      const H = 384;
      const l1 = Math.max(...[0, 1].map((d) => dirs.subarray(d * H, (d + 1) * H).reduce((a, x) => a + Math.abs(x), 0)));
      const got = await e.embed(fx.texts.map((t) => t.text), { pooling: 'none' });
      let worstVec = 0, worstProj = 0;
      fx.texts.forEach((t, i) => {
        assert.equal(got[i].length, t.rows * H, `texts[${i}] rows`);
        const proj = f32(t.proj);
        for (let r = 0; r < t.rows; r++)
          for (let d = 0; d < 2; d++) {
            let p = 0;
            for (let k = 0; k < H; k++) p += got[i][r * H + k] * dirs[d * H + k];
            worstProj = Math.max(worstProj, Math.abs(p - proj[r * 2 + d]));
          }
        if (t.vectors) worstVec = Math.max(worstVec, maxAbsDiff(got[i], f32(t.vectors)));
      });
      assert.ok(worstVec <= 1e-5, `token vectors: max abs ${worstVec}`);
      assert.ok(worstProj <= 1e-5 * l1, `projections: max abs ${worstProj} (bound ${1e-5 * l1})`);
    } finally {
      await e.close();
    }
  });

  it('keyLens: tokens past a sequence\'s keys change nothing before them, in FP32, BF16 and INT8 (bit for bit)', async () => {
    const ids = Int32Array.of(101, 2023, 2003, 1037, 3231, 102, 103, 103, 103, 103, 101, 7592, 102);
    for (const precision of ['fp32', 'bf16', 'int8'] as const) {
      const enc = await Encoder.load(defaultModel, { precision });
      try {
        const H = enc.hiddenSize;
        // two sequences: 10 tokens with 6 keys, then 3 tokens all keys
        const masked = await enc.run({ ids, typeIds: new Int32Array(13), cuSeqlens: Int32Array.of(0, 10, 13), keyLens: Int32Array.of(6, 3) });
        const alone = await enc.run({ ids: Int32Array.of(...ids.subarray(0, 6), ...ids.subarray(10)), typeIds: new Int32Array(9), cuSeqlens: Int32Array.of(0, 6, 9) });
        assert.deepEqual(masked.subarray(0, 6 * H), alone.subarray(0, 6 * H), precision);
        assert.deepEqual(masked.subarray(10 * H), alone.subarray(6 * H), precision);
        const open = await enc.run({ ids, typeIds: new Int32Array(13), cuSeqlens: Int32Array.of(0, 10, 13) });
        assert.ok(cosine(open.subarray(0, H), masked.subarray(0, H)) < 0.9999, `${precision}: without keyLens the [MASK] tokens are attended to`);
        await assert.rejects(enc.run({ ids, typeIds: null, cuSeqlens: Int32Array.of(0, 10, 13), keyLens: Int32Array.of(11, 3) }), (err: BertrtError) => err.code === 'E_INVALID_ARGUMENT' && /keyLens/.test(err.message));
      } finally {
        enc.close();
      }
    }
  });

  it('the embedded MiniLM has only a dense output: asking for sparse or ColBERT is E_UNSUPPORTED', async () => {
    const e = await Embedder.load();
    try {
      assert.deepEqual(e.outputs, ['dense']);
      await assert.rejects(e.encode(['x'], { colbert: true }), (err: BertrtError) => err.code === 'E_UNSUPPORTED' && /colbert/.test(err.message));
      await assert.rejects(e.encode(['x'], { sparse: true }), (err: BertrtError) => err.code === 'E_UNSUPPORTED' && /sparse/.test(err.message));
    } finally {
      await e.close();
    }
  });
});
