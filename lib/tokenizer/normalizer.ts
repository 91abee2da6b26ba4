// Normalizers, one class per tokenizer.json "normalizer" type, each mapping an Aligned string to an Aligned
// string so offsets into the original text survive. Alignment follows HF tokenizers: a char produced from one
// source char keeps that char's range; extra chars of an expansion share it; a char composed from several source
// chars takes the range of the first of them.
import { BertrtError } from '../errors';
import { type Aligned, mapChars, prepend, slice } from './aligned';
import { BYTE_CHARS } from './bytelevel';
import { Precompiled } from './precompiled';
import { patternFromJson } from './regex';
import { hfDecomposesCanonical, hfDecomposesCompat, hfLowercase, isHfCombiningMark, isHfControl, isHfNonspacingMark, isHfSpace } from './unicode';

export interface Normalizer {
  normalize(a: Aligned): Aligned;
}

export function isWhitespace(c: string): boolean {
  return isHfSpace(c.codePointAt(0)!);
}

function dropNonspacing(s: string): string {
  let out = '';
  for (const c of s) if (!isHfNonspacingMark(c.codePointAt(0)!)) out += c;
  return out;
}

/** CJK ideograph blocks that BERT surrounds with spaces, exactly as HF tokenizers lists them. */
export function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) || // sic: HF tokenizers starts this block at 0x2B920, not 0x2B820
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

export interface BertNormalizerOptions {
  cleanText: boolean;
  handleChineseChars: boolean;
  /** null: follow lowercase, as HF does */
  stripAccents: boolean | null;
  lowercase: boolean;
}

export class BertNormalizer implements Normalizer {
  constructor(readonly options: BertNormalizerOptions) {}

  normalize(a: Aligned): Aligned {
    const o = this.options;
    let s = a;
    if (o.cleanText) {
      s = mapChars(s, (c) => {
        const cp = c.codePointAt(0)!;
        if (isHfControl(cp)) return '';
        return isHfSpace(cp) ? ' ' : c;
      });
    }
    if (o.handleChineseChars) s = mapChars(s, (c) => (isChineseChar(c.codePointAt(0)!) ? ` ${c} ` : c));
    // HF strips accents as NFD over the whole string, then drops nonspacing marks: a run of marks that NFD
    // reorders keeps positional alignment (UnicodeNormalizer's rule), so the clusters go through it
    if (o.stripAccents ?? o.lowercase) s = mapChars(NFD.normalize(s), (c) => (c.charCodeAt(0) < 0xc0 ? c : dropNonspacing(c)));
    if (o.lowercase) s = mapChars(s, hfLowercase);
    return s;
  }
}

export class Lowercase implements Normalizer {
  normalize(a: Aligned): Aligned {
    return mapChars(a, hfLowercase);
  }
}

export class StripAccents implements Normalizer {
  normalize(a: Aligned): Aligned {
    return mapChars(a, (c) => (isHfCombiningMark(c.codePointAt(0)!) ? '' : c));
  }
}

type Form = 'NFC' | 'NFD' | 'NFKC' | 'NFKD';

/** Unicode normalization forms. Works per cluster (a starter and the marks after it), which is where
 *  normalization can combine characters, so alignment stays local and strings already in form cost one check. */
export class UnicodeNormalizer implements Normalizer {
  constructor(readonly form: Form) {}

  normalize(a: Aligned): Aligned {
    const whole = a.chars.join('');
    if (whole.normalize(this.form) === whole) return a;
    const out: Aligned = { chars: [], starts: [], ends: [], origin: a.origin };
    const decomposes = this.form === 'NFC' || this.form === 'NFD' ? hfDecomposesCanonical : hfDecomposesCompat;
    // A char that this engine's Unicode would decompose but HF's older tables do not is left as it is, alone; so
    // is a mark newer than HF's tables, which HF takes for a starter (combining class 0) that nothing reorders.
    const frozen = (c: string) => !decomposes(c.codePointAt(0)!) && c.normalize(this.form) !== c;
    let i = 0;
    while (i < a.chars.length) {
      if (frozen(a.chars[i]) || (isStarter(a.chars[i]) && JS_MARK.test(a.chars[i]))) {
        out.chars.push(a.chars[i]);
        out.starts.push(a.starts[i]);
        out.ends.push(a.ends[i]);
        i++;
        continue;
      }
      let j = i + 1;
      while (j < a.chars.length && !isStarter(a.chars[j]) && !frozen(a.chars[j])) j++;
      this.cluster(a, i, j, out);
      i = j;
    }
    return out;
  }

  // HF's alignment rule, reproduced: every output char carries a "change" (a decomposition's extra pieces +1, a
  // composition of n chars -(n-1)); walking the output in order, a char with change <= 0 takes the range of the
  // next source char and consumes 1 - change of them, a char with change > 0 shares the range of the last consumed
  // one. Canonical reordering moves pieces with their changes; alignment stays positional.
  private cluster(a: Aligned, i: number, j: number, out: Aligned): void {
    const src = a.chars.slice(i, j);
    const decompForm = this.form === 'NFC' || this.form === 'NFD' ? 'NFD' : 'NFKD';
    const pieces: Array<{ c: string; change: number }> = [];
    for (const ch of src) [...ch.normalize(decompForm)].forEach((c, k) => pieces.push({ c, change: k === 0 ? 0 : 1 }));
    const taken = new Array<boolean>(pieces.length).fill(false);
    let seq = [...src.join('').normalize(decompForm)].map((c) => {
      const k = pieces.findIndex((p, x) => !taken[x] && p.c === c);
      if (k < 0) return { c, change: 1 };
      taken[k] = true;
      return { c, change: pieces[k].change };
    });
    if (this.form === 'NFC' || this.form === 'NFKC') {
      const used = new Array<boolean>(seq.length).fill(false);
      seq = [...src.join('').normalize(this.form)].map((o) => {
        let change = 0;
        let count = 0;
        for (const part of o.normalize('NFD')) {
          const k = seq.findIndex((p, x) => !used[x] && p.c === part);
          if (k < 0) continue;
          used[k] = true;
          change += seq[k].change;
          count++;
        }
        return { c: o, change: change - Math.max(0, count - 1) };
      });
    }
    let p = 0;
    for (const { c, change } of seq) {
      let g: number;
      if (change > 0) {
        g = i + p - 1;
      } else {
        g = i + p;
        p += 1 - change;
      }
      out.chars.push(c);
      out.starts.push(g >= 0 ? a.starts[Math.min(g, a.chars.length - 1)] : 0);
      out.ends.push(g >= 0 ? a.ends[Math.min(g, a.chars.length - 1)] : 0);
    }
  }
}

const NFD = new UnicodeNormalizer('NFD');

const JS_MARK = /^\p{M}$/u;

const STARTER_CACHE = new Map<string, boolean>();
/** Canonical combining class 0 as HF's tables see it (approximated by: not a mark there), and not a Hangul vowel
 *  or trailing jamo. */
function isStarter(c: string): boolean {
  let v = STARTER_CACHE.get(c);
  if (v === undefined) {
    const cp = c.codePointAt(0)!;
    v = !isHfCombiningMark(cp) && !(cp >= 0x1161 && cp <= 0x11ff) && !(cp >= 0xd7b0 && cp <= 0xd7ff) && c !== '\u200d';
    if (STARTER_CACHE.size < 10000) STARTER_CACHE.set(c, v);
  }
  return v;
}

/** Replace(pattern, content): each match becomes `content`, aligned as HF does to the match's last char. */
export class Replace implements Normalizer {
  private readonly re: RegExp;
  constructor(pattern: unknown, readonly content: string) {
    this.re = patternFromJson(pattern, 'Replace');
  }

  normalize(a: Aligned): Aligned {
    const text = a.chars.join('');
    this.re.lastIndex = 0;
    if (!this.re.test(text)) return a;
    // char index of each UTF-16 position
    const charAt: number[] = [];
    a.chars.forEach((c, i) => {
      for (let u = 0; u < c.length; u++) charAt.push(i);
    });
    charAt.push(a.chars.length);
    const out: Aligned = { chars: [], starts: [], ends: [], origin: a.origin };
    let ci = 0;
    this.re.lastIndex = 0;
    for (const m of text.matchAll(this.re)) {
      const b = charAt[m.index];
      const e = charAt[m.index + m[0].length];
      for (; ci < b; ci++) {
        out.chars.push(a.chars[ci]);
        out.starts.push(a.starts[ci]);
        out.ends.push(a.ends[ci]);
      }
      const anchor = e > b ? e - 1 : Math.max(0, b - 1);
      for (const c of this.content) {
        out.chars.push(c);
        out.starts.push(a.starts[anchor] ?? 0);
        out.ends.push(a.ends[anchor] ?? 0);
      }
      ci = e;
    }
    for (; ci < a.chars.length; ci++) {
      out.chars.push(a.chars[ci]);
      out.starts.push(a.starts[ci]);
      out.ends.push(a.ends[ci]);
    }
    return out;
  }
}

/** Strip: whitespace (White_Space) removed from the start and/or the end. */
export class Strip implements Normalizer {
  constructor(
    readonly left: boolean,
    readonly right: boolean,
  ) {}
  normalize(a: Aligned): Aligned {
    let b = 0;
    let e = a.chars.length;
    if (this.left) while (b < e && WHITE.test(a.chars[b])) b++;
    if (this.right) while (e > b && WHITE.test(a.chars[e - 1])) e--;
    return b === 0 && e === a.chars.length ? a : slice(a, b, e);
  }
}

const WHITE = /^\p{White_Space}$/u;

/** Prepend: a prefix before any non-empty string, aligned to its first char. */
export class Prepend implements Normalizer {
  constructor(readonly prefix: string) {}
  normalize(a: Aligned): Aligned {
    return prepend(a, this.prefix);
  }
}

/** ByteLevel as a normalizer: every char spelled as the byte-level chars of its UTF-8 bytes. */
export class ByteLevelNormalizer implements Normalizer {
  normalize(a: Aligned): Aligned {
    return toByteLevel(a);
  }
}

/** HF's byte-level transformation: each char becomes one char per UTF-8 byte, all aligned to it. */
export function toByteLevel(a: Aligned): Aligned {
  const out: Aligned = { chars: [], starts: [], ends: [], origin: a.origin };
  const push = (b: number, i: number) => {
    out.chars.push(BYTE_CHARS[b]);
    out.starts.push(a.starts[i]);
    out.ends.push(a.ends[i]);
  };
  for (let i = 0; i < a.chars.length; i++) {
    let cp = a.chars[i].codePointAt(0)!;
    // UTF-8 by hand (TextEncoder per char was a fifth of the byte-level path); a lone surrogate, which encode()
    // has already replaced, would be U+FFFD as TextEncoder writes it
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x80) push(cp, i);
    else if (cp < 0x800) {
      push(0xc0 | (cp >> 6), i);
      push(0x80 | (cp & 63), i);
    } else if (cp < 0x10000) {
      push(0xe0 | (cp >> 12), i);
      push(0x80 | ((cp >> 6) & 63), i);
      push(0x80 | (cp & 63), i);
    } else {
      push(0xf0 | (cp >> 18), i);
      push(0x80 | ((cp >> 12) & 63), i);
      push(0x80 | ((cp >> 6) & 63), i);
      push(0x80 | (cp & 63), i);
    }
  }
  return out;
}

/** Nmt: ASCII control chars removed, other spaces (and U+2581, U+FFFD) made a plain space. */
export class Nmt implements Normalizer {
  normalize(a: Aligned): Aligned {
    return mapChars(a, (c) => {
      const u = c.codePointAt(0)!;
      if ((u >= 1 && u <= 8) || u === 0x0b || (u >= 0x0e && u <= 0x1f) || u === 0x7f || u === 0x8f || u === 0x9f) return '';
      if (u === 9 || u === 0x0a || u === 0x0c || u === 0x0d || u === 0x1680 || (u >= 0x200b && u <= 0x200f) || u === 0x2028 || u === 0x2029 || u === 0x2581 || u === 0xfeff || u === 0xfffd) return ' ';
      return c;
    });
  }
}

export class SequenceNormalizer implements Normalizer {
  constructor(readonly steps: Normalizer[]) {}
  normalize(a: Aligned): Aligned {
    return this.steps.reduce((s, n) => n.normalize(s), a);
  }
}

export function normalizerFromJson(j: Record<string, unknown> | null): Normalizer | null {
  if (!j) return null;
  switch (j.type) {
    case 'BertNormalizer':
      return new BertNormalizer({
        cleanText: j.clean_text !== false,
        handleChineseChars: j.handle_chinese_chars !== false,
        stripAccents: typeof j.strip_accents === 'boolean' ? j.strip_accents : null,
        lowercase: j.lowercase !== false,
      });
    case 'Lowercase':
      return new Lowercase();
    case 'StripAccents':
      return new StripAccents();
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return new UnicodeNormalizer(j.type);
    case 'Replace':
      if (j.content !== undefined && typeof j.content !== 'string') throw new BertrtError('tokenizer.json: Replace content must be a string', 'E_MODEL_FORMAT');
      return new Replace(j.pattern, j.content ?? '');
    case 'Precompiled':
      return Precompiled.fromBase64(j.precompiled_charsmap);
    case 'Strip':
      return new Strip(j.strip_left !== false, j.strip_right !== false);
    case 'Prepend':
      if (typeof j.prepend !== 'string') throw new BertrtError('tokenizer.json: a Prepend normalizer needs "prepend", a string', 'E_MODEL_FORMAT');
      return new Prepend(j.prepend);
    case 'ByteLevel':
      return new ByteLevelNormalizer();
    case 'Nmt':
      return new Nmt();
    case 'Sequence':
      if (!Array.isArray(j.normalizers) || !j.normalizers.every((n) => typeof n === 'object' && n !== null)) {
        throw new BertrtError('tokenizer.json: a Sequence normalizer needs "normalizers", a list of normalizers', 'E_MODEL_FORMAT');
      }
      return new SequenceNormalizer((j.normalizers as Array<Record<string, unknown>>).map((n) => normalizerFromJson(n)!));
    default:
      throw new BertrtError(`tokenizer.json: normalizer type "${String(j.type)}" is not supported`, 'E_UNSUPPORTED');
  }
}
