// Pre-tokenizers, one class per tokenizer.json "pre_tokenizer" type: each splits the normalized text into words
// (aligned slices). A Sequence applies its steps to every word the previous step produced, as HF does.
import { BertrtError } from '../errors';
import { type Aligned, slice } from './aligned';
import { isWhitespace } from './normalizer';
import { isHfNumeric, isHfPunctuation, isHfWord } from './unicode';

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

type Behavior = 'removed' | 'isolated' | 'contiguous';

/** Splits where pred holds: 'removed' drops those chars, 'isolated' makes each one a word, 'contiguous' makes
 *  each run of them a word. Everything between matches is a word. */
function splitOn(a: Aligned, pred: (c: string) => boolean, behavior: Behavior, out: Aligned[]): void {
  let start = 0;
  const n = a.chars.length;
  let i = 0;
  while (i < n) {
    if (!pred(a.chars[i])) {
      i++;
      continue;
    }
    if (i > start) out.push(slice(a, start, i));
    let j = i + 1;
    if (behavior === 'contiguous') while (j < n && pred(a.chars[j])) j++;
    if (behavior !== 'removed') out.push(slice(a, i, j));
    i = j;
    start = j;
  }
  if (start < n) out.push(slice(a, start, n));
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

export class SequencePreTokenizer implements PreTokenizer {
  constructor(readonly steps: PreTokenizer[]) {}
  split(a: Aligned): Aligned[] {
    let words = [a];
    for (const s of this.steps) words = words.flatMap((w) => s.split(w));
    return words;
  }
}

function behaviorOf(v: unknown): Behavior {
  const b = String(v ?? 'Isolated').toLowerCase();
  if (b === 'isolated' || b === 'removed' || b === 'contiguous') return b;
  throw new BertrtError(`tokenizer.json: split behavior "${String(v)}" is not supported`, 'E_UNSUPPORTED');
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
    case 'Sequence':
      if (!Array.isArray(j.pretokenizers) || !j.pretokenizers.every((n) => typeof n === 'object' && n !== null)) {
        throw new BertrtError('tokenizer.json: a Sequence pre_tokenizer needs "pretokenizers", a list of pre-tokenizers', 'E_MODEL_FORMAT');
      }
      return new SequencePreTokenizer((j.pretokenizers as Array<Record<string, unknown>>).map(preTokenizerFromJson));
    default:
      throw new BertrtError(`tokenizer.json: pre_tokenizer type "${String(j.type)}" is not supported`, 'E_UNSUPPORTED');
  }
}
