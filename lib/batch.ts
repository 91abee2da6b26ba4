// Packs encodings end to end (no padding): what the engine consumes.
import type { PackedBatch } from './model/engine';
import type { Encoding } from './tokenizer/tokenizer';

export function pack(encodings: ReadonlyArray<Pick<Encoding, 'ids' | 'typeIds'>>, withTypes: boolean): PackedBatch {
  let total = 0;
  for (const e of encodings) total += e.ids.length;
  const ids = new Int32Array(total);
  const typeIds = withTypes ? new Int32Array(total) : null;
  const cuSeqlens = new Int32Array(encodings.length + 1);
  let k = 0;
  encodings.forEach((e, i) => {
    ids.set(e.ids, k);
    typeIds?.set(e.typeIds, k);
    k += e.ids.length;
    cuSeqlens[i + 1] = k;
  });
  return { ids, typeIds, cuSeqlens };
}
