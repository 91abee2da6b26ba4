// Quality of a reduced-precision encoder against FP32 on the same texts: per-text cosine, retrieval agreement
// (each text's nearest neighbour among the others), and the similarity of given pairs. Used by `bertrt bench
// --accuracy`, bench/accuracy.ts and the accuracy test.
import { Embedder } from './embedder';
import type { Precision } from './native';

export interface AccuracyReport {
  precision: string;
  texts: number;
  cosine: { mean: number; min: number; p1: number; worst: Array<{ text: string; cosine: number }> };
  /** fraction of texts whose top-1 neighbour (cosine, among the other texts) is the same under both precisions */
  top1Agreement: number;
  /** the same over the texts whose FP32 top-1 neighbour beats the runner-up by at least `margin` cosine: how much of
   *  the disagreement is near-ties */
  top1ClearMargin: { margin: number; texts: number; agreement: number };
  pairs: Array<{ a: string; b: string; fp32: number; reduced: number }>;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Each text's nearest other text, and by how much it beats the second nearest. */
function top1(v: Float32Array[]): { index: Int32Array; gap: Float64Array } {
  const index = new Int32Array(v.length);
  const gap = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    let best = -Infinity;
    let second = -Infinity;
    for (let j = 0; j < v.length; j++) {
      if (j === i) continue;
      const d = dot(v[i], v[j]);
      if (d > best) {
        second = best;
        best = d;
        index[i] = j;
      } else if (d > second) {
        second = d;
      }
    }
    gap[i] = best - second;
  }
  return { index, gap };
}

const CLEAR_MARGIN = 0.01;

/** The measures of a reduced-precision embedding set `b` against its FP32 reference `a` (the same texts, unit
 *  vectors); `pairs` holds the pair similarities already measured under both. */
export function compareEmbeddings(
  precision: string,
  texts: string[],
  a: Float32Array[],
  b: Float32Array[],
  pairs: AccuracyReport['pairs'] = [],
): AccuracyReport {
  const cos = a.map((x, i) => dot(x, b[i]));
  const sorted = [...cos].sort((x, y) => x - y);
  const ta = top1(a);
  const tb = top1(b);
  let agree = 0;
  let clear = 0;
  let clearAgree = 0;
  for (let i = 0; i < texts.length; i++) {
    const same = ta.index[i] === tb.index[i];
    if (same) agree++;
    if (ta.gap[i] >= CLEAR_MARGIN) {
      clear++;
      if (same) clearAgree++;
    }
  }
  return {
    precision,
    texts: texts.length,
    cosine: {
      mean: cos.reduce((s, x) => s + x, 0) / cos.length,
      min: sorted[0],
      p1: sorted[Math.floor(sorted.length / 100)],
      worst: cos.map((c, i) => ({ text: texts[i], cosine: c })).sort((x, y) => x.cosine - y.cosine).slice(0, 5),
    },
    top1Agreement: agree / texts.length,
    top1ClearMargin: { margin: CLEAR_MARGIN, texts: clear, agreement: clear ? clearAgree / clear : 1 },
    pairs,
  };
}

/** Embeds the texts with the model in FP32 and at `precision`, then compares ({@link compareEmbeddings}). */
export async function compareToFp32(modelDir: string | undefined, precision: Precision, texts: string[], pairs: Array<[string, string]> = []): Promise<AccuracyReport> {
  const ref = await Embedder.load(modelDir);
  const red = await Embedder.load(modelDir, { precision });
  try {
    const [a, b] = [await ref.embed(texts), await red.embed(texts)];
    const pairResults = [];
    for (const [x, y] of pairs) {
      const [ra, rb] = await ref.embed([x, y]);
      const [qa, qb] = await red.embed([x, y]);
      pairResults.push({ a: x, b: y, fp32: dot(ra, rb), reduced: dot(qa, qb) });
    }
    return compareEmbeddings(precision, texts, a, b, pairResults);
  } finally {
    await ref.close();
    await red.close();
  }
}
