// Quantized embeddings with sentence-transformers' quantize_embeddings semantics, for vector stores that keep int8
// or binary vectors: per dimension, int8 / uint8 buckets of width (max - min) / 255 over a range (given, from
// calibration embeddings, or from the embeddings themselves), q = clip(floor((x - min) / step), 0, 255) (int8: q -
// 128), a zero-width range taking a step of 1; binary / ubinary: the signs packed 8 per byte, first dimension in the
// high bit, the last byte zero-padded (binary: the byte - 128). Arithmetic in FP32 as numpy does it, so the integers
// are the same (tests/quantize.test.ts).
import { invalidArgument } from './errors';

export type EmbeddingPrecision = 'float32' | 'int8' | 'uint8' | 'binary' | 'ubinary';

export interface QuantizeOptions {
  /** [min per dimension, max per dimension] for int8 / uint8 */
  ranges?: [ArrayLike<number>, ArrayLike<number>];
  /** embeddings to take the ranges from (default: the embeddings being quantized; at least two needed) */
  calibration?: Float32Array[];
}

export function quantizeEmbeddings(embeddings: Float32Array[], precision: 'int8' | 'binary', options?: QuantizeOptions): Int8Array[];
export function quantizeEmbeddings(embeddings: Float32Array[], precision: 'uint8' | 'ubinary', options?: QuantizeOptions): Uint8Array[];
export function quantizeEmbeddings(embeddings: Float32Array[], precision: 'float32', options?: QuantizeOptions): Float32Array[];
export function quantizeEmbeddings(embeddings: Float32Array[], precision: EmbeddingPrecision, options?: QuantizeOptions): Array<Float32Array | Int8Array | Uint8Array>;
export function quantizeEmbeddings(embeddings: Float32Array[], precision: EmbeddingPrecision, options: QuantizeOptions = {}): Array<Float32Array | Int8Array | Uint8Array> {
  if (!Array.isArray(embeddings) || !embeddings.every((e) => e instanceof Float32Array)) throw invalidArgument('quantizeEmbeddings: embeddings must be an array of Float32Array');
  if (!['float32', 'int8', 'uint8', 'binary', 'ubinary'].includes(precision)) throw invalidArgument(`quantizeEmbeddings: precision must be float32, int8, uint8, binary or ubinary (got ${JSON.stringify(precision)})`);
  if (embeddings.length === 0) return [];
  const dim = embeddings[0].length;
  if (!embeddings.every((e) => e.length === dim)) throw invalidArgument('quantizeEmbeddings: the embeddings differ in dimension');
  if (precision === 'float32') return embeddings.map((e) => Float32Array.from(e));
  if (precision === 'binary' || precision === 'ubinary') {
    const bytes = Math.ceil(dim / 8);
    return embeddings.map((e) => {
      const packed = new Uint8Array(bytes);
      for (let d = 0; d < dim; d++) if (e[d] > 0) packed[d >> 3] |= 0x80 >> (d & 7);
      return precision === 'ubinary' ? packed : Int8Array.from(packed, (b) => b - 128);
    });
  }
  const [lo, hi] = ranges(embeddings, dim, options);
  const f = Math.fround;
  const start = Float32Array.from(lo);
  const step = Float32Array.from(start, (s, d) => {
    const w = f(f(f(hi[d]) - s) / 255);
    return w === 0 ? 1 : w;
  });
  return embeddings.map((e) => {
    const out = precision === 'int8' ? new Int8Array(dim) : new Uint8Array(dim);
    for (let d = 0; d < dim; d++) {
      const q = Math.min(255, Math.max(0, Math.floor(f(f(e[d] - start[d]) / step[d]))));
      out[d] = precision === 'int8' ? q - 128 : q;
    }
    return out;
  });
}

function ranges(embeddings: Float32Array[], dim: number, o: QuantizeOptions): [ArrayLike<number>, ArrayLike<number>] {
  if (o.ranges) {
    const [lo, hi] = o.ranges;
    if (lo?.length !== dim || hi?.length !== dim) throw invalidArgument(`quantizeEmbeddings: ranges must be [min, max], each ${dim} numbers`);
    for (let d = 0; d < dim; d++) if (!(Number.isFinite(lo[d]) && Number.isFinite(hi[d]) && hi[d] >= lo[d])) throw invalidArgument(`quantizeEmbeddings: ranges[.][${d}] must be finite with min <= max`);
    return [lo, hi];
  }
  const cal = o.calibration ?? embeddings;
  if (cal.length < 2 && !o.calibration) {
    throw invalidArgument('quantizeEmbeddings: int8 / uint8 ranges cannot come from a single embedding: pass ranges or calibration embeddings');
  }
  if (cal.length === 0 || !cal.every((e) => e instanceof Float32Array && e.length === dim)) throw invalidArgument(`quantizeEmbeddings: calibration must be Float32Arrays of dimension ${dim}`);
  const lo = Float32Array.from(cal[0]);
  const hi = Float32Array.from(cal[0]);
  for (const e of cal) {
    for (let d = 0; d < dim; d++) {
      if (e[d] < lo[d]) lo[d] = e[d];
      if (e[d] > hi[d]) hi[d] = e[d];
    }
  }
  return [lo, hi];
}
