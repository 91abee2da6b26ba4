// Pre-tokenizers: split the normalized text into words, each an aligned slice.
import { BertrtError } from '../errors';
import { type Aligned, slice } from './aligned';
import { isWhitespace } from './normalizer';

export interface PreTokenizer {
  split(a: Aligned): Aligned[];
}

const UNICODE_PUNCT = /^\p{P}$/u;

/** ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) or any Unicode P* character. */
export function isPunctuation(c: string): boolean {
  const cp = c.codePointAt(0)!;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return UNICODE_PUNCT.test(c);
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

export function preTokenizerFromJson(j: Record<string, unknown> | null): PreTokenizer {
  if (!j || j.type === 'BertPreTokenizer') return new BertPreTokenizer();
  throw new BertrtError(`tokenizer.json: pre_tokenizer type "${String(j.type)}" is not supported`, 'E_UNSUPPORTED');
}
