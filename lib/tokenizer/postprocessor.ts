// Post-processors, as tokenizer.json composes them: where special tokens go around one text or a pair and which
// type ids each part gets (BertProcessing, RobertaProcessing, TemplateProcessing), and byte-level offset trimming
// (ByteLevel, and RobertaProcessing's trim_offsets). A Sequence combines them.
import { BertrtError } from '../errors';

export type TemplatePiece = { special: string; typeId: number } | { sequence: 0 | 1; typeId: number };

export interface SpecialToken {
  ids: number[];
  tokens: string[];
}

export interface PostProcessor {
  single: TemplatePiece[];
  pair: TemplatePiece[];
  specials: Map<string, SpecialToken>;
  /** trim leading and trailing spaces from each token's offsets (HF's process_offsets) */
  trim: { addPrefixSpace: boolean } | null;
}

const bad = (msg: string) => new BertrtError(`tokenizer.json: ${msg}`, 'E_MODEL_FORMAT');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const MAX_ID = 1 << 24;
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < MAX_ID;

/** No post-processor: the texts as they are, the pair's tokens with type id 1. */
export function plainProcessor(): PostProcessor {
  return { single: [{ sequence: 0, typeId: 0 }], pair: [{ sequence: 0, typeId: 0 }, { sequence: 1, typeId: 1 }], specials: new Map(), trim: null };
}

function clsSep(j: Record<string, unknown>, where: string): [string, number, string, number] {
  const pair = (k: string): [string, number] => {
    const v = j[k];
    if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || !isId(v[1])) throw bad(`${where}.${k} must be [token, id]`);
    return v as [string, number];
  };
  return [...pair('cls'), ...pair('sep')];
}

/** `<cls> A <sep>` and `<cls> A <sep> <sep> B <sep>` (RoBERTa, all type ids 0) or `<cls> A <sep> B <sep>` (BERT). */
function clsSepProcessor(cls: string, clsId: number, sep: string, sepId: number, roberta: boolean): PostProcessor {
  const specials = new Map<string, SpecialToken>([
    [cls, { ids: [clsId], tokens: [cls] }],
    [sep, { ids: [sepId], tokens: [sep] }],
  ]);
  const t = roberta ? 0 : 1;
  const pair: TemplatePiece[] = [{ special: cls, typeId: 0 }, { sequence: 0, typeId: 0 }, { special: sep, typeId: 0 }];
  if (roberta) pair.push({ special: sep, typeId: 0 });
  pair.push({ sequence: 1, typeId: t }, { special: sep, typeId: t });
  return { single: [{ special: cls, typeId: 0 }, { sequence: 0, typeId: 0 }, { special: sep, typeId: 0 }], pair, specials, trim: null };
}

function template(j: Record<string, unknown>, where: string): PostProcessor {
  if (!isObject(j.special_tokens)) throw bad(`${where}.special_tokens must be an object`);
  const specials = new Map<string, SpecialToken>();
  for (const [name, v] of Object.entries(j.special_tokens)) {
    if (!isObject(v) || !Array.isArray(v.ids) || !v.ids.every(isId) || v.ids.length === 0) throw bad(`${where} special token "${name}" needs "ids", a non-empty list of token ids`);
    const tokens = Array.isArray(v.tokens) && v.tokens.length === v.ids.length && v.tokens.every((t) => typeof t === 'string') ? (v.tokens as string[]) : v.ids.map(() => name);
    specials.set(name, { ids: v.ids as number[], tokens });
  }
  const pieces = (key: 'single' | 'pair'): TemplatePiece[] => {
    const list = j[key];
    if (!Array.isArray(list)) throw bad(`${where}.${key} must be a list of template pieces`);
    return list.map((p, i): TemplatePiece => {
      const at = `${where}.${key}[${i}]`;
      const piece = isObject(p) ? (p.SpecialToken ?? p.Sequence) : undefined;
      if (!isObject(p) || !isObject(piece)) throw bad(`${at} must be {"SpecialToken": …} or {"Sequence": …}`);
      const typeId = piece.type_id ?? 0;
      if (!Number.isSafeInteger(typeId) || (typeId as number) < 0 || (typeId as number) > 1023) throw bad(`${at}.type_id must be an integer in [0, 1023]`);
      if (isObject(p.SpecialToken)) {
        if (typeof piece.id !== 'string' || !specials.has(piece.id)) throw bad(`${at} names special token ${JSON.stringify(piece.id)}, which special_tokens does not define`);
        return { special: piece.id, typeId: typeId as number };
      }
      if (piece.id !== 'A' && piece.id !== 'B') throw bad(`${at}: a Sequence's id must be "A" or "B"`);
      return { sequence: piece.id === 'A' ? 0 : 1, typeId: typeId as number };
    });
  };
  return { single: pieces('single'), pair: pieces('pair'), specials, trim: null };
}

export function postProcessorFromJson(j: Record<string, unknown>, where = 'post_processor'): PostProcessor {
  switch (j.type) {
    case 'BertProcessing':
      return clsSepProcessor(...clsSep(j, where), false);
    case 'RobertaProcessing': {
      const p = clsSepProcessor(...clsSep(j, where), true);
      if (j.trim_offsets !== false) p.trim = { addPrefixSpace: j.add_prefix_space !== false };
      return p;
    }
    case 'TemplateProcessing':
      return template(j, where);
    case 'ByteLevel': {
      const p = plainProcessor();
      if (j.trim_offsets !== false) p.trim = { addPrefixSpace: j.add_prefix_space !== false };
      return p;
    }
    case 'Sequence': {
      if (!Array.isArray(j.processors) || !j.processors.every(isObject)) throw bad(`${where}: a Sequence needs "processors", a list of post-processors`);
      const parts = (j.processors as Array<Record<string, unknown>>).map((p, i) => postProcessorFromJson(p, `${where}.processors[${i}]`));
      // one part places the special tokens; the others may only trim offsets
      const placing = parts.filter((p) => p.specials.size > 0 || p.single.length !== 1);
      if (placing.length > 1) throw new BertrtError(`tokenizer.json: ${where} has ${placing.length} post-processors that add special tokens; bertrt runs one`, 'E_UNSUPPORTED');
      const out = placing[0] ?? plainProcessor();
      return { ...out, trim: parts.find((p) => p.trim)?.trim ?? null };
    }
    default:
      throw new BertrtError(`tokenizer.json: post_processor type "${String(j.type)}" is not supported`, 'E_UNSUPPORTED');
  }
}
