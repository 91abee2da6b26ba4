// ONNX model folders: which file to run, and the model config an ONNX graph needs from config.json (which may be
// absent: a graph with a pooled output still serves embeddings without one).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError } from '../errors';
import { type ModelConfig, readConfig, readJson } from './config';
import { familyOf } from './families';

/** Where a folder keeps its ONNX export, in the order looked for (Optimum's root file, then transformers.js' onnx/). */
export const ONNX_FILES = ['model.onnx', 'onnx/model.onnx'] as const;

export interface OnnxOptions {
  /** the ONNX file, relative to the model folder (e.g. 'onnx/model_quantized.onnx'); default: ONNX_FILES */
  file?: string;
  /** the graph output to read (default: sentence_embedding, else last_hidden_state, else the only output) */
  output?: string;
  /** the onnxruntime library (default: $BERTRT_ONNXRUNTIME, then onnxruntime-node's, then the system's) */
  library?: string;
}

/** The ONNX file a folder would run (`file` if given, which must exist), or null. */
export function findOnnxFile(dir: string, file?: string): string | null {
  if (file !== undefined) {
    if (typeof file !== 'string' || file === '') throw new BertrtError('onnx.file must be a file name inside the model folder', 'E_INVALID_ARGUMENT');
    const f = path.resolve(dir, file);
    if (!fs.existsSync(f)) throw new BertrtError(`${f} does not exist`, 'E_MODEL_NOT_FOUND');
    if (!fs.statSync(f).isFile()) throw new BertrtError(`${f} is not a regular file`, 'E_MODEL_FORMAT');
    return f;
  }
  for (const f of ONNX_FILES) if (fs.existsSync(path.join(dir, f))) return path.join(dir, f);
  return null;
}

/** Positions BERT-style ONNX exports take when nothing says otherwise. */
const DEFAULT_MAX_TOKENS = 512;

function intOr(raw: Record<string, unknown>, key: string, dflt: number, lo: number, hi: number): number {
  const v = raw[key];
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? v : dflt;
}

/** The config of a model that runs as an ONNX graph: config.json read as for the native engine when its
 *  model_type is one bertrt knows, else only the fields the tokenizer and pooling use (the graph does the rest). */
export function onnxModelConfig(dir: string): ModelConfig {
  const file = path.join(dir, 'config.json');
  if (fs.existsSync(file)) {
    try {
      return readConfig(dir);
    } catch (e) {
      if (!(e instanceof BertrtError) || e.code !== 'E_UNSUPPORTED') throw e;
    }
  }
  const raw = fs.existsSync(file) ? readJson(file) : {};
  const maxPos = intOr(raw, 'max_position_embeddings', DEFAULT_MAX_TOKENS, 2, 1 << 20);
  const padTokenId = intOr(raw, 'pad_token_id', 0, 0, (1 << 24) - 1);
  const roberta = ['roberta', 'xlm-roberta', 'camembert', 'mpnet'].includes(String(raw.model_type ?? ''));
  return {
    modelType: String(raw.model_type ?? 'onnx'),
    family: familyOf('bert')!,
    architectures: Array.isArray(raw.architectures) ? raw.architectures.map(String) : [],
    // unknown without config.json: onnxruntime's Gather refuses an id past the graph's table
    vocabSize: intOr(raw, 'vocab_size', 1 << 24, 1, 1 << 24),
    hiddenSize: intOr(raw, 'hidden_size', 0, 0, 65536),
    numHiddenLayers: intOr(raw, 'num_hidden_layers', 1, 1, 1024),
    numAttentionHeads: intOr(raw, 'num_attention_heads', 1, 1, 65536),
    intermediateSize: intOr(raw, 'intermediate_size', 1, 1, 1 << 20),
    maxPositionEmbeddings: maxPos,
    maxTokens: roberta && maxPos - padTokenId - 1 >= 2 ? maxPos - padTokenId - 1 : maxPos,
    typeVocabSize: intOr(raw, 'type_vocab_size', 0, 0, 1024),
    layerNormEps: 1e-12,
    hiddenAct: 'gelu',
    padTokenId,
    raw,
  };
}
