// Sentence-transformers pooling over the hidden states of one packed batch (light math, so it stays in TS).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError } from '../errors';
import { readJson } from '../model/config';

export type PoolingMode = 'mean' | 'cls' | 'max' | 'mean_sqrt_len' | 'weightedmean' | 'lasttoken';

export interface SentenceConfig {
  pooling: PoolingMode;
  maxSeqLength: number | null;
  /** config_sentence_transformers.json "prompts" */
  prompts: Record<string, string>;
}

const KNOWN_MODULES = new Set([
  'sentence_transformers.models.Transformer',
  'sentence_transformers.models.Pooling',
  'sentence_transformers.models.Normalize',
]);

/** Reads modules.json, 1_Pooling/config.json and sentence_bert_config.json; without them, mean pooling. */
export function readSentenceConfig(dir: string): SentenceConfig {
  const out: SentenceConfig = { pooling: 'mean', maxSeqLength: null, prompts: {} };
  const st = path.join(dir, 'config_sentence_transformers.json');
  if (fs.existsSync(st)) {
    const p = readJson(st).prompts;
    if (p && typeof p === 'object') out.prompts = p as Record<string, string>;
  }
  const modulesFile = path.join(dir, 'modules.json');
  if (fs.existsSync(modulesFile)) {
    const modules = JSON.parse(fs.readFileSync(modulesFile, 'utf8')) as Array<{ type: string; path: string }>;
    for (const m of modules) {
      if (!KNOWN_MODULES.has(m.type)) {
        throw new BertrtError(`${modulesFile}: module "${m.type}" is not supported; refusing to guess what it does`, 'E_UNSUPPORTED');
      }
      if (m.type.endsWith('.Pooling')) out.pooling = readPooling(path.join(dir, m.path, 'config.json'));
    }
  } else if (fs.existsSync(path.join(dir, '1_Pooling', 'config.json'))) {
    out.pooling = readPooling(path.join(dir, '1_Pooling', 'config.json'));
  }
  const sb = path.join(dir, 'sentence_bert_config.json');
  if (fs.existsSync(sb)) {
    const v = readJson(sb).max_seq_length;
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) out.maxSeqLength = v;
  }
  return out;
}

function readPooling(file: string): PoolingMode {
  const c = readJson(file);
  const modes: PoolingMode[] = [];
  if (c.pooling_mode_cls_token) modes.push('cls');
  if (c.pooling_mode_mean_tokens) modes.push('mean');
  if (c.pooling_mode_max_tokens) modes.push('max');
  if (c.pooling_mode_mean_sqrt_len_tokens) modes.push('mean_sqrt_len');
  if (c.pooling_mode_weightedmean_tokens) modes.push('weightedmean');
  if (c.pooling_mode_lasttoken) modes.push('lasttoken');
  if (modes.length !== 1) throw new BertrtError(`${file}: exactly one pooling mode must be set (found ${modes.length})`, 'E_UNSUPPORTED');
  return modes[0];
}

/** Pools rows [begin, end) of hidden ([tokens × dim]) into one vector. */
export function pool(hidden: Float32Array, dim: number, begin: number, end: number, mode: PoolingMode): Float32Array {
  const out = new Float32Array(dim);
  const n = end - begin;
  if (n <= 0) return out;
  if (mode === 'cls' || mode === 'lasttoken') {
    const row = mode === 'cls' ? begin : end - 1;
    out.set(hidden.subarray(row * dim, row * dim + dim));
    return out;
  }
  if (mode === 'max') {
    out.fill(-Infinity);
    for (let t = begin; t < end; t++) {
      const row = t * dim;
      for (let j = 0; j < dim; j++) if (hidden[row + j] > out[j]) out[j] = hidden[row + j];
    }
    return out;
  }
  // Sum in float64, as a long sequence summed in float32 would drift from the reference. weightedmean weighs the
  // token at position p (from 1) by p, as sentence-transformers does.
  const acc = new Float64Array(dim);
  for (let t = begin; t < end; t++) {
    const row = t * dim;
    const w = mode === 'weightedmean' ? t - begin + 1 : 1;
    for (let j = 0; j < dim; j++) acc[j] += w * hidden[row + j];
  }
  const div = mode === 'mean' ? n : mode === 'weightedmean' ? (n * (n + 1)) / 2 : Math.sqrt(n);
  for (let j = 0; j < dim; j++) out[j] = acc[j] / div;
  return out;
}

/** One sentence embedding from rows [begin, end): pooled, cut to its first `truncateDim` dimensions (Matryoshka)
 *  if given, then L2-normalized if asked. Shared by Embedder and the server. */
export function sentenceVector(
  hidden: Float32Array,
  dim: number,
  begin: number,
  end: number,
  mode: PoolingMode,
  truncateDim: number | undefined,
  normalize: boolean,
): Float32Array {
  let v = pool(hidden, dim, begin, end, mode);
  if (truncateDim !== undefined) v = v.slice(0, truncateDim);
  return normalize ? l2normalize(v) : v;
}

export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const inv = 1 / Math.max(Math.sqrt(s), 1e-12); // torch.nn.functional.normalize's eps
  for (let i = 0; i < v.length; i++) v[i] *= inv;
  return v;
}
