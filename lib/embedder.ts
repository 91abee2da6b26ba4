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
import { TaskModel } from './heads/task-model';

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
  pooling?: PoolingMode;
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

/** The entries of a dense vocabulary vector above threshold (the topK largest of them, if given), sorted by index. */
function sparseOf(dense: Float32Array, threshold: number, topK?: number): SparseVector {
  let idx: number[] = [];
  for (let v = 0; v < dense.length; v++) if (dense[v] > threshold) idx.push(v);
  if (topK !== undefined && idx.length > topK) idx = idx.sort((a, b) => dense[b] - dense[a] || a - b).slice(0, topK).sort((a, b) => a - b);
  return { indices: Int32Array.from(idx), values: Float32Array.from(idx, (v) => dense[v]) };
}

export class Embedder {
  #mlm: ReturnType<typeof mlmHead> | undefined;

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
    let prefix = options.prompt ?? '';
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

  /** Every token's hidden state, one [tokens × hiddenSize] Float32Array per text (special tokens included), as
   *  sentence-transformers' output_value='token_embeddings' and transformers.js' pooling 'none' give. */
  async embedTokens(texts: string[], options: Pick<EmbedOptions, 'truncate' | 'prompt' | 'signal'> = {}): Promise<Float32Array[]> {
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) throw invalidArgument('embedTokens: texts must be an array of strings');
    if (this.encoder.pooled) throw new BertrtError(`embedTokens: the ONNX graph's output '${this.encoder.onnx?.output}' is one vector per text, not one per token`, 'E_UNSUPPORTED');
    const truncate = options.truncate ?? 'right';
    if (truncate === 'chunk') throw invalidArgument("embedTokens: truncate 'chunk' has no meaning for token vectors");
    const encodings: Encoding[] = [];
    for (let i = 0; i < texts.length; i++) {
      checkAborted(options.signal);
      encodings.push(await encodeWithinAsync(this.tokenizer, (options.prompt ?? '') + texts[i], null, this.maxSeqLength, truncate, `embedTokens: texts[${i}]`));
    }
    const H = this.encoder.hiddenSize;
    const out: Float32Array[] = new Array(texts.length);
    await this.forEachVector(encodings, (i, hidden, begin, end) => {
      out[i] = hidden.slice(begin * H, end * H);
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
    this.#mlm ??= mlmHead(TaskModel.over(this.encoder, this.tokenizer));
    const { transform, bias, decoder } = this.#mlm;
    if (decoder) throw new BertrtError('embedSparse: the model has an untied MLM decoder, which the native sparse head does not read', 'E_UNSUPPORTED');
    const encodings: Encoding[] = [];
    for (let i = 0; i < texts.length; i++) {
      checkAborted(options.signal);
      encodings.push(await encodeWithinAsync(this.tokenizer, (options.prompt ?? '') + texts[i], null, this.maxSeqLength, truncate, `embedSparse: texts[${i}]`));
    }
    const H = this.encoder.hiddenSize;
    const V = this.encoder.config.vocabSize;
    const out: SparseVector[] = new Array(texts.length);
    // per engine batch: the transform of every token (the word embeddings' width), then the fused head per text
    const pending: Array<Promise<void>> = [];
    await this.forEachVector(encodings, (i, hidden, begin, end) => {
      const rows = end - begin;
      const first = transform(hidden.subarray(begin * H, (begin + 1) * H));
      const E = first.length;
      const x = new Float32Array(rows * E);
      x.set(first, 0);
      for (let t = 1; t < rows; t++) x.set(transform(hidden.subarray((begin + t) * H, (begin + t + 1) * H)), t * E);
      pending.push(
        this.encoder.vocabSparse(x, Int32Array.of(0, rows), bias, pooling === 'sum').then((dense) => {
          assertFinite(dense, `the sparse vector of texts[${i}]`);
          out[i] = sparseOf(dense.subarray(0, V), threshold, topK);
        }),
      );
    }, options.signal);
    await Promise.all(pending);
    return out;
  }

  /** Runs encodings through the engine in batches of at most batchTokens tokens, handing each one's hidden rows on. */
  private async forEachVector(
    encodings: Encoding[],
    each: (i: number, hidden: Float32Array, begin: number, end: number) => void,
    signal?: AbortSignal,
    onTokens?: (tokens: number) => void,
    batchTokens = MAX_BATCH_TOKENS,
  ): Promise<void> {
    const withTypes = this.encoder.takesTokenTypes;
    const pooled = this.encoder.pooled; // one row per text: the graph pooled already
    for (let start = 0; start < encodings.length; ) {
      checkAborted(signal);
      let end = start;
      let tokens = 0;
      while (end < encodings.length && (end === start || tokens + encodings[end].ids.length <= batchTokens)) {
        tokens += encodings[end].ids.length;
        end++;
      }
      const batch = pack(encodings.slice(start, end), withTypes);
      const hidden = await this.encoder.run(batch);
      checkAborted(signal);
      onTokens?.(tokens);
      for (let i = start; i < end; i++) {
        if (pooled) each(i, hidden, i - start, i - start + 1);
        else each(i, hidden, batch.cuSeqlens[i - start], batch.cuSeqlens[i - start + 1]);
      }
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
