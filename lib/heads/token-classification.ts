// Token classification / NER as HF's token-classification pipeline reports it: per-token entities
// (aggregation 'none'), consecutive tokens of one entity type grouped ('simple': a B- tag or a change of type
// starts a new group; the group's score is the mean), or words first — sub-word tokens joined to their word and the
// word labelled by its first token, its best-scoring token, or its averaged scores ('first', 'max', 'average') —
// then grouped. Offsets are UTF-16 code units of the input.
import { invalidArgument } from '../errors';
import { linear, softmax } from './math';
import type { TaskModel, Truncate } from './task-model';

export interface TokenEntity {
  entity: string;
  score: number;
  index: number;
  word: string;
  start: number;
  end: number;
}

export interface EntityGroup {
  entity_group: string;
  score: number;
  word: string;
  start: number;
  end: number;
}

export type Aggregation = 'none' | 'simple' | 'first' | 'average' | 'max';

function tag(entity: string): [string, string] {
  if (entity.startsWith('B-')) return ['B', entity.slice(2)];
  if (entity.startsWith('I-')) return ['I', entity.slice(2)];
  return ['I', entity];
}

/** The token-classification head: a linear layer over every token's hidden state (after the family's transform,
 *  ModernBERT's prediction head, where it has one): one row in, the label logits out. */
export function tokenHead(m: TaskModel): (row: Float32Array) => Float64Array {
  const spec = m.config.family.heads.token;
  const transform = spec ? m.transform('token-classification', spec, ['classifier.weight', 'classifier.bias']) : null;
  const [cw, cb] = m.tensors('token-classification', 'classifier.weight', 'classifier.bias');
  return (row) => linear(transform ? transform(row) : row, cw, cb, cb.length);
}

export async function tokenClassify(
  m: TaskModel,
  texts: string[],
  options: { aggregation?: Aggregation; ignoreLabels?: string[]; truncate?: Truncate } = {},
): Promise<Array<TokenEntity[] | EntityGroup[]>> {
  const aggregation = options.aggregation ?? 'none';
  if (!['none', 'simple', 'first', 'average', 'max'].includes(aggregation)) {
    throw invalidArgument(`aggregation must be 'none', 'simple', 'first', 'average' or 'max' (got ${String(aggregation)})`);
  }
  const ignore = new Set(options.ignoreLabels ?? ['O']);
  const head = tokenHead(m);
  const labels = m.labels;
  const H = m.config.hiddenSize;
  const unkToken = m.tokenizer.specialTokenFor('unk');
  const unk = unkToken === undefined ? undefined : m.tokenizer.tokenToId(unkToken);
  const encs = texts.map((t, i) => {
    if (typeof t !== 'string') throw invalidArgument('token-classification: inputs must be strings');
    return m.encode(t, null, options.truncate, 'longest_first', `texts[${i}]`);
  });
  const hidden = await m.hidden(encs);
  return encs.map((e, n) => {
    const text = texts[n];
    // per token: its label scores, its word (the source text for [UNK], as HF does) and whether it continues a word
    const pre = [];
    for (let k = 0; k < e.ids.length; k++) {
      if (e.specialTokensMask[k]) continue;
      const scores = softmax(head(hidden[n].subarray(k * H, (k + 1) * H)));
      const [start, end] = e.offsets[k];
      const source = text.slice(start, end);
      const isUnk = e.ids[k] === unk;
      const word = isUnk ? source : e.tokens[k];
      pre.push({ scores, index: k, start, end, word, isSubword: !isUnk && [...word].length !== [...source].length });
    }
    const best = (p: Float64Array) => p.reduce((bi, v, i) => (v > p[bi] ? i : bi), 0);
    type Labelled = { entity: string; score: number; word: string; start: number; end: number; index?: number };
    let labelled: Labelled[];
    if (aggregation === 'none' || aggregation === 'simple') {
      labelled = pre.map((t) => {
        const i = best(t.scores);
        return { entity: labels[i], score: t.scores[i], index: t.index, word: t.word, start: t.start, end: t.end };
      });
      if (aggregation === 'none') return labelled.filter((t) => !ignore.has(t.entity)) as TokenEntity[];
    } else {
      const words: Array<typeof pre> = [];
      for (const t of pre) {
        if (t.isSubword && words.length) words[words.length - 1].push(t);
        else words.push([t]);
      }
      labelled = words.map((w) => {
        let scores = w[0].scores;
        if (aggregation === 'max') scores = w.reduce((a, t) => (Math.max(...t.scores) > Math.max(...a.scores) ? t : a)).scores;
        if (aggregation === 'average') scores = w[0].scores.map((_, j) => w.reduce((s, t) => s + t.scores[j], 0) / w.length);
        const i = best(scores);
        return { entity: labels[i], score: scores[i], word: m.tokenizer.decodeTokens(w.map((t) => t.word)), start: w[0].start, end: w[w.length - 1].end };
      });
    }
    // group consecutive entities of one type; a B- tag starts a new group
    const groups: EntityGroup[] = [];
    let cur: Labelled[] = [];
    const flush = () => {
      if (!cur.length) return;
      groups.push({
        entity_group: tag(cur[0].entity)[1],
        score: cur.reduce((a, t) => a + t.score, 0) / cur.length,
        word: m.tokenizer.decodeTokens(cur.map((t) => t.word)),
        start: cur[0].start,
        end: cur[cur.length - 1].end,
      });
      cur = [];
    };
    for (const t of labelled) {
      if (cur.length) {
        const [bi, type] = tag(t.entity);
        if (type !== tag(cur[cur.length - 1].entity)[1] || bi === 'B') flush();
      }
      cur.push(t);
    }
    flush();
    return groups.filter((g) => !ignore.has(g.entity_group));
  });
}
