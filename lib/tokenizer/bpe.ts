// BPE as HF tokenizers runs it: a word starts as one symbol per char (the continuing-subword prefix on all but
// the first, the end-of-word suffix on the last; unknown chars become bytes with byte fallback, else the unknown
// token, fused if fuse_unk), then the pair with the lowest merge rank is merged, leftmost first, until no pair
// has a merge. A heap of candidate merges keeps this O(n log n) per word; stale entries are skipped when popped.
import { BertrtError } from '../errors';
import type { Aligned } from './aligned';
import { byteTokens, cachedTriples, emitTriples, isHighSurrogate, isLowSurrogate, type Token, VocabModel, wellFormedPiece } from './model';

export interface BpeOptions {
  unkToken: string | null;
  continuingSubwordPrefix: string | null;
  endOfWordSuffix: string | null;
  fuseUnk: boolean;
  byteFallback: boolean;
  ignoreMerges: boolean;
}

const PAIR = 1 << 24; // ids are below 2^24 (checked at load), so a * PAIR + b names a pair exactly
const POS = 2 ** 26;

export class Bpe extends VocabModel {
  /** pair → rank * PAIR + merged id */
  private readonly merges = new Map<number, number>();
  private readonly unkId: number | null;
  private readonly cache = new Map<string, Int32Array>();

  constructor(
    vocab: Map<string, number>,
    merges: Array<[string, string]>,
    readonly options: BpeOptions,
  ) {
    super(vocab);
    for (const [t, id] of vocab) {
      if (!wellFormedPiece(t)) throw new BertrtError(`tokenizer.json: model.vocab has a token that is not well-formed Unicode (id ${id})`, 'E_MODEL_FORMAT');
    }
    if (merges.length >= POS / 4) throw new BertrtError(`tokenizer.json: ${merges.length} merges are more than bertrt reads`, 'E_MODEL_FORMAT');
    const prefixLen = options.continuingSubwordPrefix?.length ?? 0;
    merges.forEach(([a, b], rank) => {
      const ia = vocab.get(a);
      const ib = vocab.get(b);
      const merged = a + b.slice(prefixLen);
      const im = vocab.get(merged);
      if (ia === undefined || ib === undefined || im === undefined) {
        const missing = ia === undefined ? a : ib === undefined ? b : merged;
        throw new BertrtError(`tokenizer.json: model.merges[${rank}] uses ${JSON.stringify(missing).slice(0, 80)}, which is not in the vocabulary`, 'E_MODEL_FORMAT');
      }
      this.merges.set(ia * PAIR + ib, rank * PAIR + im); // a repeated pair keeps its last rank, as in HF
    });
    if (options.unkToken !== null) {
      const u = vocab.get(options.unkToken);
      // HF refuses only when an unknown char shows up; a model whose unknown token is missing is refused here
      this.unkId = u ?? null;
    } else this.unkId = null;
  }

  tokenize(word: Aligned, out: Token[]): void {
    const key = word.chars.join('');
    if (key.length === 0) return;
    emitTriples(word, key, this.triples(key), out);
  }

  triples(key: string): Int32Array {
    return cachedTriples(this.cache, key, (k) => this.word(k));
  }

  /** The symbols of `s` after all merges, as [id, begin, end] triples in UTF-16 units. */
  private word(s: string): Int32Array {
    const o = this.options;
    if (o.ignoreMerges) {
      const id = this.vocab.get(s);
      if (id !== undefined) return Int32Array.of(id, 0, s.length);
    }
    const ids: number[] = [];
    const begins: number[] = [];
    const ends: number[] = [];
    let unk = -1; // index in ids of a pending unknown run, fuse_unk
    for (let i = 0; i < s.length; ) {
      const len = isHighSurrogate(s.charCodeAt(i)) && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1)) ? 2 : 1;
      let piece = s.slice(i, i + len);
      if (i > 0 && o.continuingSubwordPrefix !== null) piece = o.continuingSubwordPrefix + piece;
      if (i + len === s.length && o.endOfWordSuffix !== null) piece += o.endOfWordSuffix;
      const id = this.vocab.get(piece);
      if (id !== undefined) {
        unk = -1;
        ids.push(id);
        begins.push(i);
        ends.push(i + len);
      } else {
        const bytes = o.byteFallback ? byteTokens(piece).map((t) => this.vocab.get(t)) : null;
        if (bytes && bytes.every((b) => b !== undefined)) {
          // each byte a symbol of its own, all covering the char they come from
          for (const b of bytes) {
            ids.push(b!);
            begins.push(i);
            ends.push(i + len);
          }
        } else if (o.unkToken !== null) {
          if (this.unkId === null) throw new BertrtError(`tokenizer: the BPE unknown token ${JSON.stringify(o.unkToken)} is not in the vocabulary`, 'E_MODEL_FORMAT');
          if (unk >= 0 && o.fuseUnk) {
            ends[unk] = i + len;
          } else {
            unk = ids.length;
            ids.push(this.unkId);
            begins.push(i);
            ends.push(i + len);
          }
        }
        // no unknown token: the char is dropped, as HF drops it
      }
      i += len;
    }
    this.mergeAll(ids, begins, ends);
    const out: number[] = [];
    for (let k = 0; k < ids.length; k++) if (ids[k] >= 0) out.push(ids[k], begins[k], ends[k]);
    return Int32Array.from(out);
  }

  /** Merges in place; merged-away symbols get id -1. */
  private mergeAll(ids: number[], begins: number[], ends: number[]): void {
    const n = ids.length;
    if (n < 2) return;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new Heap();
    for (let i = 0; i + 1 < n; i++) {
      const m = this.merges.get(ids[i] * PAIR + ids[i + 1]);
      if (m !== undefined) heap.push(Math.floor(m / PAIR) * POS + i);
    }
    while (heap.size > 0) {
      const top = heap.pop();
      const rank = Math.floor(top / POS);
      const pos = top - rank * POS;
      if (ids[pos] < 0 || next[pos] < 0) continue;
      const right = next[pos];
      const m = this.merges.get(ids[pos] * PAIR + ids[right]);
      // stale: the pair at pos changed since this entry was pushed
      if (m === undefined || Math.floor(m / PAIR) !== rank) continue;
      ids[pos] = m % PAIR;
      ends[pos] = ends[right];
      ids[right] = -1;
      next[pos] = next[right];
      if (next[right] >= 0) prev[next[right]] = pos;
      if (prev[pos] >= 0) {
        const p = prev[pos];
        const mp = this.merges.get(ids[p] * PAIR + ids[pos]);
        if (mp !== undefined) heap.push(Math.floor(mp / PAIR) * POS + p);
      }
      if (next[pos] >= 0) {
        const mn = this.merges.get(ids[pos] * PAIR + ids[next[pos]]);
        if (mn !== undefined) heap.push(Math.floor(mn / PAIR) * POS + pos);
      }
    }
  }
}

/** A binary min-heap of numbers (rank * POS + position: lowest rank first, then leftmost). */
class Heap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(v: number): void {
    const a = this.a;
    let i = a.length;
    a.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= v) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      const n = a.length;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && a[c + 1] < a[c]) c++;
        if (a[c] >= last) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
