// The sentence-transformers module chain after the encoder: Pooling over the hidden states of one packed batch,
// then any Dense layers, then Normalize (light math on one vector per text, so it stays in TS).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError } from '../errors';
import { readJson } from '../model/config';
import { openCheckpoint } from '../model/checkpoint';
import { readTensor } from '../model/safetensors';
import { erf } from './math';

export type PoolingMode = 'mean' | 'cls' | 'max' | 'mean_sqrt_len' | 'weightedmean' | 'lasttoken';

/** A sentence-transformers Dense module: act(W x + b) (+ x, or + R x, with use_residual). */
export interface DenseLayer {
  weight: Float32Array; // [out × in]
  bias: Float32Array | null;
  residual: Float32Array | null; // [out × in] when use_residual and in != out
  useResidual: boolean;
  inFeatures: number;
  outFeatures: number;
  activation: (v: number) => number;
}

export interface SentenceConfig {
  /** one mode, or several whose vectors are concatenated in this order (sentence-transformers' multi-mode pooling) */
  pooling: PoolingMode[];
  /** false: the prompt's tokens ([CLS] included) are left out of pooling (Pooling's include_prompt) */
  includePrompt: boolean;
  /** Dense modules after pooling, in order */
  dense: DenseLayer[];
  maxSeqLength: number | null;
  /** config_sentence_transformers.json "prompts" */
  prompts: Record<string, string>;
}

// modules.json names a class by its import path; sentence-transformers 5+ also writes the paths of its new layout
const MODULE_KINDS = new Map<string, 'Transformer' | 'Pooling' | 'Dense' | 'Normalize'>();
for (const kind of ['Transformer', 'Pooling', 'Dense', 'Normalize'] as const) {
  MODULE_KINDS.set(`sentence_transformers.models.${kind}`, kind);
  MODULE_KINDS.set(`sentence_transformers.base.modules.${kind}`, kind);
  MODULE_KINDS.set(`sentence_transformers.base.modules.${kind.toLowerCase()}.${kind}`, kind);
  MODULE_KINDS.set(`sentence_transformers.sentence_transformer.modules.${kind}`, kind);
  MODULE_KINDS.set(`sentence_transformers.sentence_transformer.modules.${kind.toLowerCase()}.${kind}`, kind);
}

// Dense activations by the class path sentence-transformers stores (instantiated with default arguments)
const ACTIVATIONS: Record<string, (v: number) => number> = {
  'torch.nn.modules.linear.Identity': (v) => v,
  'torch.nn.modules.activation.Tanh': Math.tanh,
  'torch.nn.modules.activation.ReLU': (v) => Math.max(v, 0),
  'torch.nn.modules.activation.GELU': (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
  'torch.nn.modules.activation.Sigmoid': (v) => 1 / (1 + Math.exp(-v)),
  'torch.nn.modules.activation.SiLU': (v) => v / (1 + Math.exp(-v)),
};

/** Reads modules.json, 1_Pooling/config.json and sentence_bert_config.json; without them, mean pooling. */
export function readSentenceConfig(dir: string): SentenceConfig {
  const out: SentenceConfig = { pooling: ['mean'], includePrompt: true, dense: [], maxSeqLength: null, prompts: Object.create(null) as Record<string, string> };
  const st = path.join(dir, 'config_sentence_transformers.json');
  if (fs.existsSync(st)) {
    const p = readJson(st).prompts;
    if (p !== undefined && p !== null) {
      if (typeof p !== 'object' || Array.isArray(p)) throw new BertrtError(`${st}: "prompts" must be an object of name: text`, 'E_MODEL_FORMAT');
      // a prototype-free object: a prompt name from a request can only find the model's own prompts
      out.prompts = Object.create(null) as Record<string, string>;
      for (const [name, text] of Object.entries(p)) {
        if (typeof text !== 'string') throw new BertrtError(`${st}: prompt "${name}" must be a string`, 'E_MODEL_FORMAT');
        out.prompts[name] = text;
      }
    }
  }
  const modulesFile = path.join(dir, 'modules.json');
  if (fs.existsSync(modulesFile)) {
    const modules = readJson(modulesFile, true) as Array<{ type?: unknown; path?: unknown }>;
    for (const m of modules) {
      // pylate's Dense projects every token (ColBERT vectors, lib/heads/multivector.ts), not the pooled vector
      if (String(m?.type).startsWith('pylate.models.Dense')) continue;
      const kind = MODULE_KINDS.get(String(m?.type));
      if (!kind) {
        throw new BertrtError(`${modulesFile}: module "${String(m?.type)}" is not supported; refusing to guess what it does`, 'E_UNSUPPORTED');
      }
      const sub = moduleDir(dir, m.path, modulesFile);
      if (kind === 'Pooling') Object.assign(out, readPooling(path.join(sub, 'config.json')));
      if (kind === 'Dense') out.dense.push(readDense(sub));
    }
  } else if (fs.existsSync(path.join(dir, '1_Pooling', 'config.json'))) {
    Object.assign(out, readPooling(path.join(dir, '1_Pooling', 'config.json')));
  }
  const sb = path.join(dir, 'sentence_bert_config.json');
  if (fs.existsSync(sb)) {
    const v = readJson(sb).max_seq_length;
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) out.maxSeqLength = v;
  }
  return out;
}

/** A module's folder: a relative path that stays inside the model folder, symbolic links resolved; anything
 *  else (`../..`, an absolute path, a link out) is refused, so a model file can make bertrt read only its own. */
export function moduleDir(dir: string, rel: unknown, modulesFile: string): string {
  if (rel !== undefined && typeof rel !== 'string') throw new BertrtError(`${modulesFile}: a module's "path" must be a string`, 'E_MODEL_FORMAT');
  const r = rel ?? '';
  const refuse = () => new BertrtError(`${modulesFile}: module path ${JSON.stringify(r)} leaves the model folder`, 'E_MODEL_FORMAT');
  if (path.isAbsolute(r) || r.includes('\0')) throw refuse();
  const root = fs.realpathSync(dir);
  const sub = path.resolve(root, r);
  const inside = (p: string) => p === root || p.startsWith(root + path.sep);
  if (!inside(sub)) throw refuse();
  let real: string;
  try {
    real = fs.realpathSync(sub);
  } catch {
    return sub; // missing: the module's own reader reports which file it lacks
  }
  if (!inside(real)) throw refuse();
  return real;
}

// legacy boolean keys, in the order sentence-transformers concatenates their vectors
const LEGACY_POOLING: Array<[string, PoolingMode]> = [
  ['pooling_mode_cls_token', 'cls'],
  ['pooling_mode_max_tokens', 'max'],
  ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_mean_sqrt_len_tokens', 'mean_sqrt_len'],
  ['pooling_mode_weightedmean_tokens', 'weightedmean'],
  ['pooling_mode_lasttoken', 'lasttoken'],
];
const MODE_NAMES: Record<string, PoolingMode> = {
  cls: 'cls',
  max: 'max',
  mean: 'mean',
  mean_sqrt_len_tokens: 'mean_sqrt_len',
  mean_sqrt_len: 'mean_sqrt_len',
  weightedmean: 'weightedmean',
  lasttoken: 'lasttoken',
};

/** A Pooling module's config.json: sentence-transformers 5+ writes `pooling_mode` (a name or a list of names),
 *  earlier versions one boolean per mode (none set means mean, as sentence-transformers reads it). */
function readPooling(file: string): { pooling: PoolingMode[]; includePrompt: boolean } {
  const c = readJson(file);
  let modes: PoolingMode[];
  if (c.pooling_mode !== undefined) {
    const names = Array.isArray(c.pooling_mode) ? c.pooling_mode : [c.pooling_mode];
    modes = names.map((n) => {
      const mode = Object.hasOwn(MODE_NAMES, String(n)) ? MODE_NAMES[String(n)] : undefined;
      if (!mode) throw new BertrtError(`${file}: pooling mode "${String(n)}" is not supported (supported: ${Object.keys(MODE_NAMES).join(', ')})`, 'E_UNSUPPORTED');
      return mode;
    });
    if (modes.length === 0) throw new BertrtError(`${file}: pooling_mode is empty`, 'E_MODEL_FORMAT');
  } else {
    modes = LEGACY_POOLING.filter(([key]) => c[key] === true).map(([, mode]) => mode);
    if (modes.length === 0) modes = ['mean'];
  }
  return { pooling: modes, includePrompt: c.include_prompt !== false };
}

function readDense(dir: string): DenseLayer {
  const file = path.join(dir, 'config.json');
  const c = readJson(file);
  const inF = c.in_features;
  const outF = c.out_features;
  if (!Number.isInteger(inF) || !Number.isInteger(outF) || (inF as number) < 1 || (outF as number) < 1) {
    throw new BertrtError(`${file}: in_features and out_features must be positive integers`, 'E_MODEL_FORMAT');
  }
  const actName = String(c.activation_function ?? 'torch.nn.modules.activation.Tanh');
  const activation = Object.hasOwn(ACTIVATIONS, actName) ? ACTIVATIONS[actName] : undefined;
  if (!activation) {
    throw new BertrtError(`${file}: activation "${actName}" is not supported (supported: ${Object.keys(ACTIVATIONS).map((a) => a.split('.').pop()).join(', ')})`, 'E_UNSUPPORTED');
  }
  for (const key of ['module_input_name', 'module_output_name']) {
    if (c[key] !== undefined && c[key] !== null && c[key] !== 'sentence_embedding') {
      throw new BertrtError(`${file}: ${key} "${String(c[key])}" is not supported (only the pooled sentence embedding)`, 'E_UNSUPPORTED');
    }
  }
  const h = openCheckpoint(dir);
  const weights = h.path;
  const tensor = (name: string, shape: number[]): Float32Array => {
    const t = h.tensors.get(name);
    if (!t) throw new BertrtError(`${weights}: missing tensor "${name}"`, 'E_MODEL_FORMAT');
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new BertrtError(`${weights}: "${name}" has shape [${t.shape.join(', ')}], config.json implies [${shape.join(', ')}]`, 'E_SHAPE');
    }
    return readTensor(h, name);
  };
  const inFeatures = inF as number;
  const outFeatures = outF as number;
  const useResidual = c.use_residual === true;
  return {
    weight: tensor('linear.weight', [outFeatures, inFeatures]),
    bias: c.bias === false ? null : tensor('linear.bias', [outFeatures]),
    residual: useResidual && inFeatures !== outFeatures ? tensor('residual.weight', [outFeatures, inFeatures]) : null,
    useResidual,
    inFeatures,
    outFeatures,
    activation,
  };
}

/** Width of the sentence vectors: the last Dense layer's, else the pooled width. */
export function sentenceDimension(s: SentenceConfig, hidden: number): number {
  return s.dense.length ? s.dense[s.dense.length - 1].outFeatures : hidden * s.pooling.length;
}

/** Checks the Dense chain fits the pooled width (each layer's input is the previous output). */
export function checkDenseChain(s: SentenceConfig, hidden: number, where: string): void {
  let width = hidden * s.pooling.length;
  for (const [i, d] of s.dense.entries()) {
    if (d.inFeatures !== width) {
      throw new BertrtError(`${where}: Dense module ${i + 1} takes ${d.inFeatures} features but receives ${width}`, 'E_SHAPE');
    }
    width = d.outFeatures;
  }
}

function applyDense(x: Float32Array, d: DenseLayer): Float32Array {
  const y = new Float32Array(d.outFeatures);
  for (let o = 0; o < d.outFeatures; o++) {
    let acc = d.bias ? d.bias[o] : 0;
    const row = o * d.inFeatures;
    for (let i = 0; i < d.inFeatures; i++) acc += d.weight[row + i] * x[i];
    let v = d.activation(acc);
    if (d.useResidual) {
      if (d.residual) {
        let r = 0;
        for (let i = 0; i < d.inFeatures; i++) r += d.residual[row + i] * x[i];
        v += r;
      } else {
        v += x[o];
      }
    }
    y[o] = v;
  }
  return y;
}

/** Pools rows [begin, end) of hidden ([tokens × dim]) into one vector; the first `skip` rows (a prompt left out
 *  of pooling) take no part, except that positions still count from `begin` for weightedmean and a sequence of
 *  prompt only keeps its last token, as sentence-transformers does. */
export function pool(hidden: Float32Array, dim: number, begin: number, end: number, mode: PoolingMode, skip = 0): Float32Array {
  const out = new Float32Array(dim);
  if (end - begin <= 0) return out;
  const first = Math.min(begin + skip, end - 1);
  const n = end - first;
  if (mode === 'cls' || mode === 'lasttoken') {
    const row = mode === 'cls' ? first : end - 1;
    out.set(hidden.subarray(row * dim, row * dim + dim));
    return out;
  }
  // Column by column, four at a time, each column's running value in a local (the loops V8 compiles best: ~3x faster
  // than one Float64Array accumulator per column, and the same additions in the same order, so the same bits).
  let j = 0;
  if (mode === 'max') {
    for (; j + 4 <= dim; j += 4) {
      let m0 = -Infinity, m1 = -Infinity, m2 = -Infinity, m3 = -Infinity;
      for (let r = first * dim + j, e = end * dim + j; r < e; r += dim) {
        if (hidden[r] > m0) m0 = hidden[r];
        if (hidden[r + 1] > m1) m1 = hidden[r + 1];
        if (hidden[r + 2] > m2) m2 = hidden[r + 2];
        if (hidden[r + 3] > m3) m3 = hidden[r + 3];
      }
      out[j] = m0, out[j + 1] = m1, out[j + 2] = m2, out[j + 3] = m3;
    }
    for (; j < dim; j++) {
      let m = -Infinity;
      for (let r = first * dim + j, e = end * dim + j; r < e; r += dim) if (hidden[r] > m) m = hidden[r];
      out[j] = m;
    }
    return out;
  }
  // Sum in float64, as a long sequence summed in float32 would drift from the reference. weightedmean weighs the
  // token at position p (from 1) by p, as sentence-transformers does (w * x is exact in float64 for any float x).
  let weights = 0;
  for (let t = first; t < end; t++) weights += mode === 'weightedmean' ? t - begin + 1 : 1;
  const div = mode === 'mean_sqrt_len' ? Math.sqrt(n) : weights;
  if (mode === 'weightedmean') {
    for (; j < dim; j++) {
      let s = 0;
      for (let t = first, r = first * dim + j; t < end; t++, r += dim) s += (t - begin + 1) * hidden[r];
      out[j] = s / div;
    }
    return out;
  }
  for (; j + 4 <= dim; j += 4) {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let r = first * dim + j, e = end * dim + j; r < e; r += dim) {
      s0 += hidden[r];
      s1 += hidden[r + 1];
      s2 += hidden[r + 2];
      s3 += hidden[r + 3];
    }
    out[j] = s0 / div, out[j + 1] = s1 / div, out[j + 2] = s2 / div, out[j + 3] = s3 / div;
  }
  for (; j < dim; j++) {
    let s = 0;
    for (let r = first * dim + j, e = end * dim + j; r < e; r += dim) s += hidden[r];
    out[j] = s / div;
  }
  return out;
}

/** One sentence embedding from rows [begin, end): pooled, through the Dense modules, cut to its first
 *  `truncateDim` dimensions (Matryoshka) if given, then L2-normalized if asked. Shared by Embedder and the server. */
export function sentenceVector(
  hidden: Float32Array,
  dim: number,
  begin: number,
  end: number,
  sentence: SentenceConfig,
  truncateDim: number | undefined,
  normalize: boolean,
  promptTokens = 0,
): Float32Array {
  const skip = sentence.includePrompt ? 0 : promptTokens;
  let v: Float32Array;
  if (sentence.pooling.length === 1) {
    v = pool(hidden, dim, begin, end, sentence.pooling[0], skip);
  } else {
    v = new Float32Array(dim * sentence.pooling.length);
    sentence.pooling.forEach((mode, i) => v.set(pool(hidden, dim, begin, end, mode, skip), i * dim));
  }
  for (const d of sentence.dense) v = applyDense(v, d);
  if (truncateDim !== undefined) v = v.slice(0, truncateDim);
  if (normalize) l2normalize(v);
  assertFinite(v, 'a sentence vector');
  return v;
}

/** A vector that is about to leave bertrt holds only finite numbers (JSON would turn NaN into null). */
export function assertFinite(v: ArrayLike<number>, what: string): void {
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) {
      throw new BertrtError(`the model produced a non-finite value (${v[i]}) in ${what}: its weights or activations overflow`, 'E_NON_FINITE');
    }
  }
}

export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const inv = 1 / Math.max(Math.sqrt(s), 1e-12); // torch.nn.functional.normalize's eps
  for (let i = 0; i < v.length; i++) v[i] *= inv;
  return v;
}
