// Task heads against HF transformers' pipelines (tools/make_head_models.py: seeded tiny BERT models with real
// heads and configs): equal labels, tokens, words and spans, scores within 1e-4.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError, Embedder, pipeline } from '../lib';
import { golden, readFixture, root, sameEntities, toUtf16 } from './helpers/fixtures';

const dir = path.join(root, 'tests', 'fixtures', 'heads');
const expected = readFixture(path.join(dir, 'expected.json.br'));
const TOL = 1e-4; // FP32 engine vs PyTorch FP32 on the same weights: ~1e-6 seen; 1e-4 is the bound

function close(a: number, b: number, what: string) {
  assert.ok(Math.abs(a - b) <= TOL, `${what}: ${a} vs ${b}`);
}

describe('task heads vs HF pipelines', function () {
  it('text-classification (softmax): labels in order, scores, top-k and pairs', async () => {
    const p = await pipeline('text-classification', path.join(dir, 'classifier'));
    const texts: string[] = expected.texts;
    const all = (await p(texts, { topK: null })) as Array<Array<{ label: string; score: number }>>;
    all.forEach((r, i) => {
      assert.deepEqual(r.map((x) => x.label), expected.classifier.single[i].map((x: any) => x.label), texts[i]);
      r.forEach((x, j) => close(x.score, expected.classifier.single[i][j].score, texts[i]));
    });
    const top2 = (await p(texts, { topK: 2 })) as Array<Array<{ label: string; score: number }>>;
    top2.forEach((r, i) => assert.deepEqual(r.map((x) => x.label), expected.classifier.top2[i].map((x: any) => x.label)));
    const pairs = (await p(
      expected.pairs.map(([a, b]: [string, string]) => ({ text: a, text_pair: b })),
      { topK: null },
    )) as Array<Array<{ label: string; score: number }>>;
    pairs.forEach((r, i) => r.forEach((x, j) => {
      assert.equal(x.label, expected.classifier.pairs[i][j].label);
      close(x.score, expected.classifier.pairs[i][j].score, 'pair');
    }));
    const one = await p('The weather is lovely today.');
    assert.equal((one as Array<{ label: string }>).length, 1);
    await p.dispose();
  });

  it('text-classification (multi_label_classification): sigmoid scores', async () => {
    const p = await pipeline('text-classification', path.join(dir, 'multilabel'));
    const r = (await p(expected.texts, { topK: null })) as Array<Array<{ label: string; score: number }>>;
    r.forEach((x, i) => x.forEach((y, j) => {
      assert.equal(y.label, expected.multilabel.single[i][j].label);
      close(y.score, expected.multilabel.single[i][j].score, 'multilabel');
    }));
    await p.dispose();
  });

  for (const agg of ['none', 'simple', 'first', 'average', 'max'] as const) {
    it(`token-classification, aggregation ${agg}: entities, words, spans and scores`, async () => {
      const p = await pipeline('token-classification', path.join(dir, 'ner'));
      const texts: string[] = expected.texts;
      const r = (await p(texts, { aggregationStrategy: agg, ignoreLabels: [] })) as any[][];
      r.forEach((ents, i) => {
        sameEntities(ents, expected.ner[agg][i], texts[i], agg === 'none');
      });
      await p.dispose();
    });
  }

  it('fill-mask: top-5 tokens, strings, sequences and scores; targets', async () => {
    const p = await pipeline('fill-mask', path.join(dir, 'mlm'));
    for (const [i, text] of (expected.mlm.texts as string[]).entries()) {
      const r = (await p(text, { topK: 5 })) as Array<{ token: number; token_str: string; sequence: string; score: number }>;
      assert.deepEqual(r.map((x) => x.token), expected.mlm.top5[i].map((x: any) => x.token), text);
      r.forEach((x, j) => {
        assert.equal(x.token_str, expected.mlm.top5[i][j].token_str);
        assert.equal(x.sequence, expected.mlm.top5[i][j].sequence);
        close(x.score, expected.mlm.top5[i][j].score, text);
      });
      const t = (await p(text, { targets: ['Paris', 'the', 'is'] })) as Array<{ token: number; score: number }>;
      assert.deepEqual(t.map((x) => x.token), expected.mlm.targets[i].map((x: any) => x.token));
      t.forEach((x, j) => close(x.score, expected.mlm.targets[i][j].score, 'target'));
      // targets naming one token twice score it once (HF de-duplicates them, with a warning)
      const twice = (await p(text, { targets: ['Paris', 'the', 'is', 'the'] })) as Array<{ token: number; score: number }>;
      assert.deepEqual(twice.map((x) => x.token), t.map((x) => x.token));
    }
    await assert.rejects(p('no mask here'), { code: 'E_INVALID_ARGUMENT' });
    for (const k of [0, -1, 1.5, Number.NaN]) await assert.rejects(p('a [MASK]', { topK: k }), { code: 'E_INVALID_ARGUMENT' }, String(k));
    // several masks: one list per mask, each sequence decoded with the special tokens kept so that the other masks
    // show, as HF's pipeline writes them (transformers 5.25 on this model, top_k=2: "[CLS] a 픜 and [MASK]. [SEP]", ...)
    const two = (await p('a [MASK] and [MASK].', { topK: 2 })) as Array<Array<{ token: number; sequence: string }>>;
    assert.deepEqual(two.map((r) => r.map((x) => x.token)), [[4080, 7138], [7138, 4080]]);
    assert.deepEqual(two.map((r) => r.map((x) => x.sequence)), [
      ['[CLS] a 픜 and [MASK]. [SEP]', '[CLS] a섹 and [MASK]. [SEP]'],
      ['[CLS] a [MASK] and섹. [SEP]', '[CLS] a [MASK] and 픜. [SEP]'],
    ]);
    await p.dispose();
  });

  it('rerank with a one-logit cross-encoder uses sigmoid (not softmax), sorted, topN and rawScores', async () => {
    const p = await pipeline('rerank', path.join(dir, 'reranker'));
    const { query, documents, scores, logits } = expected.reranker;
    const r = await p(query, documents, { returnDocuments: true });
    const order = [...scores.keys()].sort((a: number, b: number) => scores[b] - scores[a]);
    assert.deepEqual(r.map((x) => x.index), order);
    r.forEach((x) => {
      close(x.score, scores[x.index], 'rerank');
      assert.equal(x.text, documents[x.index]);
    });
    assert.ok(r.some((x) => x.score < 0.9), 'scores are not all 1.0');
    const raw = await p(query, documents, { rawScores: true, topN: 2 });
    assert.equal(raw.length, 2);
    close(raw[0].score, logits[raw[0].index], 'raw logit');
    assert.deepEqual(await p(query, []), []);
    await p.dispose();
  });

  it('a task whose head weights are missing is refused when the pipeline is made, with E_MODEL_FORMAT naming the tensors', async () => {
    await assert.rejects(pipeline('fill-mask', path.join(dir, 'classifier')), (e: unknown) => {
      assert.ok(e instanceof BertrtError);
      assert.equal(e.code, 'E_MODEL_FORMAT');
      assert.match(e.message, /cls\.predictions\.transform\.dense\.weight/);
      return true;
    });
    await assert.rejects(pipeline('text-classification', path.join(dir, 'mlm')), /pooler\.dense\.weight|classifier\.weight/);
    await assert.rejects(pipeline('ner', path.join(dir, 'mlm')), /classifier\.weight/);
    await assert.rejects(pipeline('rerank', path.join(dir, 'mlm')), /classifier\.weight/);
  });

  it('feature-extraction is the Embedder, with a Tensor-like result (data, dims, type, tolist)', async () => {
    const p = await pipeline('feature-extraction');
    const e = await Embedder.load();
    const r = await p(['hello', 'a second text']);
    const want = await e.embed(['hello', 'a second text']);
    assert.deepEqual([...r], want);
    assert.deepEqual(r.dims, [2, 384]);
    assert.equal(r.type, 'float32');
    assert.deepEqual(r.data, Float32Array.from([...want[0], ...want[1]]));
    assert.deepEqual(r.tolist(), want.map((v) => Array.from(v)));
    await p.dispose();
    await e.close();
  });

  it("feature-extraction: pooling 'cls' and 'mean' override the model's, 'none' gives every token's vector; unknown options are refused", async () => {
    const p = await pipeline('embeddings'); // transformers.js' alias
    const e = await Embedder.load();
    const tokens = await e.embedTokens(['hello world']);
    const H = 384;
    // the [CLS] row, normalized, is pooling 'cls'
    const cls = Float32Array.from(tokens[0].subarray(0, H));
    const n = Math.hypot(...cls);
    const [c] = await p('hello world', { pooling: 'cls' });
    c.forEach((x, j) => assert.ok(Math.abs(x - cls[j] / n) < 1e-6));
    // mean over the tokens is the model's own pooling here (all-MiniLM-L6-v2 pools by mean)
    assert.deepEqual([...(await p('hello world', { pooling: 'mean' }))], await e.embed(['hello world']));
    const none = await p(['hello world', 'hi'], { pooling: 'none' });
    assert.deepEqual(none[0], tokens[0]);
    assert.deepEqual(none.dims, [2, tokens[0].length / H, H]);
    assert.equal(none[1].length, 3 * H); // [CLS] hi [SEP], unpadded
    // Embedder.embed takes pooling 'none' too (token vectors, normalized per token only when asked); embedTokens
    // drops the special tokens' rows with specialTokens: false
    assert.deepEqual(await e.embed(['hello world'], { pooling: 'none' }), tokens);
    const unit = (await e.embed(['hello world'], { pooling: 'none', normalize: true }))[0];
    for (let r = 0; r < unit.length / H; r++) assert.ok(Math.abs(Math.hypot(...unit.subarray(r * H, (r + 1) * H)) - 1) < 1e-5);
    const inner = (await e.embedTokens(['hello world'], { specialTokens: false }))[0];
    assert.deepEqual(inner, tokens[0].subarray(H, tokens[0].length - H));
    await assert.rejects(p('x', { poolling: 'cls' } as never), { code: 'E_INVALID_ARGUMENT', message: /unknown option "poolling"/ });
    await assert.rejects(p('x', { pooling: 'sum' } as never), { code: 'E_INVALID_ARGUMENT' });
    await p[Symbol.asyncDispose]();
    await e.close();
  });

  it("sentence-similarity gives sentence-transformers' cosine similarities (the quickstart figures)", async () => {
    const q = golden().quickstart_similarity;
    const p = await pipeline('sentence-similarity');
    const got = await p(q.texts[0], q.texts.slice(1));
    // computed by sentence-transformers on the same F16 weights, rounded there to 4 decimals
    got.forEach((x, i) => assert.ok(Math.abs(x - q.computed[0][i + 1]) < 1e-4, `${x} vs ${q.computed[0][i + 1]}`));
    assert.deepEqual(await p('x', []), []);
    await p.dispose();
  });
});

describe('DistilBERT weights', function () {
  it('load under the BERT encoder and give HF DistilBertModel hidden states within 1e-4', async () => {
    const { Encoder, Tokenizer, pack } = require('../lib') as typeof import('../lib');
    const d = path.join(dir, 'distilbert');
    const enc = await Encoder.load(d);
    assert.equal(enc.config.modelType, 'distilbert');
    assert.equal(enc.config.typeVocabSize, 0);
    const tok = Tokenizer.fromDir(d);
    const texts: string[] = expected.texts;
    const encs = texts.map((t) => tok.encode(t));
    const batch = pack(encs, false);
    const h = await enc.run(batch);
    texts.forEach((t, i) => {
      const got = h.subarray(batch.cuSeqlens[i] * 16, batch.cuSeqlens[i + 1] * 16);
      const want: number[] = expected.distilbert.hidden[i];
      assert.equal(got.length, want.length, t);
      let worst = 0;
      for (let k = 0; k < want.length; k++) worst = Math.max(worst, Math.abs(got[k] - want[k]));
      assert.ok(worst <= TOL, `${JSON.stringify(t)}: max-abs ${worst}`);
    });
    enc.close();
  });
});

describe('zero-shot classification and transformers.js option names', function () {
  it('zero-shot matches HF (single- and multi-label, custom template, one label)', async () => {
    const p = await pipeline('zero-shot-classification', path.join(dir, 'nli'));
    for (const c of expected.zeroshot) {
      const r = (await p(c.text, c.labels, { multi_label: c.multi_label, hypothesis_template: c.template })) as { sequence: string; labels: string[]; scores: number[] };
      assert.equal(r.sequence, c.result.sequence);
      assert.deepEqual(r.labels, c.result.labels, `${c.text} ${c.multi_label} ${c.template}`);
      r.scores.forEach((s: number, i: number) => close(s, c.result.scores[i], 'zero-shot'));
    }
    await assert.rejects(p('x', []), { code: 'E_INVALID_ARGUMENT' });
    await p.dispose();
    await assert.rejects(pipeline('zero-shot-classification', path.join(dir, 'classifier')), { code: 'E_UNSUPPORTED' });
  });

  it('snake_case options as transformers.js spells them give the same results as camelCase', async () => {
    const c = await pipeline('text-classification', path.join(dir, 'classifier'));
    assert.deepEqual(await c('hello', { top_k: 2 }), await c('hello', { topK: 2 }));
    await c.dispose();
    const n = await pipeline('ner', path.join(dir, 'ner'));
    assert.deepEqual(await n('Angela met Macron.', { aggregation_strategy: 'first', ignore_labels: [] }), await n('Angela met Macron.', { aggregationStrategy: 'first', ignoreLabels: [] }));
    await n.dispose();
  });
});

describe('pooling', function () {
  const { pool } = require('../lib/heads/pooling') as typeof import('../lib/heads/pooling');
  /** The definition, token by token into one float64 accumulator per column (pool() sums the same terms in the same
   *  order column by column, so it must give the same bits). */
  function reference(h: Float32Array, dim: number, begin: number, end: number, mode: string, skip: number): Float32Array {
    const out = new Float32Array(dim);
    const first = Math.min(begin + skip, end - 1);
    if (mode === 'max') {
      out.fill(-Infinity);
      for (let t = first; t < end; t++) for (let j = 0; j < dim; j++) if (h[t * dim + j] > out[j]) out[j] = h[t * dim + j];
      return out;
    }
    const acc = new Float64Array(dim);
    let weights = 0;
    for (let t = first; t < end; t++) {
      const w = mode === 'weightedmean' ? t - begin + 1 : 1;
      weights += w;
      for (let j = 0; j < dim; j++) acc[j] += w * h[t * dim + j];
    }
    const div = mode === 'mean_sqrt_len' ? Math.sqrt(end - first) : weights;
    for (let j = 0; j < dim; j++) out[j] = acc[j] / div;
    return out;
  }
  it('gives the bits of the float64 definition in every mode, width and prompt skip', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 8;
    for (const dim of [1, 3, 4, 5, 384, 385]) {
      const h = Float32Array.from({ length: 40 * dim }, rnd);
      h[dim + 2 % dim] = -0, h[2 * dim + 2 % dim] = 0; // signed zeros for max
      for (const mode of ['mean', 'max', 'weightedmean', 'mean_sqrt_len'] as const)
        for (const [begin, end, skip] of [[0, 1, 0], [3, 40, 0], [3, 40, 5], [10, 13, 9], [0, 40, 2]]) {
          const got = pool(h, dim, begin, end, mode, skip);
          const want = reference(h, dim, begin, end, mode, skip);
          assert.ok(got.every((v, j) => Object.is(v, want[j])), `${mode} dim=${dim} rows ${begin}..${end} skip ${skip}`);
        }
    }
  });
});

describe('sentence-transformers module chain (Pooling, Dense, Normalize)', function () {
  const { tmpDir } = require('./helpers/fixtures') as typeof import('./helpers/fixtures');
  /** An ST folder around the classifier's encoder weights, with the given modules.json and module folders. */
  function stFolder(modules: object[], extra: Record<string, object> = {}): string {
    const st = tmpDir('bertrt-st-');
    for (const f of fs.readdirSync(path.join(dir, 'classifier'))) fs.copyFileSync(path.join(dir, 'classifier', f), path.join(st, f));
    fs.writeFileSync(path.join(st, 'modules.json'), JSON.stringify(modules));
    for (const [file, json] of Object.entries(extra)) {
      fs.mkdirSync(path.dirname(path.join(st, file)), { recursive: true });
      fs.writeFileSync(path.join(st, file), JSON.stringify(json));
    }
    return st;
  }
  const legacyModules = [
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
  ];
  function vectorsClose(got: Float32Array[], want: number[][], what: string) {
    assert.equal(got.length, want.length);
    got.forEach((v, i) => {
      assert.equal(v.length, want[i].length, what);
      v.forEach((x, j) => close(x, want[i][j], `${what} ${i}`));
    });
  }

  for (const mode of ['weightedmean', 'lasttoken'] as const) {
    it(`${mode} pooling (legacy boolean config) equals sentence-transformers' Pooling module`, async () => {
      const { Embedder } = require('../lib') as typeof import('../lib');
      const st = stFolder(legacyModules, {
        '1_Pooling/config.json': { word_embedding_dimension: 16, [mode === 'weightedmean' ? 'pooling_mode_weightedmean_tokens' : 'pooling_mode_lasttoken']: true },
      });
      const e = await Embedder.load(st);
      vectorsClose(await e.embed(expected.pooling_texts, { normalize: false }), expected.pooling[mode], mode);
      await e.close();
    });
  }

  it('several pooling modes (sentence-transformers 5+ config) are concatenated in their order', async () => {
    const { Embedder } = require('../lib') as typeof import('../lib');
    const st = stFolder(legacyModules, { '1_Pooling/config.json': { embedding_dimension: 16, pooling_mode: ['cls', 'max', 'mean_sqrt_len_tokens'] } });
    const e = await Embedder.load(st);
    assert.equal(e.dimension, 48);
    vectorsClose(await e.embed(expected.pooling_texts, { normalize: false }), expected.pooling['cls+max+mean_sqrt_len_tokens'], 'multi');
    await e.close();
  });

  for (const mode of ['mean', 'cls', 'weightedmean'] as const) {
    it(`include_prompt false leaves the prompt's tokens out of ${mode} pooling`, async () => {
      const { Embedder } = require('../lib') as typeof import('../lib');
      const st = stFolder(legacyModules, { '1_Pooling/config.json': { embedding_dimension: 16, pooling_mode: mode, include_prompt: false } });
      const e = await Embedder.load(st);
      vectorsClose(await e.embed(expected.pooling_texts, { normalize: false, prompt: 'query: ' }), expected.pooling[`${mode}-without-prompt`], mode);
      await e.close();
    });
  }

  it('Dense modules (Tanh; GELU + residual; Identity, no bias, projected residual) then Normalize, as sentence-transformers 6', async () => {
    const { Embedder } = require('../lib') as typeof import('../lib');
    // modules.json and 1_Pooling .. 5_Normalize exactly as SentenceTransformer.save wrote them
    const st = stFolder([]);
    fs.cpSync(path.join(dir, 'st-dense'), st, { recursive: true });
    const e = await Embedder.load(st);
    assert.equal(e.dimension, 8);
    vectorsClose(await e.embed(expected.dense.texts), expected.dense.normalized, 'dense');
    vectorsClose(await e.embed(expected.dense.texts, { truncateDim: 4 }), expected.dense.truncated4, 'dense truncate_dim 4');
    await e.close();
  });

  it('refuses unknown modules and activations, pickled Dense weights and chains that do not fit', async () => {
    const { Embedder } = require('../lib') as typeof import('../lib');
    const withDense = (config: object, weights = true) => {
      const st = stFolder([]);
      fs.cpSync(path.join(dir, 'st-dense'), st, { recursive: true });
      fs.writeFileSync(path.join(st, '2_Dense', 'config.json'), JSON.stringify(config));
      if (!weights) {
        fs.rmSync(path.join(st, '2_Dense', 'model.safetensors'));
        fs.writeFileSync(path.join(st, '2_Dense', 'pytorch_model.bin'), 'pickle');
      }
      return st;
    };
    const dense = { in_features: 16, out_features: 12, bias: true, activation_function: 'torch.nn.modules.activation.Tanh' };
    await assert.rejects(Embedder.load(withDense({ ...dense, activation_function: 'my.custom.Act' })), { code: 'E_UNSUPPORTED', message: /my\.custom\.Act/ });
    await assert.rejects(Embedder.load(withDense(dense, false)), { code: 'E_UNSUPPORTED', message: /pytorch_model\.bin/ });
    await assert.rejects(Embedder.load(withDense({ ...dense, in_features: 8 })), { code: 'E_SHAPE' });
    await assert.rejects(Embedder.load(withDense({ ...dense, out_features: 10 })), { code: 'E_SHAPE' });
    const unknown = stFolder([...legacyModules, { idx: 2, name: '2', path: '2_X', type: 'sentence_transformers.models.LayerNorm' }], {
      '1_Pooling/config.json': { pooling_mode: 'mean' },
    });
    await assert.rejects(Embedder.load(unknown), { code: 'E_UNSUPPORTED', message: /LayerNorm/ });
    const badMode = stFolder(legacyModules, { '1_Pooling/config.json': { pooling_mode: 'median' } });
    await assert.rejects(Embedder.load(badMode), { code: 'E_UNSUPPORTED', message: /median/ });
  });
});

describe('next-sentence prediction', function () {
  it('gives HF BertForNextSentencePrediction probabilities (index 0 = is next)', async () => {
    const p = await pipeline('next-sentence-prediction', path.join(dir, 'nsp'));
    const got = (await p(expected.pairs)) as number[];
    got.forEach((v, i) => close(v, expected.nsp[i][0], `pair ${i}`));
    close((await p(expected.pairs[0])) as number, expected.nsp[0][0], 'single pair');
    await p.dispose();
    await assert.rejects(pipeline('next-sentence-prediction', path.join(dir, 'classifier')), /cls\.seq_relationship/);
  });
});

describe('question answering and DistilBERT heads vs HF pipelines (transformers 4.57)', function () {
  const qa = readFixture(path.join(dir, 'expected-qa.json.br'));
  type Answer = { score: number; start: number; end: number; answer: string };

  for (const [name, key] of [['qa', 'qa'], ['distilbert-qa', 'distilbert_qa']] as const) {
    it(`question-answering (${name}): answers, character spans and scores for every option set`, async () => {
      const p = await pipeline('question-answering', path.join(dir, name));
      for (const c of qa[key]) {
        const got = await p(c.question, c.context, c.options);
        const list = (Array.isArray(got) ? got : [got]) as Answer[];
        const what = `${c.question} ${JSON.stringify(c.options)}`;
        assert.equal(list.length, c.result.length, what);
        list.forEach((a, j) => {
          const w = c.result[j];
          assert.equal(a.answer, w.answer, what);
          assert.deepEqual([a.start, a.end], [toUtf16(c.context, w.start), toUtf16(c.context, w.end)], what);
          assert.equal(c.context.slice(a.start, a.end), a.answer);
          close(a.score, w.score, what);
        });
      }
      await p.dispose();
    });
  }

  it('question-answering: a long context really spans several windows, and batch calls equal single ones', async () => {
    const { TaskModel, Tokenizer } = require('../lib') as typeof import('../lib');
    const long = qa.cases[0];
    const tok = Tokenizer.fromDir(path.join(dir, 'qa'));
    const enc = tok.encode(long.question, long.context, { truncation: { maxLength: 64, stride: 32, strategy: 'only_second' } });
    assert.ok(enc.overflowing.length >= 3, `${enc.overflowing.length + 1} windows`);
    const p = await pipeline('question-answering', path.join(dir, 'qa'));
    const batch = (await p(qa.cases, { top_k: 2 })) as Answer[][];
    for (const [i, c] of qa.cases.entries()) assert.deepEqual(batch[i], await p(c.question, c.context, { topK: 2 }));
    await p.dispose();
    void TaskModel;
  });

  it('question-answering: empty inputs and bad options are typed errors; a model without qa_outputs names it', async () => {
    const p = await pipeline('question-answering', path.join(dir, 'qa'));
    await assert.rejects(p('Who?', ''), { code: 'E_INVALID_ARGUMENT', message: /context is empty/ });
    await assert.rejects(p('', 'Some context.'), { code: 'E_INVALID_ARGUMENT', message: /question is empty/ });
    await assert.rejects(p('Who?', 'Some context.', { top_k: 0 }), { code: 'E_INVALID_ARGUMENT' });
    await assert.rejects(p('Who?', 'Some context.', { doc_stride: 50, max_seq_len: 40 }), { code: 'E_INVALID_ARGUMENT' });
    await assert.rejects(p('Who?', 'Some context.', { max_seq_len: 65 }), { code: 'E_INVALID_ARGUMENT' });
    const ok = (await p('Who?', 'Some context.')) as Answer;
    assert.equal(typeof ok.answer, 'string');
    await p.dispose();
    await assert.rejects(pipeline('question-answering', path.join(dir, 'classifier')), { code: 'E_MODEL_FORMAT', message: /qa_outputs\.weight/ });
  });

  it('DistilBERT text-classification (pre_classifier + ReLU) gives HF labels and scores', async () => {
    const p = await pipeline('text-classification', path.join(dir, 'distilbert-cls'));
    const r = (await p(qa.texts, { topK: null })) as Array<Array<{ label: string; score: number }>>;
    r.forEach((x, i) => {
      assert.deepEqual(x.map((y) => y.label), qa.distilbert_cls[i].map((y: any) => y.label), qa.texts[i]);
      x.forEach((y, j) => close(y.score, qa.distilbert_cls[i][j].score, qa.texts[i]));
    });
    await p.dispose();
  });

  for (const agg of ['none', 'simple', 'first'] as const) {
    it(`DistilBERT token-classification (${agg}) gives HF entities and spans`, async () => {
      const p = await pipeline('ner', path.join(dir, 'distilbert-ner'));
      const r = (await p(qa.texts, { aggregation_strategy: agg, ignore_labels: [] })) as any[][];
      r.forEach((ents, i) => {
        sameEntities(ents, qa.distilbert_ner[agg][i], qa.texts[i], false);
      });
      await p.dispose();
    });
  }

  it('DistilBERT fill-mask (vocab_transform, vocab_layer_norm, tied vocab_projector) gives HF top-5', async () => {
    const p = await pipeline('fill-mask', path.join(dir, 'distilbert-mlm'));
    for (const [i, text] of (qa.distilbert_mlm.texts as string[]).entries()) {
      const r = (await p(text, { top_k: 5 })) as Array<{ token: number; token_str: string; sequence: string; score: number }>;
      assert.deepEqual(r.map((x) => x.token), qa.distilbert_mlm.top5[i].map((x: any) => x.token), text);
      r.forEach((x, j) => {
        assert.equal(x.sequence, qa.distilbert_mlm.top5[i][j].sequence);
        close(x.score, qa.distilbert_mlm.top5[i][j].score, text);
      });
    }
    await p.dispose();
  });
});

describe('native vocabulary projection (the tied MLM decoder)', function () {
  it('equals a float64 dot product against the word embeddings, with and without bias; bad input is refused', async () => {
    const { Encoder, readSafetensorsHeader } = require('../lib') as typeof import('../lib');
    const { readTensor } = require('../lib/model/safetensors') as typeof import('../lib/model/safetensors');
    const d = path.join(dir, 'mlm');
    const enc = await Encoder.load(d);
    const H = enc.config.hiddenSize;
    const V = enc.config.vocabSize;
    const emb = readTensor(readSafetensorsHeader(path.join(d, 'model.safetensors')), 'bert.embeddings.word_embeddings.weight');
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const rows = 3;
    const x = Float32Array.from({ length: rows * H }, rnd);
    const bias = Float32Array.from({ length: V }, rnd);
    const got = await enc.vocabLogits(x, bias);
    const plain = await enc.vocabLogits(x, null);
    assert.equal(got.length, rows * V);
    let worst = 0;
    for (let r = 0; r < rows; r++) {
      for (let v = 0; v < V; v++) {
        let s = 0;
        for (let k = 0; k < H; k++) s += x[r * H + k] * emb[v * H + k];
        // float32 sums of 16 products of magnitude <= ~2: error well under 1e-5
        worst = Math.max(worst, Math.abs(got[r * V + v] - (s + bias[v])), Math.abs(plain[r * V + v] - s));
      }
    }
    assert.ok(worst < 1e-5, `max-abs ${worst}`);
    assert.equal((await enc.vocabLogits(new Float32Array(0), null)).length, 0);
    assert.throws(() => enc.vocabLogits(new Float32Array(H + 1), null), { code: 'E_INVALID_ARGUMENT' });
    assert.throws(() => enc.vocabLogits(x, new Float32Array(V - 1)), { code: 'E_INVALID_ARGUMENT' });
    assert.throws(() => enc.vocabLogits(new Float64Array(H) as unknown as Float32Array, null), { code: 'E_INVALID_ARGUMENT' });
    enc.close();
    await assert.rejects(enc.vocabLogits(x, null), { code: 'E_CLOSED' });
  });
});

describe('chunk-and-pool for long inputs (truncate: chunk)', function () {
  it('pools overlapping windows as a reference built on HF tokenizers windows and BertModel (mean, max)', async () => {
    const { Embedder } = require('../lib') as typeof import('../lib');
    const e = await Embedder.load(path.join(dir, 'classifier'));
    const c = expected.chunked;
    assert.ok(c.windows > 5, 'the reference text spans many windows');
    for (const how of ['mean', 'max'] as const) {
      const [v] = await e.embed([c.text], { truncate: 'chunk', chunkOverlap: c.overlap, chunkPooling: how });
      v.forEach((x, j) => close(x, c[how][j], `${how} [${j}]`));
    }
    // a text that fits one window: the same vector as without chunking
    const short = 'The weather is lovely today.';
    assert.deepEqual(await e.embed([short], { truncate: 'chunk' }), await e.embed([short]));
    const [trunc] = await e.embed([c.text]);
    const [chunked] = await e.embed([c.text], { truncate: 'chunk', chunkOverlap: c.overlap });
    assert.notDeepEqual(trunc, chunked);
    await assert.rejects(e.embed([c.text], { truncate: 'chunk', chunkOverlap: 62 }), { code: 'E_INVALID_ARGUMENT', message: /chunkOverlap/ });
    await assert.rejects(e.embed([c.text], { truncate: 'chunk', chunkPooling: 'sum' as 'max' }), { code: 'E_INVALID_ARGUMENT' });
    await e.close();
  });
});

describe('long-input policy of the heads (truncate: right | left | error)', function () {
  const long: string = expected.classifier.long.text;

  it("text-classification cuts from the right by default, as HF's pipeline with truncation=True", async () => {
    const p = await pipeline('text-classification', path.join(dir, 'classifier'));
    const r = (await p(long, { top_k: null })) as Array<{ label: string; score: number }>;
    assert.deepEqual(r.map((x) => x.label), expected.classifier.long.right.map((x: any) => x.label));
    r.forEach((x, j) => close(x.score, expected.classifier.long.right[j].score, 'long'));
    assert.deepEqual(await p(long, { top_k: null, truncate: 'right' }), r);
    assert.notDeepEqual(await p(long, { top_k: null, truncate: 'left' }), r);
    await assert.rejects(p(['short', long], { truncate: 'error' }), { code: 'E_INPUT_TOO_LONG', message: /inputs\[1\] has (more than )?\d+ tokens, the model takes at most 64/ });
    await assert.rejects(p(long, { truncate: 'middle' as 'left' }), { code: 'E_INVALID_ARGUMENT' });
    await p.dispose();
  });

  it('every other head takes the same policy: ner, fill-mask, zero-shot, rerank, next-sentence', async () => {
    const tooLong = { code: 'E_INPUT_TOO_LONG' };
    const ner = await pipeline('ner', path.join(dir, 'ner'));
    await assert.rejects(ner(long, { truncate: 'error' }), tooLong);
    const ents = (await ner(long, { truncate: 'left', ignore_labels: [] })) as Array<{ start: number; end: number; word: string }>;
    assert.ok(ents.length > 0 && ents.every((e) => e.start >= long.length / 2), 'left truncation keeps the end of the text, offsets into the original string');
    await ner.dispose();
    const fill = await pipeline('fill-mask', path.join(dir, 'mlm'));
    await assert.rejects(fill(long + ' [MASK]', { truncate: 'error' }), tooLong);
    assert.equal(((await fill(long + ' [MASK]', { truncate: 'left' })) as unknown[]).length, 5);
    await assert.rejects(fill(long + ' [MASK]'), { code: 'E_INVALID_ARGUMENT', message: /no \[MASK\]/ });
    await fill.dispose();
    const zs = await pipeline('zero-shot-classification', path.join(dir, 'nli'));
    await assert.rejects(zs(long, ['travel', 'cooking'], { truncate: 'error' }), tooLong);
    await zs.dispose();
    const rr = await pipeline('rerank', path.join(dir, 'reranker'));
    await assert.rejects(rr('query', ['short', long], { truncate: 'error' }), tooLong);
    await rr.dispose();
    const nsp = await pipeline('next-sentence-prediction', path.join(dir, 'nsp'));
    await assert.rejects(nsp([long, 'b'], { truncate: 'error' }), tooLong);
    await nsp.dispose();
  });
});

describe('pipelines: an AbortSignal on every task', function () {
  this.timeout(120_000);

  it('an aborted signal drops the work; one that fires while the engine runs discards it; both reject E_ABORTED', async () => {
    const classify = await pipeline('text-classification', path.join(dir, 'classifier'));
    const rr = await pipeline('rerank', path.join(dir, 'reranker'));
    const ner = await pipeline('ner', path.join(dir, 'ner'));
    const fill = await pipeline('fill-mask', path.join(dir, 'mlm'));
    const aborted = AbortSignal.abort();
    const calls: Array<[string, (signal: AbortSignal) => Promise<unknown>]> = [
      ['text-classification', (signal) => classify('What a great movie!', { signal })],
      ['rerank', (signal) => rr('q', ['a', 'b'], { signal })],
      ['ner', (signal) => ner('Angela Merkel met Emmanuel Macron.', { signal })],
      ['fill-mask', (signal) => fill('Paris is the [MASK] of France.', { signal })],
    ];
    for (const [name, call] of calls) {
      await assert.rejects(call(aborted), { code: 'E_ABORTED' }, `${name}, aborted before`);
      // the call has tokenized and handed its batch to the engine by the time it returns its promise; aborting
      // then lets the batch finish and throws its result away
      const ctl = new AbortController();
      const p = call(ctl.signal);
      ctl.abort();
      await assert.rejects(p, { code: 'E_ABORTED' }, `${name}, aborted while running`);
      // and without a signal (or one never fired) the same call answers
      assert.ok(await call(new AbortController().signal), name);
    }
    await assert.rejects(classify('x', { signal: 'stop' as unknown as AbortSignal }), { code: 'E_INVALID_ARGUMENT' });
    for (const p of [classify, rr, ner, fill]) await p.dispose();
  });
});
