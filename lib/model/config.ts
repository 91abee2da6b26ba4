// config.json of a BERT-family model, read and checked before anything is handed to native code.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError } from '../errors';
import type { NativeConfig } from '../native';

export interface ModelConfig extends NativeConfig {
  modelType: string;
  architectures: string[];
  padTokenId: number;
  raw: Record<string, unknown>;
}

const SUPPORTED_TYPES = new Set(['bert', 'distilbert']);

/** Bounds on each size, checked before anything is allocated from it (native check_config holds the same). A
 *  size past them is a broken or hostile file, not a model: the largest encoders in use stay far inside. */
const LIMITS = {
  vocabSize: [1, 1 << 24],
  hiddenSize: [1, 16384],
  numHiddenLayers: [1, 256],
  numAttentionHeads: [1, 16384],
  intermediateSize: [1, 65536],
  maxPositionEmbeddings: [2, 65536],
  typeVocabSize: [0, 1024],
  padTokenId: [0, (1 << 24) - 1],
} as const;

function int(raw: Record<string, unknown>, key: string, file: string, limit: keyof typeof LIMITS, dflt?: number): number {
  const v = raw[key] ?? dflt;
  const [lo, hi] = LIMITS[limit];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new BertrtError(`${file}: "${key}" must be an integer in [${lo}, ${hi}] (got ${JSON.stringify(v)})`, 'E_MODEL_FORMAT');
  }
  return v;
}

/** A JSON object file (or, with `array`, a JSON array file); unreadable or malformed files are typed errors. */
export function readJson(file: string): Record<string, unknown>;
export function readJson(file: string, array: true): unknown[];
export function readJson(file: string, array = false): Record<string, unknown> | unknown[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new BertrtError(`cannot read ${file}: ${(e as Error).message}`, 'E_MODEL_NOT_FOUND');
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (array) {
      if (!Array.isArray(v)) throw new Error('not a JSON array');
      return v as unknown[];
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new BertrtError(`${file} is not valid JSON: ${(e as Error).message}`, 'E_MODEL_FORMAT');
  }
}

export function readConfig(dir: string): ModelConfig {
  const file = path.join(dir, 'config.json');
  const raw = readJson(file);
  const modelType = String(raw.model_type ?? '');
  if (!SUPPORTED_TYPES.has(modelType)) {
    throw new BertrtError(
      `${file}: model_type "${modelType}" is not supported (supported: ${[...SUPPORTED_TYPES].join(', ')})`,
      'E_UNSUPPORTED',
    );
  }
  if (modelType === 'distilbert') return distilbertConfig(raw, file);
  const posType = raw.position_embedding_type ?? 'absolute';
  if (posType !== 'absolute') {
    throw new BertrtError(`${file}: position_embedding_type "${String(posType)}" is not supported`, 'E_UNSUPPORTED');
  }
  const hiddenAct = String(raw.hidden_act ?? 'gelu');
  if (hiddenAct !== 'gelu') {
    throw new BertrtError(`${file}: hidden_act "${hiddenAct}" is not supported (only "gelu")`, 'E_UNSUPPORTED');
  }
  const eps = raw.layer_norm_eps ?? 1e-12;
  if (typeof eps !== 'number' || !(eps > 0 && eps < 1)) {
    throw new BertrtError(`${file}: "layer_norm_eps" must be a number in (0, 1)`, 'E_MODEL_FORMAT');
  }
  const cfg: ModelConfig = {
    modelType,
    architectures: Array.isArray(raw.architectures) ? raw.architectures.map(String) : [],
    vocabSize: int(raw, 'vocab_size', file, 'vocabSize'),
    hiddenSize: int(raw, 'hidden_size', file, 'hiddenSize'),
    numHiddenLayers: int(raw, 'num_hidden_layers', file, 'numHiddenLayers'),
    numAttentionHeads: int(raw, 'num_attention_heads', file, 'numAttentionHeads'),
    intermediateSize: int(raw, 'intermediate_size', file, 'intermediateSize'),
    maxPositionEmbeddings: int(raw, 'max_position_embeddings', file, 'maxPositionEmbeddings'),
    typeVocabSize: int(raw, 'type_vocab_size', file, 'typeVocabSize', 2),
    layerNormEps: eps,
    hiddenAct,
    padTokenId: int(raw, 'pad_token_id', file, 'padTokenId', 0),
    raw,
  };
  if (cfg.numAttentionHeads === 0 || cfg.hiddenSize % cfg.numAttentionHeads !== 0) {
    throw new BertrtError(`${file}: hidden_size must be a multiple of num_attention_heads`, 'E_MODEL_FORMAT');
  }
  return cfg;
}

/** DistilBERT's config.json under BERT's field names: same encoder, no token types, LayerNorm eps 1e-12. */
function distilbertConfig(raw: Record<string, unknown>, file: string): ModelConfig {
  if (raw.sinusoidal_pos_embds === true) throw new BertrtError(`${file}: sinusoidal position embeddings are not supported`, 'E_UNSUPPORTED');
  const act = String(raw.activation ?? 'gelu');
  if (act !== 'gelu') throw new BertrtError(`${file}: activation "${act}" is not supported (only "gelu")`, 'E_UNSUPPORTED');
  const cfg: ModelConfig = {
    modelType: 'distilbert',
    architectures: Array.isArray(raw.architectures) ? raw.architectures.map(String) : [],
    vocabSize: int(raw, 'vocab_size', file, 'vocabSize'),
    hiddenSize: int(raw, 'dim', file, 'hiddenSize'),
    numHiddenLayers: int(raw, 'n_layers', file, 'numHiddenLayers'),
    numAttentionHeads: int(raw, 'n_heads', file, 'numAttentionHeads'),
    intermediateSize: int(raw, 'hidden_dim', file, 'intermediateSize'),
    maxPositionEmbeddings: int(raw, 'max_position_embeddings', file, 'maxPositionEmbeddings'),
    typeVocabSize: 0,
    layerNormEps: 1e-12,
    hiddenAct: act,
    padTokenId: int(raw, 'pad_token_id', file, 'padTokenId', 0),
    raw,
  };
  if (cfg.numAttentionHeads === 0 || cfg.hiddenSize % cfg.numAttentionHeads !== 0) {
    throw new BertrtError(`${file}: dim must be a multiple of n_heads`, 'E_MODEL_FORMAT');
  }
  return cfg;
}
