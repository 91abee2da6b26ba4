// The families past BERT (XLM-RoBERTa, MPNet, ALBERT, ELECTRA, ModernBERT, DeBERTa-v2, NomicBERT, GTE; RoBERTa and CamemBERT are
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
  writeSt(out, new Map([...readSt(a), ...readSt(b)]));
}

function meanRows(h: Float32Array, H: number): Float32Array {
  const n = h.length / H;
  const m = new Float32Array(H);
  for (let t = 0; t < n; t++) for (let j = 0; j < H; j++) m[j] += h[t * H + j] / n;
  return m;
}

for (const name of ['xlm-roberta', 'mpnet', 'albert', 'electra', 'modernbert', 'deberta-v2', 'nomic-bert', 'gte']) {
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
    // The gated FFNs (NomicBERT's SwiGLU, GTE's GeGLU) multiply two rounded projections, and lose more: measured here
    // BF16 mean 0.99984-0.99985, worst 0.9979-0.9985, INT8 mean 0.9984-0.9987, worst 0.980-0.981 (a torch run of the
    // NomicBERT fixture with only its linear layers' inputs and weights rounded to BF16 gives 0.99989 / 0.99925); their
    // bounds are set below those, far above what a wrong rotation gives (rope theta 10x off, FP32: worst input 0.09
    // NomicBERT, 0.73 GTE).
    const gated = name === 'nomic-bert' || name === 'gte';
    const bounds = gated ? ([['bf16', 0.9998, 0.997], ['int8', 0.998, 0.97]] as const) : ([['bf16', 0.9999, 0.998], ['int8', 0.999, 0.985]] as const);
    for (const [precision, mean, min] of bounds) {
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
for (const name of ['xlm-roberta', 'mpnet', 'albert', 'electra', 'modernbert', 'deberta-v2', 'nomic-bert', 'gte']) {
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

// NomicBERT and GTE come in three spellings: transformers 5 saves the Hub's remote-code tensor names (the fixtures:
// fused Wqkv / qkv_proj, fc11 / fc12 / up_gate_proj, emb_ln, norm1 / norm2, attn_ln / mlp_ln) with its own config;
// the Hub repositories hold the remote code's config.json (NomicBERT's GPT-2 field names; GTE's "new" model with
// rope_theta and NTK rope_scaling, tensors under "new."); a state dict of transformers' modules names them one by one
// (self_attn.q_proj, mlp.gate_proj, post_attention_layernorm, ...). Each must load to the same computation.
type StTensor = { dtype: string; shape: number[]; data: Buffer };

function readSt(file: string): Map<string, StTensor> {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, StTensor>();
  for (const [name, t] of Object.entries(header)) {
    if (name !== '__metadata__') out.set(name, { dtype: t.dtype, shape: t.shape, data: buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]) });
  }
  return out;
}

function writeSt(file: string, tensors: Map<string, StTensor>): void {
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.data.length] };
    at += t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from(json), ...[...tensors.values()].map((t) => t.data)]));
}

/** A fused tensor's rows cut into `parts` equal tensors. */
function cut(t: StTensor, parts: number): StTensor[] {
  const rows = t.shape[0] / parts;
  const bytes = t.data.length / parts;
  return Array.from({ length: parts }, (_, i) => ({ dtype: t.dtype, shape: [rows, ...t.shape.slice(1)], data: t.data.subarray(i * bytes, (i + 1) * bytes) }));
}

/** The saved (remote-code) names rewritten as transformers' modules name them, fused tensors cut. */
function moduleNames(src: Map<string, StTensor>, nomic: boolean): Map<string, StTensor> {
  const out = new Map<string, StTensor>();
  for (const [name, t] of src) {
    const m = /^encoder\.layers?\.(\d+)\.(.*)$/.exec(name);
    if (!m) {
      out.set(name.replace(/^emb_ln\./, 'embeddings.LayerNorm.'), t);
      continue;
    }
    const [, l, rest] = m;
    const put = (to: string, x: StTensor) => out.set(`layers.${l}.${to}`, x);
    const kind = rest.slice(rest.lastIndexOf('.') + 1);
    const mod = rest.slice(0, rest.lastIndexOf('.'));
    if (mod === 'attn.Wqkv' || mod === 'attention.qkv_proj') cut(t, 3).forEach((x, i) => put(`self_attn.${'qkv'[i]}_proj.${kind}`, x));
    else if (mod === 'mlp.up_gate_proj') cut(t, 2).forEach((x, i) => put(`mlp.${i ? 'gate' : 'up'}_proj.${kind}`, x));
    else {
      const to = ({ 'attn.out_proj': 'self_attn.o_proj', 'attention.o_proj': 'self_attn.o_proj', 'mlp.fc11': 'mlp.up_proj', 'mlp.fc12': 'mlp.gate_proj', 'mlp.fc2': 'mlp.down_proj', 'mlp.down_proj': 'mlp.down_proj', norm1: 'post_attention_layernorm', norm2: 'post_mlp_layernorm', attn_ln: 'post_attention_layernorm', mlp_ln: 'post_mlp_layernorm' } as Record<string, string>)[mod];
      assert.ok(to, `unmapped ${name} (${nomic ? 'NomicBERT' : 'GTE'})`);
      put(`${to}.${kind}`, t);
    }
  }
  return out;
}

describe('model families: NomicBERT and GTE as the Hub and transformers spell them', function () {
  async function runAll(dir: string, fixture: Fixture, n = 60): Promise<Float32Array> {
    const tok = Tokenizer.fromDir(dir);
    const enc = await Encoder.load(dir, { threads: 2 });
    try {
      const encodings = fixture.inputs.slice(0, n).map((x) => tok.encode(x.a, x.b, { maxLength: fixture.max_seq_length }));
      return await enc.run(pack(encodings, enc.config.typeVocabSize > 0));
    } finally {
      enc.close();
    }
  }
  const editConfig = (dir: string, f: (c: Record<string, unknown>) => Record<string, unknown>) =>
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(f(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')))));
  /** Each case's fixture with its config.json patched fails to load with `code` and a message matching. */
  async function refused(cases: Array<[string, Record<string, unknown>, RegExp]>, code: string): Promise<void> {
    for (const [name, patch, msg] of cases) {
      const { dir } = familyModel(name);
      try {
        editConfig(dir, (c) => ({ ...c, ...patch }));
        await assert.rejects(Encoder.load(dir, { threads: 1 }), (e: BertrtError) => e.code === code && msg.test(e.message), JSON.stringify(patch));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }

  it("NomicBERT: the Hub's remote-code config.json (GPT-2 field names) gives the same hidden states, bit for bit", async () => {
    const { dir, fixture } = familyModel('nomic-bert');
    try {
      const want = await runAll(dir, fixture);
      editConfig(dir, (c) => ({
        model_type: 'nomic_bert', architectures: ['NomicBertModel'], vocab_size: c.vocab_size, n_embd: c.hidden_size, n_layer: c.num_hidden_layers,
        n_head: c.num_attention_heads, n_inner: c.intermediate_size, n_positions: c.max_position_embeddings, layer_norm_epsilon: c.layer_norm_eps,
        type_vocab_size: c.type_vocab_size, activation_function: 'swiglu', rotary_emb_base: 1000, rotary_emb_fraction: 1.0, rotary_emb_interleaved: false,
        prenorm: false, qkv_proj_bias: false, mlp_fc1_bias: false, mlp_fc2_bias: false, causal: false, rotary_scaling_factor: null, pad_token_id: 0,
      }));
      assert.deepEqual(await runAll(dir, fixture), want);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const name of ['nomic-bert', 'gte']) {
    it(`${name}: tensors under transformers' module names (q/k/v_proj, gate/up/down_proj) give the same hidden states, bit for bit`, async () => {
      const { dir, fixture } = familyModel(name);
      try {
        const want = await runAll(dir, fixture);
        const file = path.join(dir, 'model.safetensors');
        const renamed = moduleNames(readSt(file), name === 'nomic-bert');
        assert.ok(renamed.has('layers.1.self_attn.k_proj.weight') && renamed.has('layers.0.mlp.gate_proj.weight'));
        writeSt(file, renamed);
        assert.deepEqual(await runAll(dir, fixture), want);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('GTE as the Hub\'s "new" model with NTK rope_scaling (factor 2): within 1e-4 of the NTK-scaled reference', async () => {
    const { dir, fixture } = familyModel('gte');
    try {
      editConfig(dir, (c) => {
        const { rope_parameters: rope, ...rest } = c as { rope_parameters: { rope_theta: number } };
        return { ...rest, model_type: 'new', architectures: ['NewModel'], rope_theta: rope.rope_theta, rope_scaling: { type: 'ntk', factor: 2.0 },
          position_embedding_type: 'rope', layer_norm_type: 'layer_norm', logn_attention_scale: false, logn_attention_clip1: false, pack_qkv: true };
      });
      const file = path.join(dir, 'model.safetensors');
      writeSt(file, new Map([...readSt(file)].map(([n, t]) => [`new.${n}`, t])));
      const tok = Tokenizer.fromDir(dir);
      const enc = await Encoder.load(dir, { threads: 2 });
      try {
        assert.equal(enc.config.family.name, 'GTE');
        const picked = fixture.inputs.filter((x) => (x as Input & { ntk?: string }).ntk);
        assert.ok(picked.length >= 25);
        const encodings = picked.map((x) => tok.encode(x.a, x.b, { maxLength: fixture.max_seq_length }));
        const batch = pack(encodings, false);
        const h = await enc.run(batch);
        let worst = 0;
        let plain = 0; // against the unscaled reference: the scaling must matter at this size
        picked.forEach((x, i) => {
          const got = h.subarray(batch.cuSeqlens[i] * 16, batch.cuSeqlens[i + 1] * 16);
          worst = Math.max(worst, maxAbsDiff(got, f32((x as Input & { ntk: string }).ntk)));
          plain = Math.max(plain, maxAbsDiff(got, f32(x.hidden!)));
        });
        assert.ok(worst <= 1e-4, `max abs ${worst}`);
        assert.ok(plain > 1e-2, `the NTK scaling changed nothing (max abs ${plain} to the unscaled reference)`);
      } finally {
        enc.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('variants the engine does not run are refused by name (E_UNSUPPORTED)', async () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['nomic-bert', { n_embd: 16, n_layer: 2, n_head: 2, n_inner: 32, n_positions: 128, prenorm: true }, /prenorm/],
      ['nomic-bert', { n_embd: 16, n_layer: 2, n_head: 2, n_inner: 32, n_positions: 128, rotary_emb_interleaved: true }, /interleaved/],
      ['nomic-bert', { n_embd: 16, n_layer: 2, n_head: 2, n_inner: 32, n_positions: 128, rotary_emb_fraction: 0.5 }, /rotary_emb_fraction/],
      ['nomic-bert', { n_embd: 16, n_layer: 2, n_head: 2, n_inner: 32, n_positions: 128, activation_function: 'gelu' }, /activation_function/],
      ['nomic-bert', { n_embd: 16, n_layer: 2, n_head: 2, n_inner: 32, n_positions: 128, moe_every_n_layers: 2 }, /mixture-of-experts/],
      ['gte', { rope_scaling: { type: 'dynamic', factor: 2 } }, /rope_scaling type "dynamic"/],
      ['gte', { logn_attention_scale: true }, /log-n/],
      ['gte', { layer_norm_type: 'rms_norm' }, /layer_norm_type/],
      ['gte', { rope_parameters: { rope_type: 'yarn', rope_theta: 10000 } }, /rope_type "yarn"/],
    ];
    await refused(cases, 'E_UNSUPPORTED');
  });

  // Dynamic NTK scaling: past the trained length each sequence's frequencies come from its own length. The reference is
  // transformers' NomicBertModel with rope_type "dynamic" (factor 2, trained length 64), each input run alone on a
  // fresh rotary module; bertrt runs them in one packed batch, short and long together.
  for (const spelling of ['remote-code rotary_scaling_factor', 'transformers rope_type "dynamic"'] as const) {
    it(`NomicBERT with dynamic NTK scaling (${spelling}): within 1e-4 of transformers, inputs past the trained length scaled by their own length`, async () => {
      const { dir, fixture } = familyModel('nomic-bert');
      try {
        editConfig(dir, (c) =>
          spelling === 'transformers rope_type "dynamic"'
            ? { ...c, max_position_embeddings: 64, rope_parameters: { rope_type: 'dynamic', factor: 2.0, rope_theta: 1000 } }
            : { model_type: 'nomic_bert', vocab_size: c.vocab_size, n_embd: c.hidden_size, n_layer: c.num_hidden_layers, n_head: c.num_attention_heads,
                n_inner: c.intermediate_size, n_positions: 128, layer_norm_epsilon: c.layer_norm_eps, type_vocab_size: 2, activation_function: 'swiglu',
                rotary_emb_base: 1000, qkv_proj_bias: false, mlp_fc1_bias: false, mlp_fc2_bias: false, rotary_scaling_factor: 2, max_trained_positions: 64 },
        );
        const picked = fixture.inputs.filter((x) => (x as Input & { dyn?: string }).dyn);
        assert.ok(picked.some((x) => x.ids.length > 64) && picked.some((x) => x.ids.length <= 64));
        const tok = Tokenizer.fromDir(dir);
        const enc = await Encoder.load(dir, { threads: 2 });
        try {
          assert.equal(enc.config.maxTokens, 128);
          const encodings = picked.map((x) => tok.encode(x.a, null, { maxLength: 128 }));
          const batch = pack(encodings, true);
          const h = await enc.run(batch);
          let worst = 0;
          let plain = 0; // the long inputs against the unscaled reference: the scaling must matter
          picked.forEach((x, i) => {
            const got = h.subarray(batch.cuSeqlens[i] * 16, batch.cuSeqlens[i + 1] * 16);
            worst = Math.max(worst, maxAbsDiff(got, f32((x as Input & { dyn: string }).dyn)));
            if (x.ids.length > 64 && x.hidden) plain = Math.max(plain, maxAbsDiff(got, f32(x.hidden)));
          });
          assert.ok(worst <= 1e-4, `max abs ${worst}`);
          assert.ok(plain > 1e-2, `the scaling changed nothing (max abs ${plain} to the unscaled reference)`);
        } finally {
          enc.close();
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('a malformed scaling in config.json is E_MODEL_FORMAT naming the field', async () => {
    const remote = { n_embd: 16, n_layer: 2, n_head: 2, n_inner: 32, n_positions: 128, activation_function: 'swiglu' };
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['nomic-bert', { ...remote, rotary_scaling_factor: 0.5 }, /rotary_scaling_factor must be a number in \[1, 1024\]/],
      ['nomic-bert', { ...remote, rotary_scaling_factor: 2, max_trained_positions: 256 }, /trained length 256 exceeds the position limit 128/],
      ['nomic-bert', { rope_parameters: { rope_type: 'dynamic', rope_theta: 1000 } }, /rope_parameters.factor must be a number/],
      ['gte', { rope_scaling: { type: 'ntk', factor: 'two' } }, /rope_scaling.factor must be a number/],
      ['nomic-bert', { ...remote, rotary_emb_base: -1 }, /rotary_emb_base must be a number > 1/],
    ];
    await refused(cases, 'E_MODEL_FORMAT');
  });
});
