// pipeline(task, model?, options?): transformers.js-style entry points. Task names and option names follow
// transformers.js (topK, aggregationStrategy, ...), so code moves over by changing the import; results are plain
// objects and typed arrays. Each pipeline holds a native model until dispose().
import { BertrtError } from './errors';
import { Embedder } from './embedder';
import { classify, rerank, type ClassificationInput, type LabelScore, type RerankResult } from './heads/classification';
import { fillMask, type FillMaskResult } from './heads/fill-mask';
import { TaskModel } from './heads/task-model';
import { tokenClassify, type Aggregation, type EntityGroup, type TokenEntity } from './heads/token-classification';
import type { EngineOptions } from './model/engine';

export type Task =
  | 'feature-extraction'
  | 'sentence-similarity'
  | 'text-classification'
  | 'sentiment-analysis'
  | 'token-classification'
  | 'ner'
  | 'fill-mask'
  | 'rerank';

type Disposable = { dispose(): Promise<void> };

export type FeatureExtractionPipeline = ((texts: string | string[], options?: { normalize?: boolean }) => Promise<Float32Array[]>) & Disposable;
export type TextClassificationPipeline = ((input: ClassificationInput | ClassificationInput[], options?: { topK?: number | null }) => Promise<LabelScore[] | LabelScore[][]>) &
  Disposable;
export type TokenClassificationPipeline = ((
  texts: string | string[],
  options?: { aggregationStrategy?: Aggregation; ignoreLabels?: string[] },
) => Promise<Array<TokenEntity | EntityGroup> | Array<Array<TokenEntity | EntityGroup>>>) &
  Disposable;
export type FillMaskPipeline = ((texts: string | string[], options?: { topK?: number; targets?: string[] }) => Promise<FillMaskResult[] | FillMaskResult[][] | FillMaskResult[][][]>) &
  Disposable;
export type RerankPipeline = ((query: string, documents: string[], options?: { topN?: number; returnDocuments?: boolean; rawScores?: boolean }) => Promise<RerankResult[]>) &
  Disposable;

function withDispose<F extends (...args: never[]) => unknown>(fn: F, close: () => Promise<void>): F & Disposable {
  return Object.assign(fn, { dispose: close });
}

export async function pipeline(task: 'feature-extraction' | 'sentence-similarity', model?: string, options?: EngineOptions): Promise<FeatureExtractionPipeline>;
export async function pipeline(task: 'text-classification' | 'sentiment-analysis', model?: string, options?: EngineOptions): Promise<TextClassificationPipeline>;
export async function pipeline(task: 'token-classification' | 'ner', model?: string, options?: EngineOptions): Promise<TokenClassificationPipeline>;
export async function pipeline(task: 'fill-mask', model?: string, options?: EngineOptions): Promise<FillMaskPipeline>;
export async function pipeline(task: 'rerank', model?: string, options?: EngineOptions): Promise<RerankPipeline>;
export async function pipeline(task: Task, model?: string, options: EngineOptions = {}): Promise<unknown> {
  switch (task) {
    case 'feature-extraction':
    case 'sentence-similarity': {
      const e = await Embedder.load(model, options);
      return withDispose(async (texts: string | string[], o: { normalize?: boolean } = {}) => e.embed(typeof texts === 'string' ? [texts] : texts, o), () => e.close());
    }
    case 'text-classification':
    case 'sentiment-analysis': {
      const m = await TaskModel.load(model, options);
      return withDispose(async (input: ClassificationInput | ClassificationInput[], o: { topK?: number | null } = {}) => {
        const many = Array.isArray(input);
        const r = await classify(m, many ? input : [input], o.topK === undefined ? 1 : o.topK);
        return many ? r : r[0];
      }, () => m.close());
    }
    case 'token-classification':
    case 'ner': {
      const m = await TaskModel.load(model, options);
      return withDispose(async (texts: string | string[], o: { aggregationStrategy?: Aggregation; ignoreLabels?: string[] } = {}) => {
        const many = Array.isArray(texts);
        const r = await tokenClassify(m, many ? texts : [texts], { aggregation: o.aggregationStrategy, ignoreLabels: o.ignoreLabels });
        return many ? r : r[0];
      }, () => m.close());
    }
    case 'fill-mask': {
      const m = await TaskModel.load(model, options);
      return withDispose(async (texts: string | string[], o: { topK?: number; targets?: string[] } = {}) => {
        const many = Array.isArray(texts);
        const r = await fillMask(m, many ? texts : [texts], o);
        const unwrap = (x: FillMaskResult[][]) => (x.length === 1 ? x[0] : x);
        return many ? r.map(unwrap) : unwrap(r[0]);
      }, () => m.close());
    }
    case 'rerank': {
      const m = await TaskModel.load(model, options);
      return withDispose(async (query: string, documents: string[], o = {}) => rerank(m, query, documents, o), () => m.close());
    }
    default:
      throw new BertrtError(`unknown or unsupported task "${String(task)}"`, 'E_UNSUPPORTED');
  }
}
