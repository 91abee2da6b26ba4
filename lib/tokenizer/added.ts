// Added tokens (tokenizer.json "added_tokens"): strings matched before the model sees the text, each becoming
// one token. As HF: non-normalized ones are found in the raw text, normalized ones in each normalized piece
// between them; matches are leftmost-longest; `single_word` rejects a match with a word char on either side,
// `lstrip` / `rstrip` take the whitespace before / after into the token.
import { escape, WHITE_SPACE } from './regex';

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  normalized: boolean;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
}

export interface AddedMatch {
  start: number;
  end: number;
  token: AddedToken;
}

// Rust regex's \w and \s (Unicode), which HF's single_word and strip checks use
const WORD_BEFORE = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\u200c\u200d]$/u;
const WORD_AFTER = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\u200c\u200d]/u;
const SPACE = new RegExp(`[${WHITE_SPACE}]`);

export class AddedMatcher {
  private readonly re: RegExp | null;
  private readonly byText = new Map<string, AddedToken>();

  /** `patterns`: the text each token is matched as (its content, or its normalized content). */
  constructor(tokens: Array<{ pattern: string; token: AddedToken }>) {
    for (const { pattern, token } of tokens) if (pattern !== '') this.byText.set(pattern, token);
    const alternatives = [...this.byText.keys()].sort((a, b) => b.length - a.length).map(escape);
    this.re = alternatives.length ? new RegExp(alternatives.join('|'), 'gu') : null;
  }

  get empty(): boolean {
    return this.re === null;
  }

  /** Whether `s` holds any token's text (a cheap test before a full search). */
  test(s: string): boolean {
    if (!this.re) return false;
    this.re.lastIndex = 0;
    const r = this.re.test(s);
    this.re.lastIndex = 0;
    return r;
  }

  /** The accepted matches in text[from, to), in order and non-overlapping, in UTF-16 positions of `text`; lazily,
   *  so a caller that stops early never scans the rest. */
  *matches(text: string, from = 0, to = text.length): Generator<AddedMatch> {
    if (!this.re) return;
    const re = this.re;
    // generators over the same matcher may be live at once (encodeAsync): each keeps its own position and sets
    // it before every search, which runs synchronously between yields
    let at = from;
    let startOffset = from;
    for (;;) {
      re.lastIndex = at;
      const m = re.exec(text);
      if (m === null || m.index >= to) break;
      at = m.index + m[0].length;
      let start = m.index;
      let end = start + m[0].length;
      if (end > to) break;
      const token = this.byText.get(m[0])!;
      if (token.singleWord) {
        const before = start > from && WORD_BEFORE.test(text.slice(Math.max(from, start - 2), start));
        const after = end < to && WORD_AFTER.test(text.slice(end, Math.min(to, end + 2)));
        if (before || after) continue;
      }
      if (token.lstrip) {
        let s = start;
        while (s > startOffset && SPACE.test(text[s - 1])) s--;
        start = s;
      }
      if (start < startOffset) continue; // would overlap the previous token's stripped whitespace
      if (token.rstrip) {
        let e = end;
        while (e < to && SPACE.test(text[e])) e++;
        end = e;
      }
      startOffset = end;
      at = end;
      yield { start, end, token };
    }
  }

  find(text: string, from = 0, to = text.length): AddedMatch[] {
    return [...this.matches(text, from, to)];
  }
}
