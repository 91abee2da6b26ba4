// Fill-mask with BERT's MLM head: transform (dense, GELU, LayerNorm) then the decoder, whose weight is the word
// embedding matrix (tied) plus a bias (DistilBERT: vocab_transform, GELU, vocab_layer_norm, vocab_projector), over the whole vocabulary at each [MASK]. Results as HF's fill-mask
// pipeline gives them, targets included (a target outside the vocabulary becomes its first sub-token, as HF does).
import { BertrtError, invalidArgument } from '../errors';
import { gelu, layerNorm, linear, softmax } from './math';
import type { TaskModel } from './task-model';

export interface FillMaskResult {
  score: number;
  token: number;
  token_str: string;
  sequence: string;
}

export async function fillMask(m: TaskModel, texts: string[], options: { topK?: number; targets?: string[] } = {}): Promise<FillMaskResult[][][]> {
  const maskId = m.tokenizer.tokenToId('[MASK]');
  if (maskId === undefined) throw new BertrtError('the tokenizer has no [MASK] token', 'E_MODEL_FORMAT');
  const [tw, tb, lg, lb, emb, bias] =
    m.config.modelType === 'distilbert'
      ? m.tensors('fill-mask (MLM)', 'vocab_transform.weight', 'vocab_transform.bias', 'vocab_layer_norm.weight', 'vocab_layer_norm.bias', 'embeddings.word_embeddings.weight', 'vocab_projector.bias')
      : m.tensors(
          'fill-mask (MLM)',
          'cls.predictions.transform.dense.weight',
          'cls.predictions.transform.dense.bias',
          'cls.predictions.transform.LayerNorm.weight',
          'cls.predictions.transform.LayerNorm.bias',
          'embeddings.word_embeddings.weight',
          'cls.predictions.bias',
        );
  const H = m.config.hiddenSize;
  const targetIds = options.targets?.map((t) => {
    const id = m.tokenizer.tokenToId(t);
    if (id !== undefined) return id;
    const ids = m.tokenizer.encode(t, null, { addSpecialTokens: false }).ids;
    if (ids.length === 0) throw invalidArgument(`fill-mask: target ${JSON.stringify(t)} has no tokens`);
    return ids[0];
  });
  const topK = options.topK ?? (targetIds ? targetIds.length : 5);
  const encs = texts.map((t) => {
    if (typeof t !== 'string') throw invalidArgument('fill-mask: inputs must be strings');
    const e = m.tokenizer.encode(t, null, { maxLength: m.maxLength, returnOverflowing: false });
    if (!e.ids.includes(maskId)) throw invalidArgument(`fill-mask: no [MASK] token in ${JSON.stringify(t)}`);
    return e;
  });
  const hidden = await m.hidden(encs);
  return encs.map((e, n) =>
    Array.from(e.ids.entries())
      .filter(([, id]) => id === maskId)
      .map(([k]) => {
        const t = layerNorm(linear(hidden[n].subarray(k * H, (k + 1) * H), tw, tb, H).map(gelu), lg, lb, m.config.layerNormEps);
        const probs = softmax(linear(t, emb, bias, bias.length));
        const candidates = targetIds ?? Array.from(probs.keys());
        return candidates
          .map((id) => ({ id, p: probs[id] }))
          .sort((a, b) => b.p - a.p)
          .slice(0, topK)
          .map(({ id, p }) => {
            const ids = Array.from(e.ids);
            ids[k] = id;
            return { score: p, token: id, token_str: m.tokenizer.decode([id]), sequence: m.tokenizer.decode(ids) };
          });
      }),
  );
}
