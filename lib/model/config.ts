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

function int(raw: Record<string, unknown>, key: string, file: string, dflt?: number): number {
  const v = raw[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new BertrtError(`${file}: "${key}" must be a non-negative integer (got ${JSON.stringify(v)})`, 'E_MODEL_FORMAT');
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
    vocabSize: int(raw, 'vocab_size', file),
    hiddenSize: int(raw, 'hidden_size', file),
    numHiddenLayers: int(raw, 'num_hidden_layers', file),
    numAttentionHeads: int(raw, 'num_attention_heads', file),
    intermediateSize: int(raw, 'intermediate_size', file),
    maxPositionEmbeddings: int(raw, 'max_position_embeddings', file),
    typeVocabSize: int(raw, 'type_vocab_size', file, 2),
    layerNormEps: eps,
    hiddenAct,
    padTokenId: int(raw, 'pad_token_id', file, 0),
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
    vocabSize: int(raw, 'vocab_size', file),
    hiddenSize: int(raw, 'dim', file),
    numHiddenLayers: int(raw, 'n_layers', file),
    numAttentionHeads: int(raw, 'n_heads', file),
    intermediateSize: int(raw, 'hidden_dim', file),
    maxPositionEmbeddings: int(raw, 'max_position_embeddings', file),
    typeVocabSize: 0,
    layerNormEps: 1e-12,
    hiddenAct: act,
    padTokenId: int(raw, 'pad_token_id', file, 0),
    raw,
  };
  if (cfg.numAttentionHeads === 0 || cfg.hiddenSize % cfg.numAttentionHeads !== 0) {
    throw new BertrtError(`${file}: dim must be a multiple of n_heads`, 'E_MODEL_FORMAT');
  }
  return cfg;
}
