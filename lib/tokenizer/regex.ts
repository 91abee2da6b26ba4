// tokenizer.json regular expressions are Oniguruma's (HF's `onig` feature): in UTF-8 mode its \s, \d and \w are
// Unicode classes, where JavaScript's are ASCII (\d, \w) or a slightly different set (\s has U+FEFF, lacks U+0085).
// They are rewritten to the Unicode classes; anything JavaScript cannot compile is refused with the pattern named
// (E_MODEL_FORMAT, as for any field bertrt cannot read).
import { BertrtError } from '../errors';

/** White_Space, what Rust's char::is_whitespace and Oniguruma's \s match. */
export const WHITE_SPACE = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const DIGIT = '\\p{Nd}';
const WORD = '\\p{L}\\p{M}\\p{N}\\p{Pc}';

export function onigToJs(pattern: string): string {
  let out = '';
  let inClass = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) {
      const d = pattern[i + 1];
      i++;
      const set = d === 's' || d === 'S' ? WHITE_SPACE : d === 'd' || d === 'D' ? DIGIT : d === 'w' || d === 'W' ? WORD : null;
      if (set === null) {
        out += '\\' + d;
        continue;
      }
      const negated = d === 'S' || d === 'D' || d === 'W';
      if (inClass) {
        // a negated class inside a class has no spelling without v-flag set operations: keep JavaScript's
        out += negated ? '\\' + d : set;
      } else out += negated ? `[^${set}]` : `[${set}]`;
      continue;
    }
    if (c === '[') inClass++;
    else if (c === ']' && inClass) inClass--;
    out += c;
  }
  return out;
}

export function compile(pattern: string, where: string, flags = 'gu'): RegExp {
  try {
    return new RegExp(onigToJs(pattern), flags);
  } catch (e) {
    // a malformed pattern, or Oniguruma syntax JavaScript lacks (possessive quantifiers, \h, inline flags)
    throw new BertrtError(`tokenizer.json: ${where} pattern ${JSON.stringify(pattern).slice(0, 100)} is not a regular expression bertrt can read (${(e as Error).message})`, 'E_MODEL_FORMAT');
  }
}

/** A tokenizer.json pattern, {"String": s} (matched literally) or {"Regex": r}, as a global RegExp. */
export function patternFromJson(p: unknown, where: string): RegExp {
  const q = p as { String?: unknown; Regex?: unknown } | null;
  if (typeof q === 'object' && q !== null) {
    if (typeof q.String === 'string') return new RegExp(escape(q.String), 'gu');
    if (typeof q.Regex === 'string') return compile(q.Regex, where);
  }
  throw new BertrtError(`tokenizer.json: ${where} without a pattern ({"String": …} or {"Regex": …})`, 'E_MODEL_FORMAT');
}

export function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
