// Shared test helpers: golden fixture access, float comparisons, and a tiny random BERT directory writer for
// the error paths (a real model is 44 MB; a bad-file test needs a few KB).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { unpackRefs } from './refs';

export const root = path.resolve(__dirname, '..', '..');
export const defaultModel = path.join(root, 'models', 'all-MiniLM-L6-v2');

export interface GoldenSentence {
  text: string;
  ids: number[];
  embedding: string;
  pooled: string;
}

export interface Golden {
  max_seq_length: number;
  quickstart_similarity: { texts: string[]; computed: number[][]; published: number[][] };
  sentences: GoldenSentence[];
}

export function golden(): Golden {
  return JSON.parse(zlib.brotliDecompressSync(fs.readFileSync(path.join(root, 'tests', 'fixtures', 'golden-minilm.json.br'))).toString('utf8')) as Golden;
}

export function f32(b64: string): Float32Array {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}

/** A seeded xorshift32 generator of numbers in [0, 1): the tests', fuzzers' and soak's one source of randomness. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

export function tmpDir(prefix = 'bertrt-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

let onnxCopy: string | null = null;

/** tests/fixtures/onnx as the tests load it: a copy (links followed) with each seeded graph's external data beside
 *  it, model.onnx_data, which is the checkpoint the graph was exported from (tools/make_onnx_fixtures.py keeps the
 *  embedding tables there rather than in git twice). onnxruntime refuses external data reached through a link,
 *  hence the copy; made once a process. */
export function onnxFixtures(): string {
  if (onnxCopy) return onnxCopy;
  const dir = tmpDir('bertrt-onnx-fixtures-');
  fs.cpSync(path.join(root, 'tests', 'fixtures', 'onnx'), dir, { recursive: true, dereference: true });
  for (const [graph, from] of [['bert', 'heads/classifier'], ['bert-logits', 'heads/classifier'], ['xlmr-pooled', 'families/xlm-roberta']]) {
    fs.copyFileSync(path.join(root, 'tests', 'fixtures', from, 'model.safetensors'), path.join(dir, graph, 'model.onnx_data'));
  }
  return (onnxCopy = dir);
}

interface TinyTensor {
  name: string;
  shape: number[];
  dtype?: 'F32' | 'F16';
}

export const tinyConfig = {
  architectures: ['BertModel'],
  model_type: 'bert',
  vocab_size: 40,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 64,
  max_position_embeddings: 24,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  hidden_act: 'gelu',
  pad_token_id: 0,
};

export function tinyTensors(cfg = tinyConfig, prefix = ''): TinyTensor[] {
  const H = cfg.hidden_size;
  const I = cfg.intermediate_size;
  const t: TinyTensor[] = [
    { name: 'embeddings.word_embeddings.weight', shape: [cfg.vocab_size, H] },
    { name: 'embeddings.position_embeddings.weight', shape: [cfg.max_position_embeddings, H] },
    { name: 'embeddings.token_type_embeddings.weight', shape: [cfg.type_vocab_size, H] },
    { name: 'embeddings.LayerNorm.weight', shape: [H] },
    { name: 'embeddings.LayerNorm.bias', shape: [H] },
  ];
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `encoder.layer.${l}.`;
    for (const q of ['query', 'key', 'value']) t.push({ name: `${p}attention.self.${q}.weight`, shape: [H, H] }, { name: `${p}attention.self.${q}.bias`, shape: [H] });
    t.push(
      { name: `${p}attention.output.dense.weight`, shape: [H, H] },
      { name: `${p}attention.output.dense.bias`, shape: [H] },
      { name: `${p}attention.output.LayerNorm.weight`, shape: [H] },
      { name: `${p}attention.output.LayerNorm.bias`, shape: [H] },
      { name: `${p}intermediate.dense.weight`, shape: [I, H] },
      { name: `${p}intermediate.dense.bias`, shape: [I] },
      { name: `${p}output.dense.weight`, shape: [H, I] },
      { name: `${p}output.dense.bias`, shape: [H] },
      { name: `${p}output.LayerNorm.weight`, shape: [H] },
      { name: `${p}output.LayerNorm.bias`, shape: [H] },
    );
  }
  return t.map((x) => ({ ...x, name: prefix + x.name }));
}

/** Serializes tensors (deterministic pseudo-random values) as safetensors bytes. */
export function safetensorsBytes(tensors: TinyTensor[], seed = 1): Buffer {
  let s = seed;
  const rnd = () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return (s / 0x7fffffff) * 0.2 - 0.1;
  };
  const header: Record<string, unknown> = {};
  const blobs: Buffer[] = [];
  let off = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const dtype = t.dtype ?? 'F32';
    const buf = Buffer.alloc(n * (dtype === 'F32' ? 4 : 2));
    for (let i = 0; i < n; i++) {
      const v = t.name.includes('LayerNorm.weight') ? 1 + rnd() : rnd();
      if (dtype === 'F32') buf.writeFloatLE(v, i * 4);
      else buf.writeUInt16LE(0x3c00, i * 2); // 1.0 in F16
    }
    header[t.name] = { dtype, shape: t.shape, data_offsets: [off, off + buf.length] };
    off += buf.length;
    blobs.push(buf);
  }
  let h = JSON.stringify(header);
  while (h.length % 8) h += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, Buffer.from(h), ...blobs]);
}

/** A loadable tiny BERT model directory (random weights, a 40-token vocabulary). */
export function writeTinyModel(opts: { config?: Record<string, unknown>; weights?: Buffer } = {}): string {
  const dir = tmpDir('bertrt-tiny-');
  const cfg = { ...tinyConfig, ...(opts.config ?? {}) };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'a', 'cat', 'dog', 'sat', 'on', 'mat', '.', ',', '##s', 'hello', 'world'];
  while (vocab.length < tinyConfig.vocab_size) vocab.push(`tok${vocab.length}`);
  fs.writeFileSync(path.join(dir, 'vocab.txt'), vocab.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: true }));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), opts.weights ?? safetensorsBytes(tinyTensors()));
  return dir;
}

/** A committed fixture: JSON, brotli- (.br) or gzip-compressed (.gz) or plain. */
export function readFixture(file: string): any {
  const raw = fs.readFileSync(file);
  if (file.endsWith('.refs.br')) return unpackRefs(raw);
  const text = file.endsWith('.br') ? zlib.brotliDecompressSync(raw) : file.endsWith('.gz') ? zlib.gunzipSync(raw) : raw;
  return JSON.parse(text.toString('utf8'));
}

/** HF offsets count code points; JS strings index UTF-16 units. */
export function toUtf16(text: string, cp: number): number {
  return [...text].slice(0, cp).join('').length;
}

/** A token-classification result against HF's: same count, labels, words, UTF-16 offsets (HF's are code points),
 *  scores within tol (1e-4: FP32 engine vs PyTorch FP32 on the same weights, ~1e-6 seen), and the token index where
 *  `withIndex` (aggregation 'none'). */
export function sameEntities(got: any[], want: any[], text: string, withIndex: boolean, tol = 1e-4): void {
  if (got.length !== want.length) throw new Error(`${text}: ${got.length} entities, HF has ${want.length}`);
  got.forEach((e, j) => {
    const w = want[j];
    const where = `${text} #${j}`;
    if ((e.entity ?? e.entity_group) !== (w.entity ?? w.entity_group)) throw new Error(`${where}: label ${e.entity ?? e.entity_group} vs ${w.entity ?? w.entity_group}`);
    if (e.word !== w.word) throw new Error(`${where}: word ${JSON.stringify(e.word)} vs ${JSON.stringify(w.word)}`);
    if (e.start !== toUtf16(text, w.start) || e.end !== toUtf16(text, w.end)) throw new Error(`${where}: span [${e.start}, ${e.end}] vs HF's [${w.start}, ${w.end}]`);
    if (withIndex && e.index !== w.index) throw new Error(`${where}: index ${e.index} vs ${w.index}`);
    if (!(Math.abs(e.score - w.score) <= tol)) throw new Error(`${where}: score ${e.score} vs ${w.score}`);
  });
}

/** A seeded family model of tests/fixtures/families (tools/make_family_models.py) in a temp folder, with its
 *  tokenizer.json put back (the tree keeps one copy, under fixtures/tokenizer), and its reference document. */
export function familyFixture<F extends { tokenizer: string }>(name: string): { dir: string; fixture: F } {
  const fix = path.join(root, 'tests', 'fixtures');
  const fixture = readFixture(path.join(fix, 'families', `${name}.json.br`)) as F;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bertrt-${name}-`));
  fs.cpSync(path.join(fix, 'families', name), dir, { recursive: true });
  const tok = path.join(fix, 'tokenizer', `${fixture.tokenizer}.tokenizer.json`);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), fs.existsSync(tok) ? fs.readFileSync(tok) : zlib.brotliDecompressSync(fs.readFileSync(`${tok}.br`)));
  return { dir, fixture };
}

/** A temp copy of model folder src (links followed) with the files of extra laid over it: the output-head
 *  fixtures of tests/fixtures/outputs on their encoders. */
export function overlayDir(src: string, extra: string): string {
  const dir = tmpDir('bertrt-overlay-');
  fs.cpSync(src, dir, { recursive: true, dereference: true });
  fs.cpSync(extra, dir, { recursive: true });
  return dir;
}
