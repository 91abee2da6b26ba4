// Token classification / NER as HF's token-classification pipeline reports it: per-token entities
// (aggregation 'none') or consecutive tokens of one entity type grouped ('simple': a B- tag or a change of type
// starts a new group; the group's score is the mean). Offsets are UTF-16 code units of the input.
import { invalidArgument } from '../errors';
import { linear, softmax } from './math';
import type { TaskModel } from './task-model';

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

export type Aggregation = 'none' | 'simple';

function tag(entity: string): [string, string] {
  if (entity.startsWith('B-')) return ['B', entity.slice(2)];
  if (entity.startsWith('I-')) return ['I', entity.slice(2)];
  return ['I', entity];
}

export async function tokenClassify(
  m: TaskModel,
  texts: string[],
  options: { aggregation?: Aggregation; ignoreLabels?: string[] } = {},
): Promise<Array<TokenEntity[] | EntityGroup[]>> {
  const aggregation = options.aggregation ?? 'none';
  if (aggregation !== 'none' && aggregation !== 'simple') throw invalidArgument(`aggregation must be 'none' or 'simple' (got ${String(aggregation)})`);
  const ignore = new Set(options.ignoreLabels ?? ['O']);
  const [cw, cb] = m.tensors('token-classification', 'classifier.weight', 'classifier.bias');
  const labels = m.labels;
  const H = m.config.hiddenSize;
  const encs = texts.map((t) => {
    if (typeof t !== 'string') throw invalidArgument('token-classification: inputs must be strings');
    return m.tokenizer.encode(t, null, { maxLength: m.maxLength, returnOverflowing: false });
  });
  const hidden = await m.hidden(encs);
  return encs.map((e, n) => {
    const tokens: Array<TokenEntity & { id: number }> = [];
    for (let k = 0; k < e.ids.length; k++) {
      if (e.specialTokensMask[k]) continue;
      const p = softmax(linear(hidden[n].subarray(k * H, (k + 1) * H), cw, cb, cb.length));
      let best = 0;
      for (let j = 1; j < p.length; j++) if (p[j] > p[best]) best = j;
      tokens.push({ entity: labels[best], score: p[best], index: k, word: e.tokens[k], start: e.offsets[k][0], end: e.offsets[k][1], id: e.ids[k] });
    }
    if (aggregation === 'none') return tokens.filter((t) => !ignore.has(t.entity)).map(({ id: _, ...t }) => t);
    const groups: EntityGroup[] = [];
    let cur: typeof tokens = [];
    const flush = () => {
      if (!cur.length) return;
      groups.push({
        entity_group: tag(cur[0].entity)[1],
        score: cur.reduce((a, t) => a + t.score, 0) / cur.length,
        word: m.tokenizer.decode(cur.map((t) => t.id), { skipSpecialTokens: false }),
        start: cur[0].start,
        end: cur[cur.length - 1].end,
      });
      cur = [];
    };
    for (const t of tokens) {
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
