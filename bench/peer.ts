// onnxruntime-node as the peer of the benchmarks: its feeds for a padded batch, and the embedding of texts the way
// transformers.js does it (each batch padded to its longest text, mean pooling over the real tokens, L2 norm).
// Tokens are bertrt's (token for token HF's: tests/tokenizer-conformance.test.ts).
import type { Tokenizer } from '../dist/tokenizer/tokenizer';
import { l2normalize, pool } from '../dist/heads/pooling';

export type OrtModule = typeof import('onnxruntime-node');
export type OrtSession = import('onnxruntime-node').InferenceSession;

/** The installed onnxruntime-node's version, for the reports. */
export function ortVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('onnxruntime-node/package.json') as { version: string }).version;
}

/** The feeds of a padded batch; token_type_ids only when the graph takes them (MPNet's has none). */
export function peerFeeds(ort: OrtModule, ids: Int32Array, mask: Int32Array, batch: number, len: number, types = true) {
  const n = batch * len;
  const feeds: Record<string, import('onnxruntime-node').Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (x) => BigInt(x)), [batch, len]),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask, (x) => BigInt(x)), [batch, len]),
  };
  if (types) feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(n), [batch, len]);
  return feeds;
}

/** One batch of texts through the peer: unit-length mean-pooled vectors, one per text. */
export async function peerEmbed(ort: OrtModule, session: OrtSession, tok: Tokenizer, texts: string[], maxLength: number): Promise<Float32Array[]> {
  const types = session.inputNames.includes('token_type_ids');
  const es = texts.map((s) => tok.encode(s, null, { maxLength }));
  const L = Math.max(...es.map((e) => e.ids.length));
  const ids = new Int32Array(es.length * L);
  const mask = new Int32Array(es.length * L);
  es.forEach((e, i) => {
    ids.set(e.ids, i * L);
    mask.fill(1, i * L, i * L + e.ids.length);
  });
  const hidden = (await session.run(peerFeeds(ort, ids, mask, es.length, L, types))).last_hidden_state.data as Float32Array;
  const H = hidden.length / (es.length * L);
  return es.map((e, i) => l2normalize(pool(hidden.subarray(i * L * H, (i + 1) * L * H), H, 0, e.ids.length, 'mean')));
}
