// Decoders, one per tokenizer.json "decoder" type: each maps the list of token strings to a new list (HF's
// decode_chain); the decoded text is the final list joined. With no decoder, tokens are joined by spaces.
import { BertrtError } from '../errors';
import { byteLevelBytes } from './bytelevel';
import { type PrependScheme, prependSchemeOf } from './pretokenizer';
import { patternFromJson } from './regex';

export interface Decoder {
  chain(tokens: string[]): string[];
}

const utf8 = new TextDecoder('utf-8'); // lossy: invalid sequences become U+FFFD, as String::from_utf8_lossy
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** The WordPiece decoder's cleanup: no space before punctuation and English contractions. */
export function cleanupSpaces(s: string): string {
  return s
    .replace(/ \./g, '.')
    .replace(/ \?/g, '?')
    .replace(/ !/g, '!')
    .replace(/ ,/g, ',')
    .replace(/ ' /g, "'")
    .replace(/ n't/g, "n't")
    .replace(/ 'm/g, "'m")
    .replace(/ do not/g, " don't")
    .replace(/ 's/g, "'s")
    .replace(/ 've/g, "'ve")
    .replace(/ 're/g, "'re");
}

export class WordPieceDecoder implements Decoder {
  constructor(
    readonly prefix: string,
    readonly cleanup: boolean,
  ) {}
  chain(tokens: string[]): string[] {
    return tokens.map((t, i) => {
      const piece = i === 0 ? t : t.startsWith(this.prefix) ? t.slice(this.prefix.length) : ' ' + t;
      return this.cleanup ? cleanupSpaces(piece) : piece;
    });
  }
}

export class MetaspaceDecoder implements Decoder {
  constructor(
    readonly replacement: string,
    readonly prependScheme: PrependScheme,
  ) {}
  chain(tokens: string[]): string[] {
    return tokens.map((t, i) => {
      let out = '';
      for (const c of t) out += c === this.replacement ? (i === 0 && this.prependScheme !== 'never' ? '' : ' ') : c;
      return out;
    });
  }
}

export class ByteLevelDecoder implements Decoder {
  chain(tokens: string[]): string[] {
    const bytes: number[] = [];
    for (const t of tokens) {
      const b = byteLevelBytes(t);
      if (b) for (const x of b) bytes.push(x);
      else for (const x of Buffer.from(t, 'utf8')) bytes.push(x);
    }
    return [utf8.decode(Uint8Array.from(bytes))];
  }
}

export class BpeDecoder implements Decoder {
  constructor(readonly suffix: string) {}
  chain(tokens: string[]): string[] {
    return tokens.map((t, i) => t.split(this.suffix).join(i === tokens.length - 1 ? '' : ' '));
  }
}

const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;

export class ByteFallbackDecoder implements Decoder {
  chain(tokens: string[]): string[] {
    const out: string[] = [];
    let pending: number[] = [];
    const flush = () => {
      if (!pending.length) return;
      try {
        out.push(utf8Strict.decode(Uint8Array.from(pending)));
      } catch {
        for (let k = 0; k < pending.length; k++) out.push('\ufffd');
      }
      pending = [];
    };
    for (const t of tokens) {
      if (BYTE_TOKEN.test(t)) pending.push(parseInt(t.slice(3, 5), 16));
      else {
        flush();
        out.push(t);
      }
    }
    flush();
    return out;
  }
}

export class FuseDecoder implements Decoder {
  chain(tokens: string[]): string[] {
    return [tokens.join('')];
  }
}

export class StripDecoder implements Decoder {
  constructor(
    readonly content: string,
    readonly start: number,
    readonly stop: number,
  ) {}
  chain(tokens: string[]): string[] {
    return tokens.map((t) => {
      const chars = [...t];
      let b = 0;
      for (let i = 0; i < Math.min(this.start, chars.length) && chars[i] === this.content; i++) b = i + 1;
      let e = chars.length;
      for (let i = 0; i < this.stop; i++) {
        const k = chars.length - i - 1;
        if (k < 0 || chars[k] !== this.content) break;
        e = k;
      }
      return chars.slice(b, Math.max(b, e)).join('');
    });
  }
}

export class ReplaceDecoder implements Decoder {
  constructor(
    private readonly re: RegExp,
    readonly content: string,
  ) {}
  chain(tokens: string[]): string[] {
    return tokens.map((t) => t.replace(this.re, () => this.content));
  }
}

export class CtcDecoder implements Decoder {
  constructor(
    readonly padToken: string,
    readonly wordDelimiter: string,
    readonly cleanup: boolean,
  ) {}
  chain(tokens: string[]): string[] {
    const out: string[] = [];
    tokens.forEach((t, i) => {
      if (i > 0 && tokens[i - 1] === t) return;
      let r = t.split(this.padToken).join('');
      if (this.cleanup) r = cleanupSpaces(r).split(this.wordDelimiter).join(' ');
      if (r) out.push(r);
    });
    return out;
  }
}

export class SequenceDecoder implements Decoder {
  constructor(readonly steps: Decoder[]) {}
  chain(tokens: string[]): string[] {
    return this.steps.reduce((t, d) => d.chain(t), tokens);
  }
}

const str = (j: Record<string, unknown>, k: string, d: string): string => {
  const v = j[k] ?? d;
  if (typeof v !== 'string') throw new BertrtError(`tokenizer.json: decoder ${String(j.type)} ${k} must be a string`, 'E_MODEL_FORMAT');
  return v;
};
const count = (j: Record<string, unknown>, k: string): number => {
  const v = j[k] ?? 0;
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new BertrtError(`tokenizer.json: decoder ${String(j.type)} ${k} must be a non-negative integer`, 'E_MODEL_FORMAT');
  return v as number;
};

export function decoderFromJson(j: Record<string, unknown>): Decoder {
  switch (j.type) {
    case 'WordPiece':
      return new WordPieceDecoder(str(j, 'prefix', '##'), j.cleanup !== false);
    case 'Metaspace':
      return new MetaspaceDecoder(str(j, 'replacement', '\u2581'), prependSchemeOf(j));
    case 'ByteLevel':
      return new ByteLevelDecoder();
    case 'BPEDecoder':
      return new BpeDecoder(str(j, 'suffix', '</w>'));
    case 'ByteFallback':
      return new ByteFallbackDecoder();
    case 'Fuse':
      return new FuseDecoder();
    case 'Strip':
      return new StripDecoder(str(j, 'content', ' '), count(j, 'start'), count(j, 'stop'));
    case 'Replace':
      return new ReplaceDecoder(patternFromJson(j.pattern, 'Replace decoder'), str(j, 'content', ''));
    case 'CTC':
      return new CtcDecoder(str(j, 'pad_token', '<pad>'), str(j, 'word_delimiter_token', '|'), j.cleanup !== false);
    case 'Sequence':
      if (!Array.isArray(j.decoders) || !j.decoders.every((d) => typeof d === 'object' && d !== null)) {
        throw new BertrtError('tokenizer.json: a Sequence decoder needs "decoders", a list of decoders', 'E_MODEL_FORMAT');
      }
      return new SequenceDecoder((j.decoders as Array<Record<string, unknown>>).map(decoderFromJson));
    default:
      throw new BertrtError(`tokenizer.json: decoder type "${String(j.type)}" is not supported`, 'E_UNSUPPORTED');
  }
}
