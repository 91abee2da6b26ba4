// pipeline(task, model?, options?): transformers.js-style entry points. Task names and call options follow
// transformers.js (top_k, aggregation_strategy, hypothesis_template, ...; camelCase spellings work too), so code
// moves over by changing the import; results are plain objects and typed arrays. Each pipeline holds a native
// model until dispose().
import { BertrtError, invalidArgument } from './errors';
import { checkAborted, Embedder, type EmbedOptions } from './embedder';
import { classify, nextSentence, nextSentenceHead, rerank, sequenceHead, type ClassificationInput, type LabelScore, type RerankResult } from './heads/classification';
import { fillMask, mlmHead, type FillMaskResult } from './heads/fill-mask';
import { l2normalize } from './heads/pooling';
import { answerQuestions, qaHead, type QAAnswer, type QAInput, type QAOptions } from './heads/question-answering';
import { TaskModel, type Truncate } from './heads/task-model';
import { tokenClassify, tokenHead, type Aggregation, type EntityGroup, type TokenEntity } from './heads/token-classification';
import type { EngineOptions } from './model/engine';
import { entailmentIndex, zeroShot, type ZeroShotResult } from './heads/zero-shot';

// Options are accepted in transformers.js's spelling (top_k, aggregation_strategy, ...) and in camelCase.
type Opts = Record<string, unknown>;
function opt<T>(o: Opts, camel: string, snake: string): T | undefined {
  return (o[snake] !== undefined ? o[snake] : o[camel]) as T | undefined;
}

/** Refuses an option the task does not know (a typo would otherwise be ignored without a word). */
function known(task: string, o: unknown, names: string[]): Opts {
  if (o === undefined || o === null) return {};
  if (typeof o !== 'object' || Array.isArray(o)) throw invalidArgument(`${task}: options must be an object`);
  const unknown = Object.keys(o).filter((k) => !names.includes(k));
  if (unknown.length) throw invalidArgument(`${task}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: ${names.join(', ')})`);
  return o as Opts;
}

/** transformers.js' Tensor surface on the array of vectors: `data` (one Float32Array), `dims`, `type` and
 *  `tolist()`. The array itself stays what it was (one Float32Array per text). Token vectors (pooling 'none')
 *  are ragged: `data` and `tolist()` pad them with zeros to the longest text, `dims` is [texts, longest, hidden]. */
export type TensorLike = Float32Array[] & { data: Float32Array; dims: number[]; type: 'float32'; tolist(): number[][] | number[][][] };

function asTensor(vectors: Float32Array[], width: number, tokens: boolean): TensorLike {
  const n = vectors.length;
  const rows = tokens ? vectors.reduce((m, v) => Math.max(m, v.length / width), 0) : 1;
  const dims = tokens ? [n, rows, width] : [n, width];
  const data = new Float32Array(n * rows * width);
  vectors.forEach((v, i) => data.set(v, i * rows * width));
  const tolist = () => {
    const row = (i: number, r: number) => Array.from(data.subarray((i * rows + r) * width, (i * rows + r + 1) * width));
    return vectors.map((_, i) => (tokens ? Array.from({ length: rows }, (_, r) => row(i, r)) : row(i, 0)));
  };
  for (const [k, v] of Object.entries({ data, dims, type: 'float32', tolist })) Object.defineProperty(vectors, k, { value: v, enumerable: false });
  return vectors as TensorLike;
}

const EMBED_OPTIONS = ['signal', 'batchTokens', 'pooling', 'normalize', 'truncate', 'chunkOverlap', 'chunkPooling', 'maxChunks', 'prompt', 'promptName', 'prompt_name', 'truncateDim', 'truncate_dim'];

export type Task =
  | 'feature-extraction'
  | 'embeddings'
  | 'sentence-similarity'
  | 'text-classification'
  | 'sentiment-analysis'
  | 'token-classification'
  | 'ner'
  | 'fill-mask'
  | 'question-answering'
  | 'zero-shot-classification'
  | 'next-sentence-prediction'
  | 'rerank';

type Disposable = { dispose(): Promise<void>; [Symbol.asyncDispose](): Promise<void> };

/** feature-extraction options: EmbedOptions, with `pooling: 'none'` for every token's vector (transformers.js). */
export type FeatureExtractionOptions = Omit<EmbedOptions, 'pooling'> & { pooling?: EmbedOptions['pooling'] | 'none'; prompt_name?: string; truncate_dim?: number };
export type FeatureExtractionPipeline = ((texts: string | string[], options?: FeatureExtractionOptions) => Promise<TensorLike>) & Disposable;
/** (source, sentences) → the cosine similarity of each sentence to the source (HF's sentence-similarity task). */
export type SentenceSimilarityPipeline = ((source: string, sentences: string[], options?: EmbedOptions) => Promise<number[]>) & Disposable;
export type TextClassificationPipeline = ((
  input: ClassificationInput | ClassificationInput[],
  options?: { top_k?: number | null; topK?: number | null; truncate?: Truncate; signal?: AbortSignal },
) => Promise<LabelScore[] | LabelScore[][]>) &
  Disposable;
export type TokenClassificationPipeline = ((
  texts: string | string[],
  options?: { aggregation_strategy?: Aggregation; ignore_labels?: string[]; aggregationStrategy?: Aggregation; ignoreLabels?: string[]; truncate?: Truncate; signal?: AbortSignal },
) => Promise<Array<TokenEntity | EntityGroup> | Array<Array<TokenEntity | EntityGroup>>>) &
  Disposable;
export type FillMaskPipeline = ((
  texts: string | string[],
  options?: { top_k?: number; topK?: number; targets?: string[]; truncate?: Truncate; signal?: AbortSignal },
) => Promise<FillMaskResult[] | FillMaskResult[][] | FillMaskResult[][][]>) &
  Disposable;
export type ZeroShotPipeline = ((
  texts: string | string[],
  candidateLabels: string[] | string,
  options?: { hypothesis_template?: string; multi_label?: boolean; hypothesisTemplate?: string; multiLabel?: boolean; truncate?: Truncate; signal?: AbortSignal },
) => Promise<ZeroShotResult | ZeroShotResult[]>) &
  Disposable;
/** (question, context) or ({ question, context }[]) → the best answer (topK 1) or the topK best, as character
 *  spans of the context. Options in transformers.js / HF spelling (top_k, doc_stride, max_answer_len,
 *  handle_impossible_answer, max_seq_len, align_to_words) or camelCase. */
export type QuestionAnsweringPipeline = ((
  question: string | QAInput | QAInput[],
  context?: string | Record<string, unknown>,
  options?: Record<string, unknown>,
) => Promise<QAAnswer | QAAnswer[] | Array<QAAnswer | QAAnswer[]>>) &
  Disposable;
/** [first, second] → probability that second follows first. Not a transformers.js task; the name is HF's head. */
export type NextSentencePipeline = ((pairs: [string, string] | Array<[string, string]>, options?: { truncate?: Truncate; signal?: AbortSignal }) => Promise<number | number[]>) & Disposable;
export type RerankPipeline = ((
  query: string,
  documents: string[],
  options?: { top_n?: number; return_documents?: boolean; raw_scores?: boolean; topN?: number; returnDocuments?: boolean; rawScores?: boolean; truncate?: Truncate; signal?: AbortSignal },
) => Promise<RerankResult[]>) &
  Disposable;

/** The task model as one call sees it: with `signal`, an engine batch not yet started when it fires is dropped and
 *  one running finishes and is discarded, and the call rejects with E_ABORTED (as Embedder.embed does). */
function abortable(m: TaskModel, o: Opts): TaskModel {
  const signal = o.signal;
  if (signal === undefined) return m;
  if (!(signal instanceof AbortSignal)) throw invalidArgument('signal must be an AbortSignal');
  return m.withRunner(async (encs) => {
    checkAborted(signal);
    const h = await m.hidden(encs);
    checkAborted(signal);
    return h;
  });
}

function withDispose<F extends (...args: never[]) => unknown>(fn: F, close: () => Promise<void>): F & Disposable {
  return Object.assign(fn, { dispose: close, [Symbol.asyncDispose]: close });
}

/** Loads a task model and checks, before any call, that it has the head the task needs (`check` reads the head's
 *  tensors or labels): a model without it is refused here, not at its first input. */
async function withHead(model: string | undefined, options: EngineOptions, check: (m: TaskModel) => unknown): Promise<TaskModel> {
  const m = await TaskModel.load(model, options);
  try {
    check(m);
  } catch (e) {
    await m.close();
    throw e;
  }
  return m;
}

export async function pipeline(task: 'feature-extraction' | 'embeddings', model?: string, options?: EngineOptions): Promise<FeatureExtractionPipeline>;
export async function pipeline(task: 'sentence-similarity', model?: string, options?: EngineOptions): Promise<SentenceSimilarityPipeline>;
export async function pipeline(task: 'text-classification' | 'sentiment-analysis', model?: string, options?: EngineOptions): Promise<TextClassificationPipeline>;
export async function pipeline(task: 'token-classification' | 'ner', model?: string, options?: EngineOptions): Promise<TokenClassificationPipeline>;
export async function pipeline(task: 'fill-mask', model?: string, options?: EngineOptions): Promise<FillMaskPipeline>;
export async function pipeline(task: 'question-answering', model?: string, options?: EngineOptions): Promise<QuestionAnsweringPipeline>;
export async function pipeline(task: 'zero-shot-classification', model?: string, options?: EngineOptions): Promise<ZeroShotPipeline>;
export async function pipeline(task: 'next-sentence-prediction', model?: string, options?: EngineOptions): Promise<NextSentencePipeline>;
export async function pipeline(task: 'rerank', model?: string, options?: EngineOptions): Promise<RerankPipeline>;
export async function pipeline(task: Task, model?: string, options: EngineOptions = {}): Promise<unknown> {
  switch (task) {
    case 'feature-extraction':
    case 'embeddings': {
      const e = await Embedder.load(model, options);
      return withDispose(async (texts: string | string[], options?: FeatureExtractionOptions) => {
        const o = known(task, options, EMBED_OPTIONS) as FeatureExtractionOptions;
        const list = typeof texts === 'string' ? [texts] : texts;
        const base = { ...o, promptName: o.promptName ?? o.prompt_name, truncateDim: o.truncateDim ?? o.truncate_dim };
        delete base.prompt_name;
        delete base.truncate_dim;
        if (o.pooling === 'none') {
          // every token's hidden state; `normalize` then normalizes each token vector, as transformers.js does
          const vs = await e.embedTokens(list, { truncate: o.truncate as Truncate | undefined, prompt: o.prompt, signal: o.signal });
          const H = e.encoder.hiddenSize;
          if (o.normalize === true) for (const v of vs) for (let r = 0; r < v.length; r += H) l2normalize(v.subarray(r, r + H));
          return asTensor(vs, H, true);
        }
        return asTensor(await e.embed(list, base as EmbedOptions), (base.truncateDim as number | undefined) ?? e.dimension, false);
      }, () => e.close());
    }
    case 'sentence-similarity': {
      const e = await Embedder.load(model, options);
      return withDispose(async (source: string, sentences: string[], options?: EmbedOptions) => {
        const o = known(task, options, EMBED_OPTIONS.filter((k) => k !== 'normalize')) as EmbedOptions;
        if (typeof source !== 'string' || !Array.isArray(sentences)) throw invalidArgument('sentence-similarity: (source: string, sentences: string[])');
        if (sentences.length === 0) return [];
        const [s, ...others] = await e.embed([source, ...sentences], { ...o, normalize: true });
        return others.map((v) => v.reduce((acc, x, i) => acc + x * s[i], 0));
      }, () => e.close());
    }
    case 'text-classification':
    case 'sentiment-analysis': {
      const m = await withHead(model, options, sequenceHead);
      return withDispose(async (input: ClassificationInput | ClassificationInput[], options?: Opts) => {
        const o = known(task, options, ['signal', 'top_k', 'topK', 'truncate']);
        const many = Array.isArray(input);
        const k = opt<number | null>(o, 'topK', 'top_k');
        const r = await classify(abortable(m, o), many ? input : [input], k === undefined ? 1 : k, o.truncate as Truncate | undefined);
        return many ? r : r[0];
      }, () => m.close());
    }
    case 'token-classification':
    case 'ner': {
      const m = await withHead(model, options, tokenHead);
      return withDispose(async (texts: string | string[], options?: Opts) => {
        const o = known(task, options, ['signal', 'aggregation_strategy', 'aggregationStrategy', 'ignore_labels', 'ignoreLabels', 'truncate']);
        const many = Array.isArray(texts);
        const r = await tokenClassify(abortable(m, o), many ? texts : [texts], {
          aggregation: opt<Aggregation>(o, 'aggregationStrategy', 'aggregation_strategy'),
          ignoreLabels: opt<string[]>(o, 'ignoreLabels', 'ignore_labels'),
          truncate: o.truncate as Truncate | undefined,
        });
        return many ? r : r[0];
      }, () => m.close());
    }
    case 'fill-mask': {
      const m = await withHead(model, options, mlmHead);
      return withDispose(async (texts: string | string[], options?: Opts) => {
        const o = known(task, options, ['signal', 'top_k', 'topK', 'targets', 'truncate']);
        const many = Array.isArray(texts);
        const r = await fillMask(abortable(m, o), many ? texts : [texts], { topK: opt<number>(o, 'topK', 'top_k'), targets: o.targets as string[] | undefined, truncate: o.truncate as Truncate | undefined });
        const unwrap = (x: FillMaskResult[][]) => (x.length === 1 ? x[0] : x);
        return many ? r.map(unwrap) : unwrap(r[0]);
      }, () => m.close());
    }
    case 'question-answering': {
      const m = await withHead(model, options, qaHead);
      return withDispose(async (question: string | QAInput | QAInput[], context?: string | Opts, options?: Opts) => {
        let inputs: QAInput[];
        const many = Array.isArray(question);
        let raw: unknown = options;
        if (typeof question === 'string') {
          inputs = [{ question, context: context as string }];
        } else {
          inputs = many ? question : [question];
          raw = context;
        }
        const o = known(task, raw, ['signal', 'top_k', 'topK', 'doc_stride', 'docStride', 'max_answer_len', 'maxAnswerLen', 'max_seq_len', 'maxSeqLen', 'handle_impossible_answer', 'handleImpossibleAnswer', 'align_to_words', 'alignToWords']);
        const qo: QAOptions = {
          topK: opt<number>(o, 'topK', 'top_k'),
          docStride: opt<number>(o, 'docStride', 'doc_stride'),
          maxAnswerLen: opt<number>(o, 'maxAnswerLen', 'max_answer_len'),
          maxSeqLen: opt<number>(o, 'maxSeqLen', 'max_seq_len'),
          handleImpossibleAnswer: opt<boolean>(o, 'handleImpossibleAnswer', 'handle_impossible_answer'),
          alignToWords: opt<boolean>(o, 'alignToWords', 'align_to_words'),
        };
        const r = await answerQuestions(abortable(m, o), inputs, qo);
        const shaped = r.map((a) => ((qo.topK ?? 1) === 1 ? a[0] : a));
        return many ? shaped : shaped[0];
      }, () => m.close());
    }
    case 'zero-shot-classification': {
      const m = await withHead(model, options, (t) => (sequenceHead(t), entailmentIndex(t)));
      return withDispose(async (texts: string | string[], labels: string[] | string, options?: Opts) => {
        const o = known(task, options, ['signal', 'hypothesis_template', 'hypothesisTemplate', 'multi_label', 'multiLabel', 'truncate']);
        const many = Array.isArray(texts);
        const list = many ? texts : [texts];
        const zo = {
          hypothesisTemplate: opt<string>(o, 'hypothesisTemplate', 'hypothesis_template'),
          multiLabel: opt<boolean>(o, 'multiLabel', 'multi_label'),
          truncate: o.truncate as Truncate | undefined,
        };
        const r = [];
        for (const t of list) r.push(await zeroShot(abortable(m, o), t, labels, zo));
        return many ? r : r[0];
      }, () => m.close());
    }
    case 'next-sentence-prediction': {
      const m = await withHead(model, options, nextSentenceHead);
      return withDispose(async (pairs: [string, string] | Array<[string, string]>, options?: Opts) => {
        const o = known(task, options, ['signal', 'truncate']);
        const one = pairs.length === 2 && typeof pairs[0] === 'string';
        const r = await nextSentence(abortable(m, o), one ? [pairs as [string, string]] : (pairs as Array<[string, string]>), o.truncate as Truncate | undefined);
        return one ? r[0] : r;
      }, () => m.close());
    }
    case 'rerank': {
      const m = await withHead(model, options, sequenceHead);
      return withDispose(
        async (query: string, documents: string[], options?: Opts) => {
          const o = known(task, options, ['signal', 'top_n', 'topN', 'return_documents', 'returnDocuments', 'raw_scores', 'rawScores', 'truncate']);
          return rerank(abortable(m, o), query, documents, {
            topN: opt<number>(o, 'topN', 'top_n'),
            returnDocuments: opt<boolean>(o, 'returnDocuments', 'return_documents'),
            rawScores: opt<boolean>(o, 'rawScores', 'raw_scores'),
            truncate: o.truncate as Truncate | undefined,
          });
        },
        () => m.close(),
      );
    }
    default:
      throw new BertrtError(`unknown or unsupported task "${String(task)}"`, 'E_UNSUPPORTED');
  }
}
