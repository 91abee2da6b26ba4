// Extractive question answering (BertForQuestionAnswering / DistilBertForQuestionAnswering: qa_outputs gives a
// start and an end logit per token), decoded as HF's question-answering pipeline does:
// - the context is cut into windows of maxSeqLen tokens overlapping by docStride (question first, only the
//   context truncated); each window is scored on its own;
// - per window: logits of non-context tokens are masked, start and end go through softmax, the score of a span is
//   p_start(s) · p_end(e) for s <= e < s + maxAnswerLen; the best topK·2+10 spans are kept (topK without word
//   alignment), widened to whole words, and spans with the same (case-insensitive) text add their scores;
// - with handleImpossibleAnswer, the smallest [CLS]·[CLS] score over the windows competes as the empty answer.
// Offsets are UTF-16 code units of the context (String.slice indices).
import { invalidArgument } from '../errors';
import { linear, softmax } from './math';
import type { TaskModel } from './task-model';
import type { Encoding } from '../tokenizer/tokenizer';

export interface QAOptions {
  /** answers to return (default 1) */
  topK?: number;
  /** tokens per window, question and special tokens included (default min(model max, 384)) */
  maxSeqLen?: number;
  /** tokens shared by consecutive windows (default min(maxSeqLen / 2, 128)) */
  docStride?: number;
  /** longest answer in tokens (default 15) */
  maxAnswerLen?: number;
  /** let the empty answer compete, scored by [CLS] (default false) */
  handleImpossibleAnswer?: boolean;
  /** widen answers to whole words (default true) */
  alignToWords?: boolean;
}

export interface QAAnswer {
  score: number;
  start: number;
  end: number;
  answer: string;
}

export interface QAInput {
  question: string;
  context: string;
}

function positiveInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw invalidArgument(`question-answering: ${what} must be a positive integer (got ${String(v)})`);
  return v;
}

/** The best spans of one window: [start token, end token, score], best first. */
function bestSpans(start: Float64Array, end: Float64Array, allowed: boolean[], k: number, maxAnswerLen: number): Array<[number, number, number]> {
  const n = start.length;
  const cands: Array<[number, number, number]> = [];
  for (let s = 0; s < n; s++) {
    if (!allowed[s] || start[s] === 0) continue;
    for (let e = s; e < Math.min(n, s + maxAnswerLen); e++) {
      if (allowed[e] && end[e] !== 0) cands.push([s, e, start[s] * end[e]]);
    }
  }
  cands.sort((a, b) => b[2] - a[2]);
  return cands.slice(0, k);
}

/** The extractive-QA head's tensors (start and end logits per token). */
export function qaHead(m: TaskModel): Float32Array[] {
  return m.tensors('question-answering', 'qa_outputs.weight', 'qa_outputs.bias');
}

export async function answerQuestions(m: TaskModel, inputs: QAInput[], options: QAOptions = {}): Promise<QAAnswer[][]> {
  const topK = positiveInt(options.topK ?? 1, 'topK');
  const maxAnswerLen = positiveInt(options.maxAnswerLen ?? 15, 'maxAnswerLen');
  const maxSeqLen = positiveInt(options.maxSeqLen ?? Math.min(m.maxLength, 384), 'maxSeqLen');
  if (maxSeqLen > m.maxLength) throw invalidArgument(`question-answering: maxSeqLen ${maxSeqLen} exceeds the model's ${m.maxLength} positions`);
  const docStride = options.docStride ?? Math.min(Math.floor(maxSeqLen / 2), 128);
  if (!Number.isInteger(docStride) || docStride < 0) throw invalidArgument('question-answering: docStride must be a non-negative integer');
  if (docStride > maxSeqLen) throw invalidArgument(`question-answering: docStride (${docStride}) is larger than maxSeqLen (${maxSeqLen})`);
  const align = options.alignToWords ?? true;
  const impossible = options.handleImpossibleAnswer ?? false;
  const [qw, qb] = qaHead(m);
  if (qb.length !== 2) throw invalidArgument(`question-answering: qa_outputs has ${qb.length} outputs, not 2 (start, end)`);
  const H = m.config.hiddenSize;

  // every window of every input, in one engine call
  const windows: Array<{ input: number; enc: Encoding }> = [];
  inputs.forEach((x, i) => {
    if (!x || typeof x.question !== 'string' || typeof x.context !== 'string') throw invalidArgument('question-answering: each input needs a question and a context, both strings');
    if (x.question.trim() === '') throw invalidArgument(`question-answering: inputs[${i}].question is empty`);
    if (x.context.trim() === '') throw invalidArgument(`question-answering: inputs[${i}].context is empty`);
    const enc = m.tokenizer.encode(x.question, x.context, {
      truncation: { maxLength: maxSeqLen, stride: docStride, strategy: 'only_second' },
      returnOverflowing: true,
    });
    for (const e of [enc, ...enc.overflowing]) windows.push({ input: i, enc: e });
  });
  const hidden = await m.hidden(windows.map((w) => w.enc));

  const answers: QAAnswer[][] = inputs.map(() => []);
  const nullScore: number[] = inputs.map(() => Infinity);
  windows.forEach(({ input, enc }, w) => {
    const n = enc.ids.length;
    const context = inputs[input].context;
    const startLogits = new Float64Array(n);
    const endLogits = new Float64Array(n);
    // answers may only lie in the context; [CLS] stays allowed (it scores the empty answer)
    const allowed = enc.sequenceIds.map((s, k) => s === 1 || k === 0);
    for (let k = 0; k < n; k++) {
      const [a, b] = linear(hidden[w].subarray(k * H, (k + 1) * H), qw, qb, 2);
      startLogits[k] = allowed[k] ? a : -10000;
      endLogits[k] = allowed[k] ? b : -10000;
    }
    const ps = softmax(startLogits);
    const pe = softmax(endLogits);
    nullScore[input] = Math.min(nullScore[input], ps[0] * pe[0]);
    ps[0] = pe[0] = 0;
    const found = answers[input];
    for (const [s, e, score] of bestSpans(ps, pe, allowed, align ? topK * 2 + 10 : topK, maxAnswerLen)) {
      let begin = enc.offsets[s][0];
      let stop = enc.offsets[e][1];
      if (align && enc.wordIds[s] !== null && enc.wordIds[e] !== null) {
        [begin] = wordChars(enc, enc.wordIds[s]!);
        [, stop] = wordChars(enc, enc.wordIds[e]!);
      }
      const text = context.slice(begin, stop);
      const same = found.find((a) => a.answer.toLowerCase() === text.toLowerCase());
      if (same) same.score += score;
      else found.push({ score, start: begin, end: stop, answer: text });
    }
  });
  return answers.map((found, i) => {
    if (impossible) found.push({ score: nullScore[i], start: 0, end: 0, answer: '' });
    return found.sort((a, b) => b.score - a.score).slice(0, topK);
  });
}

/** Character span of context word `word` within this window. */
function wordChars(enc: Encoding, word: number): [number, number] {
  let first = -1;
  let last = -1;
  for (let k = 0; k < enc.ids.length; k++) {
    if (enc.sequenceIds[k] === 1 && enc.wordIds[k] === word) {
      if (first < 0) first = k;
      last = k;
    }
  }
  return [enc.offsets[first][0], enc.offsets[last][1]];
}
