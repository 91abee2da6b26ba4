// Outputs past one dense vector per text, read from the files the reference libraries write:
//   bge-m3 (FlagEmbedding): colbert_linear.pt and sparse_linear.pt beside the encoder. ColBERT vectors are
//     colbert_linear over every token but the first, each L2-normalized; the sparse weight of a token is
//     relu(sparse_linear(h)), the max per vocabulary id, the classifier / end / padding / unknown tokens left out.
//   ColBERT (pylate, sentence-transformers layout): modules.json names pylate's Dense modules after the encoder, and
//     config_sentence_transformers.json the query / document prefix tokens, lengths, [MASK] query expansion and the
//     punctuation skip-list.
// The projections run natively over every token (HeadLinear); only per-row normalization stays here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError } from '../errors';
import { readJson } from '../model/config';
import { openCheckpoint } from '../model/checkpoint';
import { readTensor, type SafetensorsHeader } from '../model/safetensors';
import { readTorchCheckpoint } from '../model/torch';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { HeadLinear } from './linear';
import { l2normalize, moduleDir } from './pooling';

/** One vector per token: `rows` vectors of `dim` floats, row-major in `data`. */
export interface MultiVector {
  data: Float32Array;
  rows: number;
  dim: number;
}

/** ColBERT's late-interaction score: for each query vector, the largest dot product with any document vector,
 *  summed over the query (pylate's colbert_scores; bge-m3's colbert_score divides it by the query's rows). */
export function maxSim(query: MultiVector, doc: MultiVector): number {
  if (query.dim !== doc.dim) throw new BertrtError(`maxSim: the query's vectors have ${query.dim} dimensions, the document's ${doc.dim}`, 'E_SHAPE');
  const d = query.dim;
  let total = 0;
  for (let i = 0; i < query.rows; i++) {
    let best = -Infinity;
    for (let j = 0; j < doc.rows; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += query.data[i * d + k] * doc.data[j * d + k];
      if (s > best) best = s;
    }
    if (doc.rows > 0) total += best;
  }
  return total;
}

/** Normalizes each row of x [rows × dim] in place (torch.nn.functional.normalize's eps). */
export function normalizeRows(x: Float32Array, dim: number): Float32Array {
  for (let r = 0; r < x.length; r += dim) l2normalize(x.subarray(r, r + dim));
  return x;
}

function torchLinear(file: string, inFeatures: number, threads: number, outFeatures?: number): HeadLinear {
  const { tensors } = readTorchCheckpoint(file);
  const h: SafetensorsHeader = { path: file, files: [file], fileSize: 0, metadata: {}, tensors };
  const w = tensors.get('weight');
  if (!w || w.shape.length !== 2 || w.shape[1] !== inFeatures || (outFeatures !== undefined && w.shape[0] !== outFeatures)) {
    throw new BertrtError(`${file}: expected a Linear state dict with weight [${outFeatures ?? 'n'}, ${inFeatures}], found ${w ? `[${w.shape.join(', ')}]` : 'no weight'}`, 'E_SHAPE');
  }
  const n = w.shape[0];
  const b = tensors.get('bias');
  if (b && (b.shape.length !== 1 || b.shape[0] !== n)) throw new BertrtError(`${file}: bias has shape [${b.shape.join(', ')}], not [${n}]`, 'E_SHAPE');
  return new HeadLinear(readTensor(h, 'weight'), n, inFeatures, b ? readTensor(h, 'bias') : null, 'none', threads);
}

/** Token ids of the special tokens named in tokenizer_config.json (a string or an AddedToken object). */
function configuredSpecial(dir: string, tokenizer: Tokenizer, key: string): number | undefined {
  const file = path.join(dir, 'tokenizer_config.json');
  if (!fs.existsSync(file)) return undefined;
  const v = readJson(file)[key];
  const content = typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string' ? (v as { content: string }).content : undefined;
  return content === undefined ? undefined : tokenizer.tokenToId(content);
}

export interface M3Heads {
  colbert: HeadLinear | null;
  sparse: HeadLinear | null;
  /** ids the sparse output never holds: the classifier, end, padding and unknown tokens */
  unused: Set<number>;
}

/** bge-m3's heads, if the folder has them (either file alone is enough for that output). */
export function readM3Heads(dir: string, hidden: number, tokenizer: Tokenizer, threads: number): M3Heads | null {
  const c = path.join(dir, 'colbert_linear.pt');
  const s = path.join(dir, 'sparse_linear.pt');
  if (!fs.existsSync(c) && !fs.existsSync(s)) return null;
  const unused = new Set<number>();
  const named = ['cls_token', 'eos_token', 'pad_token', 'unk_token'].map((k) => configuredSpecial(dir, tokenizer, k));
  const found = named.some((id) => id !== undefined);
  // without a tokenizer_config: the tokenizer's own classifier / padding / unknown tokens, and </s> if it has one
  const ids = found ? named : [...(['cls', 'pad', 'unk'] as const).map((k) => tokenizer.specialTokenFor(k)).map((t) => (t === undefined ? undefined : tokenizer.tokenToId(t))), tokenizer.tokenToId('</s>')];
  for (const id of ids) if (id !== undefined) unused.add(id);
  return {
    colbert: fs.existsSync(c) ? torchLinear(c, hidden, threads) : null,
    sparse: fs.existsSync(s) ? torchLinear(s, hidden, threads, 1) : null,
    unused,
  };
}

export interface ColbertConfig {
  /** the token inserted after the first ([CLS]) token of queries / documents; null: none */
  queryPrefixId: number | null;
  documentPrefixId: number | null;
  /** token budgets, the prefix included */
  queryLength: number;
  documentLength: number;
  /** queries are padded with [MASK] to queryLength and every query token gets a vector */
  expansion: boolean;
  /** the [MASK] padding is attended to (else it only queries: attention mask 0, as pylate's default) */
  attendToExpansion: boolean;
  maskId: number;
  /** document tokens that get no vector (punctuation) */
  skip: Set<number>;
  /** the Dense modules, in order (pylate writes them without bias or activation) */
  dense: HeadLinear[];
  dim: number;
}

const PYLATE_DENSE = new Set(['pylate.models.Dense.Dense', 'pylate.models.Dense']);

/** A pylate ColBERT folder's configuration, or null when modules.json names no pylate Dense module. */
export function readColbertConfig(dir: string, hidden: number, tokenizer: Tokenizer, threads: number): ColbertConfig | null {
  const modulesFile = path.join(dir, 'modules.json');
  if (!fs.existsSync(modulesFile)) return null;
  const modules = readJson(modulesFile, true) as Array<{ type?: unknown; path?: unknown }>;
  if (!modules.some((m) => PYLATE_DENSE.has(String(m?.type)))) return null;
  const stFile = path.join(dir, 'config_sentence_transformers.json');
  const st = fs.existsSync(stFile) ? readJson(stFile) : {};
  const dense: HeadLinear[] = [];
  let width = hidden;
  for (const m of modules) {
    const type = String(m?.type);
    if (!PYLATE_DENSE.has(type)) continue;
    const sub = moduleDir(dir, m.path, modulesFile);
    const c = readJson(path.join(sub, 'config.json'));
    const act = String(c.activation_function ?? 'torch.nn.modules.linear.Identity');
    if (act !== 'torch.nn.modules.linear.Identity') throw new BertrtError(`${sub}: ColBERT Dense activation ${act} is not supported (only Identity)`, 'E_UNSUPPORTED');
    if (c.use_residual === true) throw new BertrtError(`${sub}: ColBERT Dense with use_residual is not supported`, 'E_UNSUPPORTED');
    const inF = c.in_features, outF = c.out_features;
    if (inF !== width || !Number.isInteger(outF) || (outF as number) < 1) throw new BertrtError(`${sub}: in_features ${String(inF)} / out_features ${String(outF)} do not follow the previous width ${width}`, 'E_SHAPE');
    const h = openCheckpoint(sub);
    const w = h.tensors.get('linear.weight');
    if (!w || w.shape[0] !== outF || w.shape[1] !== inF) throw new BertrtError(`${h.path}: linear.weight must be [${String(outF)}, ${String(inF)}]`, 'E_SHAPE');
    const bias = c.bias === false || !h.tensors.has('linear.bias') ? null : readTensor(h, 'linear.bias');
    dense.push(new HeadLinear(readTensor(h, 'linear.weight'), outF as number, width, bias, 'none', threads));
    width = outF as number;
  }
  const unk = tokenizer.specialTokenFor('unk');
  const unkId = unk === undefined ? undefined : tokenizer.tokenToId(unk);
  // HF's convert_tokens_to_ids: a token outside the vocabulary is the unknown token's id
  const idOf = (t: string): number | undefined => tokenizer.tokenToId(t) ?? unkId;
  const prefix = (key: string, dflt: string): number | null => {
    const v = st[key] === undefined || st[key] === null ? dflt : String(st[key]);
    if (v === '') return null;
    const id = tokenizer.tokenToId(v);
    if (id === undefined) throw new BertrtError(`${stFile}: the ${key} ${JSON.stringify(v)} is not a token of the tokenizer`, 'E_MODEL_FORMAT');
    return id;
  };
  const length = (key: string, dflt: number): number => {
    const v = st[key] ?? dflt;
    if (!Number.isInteger(v) || (v as number) < 3 || (v as number) > 1 << 16) throw new BertrtError(`${stFile}: ${key} must be an integer in [3, 65536]`, 'E_MODEL_FORMAT');
    return v as number;
  };
  const mask = tokenizer.specialTokenFor('mask');
  const expansion = st.do_query_expansion !== false;
  const maskId = mask === undefined ? undefined : tokenizer.tokenToId(mask);
  if (expansion && maskId === undefined) throw new BertrtError(`${dir}: query expansion pads with the mask token, which the tokenizer lacks`, 'E_MODEL_FORMAT');
  const words = Array.isArray(st.skiplist_words) ? st.skiplist_words.map(String) : [...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'];
  const skip = new Set<number>();
  for (const w of words) {
    const id = idOf(w);
    if (id !== undefined) skip.add(id);
  }
  return {
    queryPrefixId: prefix('query_prefix', '[unused0]'),
    documentPrefixId: prefix('document_prefix', '[unused1]'),
    queryLength: length('query_length', 32),
    documentLength: length('document_length', 180),
    expansion,
    attendToExpansion: expansion && st.attend_to_expansion_tokens === true,
    maskId: maskId ?? 0,
    skip,
    dense,
    dim: width,
  };
}
