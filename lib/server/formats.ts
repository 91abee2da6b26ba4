// How vectors leave the server: at a precision (sentence-transformers' quantize_embeddings names: float32, int8,
// uint8, binary, ubinary) and an encoding (JSON numbers, or base64 of the little-endian bytes: float32 for float32,
// one byte a dimension for int8 / uint8, the packed bits for binary / ubinary). int8 / uint8 buckets come from the
// request's `ranges` ([min per dimension, max per dimension]) or, without them, from the request's own vectors, as
// quantize_embeddings does without calibration: send ranges computed once over a sample to get the same integers
// from every request.
import { type EmbeddingPrecision, quantizeEmbeddings } from '../quantize';
import type { Body } from './context';

export const PRECISIONS: EmbeddingPrecision[] = ['float32', 'int8', 'uint8', 'binary', 'ubinary'];

export function formatVectors(vecs: Float32Array[], precision: EmbeddingPrecision, base64: boolean, ranges?: unknown): Array<number[] | string> {
  const q = precision === 'float32' ? vecs : quantizeEmbeddings(vecs, precision, ranges ? { ranges: ranges as [number[], number[]] } : {});
  return q.map((v) => (base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v)));
}

/** A TEI-route body's `precision` (default float32) and `encoding_format` (default float). */
export function bodyFormat(b: Body): { precision: EmbeddingPrecision; base64: boolean } {
  return { precision: (b.precision as EmbeddingPrecision | null) ?? 'float32', base64: b.encoding_format === 'base64' };
}
