// Fill-mask with the MLM head (families.ts names it per family: BERT's cls.predictions, RoBERTa's and MPNet's
// lm_head, DistilBERT's vocab_transform/vocab_layer_norm/vocab_projector): dense, GELU, LayerNorm, then the decoder,
// whose weight is the word embedding matrix (tied) plus a bias, over the whole vocabulary at each mask token. Results as HF's fill-mask
// pipeline gives them, targets included (a target outside the vocabulary becomes its first sub-token, as HF does).
import { BertrtError, invalidArgument } from '../errors';
import { linear, softmax } from './math';
import type { TaskModel, Truncate } from './task-model';

export interface FillMaskResult {
  score: number;
  token: number;
  token_str: string;
  sequence: string;
}

/** The MLM head: its transform of one hidden-state row (dense, activation, LayerNorm; the word embeddings' width),
 *  the output bias, and the decoder matrix when the checkpoint does not tie it to the word embeddings (null when tied:
 *  the engine applies its own copy). */
export function mlmHead(m: TaskModel): {
  transform: (x: ArrayLike<number>) => Float64Array;
  parts: ReturnType<TaskModel['transformParts']>;
  bias: Float32Array;
  decoder: Float32Array | null;
} {
  const head = m.config.family.heads.mlm;
  if (!head) throw new BertrtError(`${m.config.family.name}'s MLM head is not supported yet`, 'E_UNSUPPORTED');
  const spec = { dense: head.dense, act: head.act ?? (head.erf ? 'gelu' : 'hidden_act'), norm: head.norm } as const;
  const also = m.config.family.heads.optionalBiases ? [] : [head.bias];
  const transform = m.transform('fill-mask (MLM)', spec, also);
  const parts = m.transformParts('fill-mask (MLM)', spec, also);
  const bias = m.bias('fill-mask (MLM)', head.bias, m.config.vocabSize);
  // The decoder is the word-embedding matrix (tied, as these models are trained), which the native engine
  // already holds; an untied checkpoint's own decoder matrix is read and applied here instead.
  const untied = m.config.raw.tie_word_embeddings === false;
  return { transform, parts, bias, decoder: untied ? m.tensors('fill-mask (MLM)', head.decoder)[0] : null };
}

export async function fillMask(m: TaskModel, texts: string[], options: { topK?: number; targets?: string[]; truncate?: Truncate } = {}): Promise<FillMaskResult[][][]> {
  const mask = m.tokenizer.specialTokenFor('mask');
  const maskId = mask === undefined ? undefined : m.tokenizer.tokenToId(mask);
  if (maskId === undefined) throw new BertrtError('the tokenizer has no mask token ([MASK] or <mask>)', 'E_MODEL_FORMAT');
  const { transform, bias, decoder } = mlmHead(m);
  const H = m.config.hiddenSize;
  const targetIds = options.targets?.map((t) => {
    const id = m.tokenizer.tokenToId(t);
    if (id !== undefined) return id;
    const ids = m.tokenizer.encode(t, null, { addSpecialTokens: false }).ids;
    if (ids.length === 0) throw invalidArgument(`fill-mask: target ${JSON.stringify(t)} has no tokens`);
    return ids[0];
  });
  // targets that name the same token count once, as HF's pipeline does (with a warning)
  if (targetIds && new Set(targetIds).size < targetIds.length) {
    process.emitWarning(`fill-mask: some targets map to the same token; each token is scored once`, 'BertrtWarning');
    targetIds.splice(0, targetIds.length, ...new Set(targetIds));
  }
  const topK = options.topK ?? (targetIds ? targetIds.length : 5);
  if (!Number.isInteger(topK) || topK < 1) throw invalidArgument(`fill-mask: topK must be a positive integer (got ${String(options.topK)})`);
  const encs = texts.map((t, i) => {
    if (typeof t !== 'string') throw invalidArgument('fill-mask: inputs must be strings');
    const e = m.encode(t, null, options.truncate, 'longest_first', `texts[${i}]`);
    if (!e.ids.includes(maskId)) throw invalidArgument(`fill-mask: no ${mask} token in ${JSON.stringify(t)}`);
    return e;
  });
  const hidden = await m.hidden(encs);
  // every [MASK] of every text through the transform, then all of them through the decoder in one native call
  const masks = encs.flatMap((e, n) => Array.from(e.ids.entries()).filter(([, id]) => id === maskId).map(([k]) => ({ n, k })));
  const V = m.config.vocabSize;
  if (bias.length !== V) throw new BertrtError(`fill-mask: the decoder bias has ${bias.length} entries for a vocabulary of ${V}`, 'E_SHAPE');
  // the transform's width: the word embeddings' (ALBERT's and ELECTRA's are narrower than the hidden states)
  const rows = masks.map(({ n, k }) => transform(hidden[n].subarray(k * H, (k + 1) * H)));
  const E = rows.length ? rows[0].length : H;
  const transformed = new Float32Array(masks.length * E);
  rows.forEach((r, i) => transformed.set(r, i * E));
  let logits: Float32Array;
  if (decoder) {
    logits = new Float32Array(masks.length * V);
    masks.forEach((_, i) => logits.set(linear(transformed.subarray(i * E, (i + 1) * E), decoder, bias, V), i * V));
  } else {
    logits = await m.encoder.vocabLogits(transformed, bias);
  }
  let next = 0;
  return encs.map((e) => {
    const at = Array.from(e.ids.entries()).filter(([, id]) => id === maskId);
    // HF's pipeline decodes a text of one mask without its special tokens, and one of several with them (so the
    // other masks stay visible in each sequence)
    const skipSpecialTokens = at.length === 1;
    return at.map(([k]) => {
      const i = next++;
      const probs = softmax(logits.subarray(i * V, (i + 1) * V));
      const candidates = targetIds ?? Array.from(probs.keys());
      return candidates
        .map((id) => ({ id, p: probs[id] }))
        .sort((a, b) => b.p - a.p)
        .slice(0, topK)
        .map(({ id, p }) => {
          const ids = Array.from(e.ids);
          ids[k] = id;
          return { score: p, token: id, token_str: m.tokenizer.decode([id]), sequence: m.tokenizer.decode(ids, { skipSpecialTokens }) };
        });
    });
  });
}
