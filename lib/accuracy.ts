// Quality of a reduced-precision encoder against FP32 on the same texts: per-text cosine, retrieval agreement
// (each text's nearest neighbour among the others), and the similarity of given pairs. Used by `bertrt bench
// --accuracy`, bench/accuracy.ts and the accuracy test.
import { Embedder } from './embedder';
import type { Precision } from './native';

export interface AccuracyReport {
  precision: Precision;
  texts: number;
  cosine: { mean: number; min: number; p1: number; worst: Array<{ text: string; cosine: number }> };
  /** fraction of texts whose top-1 neighbour (cosine, among the other texts) is the same under both precisions */
  top1Agreement: number;
  pairs: Array<{ a: string; b: string; fp32: number; reduced: number }>;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function top1(v: Float32Array[]): Int32Array {
  const out = new Int32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    let best = -Infinity;
    for (let j = 0; j < v.length; j++) {
      if (j === i) continue;
      const d = dot(v[i], v[j]);
      if (d > best) {
        best = d;
        out[i] = j;
      }
    }
  }
  return out;
}

export async function compareToFp32(modelDir: string | undefined, precision: Precision, texts: string[], pairs: Array<[string, string]> = []): Promise<AccuracyReport> {
  const ref = await Embedder.load(modelDir);
  const red = await Embedder.load(modelDir, { precision });
  try {
    const [a, b] = [await ref.embed(texts), await red.embed(texts)];
    const cos = a.map((x, i) => dot(x, b[i]));
    const sorted = [...cos].sort((x, y) => x - y);
    const ta = top1(a);
    const tb = top1(b);
    let agree = 0;
    for (let i = 0; i < texts.length; i++) if (ta[i] === tb[i]) agree++;
    const pairResults = [];
    for (const [x, y] of pairs) {
      const [ra, rb] = await ref.embed([x, y]);
      const [qa, qb] = await red.embed([x, y]);
      pairResults.push({ a: x, b: y, fp32: dot(ra, rb), reduced: dot(qa, qb) });
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
      pairs: pairResults,
    };
  } finally {
    await ref.close();
    await red.close();
  }
}
