// Pre-tokenizers, one class per tokenizer.json "pre_tokenizer" type: each splits the normalized text into words
// (aligned slices). A Sequence applies its steps to every word the previous step produced, as HF does.
import { BertrtError } from '../errors';
import { type Aligned, charIndexOfUnits, prepend, slice } from './aligned';
import { toByteLevel } from './normalizer';
import { patternFromJson } from './regex';
import { isWhitespace } from './normalizer';
import { hfScript, isGpt2Letter, isGpt2Number, isGpt2Space, isHfNumeric, isHfPunctuation, isHfWord } from './unicode';

export interface PreTokenizer {
  split(a: Aligned): Aligned[];
}

/** Punctuation as HF splits it: ASCII punctuation (symbols such as $ + < = > ^ ` | ~ included) and P*. */
export function isPunctuation(c: string): boolean {
  return isHfPunctuation(c.codePointAt(0)!);
}

const isWordChar = (c: string) => isHfWord(c.codePointAt(0)!);
// Rust's char::is_whitespace (White_Space), what WhitespaceSplit and Whitespace split on. Unlike BertNormalizer's
// set it includes control characters such as U+0085, which clean_text would have removed first.
const WHITE_SPACE = /^\p{White_Space}$/u;
const isRustWhitespace = (c: string) => WHITE_SPACE.test(c);
const isNumeric = (c: string) => isHfNumeric(c.codePointAt(0)!);

type Behavior = 'removed' | 'isolated' | 'contiguous' | 'merged_with_previous' | 'merged_with_next';

/** HF's NormalizedString::split: `spans` cover the string (char indices, each a match or not); the behavior says
 *  what becomes of the matches. Empty pieces are dropped, as PreTokenizedString drops them. */
function splitSpans(a: Aligned, spans: Array<[number, number, boolean]>, behavior: Behavior, out: Aligned[]): void {
  let pieces: Array<[number, number, boolean]>; // [begin, end, removed]
  if (behavior === 'isolated') pieces = spans.map(([b, e]) => [b, e, false]);
  else if (behavior === 'removed') pieces = spans;
  else if (behavior === 'contiguous' || behavior === 'merged_with_previous') {
    pieces = [];
    let previous = false;
    for (const [b, e, m] of spans) {
      const merge = behavior === 'contiguous' ? m === previous : m && !previous;
      if (merge && pieces.length) pieces[pieces.length - 1][1] = e;
      else pieces.push([b, e, false]);
      previous = m;
    }
  } else {
    pieces = [];
    let previous = false;
    for (let i = spans.length - 1; i >= 0; i--) {
      const [b, e, m] = spans[i];
      if (m && !previous && pieces.length) pieces[pieces.length - 1][0] = b;
      else pieces.push([b, e, false]);
      previous = m;
    }
    pieces.reverse();
  }
  for (const [b, e, removed] of pieces) if (!removed && e > b) out.push(slice(a, b, e));
}

/** The spans of a char predicate: each matching char a match of its own. */
function charSpans(a: Aligned, pred: (c: string) => boolean): Array<[number, number, boolean]> {
  const spans: Array<[number, number, boolean]> = [];
  let last = 0;
  for (let i = 0; i < a.chars.length; i++) {
    if (!pred(a.chars[i])) continue;
    if (last < i) spans.push([last, i, false]);
    spans.push([i, i + 1, true]);
    last = i + 1;
  }
  if (last < a.chars.length) spans.push([last, a.chars.length, false]);
  return spans;
}

/** The spans of a regular expression's matches over the string (UTF-16 positions mapped to chars). */
function regexSpans(a: Aligned, re: RegExp): Array<[number, number, boolean]> {
  const text = a.chars.join('');
  if (text.length === 0) return [];
  const charAt = charIndexOfUnits(a.chars, text.length);
  const ci = (u: number) => (charAt ? charAt[u] : u);
  const spans: Array<[number, number, boolean]> = [];
  let prev = 0;
  re.lastIndex = 0;
  for (const m of text.matchAll(re)) {
    const b = ci(m.index);
    const e = ci(m.index + m[0].length);
    if (prev !== b) spans.push([prev, b, false]);
    spans.push([b, e, true]);
    prev = e;
  }
  if (prev !== a.chars.length) spans.push([prev, a.chars.length, false]);
  return spans;
}

function splitOn(a: Aligned, pred: (c: string) => boolean, behavior: Behavior, out: Aligned[]): void {
  splitSpans(a, charSpans(a, pred), behavior, out);
}

/** BERT's: whitespace separates and disappears; every punctuation character is a word of its own. */
export class BertPreTokenizer implements PreTokenizer {
  split(a: Aligned): Aligned[] {
    const words: Aligned[] = [];
    let start = -1;
    const n = a.chars.length;
    for (let i = 0; i < n; i++) {
      const c = a.chars[i];
      if (isWhitespace(c)) {
        if (start >= 0) words.push(slice(a, start, i));
        start = -1;
      } else if (isPunctuation(c)) {
        if (start >= 0) words.push(slice(a, start, i));
        words.push(slice(a, i, i + 1));
        start = -1;
      } else if (start < 0) {
        start = i;
      }
    }
    if (start >= 0) words.push(slice(a, start, n));
    return words;
  }
}

export class WhitespaceSplit implements PreTokenizer {
  split(a: Aligned): Aligned[] {
    const out: Aligned[] = [];
    splitOn(a, isRustWhitespace, 'removed', out);
    return out;
  }
}

/** HF's Whitespace: the regex \w+|[^\w\s]+ (word runs, and runs of everything else but whitespace). */
export class Whitespace implements PreTokenizer {
  split(a: Aligned): Aligned[] {
    const out: Aligned[] = [];
    const n = a.chars.length;
    let i = 0;
    while (i < n) {
      const c = a.chars[i];
      if (isRustWhitespace(c)) {
        i++;
        continue;
      }
      const word = isWordChar(c);
      let j = i + 1;
      while (j < n && !isRustWhitespace(a.chars[j]) && isWordChar(a.chars[j]) === word) j++;
      out.push(slice(a, i, j));
      i = j;
    }
    return out;
  }
}

export class Punctuation implements PreTokenizer {
  constructor(readonly behavior: Behavior) {}
  split(a: Aligned): Aligned[] {
    const out: Aligned[] = [];
    splitOn(a, isPunctuation, this.behavior, out);
    return out;
  }
}

export class Digits implements PreTokenizer {
  constructor(readonly individual: boolean) {}
  split(a: Aligned): Aligned[] {
    const out: Aligned[] = [];
    splitOn(a, isNumeric, this.individual ? 'isolated' : 'contiguous', out);
    return out;
  }
}

export class CharDelimiterSplit implements PreTokenizer {
  constructor(readonly delimiter: string) {}
  split(a: Aligned): Aligned[] {
    const out: Aligned[] = [];
    splitOn(a, (c) => c === this.delimiter, 'removed', out);
    return out;
  }
}

/** Split: a string or regular expression pattern, a behavior, and `invert` (the pieces between are the matches). */
export class Split implements PreTokenizer {
  constructor(
    private readonly re: RegExp | null,
    readonly behavior: Behavior,
    readonly invert: boolean,
  ) {}
  split(a: Aligned): Aligned[] {
    const out: Aligned[] = [];
    let spans: Array<[number, number, boolean]> = this.re ? regexSpans(a, this.re) : [[0, a.chars.length, false]];
    if (this.invert) spans = spans.map(([b, e, m]) => [b, e, !m]);
    splitSpans(a, spans, this.behavior, out);
    return out;
  }
}

export type PrependScheme = 'first' | 'always' | 'never';

/** Metaspace: spaces become the replacement char (U+2581 by default), which is prepended (always, to the text's
 *  first piece only, or never) and starts every word when `split`. */
export class Metaspace implements PreTokenizer {
  constructor(
    readonly replacement: string,
    readonly prependScheme: PrependScheme,
    readonly splitWords: boolean,
  ) {}
  split(a: Aligned): Aligned[] {
    const rep = this.replacement;
    const n = a.chars.length;
    if (n === 0) return [];
    const chars = new Array<string>(n);
    for (let i = 0; i < n; i++) chars[i] = a.chars[i] === ' ' ? rep : a.chars[i];
    const prefix = chars[0] !== rep && (this.prependScheme === 'always' || (this.prependScheme === 'first' && (a.origin ?? 0) === 0));
    const word = (b: number, e: number, pre: boolean): Aligned => {
      const w: Aligned = { chars: chars.slice(b, e), starts: a.starts.slice(b, e), ends: a.ends.slice(b, e), origin: a.starts[b] };
      return pre ? prepend(w, rep) : w;
    };
    if (!this.splitWords) return [word(0, n, prefix)];
    // split before each replacement char (merged with the next word)
    const out: Aligned[] = [];
    let b = 0;
    for (let i = 1; i < n; i++) {
      if (chars[i] !== rep) continue;
      out.push(word(b, i, prefix && b === 0));
      b = i;
    }
    out.push(word(b, n, prefix && b === 0));
    return out;
  }

}

const LETTER = 1;
const NUMBER = 2;
const SPACE = 3;
const OTHER = 4;
const classOf = (c: string): number => {
  const cp = c.codePointAt(0)!;
  return isGpt2Letter(cp) ? LETTER : isGpt2Number(cp) ? NUMBER : isGpt2Space(cp) ? SPACE : OTHER;
};
const CONTRACTIONS = ['s', 't', 're', 've', 'm', 'll', 'd'];

/** GPT-2's split, 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+, as a scanner over
 *  the chars with HF's (Oniguruma's) character classes: the matches, as spans covering the string. */
function gpt2Spans(a: Aligned): Array<[number, number, boolean]> {
  const ch = a.chars;
  const n = ch.length;
  const cls = new Uint8Array(n);
  for (let i = 0; i < n; i++) cls[i] = classOf(ch[i]);
  const spans: Array<[number, number, boolean]> = [];
  let i = 0;
  while (i < n) {
    let e = -1;
    if (ch[i] === "'") {
      for (const c of CONTRACTIONS) {
        if (ch[i + 1] === c[0] && (c.length === 1 || ch[i + 2] === c[1])) {
          e = i + 1 + c.length;
          break;
        }
      }
    }
    if (e < 0) {
      const j = ch[i] === ' ' && i + 1 < n && cls[i + 1] !== SPACE ? i + 1 : i;
      const k = cls[j];
      if (k !== SPACE) {
        e = j + 1;
        while (e < n && cls[e] === k) e++;
      } else {
        // whitespace: the run less its last char when a non-space follows (\s+(?!\S)), else all of it (\s+)
        let r = i + 1;
        while (r < n && cls[r] === SPACE) r++;
        e = r < n && r - i > 1 ? r - 1 : r;
      }
    }
    spans.push([i, e, true]);
    i = e;
  }
  return spans;
}

/** ByteLevel: an optional leading space, GPT-2's split, then every word in byte-level chars. */
export class ByteLevelPreTokenizer implements PreTokenizer {
  constructor(
    readonly addPrefixSpace: boolean,
    readonly useRegex: boolean,
  ) {}
  /** GPT-2's split of `a` as [begin, end) char spans (use_regex), before the byte-level mapping. */
  spans(a: Aligned): Array<[number, number, boolean]> {
    return gpt2Spans(a);
  }

  split(a: Aligned): Aligned[] {
    const s = this.addPrefixSpace && a.chars[0] !== ' ' ? prepend(a, ' ') : a;
    const words: Aligned[] = [];
    if (this.useRegex) splitSpans(s, gpt2Spans(s), 'isolated', words);
    else if (s.chars.length) words.push(s);
    return words.map(toByteLevel);
  }
}

/** UnicodeScripts: a piece ends where the script changes, Any chars (spaces among them) joining the piece before
 *  them. As HF cuts only at script changes, Any chars before the first char with a script are dropped, and a
 *  text of Any chars alone gives no piece. */
export class UnicodeScripts implements PreTokenizer {
  split(a: Aligned): Aligned[] {
    const out: Aligned[] = [];
    let last = 0;
    let start = -1;
    for (let i = 0; i < a.chars.length; i++) {
      const script = hfScript(a.chars[i].codePointAt(0)!);
      if (script === 0 || script === last) continue;
      if (start >= 0) out.push(slice(a, start, i));
      start = i;
      last = script;
    }
    if (start >= 0) out.push(slice(a, start, a.chars.length));
    return out;
  }
}

export class SequencePreTokenizer implements PreTokenizer {
  constructor(readonly steps: PreTokenizer[]) {}
  split(a: Aligned): Aligned[] {
    let words = [a];
    for (const s of this.steps) words = words.flatMap((w) => s.split(w));
    return words;
  }
}

function behaviorOf(v: unknown): Behavior {
  const b = String(v ?? 'Isolated').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  if (b === 'isolated' || b === 'removed' || b === 'contiguous' || b === 'merged_with_previous' || b === 'merged_with_next') return b;
  throw new BertrtError(`tokenizer.json: split behavior "${String(v)}" is not supported`, 'E_UNSUPPORTED');
}

/** prepend_scheme, or the legacy add_prefix_space (false means never); HF's default is always. */
export function prependSchemeOf(j: Record<string, unknown>): PrependScheme {
  const scheme = j.prepend_scheme ?? 'always';
  if (scheme !== 'first' && scheme !== 'always' && scheme !== 'never') throw new BertrtError(`tokenizer.json: Metaspace prepend_scheme ${JSON.stringify(scheme)} is not first, always or never`, 'E_MODEL_FORMAT');
  if (j.add_prefix_space === false) {
    if (scheme !== 'never' && j.prepend_scheme !== undefined) throw new BertrtError('tokenizer.json: Metaspace add_prefix_space false contradicts its prepend_scheme', 'E_MODEL_FORMAT');
    return 'never';
  }
  return scheme;
}

export function preTokenizerFromJson(j: Record<string, unknown> | null): PreTokenizer {
  if (!j) return new SequencePreTokenizer([]);
  switch (j.type) {
    case 'BertPreTokenizer':
      return new BertPreTokenizer();
    case 'Whitespace':
      return new Whitespace();
    case 'WhitespaceSplit':
      return new WhitespaceSplit();
    case 'Punctuation':
      return new Punctuation(behaviorOf(j.behavior));
    case 'Digits':
      return new Digits(j.individual_digits === true);
    case 'CharDelimiterSplit':
      if (typeof j.delimiter !== 'string' || [...j.delimiter].length !== 1) throw new BertrtError('tokenizer.json: CharDelimiterSplit needs "delimiter", one char', 'E_MODEL_FORMAT');
      return new CharDelimiterSplit(j.delimiter);
    case 'Split': {
      // an empty string pattern matches nothing: the whole piece is one unmatched span
      const empty = (j.pattern as { String?: unknown } | null)?.String === '';
      return new Split(empty ? null : patternFromJson(j.pattern, 'Split'), behaviorOf(j.behavior), j.invert === true);
    }
    case 'Metaspace': {
      const rep = j.replacement ?? '\u2581';
      if (typeof rep !== 'string' || [...rep].length !== 1) throw new BertrtError('tokenizer.json: Metaspace replacement must be one char', 'E_MODEL_FORMAT');
      return new Metaspace(rep, prependSchemeOf(j), j.split !== false);
    }
    case 'UnicodeScripts':
      return new UnicodeScripts();
    case 'ByteLevel':
      return new ByteLevelPreTokenizer(j.add_prefix_space !== false, j.use_regex !== false);
    case 'Sequence':
      if (!Array.isArray(j.pretokenizers) || !j.pretokenizers.every((n) => typeof n === 'object' && n !== null)) {
        throw new BertrtError('tokenizer.json: a Sequence pre_tokenizer needs "pretokenizers", a list of pre-tokenizers', 'E_MODEL_FORMAT');
      }
      return new SequencePreTokenizer((j.pretokenizers as Array<Record<string, unknown>>).map(preTokenizerFromJson));
    default:
      throw new BertrtError(`tokenizer.json: pre_tokenizer type "${String(j.type)}" is not supported`, 'E_UNSUPPORTED');
  }
}
