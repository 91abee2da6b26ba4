// Normalizers, one class per tokenizer.json "normalizer" type. Each maps char by char so offsets stay aligned.
import { BertrtError } from '../errors';
import { type Aligned, mapChars } from './aligned';

export interface Normalizer {
  normalize(a: Aligned): Aligned;
}

const WHITESPACE = /^\p{White_Space}$/u;
const OTHER = /^\p{C}$/u; // Cc, Cf, Cs, Co, Cn: what HF's BertNormalizer calls control characters
const NONSPACING_MARK = /\p{Mn}/gu;

export function isWhitespace(c: string): boolean {
  return c === '\t' || c === '\n' || c === '\r' || WHITESPACE.test(c);
}

function isControl(c: string): boolean {
  return c !== '\t' && c !== '\n' && c !== '\r' && OTHER.test(c);
}

/** CJK ideograph blocks that BERT surrounds with spaces (the ranges BERT's original tokenizer uses). */
export function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
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
        if (c === '\0' || c === '\ufffd' || isControl(c)) return '';
        return isWhitespace(c) ? ' ' : c;
      });
    }
    if (o.handleChineseChars) s = mapChars(s, (c) => (isChineseChar(c.codePointAt(0)!) ? ` ${c} ` : c));
    if (o.stripAccents ?? o.lowercase) s = mapChars(s, (c) => c.normalize('NFD').replace(NONSPACING_MARK, ''));
    if (o.lowercase) s = mapChars(s, (c) => c.toLowerCase());
    return s;
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
    default:
      throw new BertrtError(`tokenizer.json: normalizer type "${String(j.type)}" is not supported`, 'E_UNSUPPORTED');
  }
}
