// Sequence classification (BertForSequenceClassification: pooler dense + tanh over [CLS], then the classifier;
// RoBERTa's, XLM-R's and MPNet's classifier.dense + tanh, then classifier.out_proj; DistilBertForSequenceClassification:
// pre_classifier dense + ReLU, then the classifier),
// scores as HF's text-classification pipeline makes them: sigmoid for multi-label models and one-logit models,
// softmax otherwise. Also the cross-encoder reranker, which is the one-logit case.
import { invalidArgument, BertrtError } from '../errors';
import { linear, sigmoid, softmax } from './math';
import type { TaskModel, Truncate } from './task-model';

export interface LabelScore {
  label: string;
  score: number;
}

export type ClassificationInput = string | { text: string; text_pair?: string };

/** Raw logits of each input (pairs encoded as [CLS] a [SEP] b [SEP]). */
export async function classificationLogits(
  m: TaskModel,
  inputs: ClassificationInput[],
  strategy: 'longest_first' | 'only_first' = 'longest_first',
  truncate: Truncate = 'right',
  field = 'inputs',
): Promise<Float64Array[]> {
  const H = m.config.hiddenSize;
  const head = sequenceHead(m);
  const encs = inputs.map((x, i) => {
    const [a, b] = typeof x === 'string' ? [x, null] : [x?.text, x?.text_pair ?? null];
    if (typeof a !== 'string' || (b !== null && typeof b !== 'string')) throw invalidArgument('text-classification: inputs are strings or { text, text_pair }');
    return m.encode(a, b, truncate, b === null ? 'longest_first' : strategy, `${field}[${i}]`);
  });
  const hidden = await m.hidden(encs);
  return hidden.map((h) => head(h));
}

/** The head over a sequence's hidden states [tokens × hidden] (families.ts): the first token's row (or the mean of
 *  all rows, ModernBERT's classifier_pooling "mean"), through BERT's pooler (dense + tanh), RoBERTa's and MPNet's
 *  classifier.dense + tanh, ELECTRA's dense + GELU, DistilBERT's pre_classifier + ReLU or ModernBERT's prediction
 *  head (dense, activation, LayerNorm), then the output layer. */
export function sequenceHead(m: TaskModel): (hidden: Float32Array) => Float64Array {
  if (m.graphHead) return (logits) => Float64Array.from(logits); // the ONNX graph's own head gave them
  const H = m.config.hiddenSize;
  const head = m.config.family.heads.sequence;
  if (!head) throw new BertrtError(`${m.config.family.name}'s sequence-classification head is not supported yet`, 'E_UNSUPPORTED');
  const pooling = head.pool === 'classifier_pooling' ? String(m.config.raw.classifier_pooling ?? 'cls') : 'cls';
  if (pooling !== 'cls' && pooling !== 'mean') throw new BertrtError(`classifier_pooling "${pooling}" is not supported (cls, mean)`, 'E_UNSUPPORTED');
  const transform = m.transform('sequence-classification', head, [`${head.out}.weight`, `${head.out}.bias`]);
  const [cw, cb] = m.tensors('sequence-classification', `${head.out}.weight`, `${head.out}.bias`);
  return (hidden) => {
    let x: ArrayLike<number> = hidden.subarray(0, H);
    if (pooling === 'mean') {
      const n = hidden.length / H;
      const mean = new Float64Array(H);
      for (let t = 0; t < n; t++) for (let j = 0; j < H; j++) mean[j] += hidden[t * H + j];
      x = mean.map((v) => v / n);
    }
    return linear(transform(x), cw, cb, cb.length);
  };
}

export function scoresFromLogits(m: TaskModel, logits: Float64Array): Float64Array {
  const multi = m.config.raw.problem_type === 'multi_label_classification' || logits.length === 1;
  return multi ? logits.map(sigmoid) : softmax(logits);
}

/** Labels with scores, best first; topK null = all. */
export async function classify(m: TaskModel, inputs: ClassificationInput[], topK: number | null = 1, truncate: Truncate = 'right'): Promise<LabelScore[][]> {
  if (topK !== null && (!Number.isInteger(topK) || topK < 1)) throw invalidArgument('topK must be a positive integer or null');
  const labels = m.labels;
  const logits = await classificationLogits(m, inputs, 'longest_first', truncate);
  return logits.map((l) => {
    const s = scoresFromLogits(m, l);
    const all = Array.from(s, (score, i) => ({ label: labels[i] ?? `LABEL_${i}`, score }));
    all.sort((a, b) => b.score - a.score);
    return topK === null ? all : all.slice(0, topK);
  });
}

export interface RerankResult {
  index: number;
  score: number;
  text?: string;
}

/** Cross-encoder reranking: one logit per (query, document) pair; sigmoid unless rawScores. */
export async function rerank(
  m: TaskModel,
  query: string,
  documents: string[],
  options: { topN?: number; returnDocuments?: boolean; rawScores?: boolean; truncate?: Truncate } = {},
): Promise<RerankResult[]> {
  if (typeof query !== 'string' || !Array.isArray(documents) || !documents.every((d) => typeof d === 'string')) {
    throw invalidArgument('rerank(query: string, documents: string[])');
  }
  if (documents.length === 0) return [];
  const logits = await classificationLogits(m, documents.map((d) => ({ text: query, text_pair: d })), 'longest_first', options.truncate, 'texts');
  if (logits[0].length !== 1) {
    throw new BertrtError(`rerank needs a cross-encoder with one output, this model has ${logits[0].length} labels`, 'E_UNSUPPORTED');
  }
  const out = logits.map((l, index) => ({
    index,
    score: options.rawScores ? l[0] : sigmoid(l[0]),
    ...(options.returnDocuments ? { text: documents[index] } : {}),
  }));
  out.sort((a, b) => b.score - a.score);
  return options.topN !== undefined ? out.slice(0, options.topN) : out;
}

/** The NSP head's tensors: the pooler, then cls.seq_relationship. */
export function nextSentenceHead(m: TaskModel): Float32Array[] {
  return m.tensors('next-sentence-prediction', 'pooler.dense.weight', 'pooler.dense.bias', 'cls.seq_relationship.weight', 'cls.seq_relationship.bias');
}

/** Next-sentence prediction (BertForNextSentencePrediction: pooler, then cls.seq_relationship): the probability
 *  that `b` follows `a`, softmax over the head's two logits (index 0 = "is next", as BERT was trained). */
export async function nextSentence(m: TaskModel, pairs: Array<[string, string]>, truncate: Truncate = 'right'): Promise<number[]> {
  if (!Array.isArray(pairs) || !pairs.every((p) => Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'string'))) {
    throw invalidArgument('next-sentence-prediction: inputs are [first, second] pairs of strings');
  }
  const [pw, pb, sw, sb] = nextSentenceHead(m);
  const H = m.config.hiddenSize;
  const encs = pairs.map(([a, b], i) => m.encode(a, b, truncate, 'longest_first', `pairs[${i}]`));
  const hidden = await m.hidden(encs);
  return hidden.map((h) => softmax(linear(linear(h.subarray(0, H), pw, pb, H).map(Math.tanh), sw, sb, 2))[0]);
}
