// Unigram (SentencePiece's model, as HF tokenizers runs it): the segmentation of a word that maximizes the sum of
// its pieces' log-probabilities, by dynamic programming over the word's code points. A position no single-char
// piece covers gets the unknown piece, scored 10 below the lowest score; consecutive unknowns fuse into one token,
// which byte fallback spells as <0xAB> tokens where the vocabulary has them.
//
// Ties break as HF's: candidates are visited by start position, then by length, and only a strictly better score
// replaces the best path so far. Scores add in the same order, so the paths are bit-identical.
//
// The pieces live in one array sorted by UTF-16 code units; the pieces that are prefixes of the text at a
// position are found by narrowing a range of that array one code unit at a time (two binary searches per unit),
// so 250,000 pieces cost three typed arrays and no trie of objects.
import { BertrtError } from '../errors';
import type { Aligned } from './aligned';
import { byteTokens, cachedTriples, emitTriples, isHighSurrogate, isLowSurrogate, type Token, type TokenModel, wellFormedPiece } from './model';

const UNK_PENALTY = 10;

export interface UnigramOptions {
  unkId: number | null;
  byteFallback: boolean;
}

export class Unigram implements TokenModel {
  private readonly pieces: string[];
  private readonly scores: Float64Array;
  private readonly ids = new Map<string, number>();
  /** distinct pieces sorted by code units, with their ids; `first[u]..first[u + 1]` is the range starting with u */
  private readonly sorted: string[];
  private readonly sortedIds: Int32Array;
  private readonly first: Int32Array;
  private readonly unkScore: number;
  private readonly cache = new Map<string, Int32Array>();

  constructor(
    vocab: Array<[string, number]>,
    readonly options: UnigramOptions,
  ) {
    const n = vocab.length;
    if (n === 0) throw new BertrtError('tokenizer.json: model.vocab of a Unigram model is empty', 'E_MODEL_FORMAT');
    if (options.unkId !== null && (options.unkId < 0 || options.unkId >= n)) {
      throw new BertrtError(`tokenizer.json: model.unk_id ${options.unkId} is not an index of the ${n} pieces`, 'E_MODEL_FORMAT');
    }
    this.pieces = new Array<string>(n);
    this.scores = new Float64Array(n);
    let min = Infinity;
    for (let i = 0; i < n; i++) {
      const [piece, score] = vocab[i];
      if (!wellFormedPiece(piece)) throw new BertrtError(`tokenizer.json: model.vocab[${i}] is not well-formed Unicode`, 'E_MODEL_FORMAT');
      this.pieces[i] = piece;
      this.scores[i] = score;
      this.ids.set(piece, i); // a repeated piece maps to its last id, as in HF
      if (score < min) min = score;
    }
    this.unkScore = min - UNK_PENALTY;
    const distinct = [...this.ids.keys()].filter((p) => p.length > 0).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.sorted = distinct;
    this.sortedIds = Int32Array.from(distinct, (p) => this.ids.get(p)!);
    this.first = new Int32Array(0x10001);
    for (const p of distinct) this.first[p.charCodeAt(0) + 1]++;
    for (let u = 0; u < 0x10000; u++) this.first[u + 1] += this.first[u];
  }

  get size(): number {
    return this.pieces.length;
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  idToTokenString(id: number): string | undefined {
    return this.pieces[id];
  }

  tokenize(word: Aligned, out: Token[]): void {
    const key = word.chars.join('');
    if (key.length === 0) return;
    emitTriples(word, key, this.triples(key), out);
  }

  triples(key: string): Int32Array {
    return cachedTriples(this.cache, key, (k) => this.segment(k));
  }

  /** First index in sorted[lo, hi) whose code unit at k is >= u (all entries have length > k). */
  private lower(lo: number, hi: number, k: number, u: number): number {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid].charCodeAt(k) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The best segmentation of `s` as [id, begin, end] triples in UTF-16 units. */
  private segment(s: string): Int32Array {
    const n = s.length;
    const best = new Float64Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const node = new Int32Array(n + 1);
    const unk = this.options.unkId;
    for (let start = 0; start < n; ) {
      const here = best[start];
      const charLen = isHighSurrogate(s.charCodeAt(start)) && start + 1 < n && isLowSurrogate(s.charCodeAt(start + 1)) ? 2 : 1;
      let single = false;
      const u0 = s.charCodeAt(start);
      let lo = this.first[u0];
      let hi = this.first[u0 + 1];
      // range [lo, hi): the pieces that begin with s[start, start + k)
      for (let k = 1; lo < hi; k++) {
        if (this.sorted[lo].length === k) {
          const id = this.sortedIds[lo];
          const end = start + k;
          const score = this.scores[id] + here;
          if (from[end] < 0 || score > best[end]) {
            best[end] = score;
            from[end] = start;
            node[end] = id;
          }
          if (k === charLen) single = true;
          lo++;
        }
        if (start + k >= n || lo >= hi) break;
        const u = s.charCodeAt(start + k);
        lo = this.lower(lo, hi, k, u);
        hi = this.lower(lo, hi, k, u + 1);
      }
      if (!single) {
        if (unk === null) throw new BertrtError(`tokenizer: ${JSON.stringify(s.slice(start, start + charLen))} has no piece and the Unigram model has no unk_id`, 'E_INVALID_ARGUMENT');
        const end = start + charLen;
        const score = this.unkScore + here;
        if (from[end] < 0 || score > best[end]) {
          best[end] = score;
          from[end] = start;
          node[end] = unk;
        }
      }
      start += charLen;
    }
    // back from the end; consecutive unknowns fuse into one token (HF's fuse_unk, always on for Unigram)
    const spans: number[] = [];
    for (let end = n; end > 0; ) {
      const start = from[end];
      if (node[end] === unk && spans.length >= 3 && spans[spans.length - 3] === -1) {
        spans[spans.length - 2] = start; // extend the pending unknown run leftwards
      } else {
        spans.push(node[end] === unk ? -1 : node[end], start, end);
      }
      end = start;
    }
    const out: number[] = [];
    for (let i = spans.length - 3; i >= 0; i -= 3) {
      const [id, b, e] = [spans[i], spans[i + 1], spans[i + 2]];
      if (id !== -1) {
        out.push(id, b, e);
        continue;
      }
      // an unknown run: the vocabulary's id for its text if it has one, else bytes, else the unknown id
      const text = s.slice(b, e);
      const known = this.ids.get(text);
      if (known !== undefined) {
        out.push(known, b, e);
        continue;
      }
      if (this.options.byteFallback) {
        const bytes = byteTokens(text).map((t) => this.ids.get(t));
        if (bytes.every((x) => x !== undefined)) {
          for (const x of bytes) out.push(x!, b, e);
          continue;
        }
      }
      out.push(unk!, b, e);
    }
    return Int32Array.from(out);
  }
}
