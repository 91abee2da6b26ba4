// The families past BERT (XLM-RoBERTa, MPNet, ALBERT, ELECTRA, ModernBERT, DeBERTa-v2; RoBERTa and CamemBERT are
// XLM-R's computation under other names) against transformers and sentence-transformers on the seeded
// models of tools/make_family_models.py: ids, last hidden states and sentence vectors of 200 inputs per model (long
// ones up to the position limit, pairs, literal pad tokens), in one packed batch. Tolerances: 1e-4 max abs on
// hidden states (FP32 against FP32 on the same F16-rounded weights: the sums' order differs, nothing else), cosine
// 0.99999 on sentence vectors; INT8 and BF16 against the same FP32 reference (their bounds below).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { pack } from '../lib/batch';
import { BertrtError, Embedder, pipeline } from '../lib';
import { Encoder } from '../lib/model/engine';
import { Tokenizer } from '../lib/tokenizer/tokenizer';
import { cosine, f32, familyFixture, maxAbsDiff, root, sameEntities } from './helpers/fixtures';

const familyModel = (name: string) => familyFixture<Fixture>(name);

interface Input {
  a: string;
  b: string | null;
  ids: number[];
  mean: string;
  hidden?: string;
  st?: string;
}
interface Fixture {
  heads: any;
  model: string;
  tokenizer: string;
  hidden_size: number;
  max_seq_length: number;
  inputs: Input[];
}

const FIX = path.join(root, 'tests', 'fixtures');

/** Writes the tensors of two safetensors files as one (the fixtures' heads beside their encoder). */
function mergeSafetensors(a: string, b: string, out: string): void {
  const parts = [a, b].map((f) => {
    const buf = fs.readFileSync(f);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    return { buf, data: 8 + n, header };
  });
  const header: Record<string, unknown> = {};
  const chunks: Buffer[] = [];
  let at = 0;
  for (const p of parts) {
    for (const [name, t] of Object.entries(p.header)) {
      if (name === '__metadata__') continue;
      const bytes = p.buf.subarray(p.data + t.data_offsets[0], p.data + t.data_offsets[1]);
      header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + bytes.length] };
      chunks.push(bytes);
      at += bytes.length;
    }
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(out, Buffer.concat([len, Buffer.from(json), ...chunks]));
}

function meanRows(h: Float32Array, H: number): Float32Array {
  const n = h.length / H;
  const m = new Float32Array(H);
  for (let t = 0; t < n; t++) for (let j = 0; j < H; j++) m[j] += h[t * H + j] / n;
  return m;
}

for (const name of ['xlm-roberta', 'mpnet', 'albert', 'electra', 'modernbert', 'deberta-v2']) {
  describe(`model family: ${name} vs transformers`, function () {
    let dir: string;
    let fixture: Fixture;
    before(() => ({ dir, fixture } = familyModel(name)));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    async function hidden(precision: 'fp32' | 'int8' | 'bf16'): Promise<Float32Array[]> {
      const tok = Tokenizer.fromDir(dir);
      const enc = await Encoder.load(dir, { precision, threads: 2 });
      try {
        const encodings = fixture.inputs.map((x) => tok.encode(x.a, x.b, { maxLength: fixture.max_seq_length }));
        const batch = pack(encodings, enc.config.typeVocabSize > 0);
        const h = await enc.run(batch);
        const H = fixture.hidden_size;
        return encodings.map((_, i) => h.subarray(batch.cuSeqlens[i] * H, batch.cuSeqlens[i + 1] * H));
      } finally {
        enc.close();
      }
    }

    it('tokenizes every input as HF tokenizers does', () => {
      const tok = Tokenizer.fromDir(dir);
      for (const x of fixture.inputs) assert.deepEqual(Array.from(tok.encode(x.a, x.b, { maxLength: fixture.max_seq_length }).ids), x.ids, JSON.stringify(x.a));
      // the fixture reaches the position limit and holds pad tokens inside texts
      assert.equal(Math.max(...fixture.inputs.map((x) => x.ids.length)), fixture.max_seq_length);
      assert.ok(fixture.inputs.some((x) => x.ids.slice(1).includes(1)));
    });

    it('last hidden states within 1e-4 of transformers (200 inputs in one packed batch)', async () => {
      const hs = await hidden('fp32');
      const H = fixture.hidden_size;
      let worst = 0;
      let full = 0;
      fixture.inputs.forEach((x, i) => {
        if (x.hidden) {
          worst = Math.max(worst, maxAbsDiff(hs[i], f32(x.hidden)));
          full++;
        }
        worst = Math.max(worst, maxAbsDiff(meanRows(hs[i], H), f32(x.mean)));
      });
      assert.ok(full >= 25);
      assert.ok(worst <= 1e-4, `max abs ${worst}`);
    });

    it('sentence vectors: cosine >= 0.99999 to sentence-transformers', async () => {
      const emb = await Embedder.load(dir, { threads: 2 });
      try {
        const singles = fixture.inputs.filter((x) => x.st);
        const v = await emb.embed(singles.map((x) => x.a));
        const worst = Math.min(...v.map((e, i) => cosine(e, f32(singles[i].st!))));
        assert.ok(worst >= 0.99999, `min cosine ${worst}`);
      } finally {
        await emb.close();
      }
    });

    // Mean-pooled vectors against the FP32 reference. BF16 rounds every GEMM input to 8 bits of mantissa (relative
    // error 2^-9 per element); INT8 has 255 levels per token row and per weight row. At hidden size 16 each output
    // sums 16-32 products, and a 5-token input's mean averages 5 rows, so the errors cancel far less than in real
    // models (bench/results/accuracy.md measures those): measured here, mean cosine 0.99992-0.99999 (BF16) and
    // 0.9996-0.9999 (INT8), worst inputs (the shortest) 0.9989 and 0.990 (ELECTRA, whose 8-wide embeddings go through
    // a projection). The bounds leave that margin and stay far
    // above what a wrong position or relative bias gives (cosine < 0.9 on these models).
    for (const [precision, mean, min] of [['bf16', 0.9999, 0.998], ['int8', 0.999, 0.985]] as const) {
      it(`${precision} runs the family: mean-pooled cosine to the FP32 reference >= ${mean} on average, >= ${min} each`, async function () {
        let hs: Float32Array[];
        try {
          hs = await hidden(precision);
        } catch (e) {
          if (precision === 'bf16' && e instanceof BertrtError && e.code === 'E_UNSUPPORTED') return this.skip();
          throw e;
        }
        const cs = hs.map((h, i) => cosine(meanRows(h, fixture.hidden_size), f32(fixture.inputs[i].mean)));
        const avg = cs.reduce((x, y) => x + y) / cs.length;
        assert.ok(avg >= mean && Math.min(...cs) >= min, `mean cosine ${avg}, min ${Math.min(...cs)}`);
      });
    }

    it('a sequence past the position table: E_INPUT_TOO_LONG naming the limit', async () => {
      const enc = await Encoder.load(dir, { threads: 1 });
      try {
        const n = fixture.max_seq_length + 1;
        const ids = Int32Array.from({ length: n }, (_, i) => 5 + (i % 50));
        await assert.rejects(enc.run({ ids, typeIds: null, cuSeqlens: Int32Array.of(0, n) }), (e: BertrtError) => e.code === 'E_INPUT_TOO_LONG' && e.message.includes(`at most ${fixture.max_seq_length}`));
        assert.equal(enc.config.maxTokens, fixture.max_seq_length);
      } finally {
        enc.close();
      }
    });
  });
}

// RoBERTa and CamemBERT: transformers' RobertaModel, XLMRobertaModel and CamembertModel are one computation (the
// latter two copy the first); families.ts gives them one entry. The XLM-R weights under each model_type give the
// same hidden states, bit for bit.
describe('model family: roberta and camembert are XLM-R under their own names', function () {
  it('the same weights give the same hidden states under model_type roberta, camembert and xlm-roberta', async () => {
    const { dir, fixture } = familyModel('xlm-roberta');
    try {
      const tok = Tokenizer.fromDir(dir);
      const encodings = fixture.inputs.slice(0, 40).map((x) => tok.encode(x.a, x.b, { maxLength: fixture.max_seq_length }));
      const outs: Float32Array[] = [];
      for (const type of ['xlm-roberta', 'roberta', 'camembert']) {
        const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
        c.model_type = type;
        fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c));
        const enc = await Encoder.load(dir, { threads: 1 });
        try {
          assert.equal(enc.config.family.name, 'RoBERTa / XLM-RoBERTa / CamemBERT');
          outs.push(await enc.run(pack(encodings, false)));
        } finally {
          enc.close();
        }
      }
      assert.deepEqual(outs[1], outs[0]);
      assert.deepEqual(outs[2], outs[0]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The families' task heads (RoBERTa's classification head, lm_head, the token classifier) against transformers'
// pipelines on the same seeded weights: labels and tokens equal, scores within 1e-4.
for (const name of ['xlm-roberta', 'mpnet', 'albert', 'electra', 'modernbert', 'deberta-v2']) {
  describe(`model family: ${name} task heads vs transformers pipelines`, function () {
    let dir: string;
    let heads: any;
    before(() => {
      let fixture: Fixture;
      ({ dir, fixture } = familyModel(name));
      heads = fixture.heads;
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** The folder with the config.json of one task: the weights file holds every head, or (ModernBERT, whose heads
     *  share names) this task's heads-<class>.safetensors is merged into it. */
    function task(arch: string, labels: string[] | null): string {
      const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      c.architectures = [arch];
      if (labels) c.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
      const d = `${dir}-${arch}`;
      fs.cpSync(dir, d, { recursive: true });
      fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(c));
      const head = path.join(d, `heads-${arch}.safetensors`);
      if (fs.existsSync(head)) mergeSafetensors(path.join(d, 'model.safetensors'), head, path.join(d, 'model.safetensors'));
      return d;
    }
    const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-4, `${what}: ${a} vs ${b}`);

    it('text-classification (classifier.dense + out_proj over <s>): texts and pairs', async () => {
      const d = task(heads.architectures.classification, heads.sentiment);
      const p = await pipeline('text-classification', d);
      try {
        const single = (await p(heads.texts, { topK: null })) as Array<Array<{ label: string; score: number }>>;
        const pairs = (await p(heads.pairs.map(([a, b]: [string, string]) => ({ text: a, text_pair: b })), { topK: null })) as typeof single;
        for (const [got, want] of [[single, heads.classification.single], [pairs, heads.classification.pairs]]) {
          got.forEach((r, i) => {
            assert.deepEqual(r.map((x) => x.label), want[i].map((x: any) => x.label), `input ${i}: ${JSON.stringify(r)} vs HF ${JSON.stringify(want[i])}`);
            r.forEach((x, j) => close(x.score, want[i][j].score, `input ${i}`));
          });
        }
      } finally {
        await p.dispose();
        fs.rmSync(d, { recursive: true, force: true });
      }
    });

    it('fill-mask (lm_head, tied decoder): top-5 tokens and scores', async function () {
      if (!heads.architectures.fill_mask) return this.skip(); // (DeBERTa's MLM head is not built)
      const d = task(heads.architectures.fill_mask, null);
      const p = await pipeline('fill-mask', d);
      try {
        for (const [i, text] of heads.masked.entries()) {
          const r = (await p(text, { topK: 5 })) as Array<{ token: number; token_str: string; score: number }>;
          assert.deepEqual(r.map((x) => x.token), heads.fill_mask[i].map((x: any) => x.token), text);
          r.forEach((x, j) => close(x.score, heads.fill_mask[i][j].score, text));
        }
      } finally {
        await p.dispose();
        fs.rmSync(d, { recursive: true, force: true });
      }
    });

    it('token-classification, aggregation none and simple: entities, words, spans, scores', async function () {
      // (ALBERT names its token classifier "classifier" as its sequence classifier: the fixture holds the latter)
      if (!heads.architectures.ner) return this.skip();
      const d = task(heads.architectures.ner, heads.ner_labels);
      const p = await pipeline('token-classification', d);
      try {
        for (const agg of ['none', 'simple'] as const) {
          const r = (await p(heads.texts, { aggregationStrategy: agg })) as any[][];
          r.forEach((ents, i) => sameEntities(ents, heads.ner[agg][i], heads.texts[i], agg === 'none'));
        }
      } finally {
        await p.dispose();
        fs.rmSync(d, { recursive: true, force: true });
      }
    });
  });
}

// ModernBERT with an MLP wider than the GEMM's 256-wide K blocks (intermediate 600, tools/make_family_models.py): token
// ids straight in, last hidden states within 1e-4 of transformers. (A residual added by the GEMM into its own output
// once read partial sums past the first K block; the 24-wide MLP of the other fixture did not show it.)
describe('model family: modernbert with a 600-wide MLP', () => {
  it('last hidden states within 1e-4 of transformers', async () => {
    const fx = JSON.parse(zlib.brotliDecompressSync(fs.readFileSync(path.join(FIX, 'families', 'modernbert-wide.json.br'))).toString('utf8')) as { inputs: Array<{ ids: number[]; hidden: string }> };
    const enc = await Encoder.load(path.join(FIX, 'families', 'modernbert-wide'), { threads: 2 });
    try {
      const ids = Int32Array.from(fx.inputs.flatMap((x) => x.ids));
      const cu = Int32Array.from([0, ...fx.inputs.map((_, i) => fx.inputs.slice(0, i + 1).reduce((n, x) => n + x.ids.length, 0))]);
      const h = await enc.run({ ids, typeIds: null, cuSeqlens: cu });
      fx.inputs.forEach((x, i) => {
        const worst = maxAbsDiff(h.subarray(cu[i] * 32, cu[i + 1] * 32), f32(x.hidden));
        assert.ok(worst <= 1e-4, `input ${i}: max abs ${worst}`);
      });
    } finally {
      enc.close();
    }
  });
});
