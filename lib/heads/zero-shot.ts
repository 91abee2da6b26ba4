// Zero-shot classification over an NLI model, as HF's zero-shot-classification pipeline does it: each candidate
// label becomes the hypothesis "This example is {label}." paired with the text (truncating only the text); one
// label wins by softmax of the entailment logits across labels, or (multi-label, or a single label) each label is
// scored alone by softmax over its [contradiction, entailment] logits.
import { BertrtError, invalidArgument } from '../errors';
import { classificationLogits } from './classification';
import type { TaskModel, Truncate } from './task-model';

export interface ZeroShotResult {
  sequence: string;
  labels: string[];
  scores: number[];
}

/** The index of the "entailment" label of an NLI model (E_UNSUPPORTED for a model without one). */
export function entailmentIndex(m: TaskModel): number {
  const entail = m.labels.map((l) => l.toLowerCase()).findIndex((l) => l.startsWith('entail'));
  if (entail < 0) throw new BertrtError('zero-shot-classification needs an NLI model with an "entailment" label in id2label', 'E_UNSUPPORTED');
  return entail;
}

export async function zeroShot(
  m: TaskModel,
  text: string,
  candidateLabels: string[] | string,
  options: { hypothesisTemplate?: string; multiLabel?: boolean; truncate?: Truncate } = {},
): Promise<ZeroShotResult> {
  if (typeof text !== 'string') throw invalidArgument('zero-shot-classification: the text must be a string');
  const labels = typeof candidateLabels === 'string' ? candidateLabels.split(',').map((l) => l.trim()).filter(Boolean) : candidateLabels;
  if (!Array.isArray(labels) || labels.length === 0 || !labels.every((l) => typeof l === 'string')) {
    throw invalidArgument('zero-shot-classification: candidate labels must be a non-empty list of strings');
  }
  const template = options.hypothesisTemplate ?? 'This example is {}.';
  if (!template.includes('{}')) throw invalidArgument(`hypothesis template ${JSON.stringify(template)} has no {} for the label`);
  const names = m.labels;
  const entail = entailmentIndex(m);
  const contra = entail === 0 ? names.length - 1 : 0;
  const logits = await classificationLogits(
    m,
    labels.map((l) => ({ text, text_pair: template.replace('{}', l) })),
    'only_first',
    options.truncate,
  );
  let scores: number[];
  if (options.multiLabel || labels.length === 1) {
    scores = logits.map((l) => 1 / (1 + Math.exp(l[contra] - l[entail])));
  } else {
    const e = logits.map((l) => l[entail]);
    const mx = Math.max(...e);
    const ex = e.map((v) => Math.exp(v - mx));
    const sum = ex.reduce((a, b) => a + b, 0);
    scores = ex.map((v) => v / sum);
  }
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  return { sequence: text, labels: order.map((i) => labels[i]), scores: order.map((i) => scores[i]) };
}
