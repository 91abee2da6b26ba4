// Sentence embeddings: tokenize, pack, run the encoder, pool as the model's sentence-transformers config says.
import * as path from 'node:path';
import { pack } from './batch';
import { BertrtError, invalidArgument } from './errors';
import { assertFinite, checkDenseChain, l2normalize, type PoolingMode, readSentenceConfig, sentenceDimension, sentenceVector, type SentenceConfig } from './heads/pooling';
import { checkTokenizerFits, Encoder, type EngineOptions } from './model/engine';
import { resolveModel } from './model/resolve';
import { type Encoding, Tokenizer } from './tokenizer/tokenizer';
import { encodeWithinAsync } from './truncate';
import { mlmHead } from './heads/fill-mask';
import { activation, activationName, TaskModel } from './heads/task-model';
import { layerNormRows } from './heads/math';
import { HeadLinear } from './heads/linear';
import { type ColbertConfig, type M3Heads, type MultiVector, normalizeRows, readColbertConfig, readM3Heads } from './heads/multivector';

export interface EmbedderOptions extends EngineOptions {}

export interface EmbedOptions {
  /** L2-normalize each vector (default true, as TEI and sentence-transformers models with a Normalize module do). */
  normalize?: boolean;
  /** Texts longer than maxSeqLength tokens: cut from the right (default, as sentence-transformers does), from the
   *  left, refuse with E_INPUT_TOO_LONG, or 'chunk': embed every window of maxSeqLength tokens (consecutive windows
   *  share `chunkOverlap` tokens) and pool the window vectors into one (`chunkPooling`). */
  truncate?: 'right' | 'left' | 'error' | 'chunk';
  /** Tokens consecutive windows share with truncate 'chunk' (default min(32, (maxSeqLength - 2) / 2)). */
  chunkOverlap?: number;
  /** How window vectors combine with truncate 'chunk': 'mean' (default; weighted by each window's text tokens)
   *  or 'max' (element-wise). Matryoshka truncation and normalization come after. */
  chunkPooling?: 'mean' | 'max';
  /** Most windows one text may become with truncate 'chunk' (default 64); a longer text is refused with
   *  E_INPUT_TOO_LONG before anything runs, and tokenizing it stops at the first token past that many windows. */
  maxChunks?: number;
  /** Text prepended to every input (sentence-transformers' `prompt`). */
  prompt?: string;
  /** A prompt by name from the model's config_sentence_transformers.json (`prompt_name`). */
  promptName?: string;
  /** Keep the first N dimensions (Matryoshka models), before normalizing. */
  truncateDim?: number;
  /** Pool this way instead of as the model's Pooling module says (transformers.js' `pooling`); the model's Dense
   *  and Normalize modules still follow. */
  pooling?: PoolingMode | 'none';
  /** Cancels the call: work not started yet is dropped (the engine batch running finishes and is discarded), and
   *  the promise rejects with E_ABORTED. */
  signal?: AbortSignal;
  /** Tokens per engine call (default 16,384): larger batches cost more memory for little speed past that. */
  batchTokens?: number;
  /** Called after each engine batch with the tokens it ran (special tokens included), for progress reports. */
  onTokens?: (tokens: number) => void;
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BertrtError(`aborted${signal.reason instanceof Error ? `: ${signal.reason.message}` : ''}`, 'E_ABORTED');
}

const POOLING_MODES: PoolingMode[] = ['mean', 'cls', 'max', 'mean_sqrt_len', 'weightedmean', 'lasttoken'];

/** Tokens per engine call: big enough to keep every core busy, small enough to bound memory. */
const MAX_BATCH_TOKENS = 16384;
/** The largest batchTokens accepted: it bounds one call's scratch (tokens × hidden × several floats). */
const BATCH_TOKENS_LIMIT = 1 << 18;
const DEFAULT_MAX_CHUNKS = 64;
const MAX_CHUNKS_LIMIT = 1 << 16;

/** A sparse vector: vocabulary ids in increasing order and their weights. */
export interface SparseVector {
  indices: Int32Array;
  values: Float32Array;
}

export interface SparseOptions {
  /** keep only the k largest entries (still sorted by index) */
  topK?: number;
  /** keep only entries above this value (default 0: every non-zero) */
  threshold?: number;
  /** 'max' over the tokens (SPLADE's; default) or 'sum' */
  pooling?: 'max' | 'sum';
  truncate?: EmbedOptions['truncate'];
  prompt?: string;
  signal?: AbortSignal;
}

/** options.prompt, the raw text put before every input: a string, or '' when absent. */
function promptOf(prompt: unknown, what: string): string {
  if (prompt === undefined) return '';
  if (typeof prompt !== 'string') throw invalidArgument(`${what}: prompt must be a string (got ${prompt === null ? 'null' : typeof prompt})`);
  return prompt;
}

/** The entries of a dense vocabulary vector above threshold (the topK largest of them, if given), sorted by index. */
function sparseOf(dense: Float32Array, threshold: number, topK?: number): SparseVector {
  let idx: number[] = [];
  for (let v = 0; v < dense.length; v++) if (dense[v] > threshold) idx.push(v);
  if (topK !== undefined && idx.length > topK) idx = idx.sort((a, b) => dense[b] - dense[a] || a - b).slice(0, topK).sort((a, b) => a - b);
  return { indices: Int32Array.from(idx), values: Float32Array.from(idx, (v) => dense[v]) };
}

interface SpladeHead {
  dense: HeadLinear;
  /** applied here when the GEMM epilogue does not have it */
  act: ((v: number) => number) | null;
  norm: { weight: Float32Array; bias: Float32Array; eps: number } | null;
  bias: Float32Array;
}

/** The entries of a map id -> weight above threshold (the topK largest of them, if given), sorted by index. */
function sparseFromMap(m: Map<number, number>, threshold: number, topK?: number): SparseVector {
  let idx = [...m.keys()].filter((id) => (m.get(id) as number) > threshold);
  if (topK !== undefined && idx.length > topK) idx = idx.sort((a, b) => (m.get(b) as number) - (m.get(a) as number) || a - b).slice(0, topK);
  idx.sort((a, b) => a - b);
  return { indices: Int32Array.from(idx), values: Float32Array.from(idx, (id) => m.get(id) as number) };
}

export interface MultiVectorOptions {
  /** encode as queries (a pylate model's query prefix, length and [MASK] expansion); default: documents */
  isQuery?: boolean;
  truncate?: 'right' | 'left' | 'error';
  prompt?: string;
  signal?: AbortSignal;
}

export interface OutputOptions extends MultiVectorOptions {
  /** the pooled sentence vector, as embed() gives (default true) */
  dense?: boolean;
  /** the sparse lexical vector: bge-m3's sparse head, or SPLADE through the MLM head (default false) */
  sparse?: boolean;
  /** ColBERT vectors, as embedMultiVector() gives (default false) */
  colbert?: boolean;
  /** L2-normalize the dense vectors (default true) */
  normalize?: boolean;
  /** sparse: keep the k largest entries */
  topK?: number;
  /** sparse: keep entries above this (default 0) */
  threshold?: number;
  batchTokens?: number;
  /** called after each engine batch with the tokens it ran */
  onTokens?: (tokens: number) => void;
}

export interface Outputs {
  dense?: Float32Array[];
  sparse?: SparseVector[];
  colbert?: MultiVector[];
}

export class Embedder {
  // output heads, read on first use (undefined: not yet looked for)
  private _splade: SpladeHead | BertrtError | undefined; // the head, or why the model has none
  private _m3: M3Heads | null | undefined;
  private _colbert: ColbertConfig | null | undefined;

  private constructor(
    readonly encoder: Encoder,
    readonly tokenizer: Tokenizer,
    readonly sentence: SentenceConfig,
  ) {}

  /** Loads a model: a directory, a Hub id such as 'BAAI/bge-small-en-v1.5' (downloaded once into the shared
   *  Hub cache; `@revision` or options.revision pins it), or nothing for the embedded all-MiniLM-L6-v2. */
  static async load(model?: string, options: EmbedderOptions = {}): Promise<Embedder> {
    const dir = await resolveModel(model, options);
    const tokenizer = Tokenizer.fromDir(dir);
    const st = readSentenceConfig(dir);
    const encoder = await Encoder.load(dir, options);
    // a graph that pools (and projects) itself: its one vector per text passes through as it is
    const sentence: SentenceConfig = encoder.pooled ? { ...st, pooling: ['cls'], includePrompt: true, dense: [] } : st;
    try {
      checkTokenizerFits(dir, encoder.config, tokenizer, Math.min(sentence.maxSeqLength ?? Infinity, encoder.config.maxTokens));
      checkDenseChain(sentence, encoder.hiddenSize, path.join(dir, 'modules.json'));
    } catch (e) {
      encoder.close();
      throw e;
    }
    return new Embedder(encoder, tokenizer, sentence);
  }

  /** Width of the sentence vectors (the last Dense module's output, else the encoder's hidden size). */
  get dimension(): number {
    return sentenceDimension(this.sentence, this.encoder.hiddenSize);
  }

  /** Inputs longer than this many tokens (special tokens included) are truncated from the right, as
   *  sentence-transformers does with max_seq_length. */
  get maxSeqLength(): number {
    return Math.min(this.sentence.maxSeqLength ?? Infinity, this.encoder.config.maxTokens);
  }

  /** Named prompts of config_sentence_transformers.json. */
  get prompts(): Record<string, string> {
    return this.sentence.prompts;
  }

  async embed(texts: string[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    if (!Array.isArray(texts)) throw invalidArgument('embed: texts must be an array of strings');
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw invalidArgument(`embed: texts[${i}] is ${t === null ? 'null' : typeof t}, not a string`);
    });
    const normalize = options.normalize ?? true;
    const truncate = options.truncate ?? 'right';
    if (!['right', 'left', 'error', 'chunk'].includes(truncate)) throw invalidArgument(`embed: truncate must be 'right', 'left', 'error' or 'chunk'`);
    let prefix = promptOf(options.prompt, 'embed');
    if (options.promptName !== undefined) {
      if (typeof options.promptName !== 'string' || !Object.hasOwn(this.sentence.prompts, options.promptName)) {
        throw invalidArgument(`embed: unknown promptName ${JSON.stringify(options.promptName)} (the model defines: ${Object.keys(this.sentence.prompts).join(', ') || 'none'})`);
      }
      prefix = this.sentence.prompts[options.promptName];
    }
    const promptTokens = this.promptTokens(prefix);
    const dim = options.truncateDim;
    if (dim !== undefined && (!Number.isInteger(dim) || dim < 1 || dim > this.dimension)) throw invalidArgument(`embed: truncateDim must be in [1, ${this.dimension}]`);
    const maxLength = this.maxSeqLength;
    let sentence = this.sentence;
    if (options.pooling === 'none') {
      // every token's vector ([tokens × hidden] per text), as embedTokens; normalized per token only when asked
      const rows = await this.embedTokens(texts, { truncate: truncate === 'chunk' ? 'chunk' : truncate, prompt: prefix, signal: options.signal });
      if (options.normalize === true) for (const r of rows) normalizeRows(r, this.encoder.hiddenSize);
      return rows;
    }
    if (options.pooling !== undefined) {
      if (this.encoder.pooled) throw new BertrtError(`embed: the ONNX graph pools inside (its output '${this.encoder.onnx?.output}'), so pooling cannot be chosen`, 'E_UNSUPPORTED');
      if (!POOLING_MODES.includes(options.pooling)) throw invalidArgument(`embed: pooling must be one of ${POOLING_MODES.join(', ')}`);
      sentence = { ...sentence, pooling: [options.pooling] };
    }
    const batchTokens = options.batchTokens ?? MAX_BATCH_TOKENS;
    if (!Number.isInteger(batchTokens) || batchTokens < 1 || batchTokens > BATCH_TOKENS_LIMIT) throw invalidArgument(`embed: batchTokens must be an integer in [1, ${BATCH_TOKENS_LIMIT}]`);
    if (truncate === 'chunk') return this.embedChunked(texts.map((t) => prefix + t), options, promptTokens, normalize);
    const encodings: Encoding[] = [];
    for (let i = 0; i < texts.length; i++) {
      checkAborted(options.signal);
      encodings.push(await encodeWithinAsync(this.tokenizer, prefix + texts[i], null, maxLength, truncate, `embed: texts[${i}]`));
    }
    const out: Float32Array[] = new Array(texts.length);
    await this.forEachVector(encodings, (i, hidden, begin, end) => {
      out[i] = sentenceVector(hidden, this.encoder.hiddenSize, begin, end, sentence, dim, normalize, promptTokens);
    }, options.signal, options.onTokens, batchTokens);
    return out;
  }

  /** Every token's hidden state, one [tokens × hiddenSize] Float32Array per text (its row count: length /
   *  hiddenSize), special tokens included unless `specialTokens: false`, as sentence-transformers'
   *  output_value='token_embeddings' and transformers.js' pooling 'none' give. */
  async embedTokens(texts: string[], options: Pick<EmbedOptions, 'truncate' | 'prompt' | 'signal'> & { specialTokens?: boolean } = {}): Promise<Float32Array[]> {
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) throw invalidArgument('embedTokens: texts must be an array of strings');
    if (this.encoder.pooled) throw new BertrtError(`embedTokens: the ONNX graph's output '${this.encoder.onnx?.output}' is one vector per text, not one per token`, 'E_UNSUPPORTED');
    const truncate = options.truncate ?? 'right';
    if (truncate === 'chunk') throw invalidArgument("embedTokens: truncate 'chunk' has no meaning for token vectors");
    const prefix = promptOf(options.prompt, 'embedTokens');
    const encodings: Encoding[] = [];
    for (let i = 0; i < texts.length; i++) {
      checkAborted(options.signal);
      encodings.push(await encodeWithinAsync(this.tokenizer, prefix + texts[i], null, this.maxSeqLength, truncate, `embedTokens: texts[${i}]`));
    }
    const H = this.encoder.hiddenSize;
    const out: Float32Array[] = new Array(texts.length);
    const keepSpecial = options.specialTokens ?? true;
    await this.forEachVector(encodings, (i, hidden, begin, end) => {
      if (keepSpecial) out[i] = hidden.slice(begin * H, end * H);
      else {
        const mask = encodings[i].specialTokensMask;
        const rows: number[] = [];
        for (let t = 0; t < end - begin; t++) if (!mask[t]) rows.push(begin + t);
        out[i] = new Float32Array(rows.length * H);
        rows.forEach((r, k) => out[i].set(hidden.subarray(r * H, (r + 1) * H), k * H));
      }
      assertFinite(out[i], `the token vectors of texts[${i}]`);
    }, options.signal);
    return out;
  }

  /** SPLADE sparse vectors: the model's MLM head over every token (special tokens included, as sentence-transformers'
   *  SpladePooling and TEI do), log(1 + relu(logit)), the max over the tokens (pooling 'sum': the sum); every
   *  non-zero entry sorted by index, or only the topK largest, or only those above threshold. The decoder runs
   *  natively, fused with relu / log / max: the [tokens × vocabulary] logits are never stored. Vocabulary ids map back
   *  to tokens with `tokenizer.idToToken`. */
  async embedSparse(texts: string[], options: SparseOptions = {}): Promise<SparseVector[]> {
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) throw invalidArgument('embedSparse: texts must be an array of strings');
    const { topK, threshold = 0, pooling = 'max' } = options;
    if (topK !== undefined && !(Number.isInteger(topK) && topK > 0)) throw invalidArgument('embedSparse: topK must be a positive integer');
    if (typeof threshold !== 'number' || !(threshold >= 0)) throw invalidArgument('embedSparse: threshold must be a number >= 0');
    if (pooling !== 'max' && pooling !== 'sum') throw invalidArgument(`embedSparse: pooling must be 'max' or 'sum' (got ${JSON.stringify(pooling)})`);
    const truncate = options.truncate ?? 'right';
    if (truncate === 'chunk') throw invalidArgument("embedSparse: truncate 'chunk' is not supported for sparse vectors");
    this.#spladeHead();
    const prefix = promptOf(options.prompt, 'embedSparse');
    const encodings: Encoding[] = [];
    for (let i = 0; i < texts.length; i++) {
      checkAborted(options.signal);
      encodings.push(await encodeWithinAsync(this.tokenizer, prefix + texts[i], null, this.maxSeqLength, truncate, `embedSparse: texts[${i}]`));
    }
    const V = this.encoder.config.vocabSize;
    const out: SparseVector[] = new Array(texts.length);
    await this.forEachBatch(encodings, null, async (hidden, cu, start, end) => {
      const dense = await this.#splade(hidden, cu, pooling === 'sum');
      for (let i = start; i < end; i++) {
        const v = dense.subarray((i - start) * V, (i - start + 1) * V);
        assertFinite(v, `the sparse vector of texts[${i}]`);
        out[i] = sparseOf(v, threshold, topK);
      }
    }, options.signal);
    return out;
  }

  /** The MLM head the SPLADE output needs (E_UNSUPPORTED without one the native sparse head reads): its transform's
   *  dense layer natively (GELU in the GEMM's epilogue where the head uses it), the rest per row here. */
  #spladeHead(): SpladeHead {
    if (this._splade instanceof BertrtError) throw this._splade;
    if (!this._splade) {
      let m: ReturnType<typeof mlmHead>;
      try {
        m = mlmHead(TaskModel.over(this.encoder, this.tokenizer));
      } catch (e) {
        if (e instanceof BertrtError) this._splade = e; // asked once: `outputs` is read per server request
        throw e;
      }
      if (m.decoder) throw (this._splade = new BertrtError('the model has an untied MLM decoder, which the native sparse head does not read', 'E_UNSUPPORTED'));
      const p = m.parts;
      const name = activationName(p.act, this.encoder.config.raw);
      const fused = name === 'gelu' ? 'gelu' : name === 'gelu_new' || name === 'gelu_pytorch_tanh' ? 'gelu_tanh' : 'none';
      this._splade = {
        dense: new HeadLinear(p.weight, p.outFeatures, this.encoder.hiddenSize, p.bias, fused, this.encoder.threads),
        act: fused === 'none' ? activation(p.act, this.encoder.config.raw) : null,
        norm: p.norm,
        bias: m.bias,
      };
    }
    return this._splade;
  }

  /** Whether the checkpoint holds an MLM head the native sparse head can read. */
  #hasSplade(): boolean {
    if (this.encoder.onnx) return false;
    try {
      this.#spladeHead();
      return true;
    } catch (e) {
      if (e instanceof BertrtError) return false;
      throw e;
    }
  }

  /** SPLADE over an engine batch (its rows, sequences by cu): the MLM transform of every token, then the native
   *  fused head, one call for the batch so that each vocabulary block is packed once for all its sequences;
   *  [sequences × vocabSize]. */
  async #splade(hidden: Float32Array, cu: Int32Array, sum: boolean): Promise<Float32Array> {
    const { dense, act, norm, bias } = this.#spladeHead();
    const H = this.encoder.hiddenSize;
    const x = await dense.run(hidden.subarray(0, cu[cu.length - 1] * H));
    if (act) for (let i = 0; i < x.length; i++) x[i] = act(x[i]);
    if (norm) layerNormRows(x, dense.outFeatures, norm.weight, norm.bias, norm.eps);
    return this.encoder.vocabSparse(x, cu, bias, sum);
  }

  /** bge-m3's heads (colbert_linear.pt, sparse_linear.pt) if the folder has them, else null; read once. */
  get #m3(): M3Heads | null {
    if (this._m3 === undefined) this._m3 = readM3Heads(this.encoder.dir, this.encoder.hiddenSize, this.tokenizer, this.encoder.threads);
    return this._m3;
  }

  /** A pylate ColBERT folder's configuration, else null; read once. */
  get #colbert(): ColbertConfig | null {
    if (this._colbert === undefined) this._colbert = readColbertConfig(this.encoder.dir, this.encoder.hiddenSize, this.tokenizer, this.encoder.threads);
    return this._colbert;
  }

  /** Which outputs this model has: 'dense' always; 'sparse' with bge-m3's sparse head or an MLM head (SPLADE);
   *  'colbert' with bge-m3's colbert_linear or a pylate ColBERT folder. */
  get outputs(): Array<'dense' | 'sparse' | 'colbert'> {
    const out: Array<'dense' | 'sparse' | 'colbert'> = [];
    if (!this.#colbert) out.push('dense');
    if (!this.encoder.pooled && !this.#colbert && (this.#m3?.sparse || this.#hasSplade())) out.push('sparse');
    if (!this.encoder.pooled && (this.#m3?.colbert || this.#colbert)) out.push('colbert');
    return out;
  }

  /** ColBERT vectors, one normalized vector per token: a pylate model's (queries with isQuery: its query prefix
   *  and [MASK] expansion; documents: its document prefix, punctuation skipped) or bge-m3's (colbert_linear over
   *  every token but the first). Score them with maxSim(). */
  async embedMultiVector(texts: string[], options: MultiVectorOptions = {}): Promise<MultiVector[]> {
    return (await this.encode(texts, { dense: false, colbert: true, isQuery: options.isQuery, truncate: options.truncate, prompt: options.prompt, signal: options.signal })).colbert!;
  }

  /** Several outputs from one forward pass (FlagEmbedding's BGEM3FlagModel.encode): the encoder runs once per
   *  batch and each output asked for is derived from its hidden states — dense (the model's pooling, as embed()),
   *  sparse (bge-m3's sparse_linear, or SPLADE through the MLM head) and colbert (embedMultiVector's vectors).
   *  Only dense is computed unless asked otherwise. */
  async encode(texts: string[], options: OutputOptions = {}): Promise<Outputs> {
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) throw invalidArgument('encode: texts must be an array of strings');
    for (const k of ['dense', 'sparse', 'colbert', 'isQuery', 'normalize'] as const) {
      if (options[k] !== undefined && typeof options[k] !== 'boolean') throw invalidArgument(`encode: ${k} must be a boolean`);
    }
    const wantDense = options.dense ?? true, wantSparse = options.sparse ?? false, wantColbert = options.colbert ?? false;
    if (!wantDense && !wantSparse && !wantColbert) throw invalidArgument('encode: ask for at least one of dense, sparse, colbert');
    const { topK, threshold = 0 } = options;
    if (topK !== undefined && !(Number.isInteger(topK) && topK > 0)) throw invalidArgument('encode: topK must be a positive integer');
    if (typeof threshold !== 'number' || !(threshold >= 0)) throw invalidArgument('encode: threshold must be a number >= 0');
    const truncate = options.truncate ?? 'right';
    if (truncate !== 'right' && truncate !== 'left' && truncate !== 'error') throw invalidArgument(`encode: truncate must be 'right', 'left' or 'error'`);
    const has = this.outputs;
    for (const [want, name] of [[wantDense, 'dense'], [wantSparse, 'sparse'], [wantColbert, 'colbert']] as const) {
      if (want && !has.includes(name)) throw new BertrtError(`encode: this model has no ${name} output (it has: ${has.join(', ') || 'none'})`, 'E_UNSUPPORTED');
    }
    const pylate = this.#colbert;
    const m3 = this.#m3;
    const prefix = promptOf(options.prompt, 'encode');
    // inputs: as embed() tokenizes them, or pylate's way (prefix token after [CLS], its lengths, query expansion)
    const items: Array<Pick<Encoding, 'ids' | 'typeIds'>> = [];
    let keyLens: Int32Array | null = null;
    const isQuery = options.isQuery === true;
    if (pylate) {
      const L = Math.min(isQuery ? pylate.queryLength : pylate.documentLength, this.encoder.config.maxTokens);
      const prefixId = isQuery ? pylate.queryPrefixId : pylate.documentPrefixId;
      const room = prefixId === null ? L : L - 1;
      const expand = isQuery && pylate.expansion;
      if (expand && !pylate.attendToExpansion) keyLens = new Int32Array(texts.length);
      for (let i = 0; i < texts.length; i++) {
        checkAborted(options.signal);
        const e = await encodeWithinAsync(this.tokenizer, prefix + texts[i], null, room, truncate, `encode: texts[${i}]`);
        const n = e.ids.length + (prefixId === null ? 0 : 1);
        const ids = new Int32Array(expand ? Math.max(n, L) : n).fill(pylate.maskId);
        ids[0] = e.ids[0];
        if (prefixId === null) ids.set(e.ids.subarray(1), 1);
        else {
          ids[1] = prefixId;
          ids.set(e.ids.subarray(1), 2);
        }
        if (keyLens) keyLens[i] = n;
        items.push({ ids, typeIds: new Int32Array(ids.length) });
      }
    } else {
      for (let i = 0; i < texts.length; i++) {
        checkAborted(options.signal);
        items.push(await encodeWithinAsync(this.tokenizer, prefix + texts[i], null, this.maxSeqLength, truncate, `encode: texts[${i}]`));
      }
    }
    const H = this.encoder.hiddenSize;
    const normalize = options.normalize ?? true;
    const promptTokens = this.promptTokens(prefix);
    const result: Outputs = {};
    if (wantDense) result.dense = new Array(texts.length);
    if (wantSparse) result.sparse = new Array(texts.length);
    if (wantColbert) result.colbert = new Array(texts.length);
    await this.forEachBatch(items, keyLens, async (hidden, cu, start, end) => {
      const pending: Array<Promise<void>> = [];
      if (wantDense) {
        for (let i = start; i < end; i++) {
          const [b, e] = this.encoder.pooled ? [i - start, i - start + 1] : [cu[i - start], cu[i - start + 1]];
          result.dense![i] = sentenceVector(hidden, H, b, e, this.sentence, undefined, normalize, promptTokens);
        }
      }
      if (wantSparse && m3?.sparse) {
        // one scalar weight per token of the batch: relu, then the max per vocabulary id
        pending.push(m3.sparse.run(hidden.subarray(0, cu[end - start] * H)).then((w) => {
          for (let i = start; i < end; i++) {
            const ids = items[i].ids, b = cu[i - start];
            const best = new Map<number, number>();
            for (let t = 0; t < ids.length; t++) {
              const v = Math.max(w[b + t], 0);
              if (v > 0 && !m3.unused.has(ids[t]) && v > (best.get(ids[t]) ?? 0)) best.set(ids[t], v);
            }
            result.sparse![i] = sparseFromMap(best, threshold, topK);
          }
        }));
      } else if (wantSparse) {
        const V = this.encoder.config.vocabSize;
        pending.push(this.#splade(hidden, cu, false).then((dense) => {
          for (let i = start; i < end; i++) {
            const v = dense.subarray((i - start) * V, (i - start + 1) * V);
            assertFinite(v, `the sparse vector of texts[${i}]`);
            result.sparse![i] = sparseOf(v, threshold, topK);
          }
        }));
      }
      if (wantColbert) {
        // the rows that get a vector, gathered for one projection over the batch
        const keep: number[][] = [];
        for (let i = start; i < end; i++) {
          const b = cu[i - start], n = cu[i - start + 1] - b, ids = items[i].ids;
          const rows: number[] = [];
          if (!pylate) for (let t = 1; t < n; t++) rows.push(b + t);
          else if (isQuery) for (let t = 0; t < (pylate.expansion ? n : (keyLens?.[i] ?? n)); t++) rows.push(b + t);
          else for (let t = 0; t < n; t++) if (!pylate.skip.has(ids[t])) rows.push(b + t);
          keep.push(rows);
        }
        const total = keep.reduce((a, r) => a + r.length, 0);
        let x: Float32Array = new Float32Array(total * H);
        let k = 0;
        for (const rows of keep) for (const r of rows) x.set(hidden.subarray(r * H, (r + 1) * H), H * k++);
        pending.push((async () => {
          let dim = H;
          if (pylate) {
            for (const d of pylate.dense) x = await d.run(x);
            dim = pylate.dim;
          } else {
            x = await m3!.colbert!.run(x);
            dim = m3!.colbert!.outFeatures;
          }
          normalizeRows(x, dim);
          assertFinite(x, 'the ColBERT vectors');
          let at = 0;
          keep.forEach((rows, j) => {
            result.colbert![start + j] = { data: x.slice(at * dim, (at + rows.length) * dim), rows: rows.length, dim };
            at += rows.length;
          });
        })());
      }
      await Promise.all(pending);
    }, options.signal, options.onTokens, options.batchTokens ?? MAX_BATCH_TOKENS);
    return result;
  }

  /** Runs encodings through the engine in batches of at most batchTokens tokens, handing each one's hidden rows on. */
  private async forEachVector(
    encodings: Encoding[],
    each: (i: number, hidden: Float32Array, begin: number, end: number) => void,
    signal?: AbortSignal,
    onTokens?: (tokens: number) => void,
    batchTokens = MAX_BATCH_TOKENS,
  ): Promise<void> {
    const pooled = this.encoder.pooled; // one row per text: the graph pooled already
    await this.forEachBatch(encodings, null, (hidden, cu, start, end) => {
      for (let i = start; i < end; i++) {
        if (pooled) each(i, hidden, i - start, i - start + 1);
        else each(i, hidden, cu[i - start], cu[i - start + 1]);
      }
    }, signal, onTokens, batchTokens);
  }

  /** The engine batches themselves: fn gets a batch's hidden rows, its cuSeqlens and which inputs [start, end) it
   *  holds, and may run output heads over the whole batch before the next one starts. keyLens (per input): how many
   *  of its first tokens are keys (BatchView::key_lens). */
  private async forEachBatch(
    items: ReadonlyArray<Pick<Encoding, 'ids' | 'typeIds'>>,
    keyLens: Int32Array | null,
    fn: (hidden: Float32Array, cu: Int32Array, start: number, end: number) => void | Promise<void>,
    signal?: AbortSignal,
    onTokens?: (tokens: number) => void,
    batchTokens = MAX_BATCH_TOKENS,
  ): Promise<void> {
    const withTypes = this.encoder.takesTokenTypes;
    for (let start = 0; start < items.length; ) {
      checkAborted(signal);
      let end = start;
      let tokens = 0;
      while (end < items.length && (end === start || tokens + items[end].ids.length <= batchTokens)) {
        tokens += items[end].ids.length;
        end++;
      }
      const batch = pack(items.slice(start, end), withTypes);
      if (keyLens) batch.keyLens = keyLens.subarray(start, end);
      const hidden = await this.encoder.run(batch);
      checkAborted(signal);
      onTokens?.(tokens);
      await fn(hidden, batch.cuSeqlens, start, end);
      start = end;
    }
  }

  /** truncate 'chunk': windows of maxSeqLength tokens overlapping by chunkOverlap, one vector per window, pooled. */
  private async embedChunked(texts: string[], options: EmbedOptions, promptTokens: number, normalize: boolean): Promise<Float32Array[]> {
    const maxLength = this.maxSeqLength;
    const room = maxLength - this.tokenizer.numSpecialTokens(false);
    const overlap = options.chunkOverlap ?? Math.min(32, Math.floor(room / 2));
    if (!Number.isInteger(overlap) || overlap < 0 || overlap >= room) throw invalidArgument(`embed: chunkOverlap must be an integer in [0, ${room - 1}] for this model`);
    const how = options.chunkPooling ?? 'mean';
    if (how !== 'mean' && how !== 'max') throw invalidArgument(`embed: chunkPooling must be 'mean' or 'max'`);
    const maxChunks = options.maxChunks ?? DEFAULT_MAX_CHUNKS;
    if (!Number.isInteger(maxChunks) || maxChunks < 1 || maxChunks > MAX_CHUNKS_LIMIT) throw invalidArgument(`embed: maxChunks must be an integer in [1, ${MAX_CHUNKS_LIMIT}]`);
    // the most text tokens maxChunks windows hold; one more tells that a text needs more windows
    const fits = room + (maxChunks - 1) * (room - overlap);
    const windows: Array<{ owner: number; first: boolean; enc: Encoding }> = [];
    for (let owner = 0; owner < texts.length; owner++) {
      const e = await this.tokenizer.encodeAsync(texts[owner], null, { truncation: { maxLength, stride: overlap }, returnOverflowing: true, stopAfter: fits + 1 });
      if (e.overflowing.length + 1 > maxChunks) {
        throw new BertrtError(`embed: texts[${owner}] has more than ${fits} tokens, more than maxChunks (${maxChunks}) windows of ${maxLength}`, 'E_INPUT_TOO_LONG');
      }
      [e, ...e.overflowing].forEach((enc, k) => windows.push({ owner, first: k === 0, enc }));
    }
    const width = sentenceDimension(this.sentence, this.encoder.hiddenSize);
    const acc = texts.map(() => (how === 'max' ? new Float64Array(width).fill(-Infinity) : new Float64Array(width)));
    const weight = new Float64Array(texts.length);
    await this.forEachVector(windows.map((w) => w.enc), (i, hidden, begin, end) => {
      const { owner, first, enc } = windows[i];
      const v = sentenceVector(hidden, this.encoder.hiddenSize, begin, end, this.sentence, undefined, false, first ? promptTokens : 0);
      const a = acc[owner];
      if (how === 'max') {
        for (let j = 0; j < width; j++) a[j] = Math.max(a[j], v[j]);
      } else {
        const w = Math.max(1, enc.specialTokensMask.reduce((n, s) => n + (s ? 0 : 1), 0));
        weight[owner] += w;
        for (let j = 0; j < width; j++) a[j] += w * v[j];
      }
    }, options.signal, options.onTokens, options.batchTokens);
    return acc.map((a, owner) => {
      let v = Float32Array.from(how === 'max' ? a : a.map((x) => x / weight[owner]));
      if (options.truncateDim !== undefined) v = v.slice(0, options.truncateDim);
      return normalize ? l2normalize(v) : v;
    });
  }

  /** Tokens a prompt occupies at the start of each input ([CLS] included, as sentence-transformers counts them),
   *  when the model's Pooling leaves prompts out (include_prompt false); else 0. */
  promptTokens(prompt: string): number {
    if (!prompt || this.sentence.includePrompt) return 0;
    const e = this.tokenizer.encode(prompt);
    return e.ids.length - (e.specialTokensMask[e.ids.length - 1] ? 1 : 0);
  }

  /** Frees the native weights; later calls fail with E_CLOSED. */
  async close(): Promise<void> {
    this.encoder.close();
  }

  /** close() under the name pipelines and the LangChain adapter use; `await using` calls it too. */
  dispose(): Promise<void> {
    return this.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
