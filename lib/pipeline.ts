// pipeline(task, model?, options?): transformers.js-style entry points. Task names and call options follow
// transformers.js (top_k, aggregation_strategy, hypothesis_template, ...; camelCase spellings work too), so code
// moves over by changing the import; results are plain objects and typed arrays. Each pipeline holds a native
// model until dispose().
import { BertrtError, invalidArgument } from './errors';
import { Embedder, type EmbedOptions } from './embedder';
import { classify, nextSentence, rerank, type ClassificationInput, type LabelScore, type RerankResult } from './heads/classification';
import { fillMask, type FillMaskResult } from './heads/fill-mask';
import { answerQuestions, type QAAnswer, type QAInput, type QAOptions } from './heads/question-answering';
import { TaskModel, type Truncate } from './heads/task-model';
import { tokenClassify, type Aggregation, type EntityGroup, type TokenEntity } from './heads/token-classification';
import type { EngineOptions } from './model/engine';
import { zeroShot, type ZeroShotResult } from './heads/zero-shot';

// Options are accepted in transformers.js's spelling (top_k, aggregation_strategy, ...) and in camelCase.
type Opts = Record<string, unknown>;
function opt<T>(o: Opts, camel: string, snake: string): T | undefined {
  return (o[snake] !== undefined ? o[snake] : o[camel]) as T | undefined;
}

export type Task =
  | 'feature-extraction'
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

type Disposable = { dispose(): Promise<void> };

export type FeatureExtractionPipeline = ((texts: string | string[], options?: EmbedOptions) => Promise<Float32Array[]>) & Disposable;
/** (source, sentences) → the cosine similarity of each sentence to the source (HF's sentence-similarity task). */
export type SentenceSimilarityPipeline = ((source: string, sentences: string[], options?: EmbedOptions) => Promise<number[]>) & Disposable;
export type TextClassificationPipeline = ((
  input: ClassificationInput | ClassificationInput[],
  options?: { top_k?: number | null; topK?: number | null; truncate?: Truncate },
) => Promise<LabelScore[] | LabelScore[][]>) &
  Disposable;
export type TokenClassificationPipeline = ((
  texts: string | string[],
  options?: { aggregation_strategy?: Aggregation; ignore_labels?: string[]; aggregationStrategy?: Aggregation; ignoreLabels?: string[]; truncate?: Truncate },
) => Promise<Array<TokenEntity | EntityGroup> | Array<Array<TokenEntity | EntityGroup>>>) &
  Disposable;
export type FillMaskPipeline = ((
  texts: string | string[],
  options?: { top_k?: number; topK?: number; targets?: string[]; truncate?: Truncate },
) => Promise<FillMaskResult[] | FillMaskResult[][] | FillMaskResult[][][]>) &
  Disposable;
export type ZeroShotPipeline = ((
  texts: string | string[],
  candidateLabels: string[] | string,
  options?: { hypothesis_template?: string; multi_label?: boolean; hypothesisTemplate?: string; multiLabel?: boolean; truncate?: Truncate },
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
export type NextSentencePipeline = ((pairs: [string, string] | Array<[string, string]>, options?: { truncate?: Truncate }) => Promise<number | number[]>) & Disposable;
export type RerankPipeline = ((
  query: string,
  documents: string[],
  options?: { top_n?: number; return_documents?: boolean; raw_scores?: boolean; topN?: number; returnDocuments?: boolean; rawScores?: boolean; truncate?: Truncate },
) => Promise<RerankResult[]>) &
  Disposable;

function withDispose<F extends (...args: never[]) => unknown>(fn: F, close: () => Promise<void>): F & Disposable {
  return Object.assign(fn, { dispose: close });
}

export async function pipeline(task: 'feature-extraction', model?: string, options?: EngineOptions): Promise<FeatureExtractionPipeline>;
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
    case 'feature-extraction': {
      const e = await Embedder.load(model, options);
      return withDispose(async (texts: string | string[], o: EmbedOptions = {}) => e.embed(typeof texts === 'string' ? [texts] : texts, o), () => e.close());
    }
    case 'sentence-similarity': {
      const e = await Embedder.load(model, options);
      return withDispose(async (source: string, sentences: string[], o: EmbedOptions = {}) => {
        if (typeof source !== 'string' || !Array.isArray(sentences)) throw invalidArgument('sentence-similarity: (source: string, sentences: string[])');
        if (sentences.length === 0) return [];
        const [s, ...others] = await e.embed([source, ...sentences], { ...o, normalize: true });
        return others.map((v) => v.reduce((acc, x, i) => acc + x * s[i], 0));
      }, () => e.close());
    }
    case 'text-classification':
    case 'sentiment-analysis': {
      const m = await TaskModel.load(model, options);
      return withDispose(async (input: ClassificationInput | ClassificationInput[], o: Opts = {}) => {
        const many = Array.isArray(input);
        const k = opt<number | null>(o, 'topK', 'top_k');
        const r = await classify(m, many ? input : [input], k === undefined ? 1 : k, o.truncate as Truncate | undefined);
        return many ? r : r[0];
      }, () => m.close());
    }
    case 'token-classification':
    case 'ner': {
      const m = await TaskModel.load(model, options);
      return withDispose(async (texts: string | string[], o: Opts = {}) => {
        const many = Array.isArray(texts);
        const r = await tokenClassify(m, many ? texts : [texts], {
          aggregation: opt<Aggregation>(o, 'aggregationStrategy', 'aggregation_strategy'),
          ignoreLabels: opt<string[]>(o, 'ignoreLabels', 'ignore_labels'),
          truncate: o.truncate as Truncate | undefined,
        });
        return many ? r : r[0];
      }, () => m.close());
    }
    case 'fill-mask': {
      const m = await TaskModel.load(model, options);
      return withDispose(async (texts: string | string[], o: Opts = {}) => {
        const many = Array.isArray(texts);
        const r = await fillMask(m, many ? texts : [texts], { topK: opt<number>(o, 'topK', 'top_k'), targets: o.targets as string[] | undefined, truncate: o.truncate as Truncate | undefined });
        const unwrap = (x: FillMaskResult[][]) => (x.length === 1 ? x[0] : x);
        return many ? r.map(unwrap) : unwrap(r[0]);
      }, () => m.close());
    }
    case 'question-answering': {
      const m = await TaskModel.load(model, options);
      return withDispose(async (question: string | QAInput | QAInput[], context?: string | Opts, o: Opts = {}) => {
        let inputs: QAInput[];
        const many = Array.isArray(question);
        if (typeof question === 'string') {
          inputs = [{ question, context: context as string }];
        } else {
          inputs = many ? question : [question];
          o = (context as Opts | undefined) ?? {};
        }
        const qo: QAOptions = {
          topK: opt<number>(o, 'topK', 'top_k'),
          docStride: opt<number>(o, 'docStride', 'doc_stride'),
          maxAnswerLen: opt<number>(o, 'maxAnswerLen', 'max_answer_len'),
          maxSeqLen: opt<number>(o, 'maxSeqLen', 'max_seq_len'),
          handleImpossibleAnswer: opt<boolean>(o, 'handleImpossibleAnswer', 'handle_impossible_answer'),
          alignToWords: opt<boolean>(o, 'alignToWords', 'align_to_words'),
        };
        const r = await answerQuestions(m, inputs, qo);
        const shaped = r.map((a) => ((qo.topK ?? 1) === 1 ? a[0] : a));
        return many ? shaped : shaped[0];
      }, () => m.close());
    }
    case 'zero-shot-classification': {
      const m = await TaskModel.load(model, options);
      return withDispose(async (texts: string | string[], labels: string[] | string, o: Opts = {}) => {
        const many = Array.isArray(texts);
        const list = many ? texts : [texts];
        const zo = {
          hypothesisTemplate: opt<string>(o, 'hypothesisTemplate', 'hypothesis_template'),
          multiLabel: opt<boolean>(o, 'multiLabel', 'multi_label'),
          truncate: o.truncate as Truncate | undefined,
        };
        const r = [];
        for (const t of list) r.push(await zeroShot(m, t, labels, zo));
        return many ? r : r[0];
      }, () => m.close());
    }
    case 'next-sentence-prediction': {
      const m = await TaskModel.load(model, options);
      return withDispose(async (pairs: [string, string] | Array<[string, string]>, o: Opts = {}) => {
        const one = pairs.length === 2 && typeof pairs[0] === 'string';
        const r = await nextSentence(m, one ? [pairs as [string, string]] : (pairs as Array<[string, string]>), o.truncate as Truncate | undefined);
        return one ? r[0] : r;
      }, () => m.close());
    }
    case 'rerank': {
      const m = await TaskModel.load(model, options);
      return withDispose(
        async (query: string, documents: string[], o: Opts = {}) =>
          rerank(m, query, documents, {
            topN: opt<number>(o, 'topN', 'top_n'),
            returnDocuments: opt<boolean>(o, 'returnDocuments', 'return_documents'),
            rawScores: opt<boolean>(o, 'rawScores', 'raw_scores'),
            truncate: o.truncate as Truncate | undefined,
          }),
        () => m.close(),
      );
    }
    default:
      throw new BertrtError(`unknown or unsupported task "${String(task)}"`, 'E_UNSUPPORTED');
  }
}
