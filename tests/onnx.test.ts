// The ONNX backend (native/onnx over onnxruntime's C API) against Python onnxruntime on the same files
// (tools/make_onnx_fixtures.py). Seeded graphs are committed (tests/fixtures/onnx, their embedding tables external
// data in the checkpoints they came from: helpers' onnxFixtures()); the real ONNX files come from
// tools/fetch_real_models.sh and their tests skip, saying so, where they are absent.
// Tolerances: hidden states and sentence vectors max abs <= 1e-5 and cosine >= 0.99999 (the bound; the same
// engine on the same graph, differing only in the padded batch shapes, measured <= 1e-6); the float16 output within
// one float16 step of the value (the padded batch may round the last FP32 bit the other way before the cast); the
// native engine beside the ONNX graph of the same weights within 1e-4 (two engines' FP32 summation orders).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as zlib from 'node:zlib';
import { Embedder, pipeline } from '../lib';
import { BertrtError } from '../lib/errors';
import { Encoder, type PackedBatch } from '../lib/model/engine';
import { native, onnxruntimeLibrary } from '../lib/native';
import { createServer } from '../lib/server/app';
import { cosine, f32, maxAbsDiff, onnxFixtures, readFixture, root, tmpDir } from './helpers/fixtures';

const FIX = onnxFixtures();
const REAL = process.env.BERTRT_REAL_MODELS ?? path.join(root, '.scratch', 'real-models');
const expected = readFixture(path.join(FIX, 'expected.json.br')) as {
  onnxruntime: string;
  cases: Record<string, { width: number; pooled: boolean; sequences: Array<{ ids: number[]; types?: number[]; hidden: string }> }>;
};

/** xlmr-pooled with its tokenizer (committed compressed, as the tokenizer tests read it) beside it. */
function pooledDir(): string {
  const dir = tmpDir();
  for (const f of ['config.json', 'model.onnx', 'model.onnx_data']) fs.copyFileSync(path.join(FIX, 'xlmr-pooled', f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), zlib.brotliDecompressSync(fs.readFileSync(path.join(root, 'tests', 'fixtures', 'tokenizer', 'xlmr.tokenizer.json.br'))));
  return dir;
}

function packed(seqs: Array<{ ids: number[]; types?: number[] }>): PackedBatch {
  const cu = new Int32Array(seqs.length + 1);
  seqs.forEach((s, i) => (cu[i + 1] = cu[i] + s.ids.length));
  return {
    ids: Int32Array.from(seqs.flatMap((s) => s.ids)),
    typeIds: Int32Array.from(seqs.flatMap((s) => s.types ?? s.ids.map(() => 0))),
    cuSeqlens: cu,
  };
}

async function rejectsCode(p: Promise<unknown> | (() => unknown), code: string, re?: RegExp): Promise<void> {
  await assert.rejects(typeof p === 'function' ? (async () => p())() : p, (e: unknown) => {
    assert.ok(e instanceof BertrtError, String(e));
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

const library = onnxruntimeLibrary();
const ort = native().onnxInfo(library);

describe('ONNX backend (onnxruntime through its C API)', function () {
  before(function () {
    if (!ort.available) {
      // onnxruntime-node is an optional dependency; without it (and without BERTRT_ONNXRUNTIME) nothing here can run
      console.log(`      skipped: ${ort.reason}`);
      this.skip();
    }
  });

  it('opens onnxruntime once, asks for the API version it was built with, and says which library it runs', () => {
    assert.equal(ort.available, true);
    assert.equal(ort.apiVersion, 29);
    assert.match(ort.version, /^1\.(29|[3-9]\d)\./);
    assert.equal(ort.library, library);
    assert.deepEqual(native().onnxInfo(library), ort); // cached: the same answer
  });

  it('a library that is not onnxruntime, or is not there: E_UNSUPPORTED naming it, and the process goes on', async () => {
    const notOrt = native().onnxInfo('libc.so.6');
    assert.equal(notOrt.available, false);
    assert.match(notOrt.reason, /libc\.so\.6 is not onnxruntime/);
    await rejectsCode(Encoder.load(path.join(FIX, 'bert'), { onnx: { library: '/nonexistent/libonnxruntime.so.1' } }), 'E_UNSUPPORTED', /could not be loaded from \/nonexistent/);
    const e = await Encoder.load(path.join(FIX, 'bert'));
    assert.equal(e.backend, 'onnx');
    e.close();
  });

  it('hidden states of padded batches equal onnxruntime on each sequence alone (int64 inputs, token types)', async () => {
    const c = expected.cases.bert;
    const enc = await Encoder.load(path.join(FIX, 'bert'), { threads: 2 });
    try {
      assert.equal(enc.backend, 'onnx');
      assert.equal(enc.pooled, false);
      assert.equal(enc.takesTokenTypes, true);
      assert.equal(enc.hiddenSize, c.width);
      assert.match(enc.onnx!.signature, /input_ids:int64\[\?,\?\], attention_mask:int64\[\?,\?\], token_type_ids:int64\[\?,\?\] -> last_hidden_state:float32\[\?,\?,16\]/);
      let worst = 0;
      // batches of 1, 7 and all: padding to the longest of each
      for (const size of [1, 7, c.sequences.length]) {
        for (let s = 0; s < c.sequences.length; s += size) {
          const seqs = c.sequences.slice(s, s + size);
          const b = packed(seqs);
          const h = await enc.run(b);
          assert.equal(h.length, b.ids.length * c.width);
          seqs.forEach((q, i) => {
            const got = h.subarray(b.cuSeqlens[i] * c.width, b.cuSeqlens[i + 1] * c.width);
            const want = f32(q.hidden);
            worst = Math.max(worst, maxAbsDiff(got, want));
            for (let t = 0; t < q.ids.length; t++) assert.ok(cosine(got.subarray(t * c.width, (t + 1) * c.width), want.subarray(t * c.width, (t + 1) * c.width)) >= 0.99999);
          });
        }
      }
      assert.ok(worst <= 1e-5, `max abs ${worst}`);
    } finally {
      enc.close();
    }
  });

  it('a pooled float16 output with int32 inputs and RoBERTa positions from the pad id: one vector per sequence', async () => {
    const c = expected.cases['xlmr-pooled'];
    const enc = await Encoder.load(path.join(FIX, 'xlmr-pooled'));
    try {
      assert.equal(enc.pooled, true);
      assert.equal(enc.takesTokenTypes, false);
      assert.match(enc.onnx!.signature, /input_ids:int32\[\?,\?\], attention_mask:int32\[\?,\?\] -> sentence_embedding:float16\[\?,16\]/);
      const b = packed(c.sequences);
      const h = await enc.run(b);
      assert.equal(h.length, c.sequences.length * c.width);
      c.sequences.forEach((q, i) => {
        const want = f32(q.hidden);
        const got = h.subarray(i * c.width, (i + 1) * c.width);
        for (let j = 0; j < c.width; j++) {
          const step = 2 ** (Math.floor(Math.log2(Math.max(Math.abs(want[j]), 2 ** -14))) - 10); // one float16 ulp
          assert.ok(Math.abs(got[j] - want[j]) <= step, `sequence ${i}[${j}]: ${got[j]} vs ${want[j]}`);
        }
      });
    } finally {
      enc.close();
    }
  });

  it('the native engine and the ONNX graph of the same weights agree, through Embedder and through a task head', async () => {
    const texts = ['Hola, ¿qué tal?', 'Das ist ein Test.', 'short', 'a somewhat longer sentence that runs on for several tokens'];
    const onnx = await Embedder.load(path.join(FIX, 'bert'));
    const nat = await Embedder.load(path.join(root, 'tests', 'fixtures', 'heads', 'classifier'));
    try {
      assert.equal(onnx.encoder.backend, 'onnx');
      assert.equal(nat.encoder.backend, 'native');
      const [a, b] = [await onnx.embed(texts), await nat.embed(texts)];
      a.forEach((v, i) => assert.ok(maxAbsDiff(v, b[i]) <= 1e-4, `text ${i}: ${maxAbsDiff(v, b[i])}`));
    } finally {
      await onnx.close();
      await nat.close();
    }
    // a folder with both the checkpoint (for the head's weights) and the graph: the head runs on ONNX hidden states
    const dir = tmpDir();
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(root, 'tests', 'fixtures', 'heads', 'classifier', f), path.join(dir, f));
    for (const f of ['model.onnx', 'model.onnx_data']) fs.copyFileSync(path.join(FIX, 'bert', f), path.join(dir, f));
    const viaOnnx = await pipeline('text-classification', dir, { backend: 'onnx' });
    const viaNative = await pipeline('text-classification', dir);
    try {
      const [x, y] = [await viaOnnx(texts, { top_k: null }), await viaNative(texts, { top_k: null })];
      (x as Array<Array<{ label: string; score: number }>>).forEach((r, i) =>
        r.forEach((e, k) => {
          const o = (y as Array<Array<{ label: string; score: number }>>)[i][k];
          assert.equal(e.label, o.label);
          assert.ok(Math.abs(e.score - o.score) <= 1e-4);
        }),
      );
    } finally {
      await viaOnnx.dispose();
      await viaNative.dispose();
    }
  });

  it("a classifier exported whole (output logits): text-classification reads the graph's own head, as transformers scores it", async () => {
    const c = (expected.cases as any)['bert-logits'] as { texts: string[]; scores: Array<Array<{ label: string; score: number }>> };
    const clf = await pipeline('text-classification', path.join(FIX, 'bert-logits'));
    try {
      const got = (await clf(c.texts, { top_k: null })) as Array<Array<{ label: string; score: number }>>;
      got.forEach((r, i) =>
        r.forEach((e, k) => {
          assert.equal(e.label, c.scores[i][k].label, `text ${i}`);
          assert.ok(Math.abs(e.score - c.scores[i][k].score) <= 1e-5, `text ${i}: ${e.score} vs ${c.scores[i][k].score}`);
        }),
      );
    } finally {
      await clf.dispose();
    }
  });

  it('100 overlapping calls give what the same calls give one by one', async () => {
    const c = expected.cases.bert;
    const enc = await Encoder.load(path.join(FIX, 'bert'));
    try {
      const batches = Array.from({ length: 100 }, (_, i) => packed(c.sequences.slice(i % 30, (i % 30) + 1 + (i % 9))));
      const together = await Promise.all(batches.map((b) => enc.run(b)));
      for (let i = 0; i < batches.length; i++) assert.deepEqual(together[i], await enc.run(batches[i]));
    } finally {
      enc.close();
    }
  });

  it('bad files and bad requests: typed errors, and the engine keeps serving', async () => {
    const good = await Encoder.load(path.join(FIX, 'bert'));
    const dir = tmpDir();
    const bytes = fs.readFileSync(path.join(FIX, 'bert', 'model.onnx'));
    fs.writeFileSync(path.join(dir, 'truncated.onnx'), bytes.subarray(0, bytes.length >> 1));
    fs.writeFileSync(path.join(dir, 'text.onnx'), 'this is not a protobuf, let alone a model\n'.repeat(50));
    fs.copyFileSync(path.join(FIX, 'bad-inputs.onnx'), path.join(dir, 'bad-inputs.onnx'));
    // ModelProto field 1, ir_version 8 -> 99: a file from a future exporter
    const future = fs.readFileSync(path.join(FIX, 'bad-inputs.onnx'));
    assert.deepEqual([future[0], future[1]], [0x08, 0x08]);
    future[1] = 99;
    fs.writeFileSync(path.join(dir, 'future.onnx'), future);
    fs.copyFileSync(path.join(FIX, 'bert', 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    try {
      await rejectsCode(Encoder.load(dir, { onnx: { file: 'truncated.onnx' } }), 'E_MODEL_FORMAT', /truncated\.onnx/);
      await rejectsCode(Encoder.load(dir, { onnx: { file: 'text.onnx' } }), 'E_MODEL_FORMAT', /text\.onnx/);
      await rejectsCode(Encoder.load(dir, { onnx: { file: 'bad-inputs.onnx' } }), 'E_UNSUPPORTED', /input 'pixel_values' is not one bertrt feeds/);
      await rejectsCode(Encoder.load(dir, { onnx: { file: 'future.onnx' } }), 'E_MODEL_FORMAT', /IR version/);
      await rejectsCode(Encoder.load(dir, { onnx: { file: 'missing.onnx' } }), 'E_MODEL_NOT_FOUND', /missing\.onnx does not exist/);
      // the graph without its external data, then with a short one: onnxruntime's checks, typed, naming the tensor
      fs.copyFileSync(path.join(FIX, 'bert', 'model.onnx'), path.join(dir, 'external.onnx'));
      await rejectsCode(Encoder.load(dir, { onnx: { file: 'external.onnx' } }), 'E_MODEL_FORMAT', /external\.onnx: .*model\.onnx_data/);
      fs.writeFileSync(path.join(dir, 'model.onnx_data'), Buffer.alloc(1000));
      await rejectsCode(Encoder.load(dir, { onnx: { file: 'external.onnx' } }), 'E_MODEL_FORMAT', /external\.onnx: .*out of bounds/);
      await rejectsCode(Encoder.load(path.join(FIX, 'bert'), { onnx: { output: 'logits' } }), 'E_INVALID_ARGUMENT', /no output 'logits'/);
      await rejectsCode(Encoder.load(path.join(FIX, 'bert'), { precision: 'int8' }), 'E_UNSUPPORTED', /runs at the precision it was exported in/);
      await rejectsCode(Encoder.load(path.join(FIX, 'bert'), { device: 'cuda' }), 'E_UNSUPPORTED', /ONNX backend runs on the CPU/);
      await rejectsCode(Encoder.load(path.join(FIX, 'bert'), { backend: 'native' }), 'E_UNSUPPORTED', /has an ONNX model but no model.safetensors.*backend 'onnx'/);
      // an id past the graph's embedding table: onnxruntime's own check, as a typed error
      await rejectsCode(good.run(packed([{ ids: [2, 1 << 20, 3] }])), 'E_INVALID_ARGUMENT', /onnxruntime Run/);
      await rejectsCode(good.vocabLogits(new Float32Array(16), null), 'E_UNSUPPORTED', /ONNX graph does not expose/);
      await rejectsCode(() => good.run({ ids: Int32Array.of(2, 3), typeIds: null, cuSeqlens: Int32Array.of(0, 3) }), 'E_INVALID_ARGUMENT', /cuSeqlens/);
      const h = await good.run(packed([expected.cases.bert.sequences[0]]));
      assert.ok(maxAbsDiff(h, f32(expected.cases.bert.sequences[0].hidden)) <= 1e-5);
    } finally {
      good.close();
    }
    await rejectsCode(good.run(packed([{ ids: [2, 3] }])), 'E_CLOSED');
  });

  it('a pooled graph refuses what needs token vectors; the server answers 424 there and serves /embed', async () => {
    const pooled = pooledDir();
    const e = await Embedder.load(pooled);
    let v: Float32Array[];
    try {
      v = await e.embed(['hello', 'a longer text'], { normalize: false });
      assert.equal(v[0].length, 16);
      // the graph's own vector for the same ids, one at a time
      const ids = Array.from(e.tokenizer.encode('a longer text').ids);
      const alone = await e.encoder.run(packed([{ ids }]));
      assert.ok(maxAbsDiff(v[1], alone) === 0);
      await rejectsCode(e.embedTokens(['x']), 'E_UNSUPPORTED', /one vector per text/);
      await rejectsCode(e.embed(['x'], { pooling: 'max' }), 'E_UNSUPPORTED', /pools inside/);
    } finally {
      await e.close();
    }
    const srv = await createServer({ models: [{ name: 'pooled', dir: pooled }, { name: 'bert', dir: path.join(FIX, 'bert') }] });
    const url = await srv.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const post = async (route: string, body: unknown) => {
        const r = await fetch(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        return { status: r.status, body: (await r.json()) as any };
      };
      const info = (await (await fetch(`${url}/info`)).json()) as any;
      assert.equal(info.backend, 'onnx');
      assert.match(info.onnx.version, /^1\./);
      const a = await post('/embed', { inputs: ['hello world', 'bonjour'], model: 'bert' });
      assert.equal(a.status, 200);
      assert.equal(a.body.length, 2);
      assert.equal(a.body[0].length, 16);
      const p = await post('/embed', { inputs: ['hello', 'a longer text'], model: 'pooled', normalize: false });
      assert.equal(p.status, 200);
      assert.ok(maxAbsDiff(p.body[1], v[1]) <= 1e-6);
      assert.equal((await post('/embed_all', { inputs: ['hello'], model: 'pooled' })).status, 424);
      assert.equal((await post('/embed_all', { inputs: ['hello'], model: 'bert' })).status, 200);
      assert.equal((await post('/predict', { inputs: 'hello', model: 'bert' })).status, 424);
    } finally {
      await srv.close();
    }
  });
});

// ------------------------------------------------------------------------------------------------- real files
const real = readFixture(path.join(root, 'tests', 'fixtures', 'real', 'onnx.json.br')) as {
  texts: string[];
  models: Record<string, { pooling: 'cls' | 'mean' | 'graph'; output: string; vectors: string[] }>;
};

describe('ONNX backend on real ONNX files (Maven and PyPI packages; tools/fetch_real_models.sh)', function () {
  before(function () {
    if (!ort.available) this.skip();
  });

  for (const [name, m] of Object.entries(real.models)) {
    const dir = path.join(REAL, name);
    const there = fs.existsSync(path.join(dir, 'model.onnx'));
    it(`${name}: sentence vectors equal Python onnxruntime's (cosine >= 0.99999, max abs <= 1e-5)${there ? '' : ' [skipped: run tools/fetch_real_models.sh]'}`, async function () {
      if (!there) this.skip();
      this.timeout(120000);
      const e = await Embedder.load(dir, { onnx: { output: m.output } });
      try {
        assert.equal(e.encoder.backend, 'onnx');
        const got = await e.embed(real.texts, m.pooling === 'graph' ? {} : { pooling: m.pooling });
        let worst = 0;
        let minCos = 1;
        got.forEach((v, i) => {
          const want = f32(m.vectors[i]);
          worst = Math.max(worst, maxAbsDiff(v, want));
          minCos = Math.min(minCos, cosine(v, want));
        });
        assert.ok(worst <= 1e-5 && minCos >= 0.99999, `max abs ${worst}, min cosine ${minCos}`);
      } finally {
        await e.close();
      }
    });
  }

  it('paraphrase-MiniLM-L3-v2 names no output bertrt knows: the error lists them and says how to pick one', async function () {
    const dir = path.join(REAL, 'onnx-paraphrase-MiniLM-L3-v2');
    if (!fs.existsSync(path.join(dir, 'model.onnx'))) this.skip();
    await rejectsCode(Encoder.load(dir), 'E_UNSUPPORTED', /no sentence_embedding or last_hidden_state output among output, 463, onnx::Shape_422, 461 \(name one with the `output` option\)/);
  });

  it('the embedded model natively and all-MiniLM-L6-v2 as FP32 ONNX agree to the embedded weights\' float16 rounding', async function () {
    const dir = path.join(REAL, 'onnx-all-MiniLM-L6-v2');
    if (!fs.existsSync(path.join(dir, 'model.onnx'))) this.skip();
    const [a, b] = [await Embedder.load(), await Embedder.load(dir, { onnx: { output: 'output_0' } })];
    try {
      const [x, y] = [await a.embed(real.texts), await b.embed(real.texts)];
      const min = Math.min(...x.map((v, i) => cosine(v, y[i])));
      // the embedded checkpoint stores the same weights in float16: ~1e-4 of cosine at most on these texts
      assert.ok(min >= 0.9999, `min cosine ${min}`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('the event loop stays free while the ONNX model is saturated (delay p99 under 10 ms and a tenth of one call)', async function () {
    const dir = path.join(REAL, 'onnx-all-MiniLM-L6-v2');
    if (!fs.existsSync(path.join(dir, 'model.onnx'))) this.skip();
    this.timeout(120000);
    const enc = await Encoder.load(dir, { onnx: { output: 'output_0' } });
    try {
      // 32 x 128 tokens per call, two calls in flight, the main thread doing nothing but waiting
      const seqs = Array.from({ length: 32 }, (_, i) => ({ ids: Array.from({ length: 128 }, (_, t) => (t === 0 ? 101 : t === 127 ? 102 : 1000 + ((i * 131 + t * 7) % 20000))) }));
      const b = packed(seqs);
      await enc.run(b);
      const t0 = performance.now();
      await enc.run(b);
      const callMs = performance.now() - t0;
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const end = performance.now() + 3000;
      while (performance.now() < end) await Promise.all([enc.run(b), enc.run(b)]);
      h.disable();
      const p99 = h.percentile(99) / 1e6;
      // A run() on the main thread would hold the loop for a whole call (hundreds of ms here), so the p99 would be of
      // that order. What remains with the work off the loop is the OS scheduler: the main thread shares these cores
      // with the busy pool and waits up to a few time slices (~3 ms each) for one, which a 2 ms bound did not allow
      // on a loaded 2-core CI machine (2.27 ms measured). 10 ms is above that and far below a call, which the test
      // checks too, so it can still tell the two apart.
      const bound = Math.min(10, callMs / 10);
      assert.ok(callMs >= 50, `one 32 x 128 call took ${callMs.toFixed(1)} ms: too fast for this test to tell a blocked loop from a free one`);
      assert.ok(p99 <= bound, `event-loop delay p99 ${p99.toFixed(2)} ms (bound ${bound.toFixed(1)} ms, one call ${callMs.toFixed(0)} ms)`);
    } finally {
      enc.close();
    }
  });
});
