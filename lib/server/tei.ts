// HF text-embeddings-inference's routes: /embed, /embed_all, /embed_sparse, /similarity, /predict, /rerank,
// /tokenize, /decode. Bodies arrive validated by their schemas (schemas.ts); what is left here is what depends
// on the model or the limits.
import type { FastifyInstance } from 'fastify';
import { classify, rerank } from '../heads/classification';
import { assertFinite } from '../heads/pooling';
import { type Body, HttpError, type ServerContext } from './context';
import { schemas } from './schemas';
import { bodyFormat, formatVectors } from './formats';

/** Runs fn with a signal that aborts once the request is cancelled (the client left or its deadline passed). */
async function withSignal<T>(cancelled: () => boolean, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  const timer = setInterval(() => cancelled() && ctl.abort(), 50);
  try {
    return await fn(ctl.signal);
  } finally {
    clearInterval(timer);
  }
}

export function teiRoutes(app: FastifyInstance, cx: ServerContext): void {
  app.post('/embed', { schema: schemas.embed }, async (req, reply) => {
    const b = req.body as Body;
    const m = cx.pick(b);
    const { texts, promptTokens } = cx.withPrompt(m, cx.batch(b.inputs as string | string[]), b.prompt_name);
    const dims = cx.dimensions(m, b.dimensions);
    const encs = await cx.encodeAll(m, texts, cx.policy(b));
    const vecs = await cx.embed(m, encs, (b.normalize as boolean | null) ?? true, dims, cx.cancellation(req, reply), promptTokens);
    const { precision, base64 } = bodyFormat(b);
    return formatVectors(vecs, precision, base64, b.ranges);
  });

  // dense + sparse + ColBERT from one forward pass (Embedder.encode); ColBERT answers are tokens × dimension numbers
  // of JSON, bounded like /embed_all
  app.post('/encode', { schema: schemas.encode }, async (req, reply) => {
    const b = req.body as Body;
    const m = cx.pick(b);
    const outputs = b.outputs as Array<'dense' | 'sparse' | 'colbert'>;
    const missing = outputs.filter((o) => !m.embedder.outputs.includes(o));
    if (missing.length) throw new HttpError(424, 'Backend', `model "${m.name}" has no ${missing.join(' or ')} output (it has: ${m.embedder.outputs.join(', ')})`);
    const { texts } = cx.withPrompt(m, cx.batch(b.inputs as string | string[]), b.prompt_name);
    const policy = cx.policy(b);
    const encs = await cx.encodeAll(m, texts, policy);
    if (outputs.includes('colbert')) cx.perTokenBudget('/encode', encs);
    const r = await withSignal(cx.cancellation(req, reply), (signal) =>
      m.embedder.encode(texts, {
        dense: outputs.includes('dense'),
        sparse: outputs.includes('sparse'),
        colbert: outputs.includes('colbert'),
        isQuery: (b.is_query as boolean | null) ?? false,
        normalize: (b.normalize as boolean | null) ?? true,
        topK: (b.top_k as number | null) ?? undefined,
        threshold: (b.threshold as number | null) ?? undefined,
        truncate: policy === 'error' ? 'right' : policy,
        signal,
      }),
    );
    return texts.map((_, i) => ({
      ...(r.dense ? { dense: Array.from(r.dense[i]) } : {}),
      ...(r.sparse ? { sparse: Array.from(r.sparse[i].indices, (index, k) => ({ index, value: r.sparse![i].values[k] })) } : {}),
      ...(r.colbert ? { colbert: Array.from({ length: r.colbert[i].rows }, (_, k) => Array.from(r.colbert![i].data.subarray(k * r.colbert![i].dim, (k + 1) * r.colbert![i].dim))) } : {}),
    }));
  });

  // every token's hidden state, [inputs][tokens][hidden], special tokens included, not normalized; bounded by
  // tokens per request since the answer is tokens × hidden numbers of JSON
  app.post('/embed_all', { schema: schemas.embedAll }, async (req, reply) => {
    const b = req.body as Body;
    const m = cx.pick(b);
    const { texts } = cx.withPrompt(m, cx.batch(b.inputs as string | string[]), b.prompt_name);
    if (m.embedder.encoder.pooled) throw new HttpError(424, 'Backend', `model "${m.name}" is an ONNX graph that pools inside: it has no per-token vectors`);
    const encs = await cx.encodeAll(m, texts, cx.policy(b));
    cx.perTokenBudget('/embed_all', encs);
    const rows = await cx.hiddenRows(m, encs, cx.cancellation(req, reply));
    const H = m.embedder.encoder.hiddenSize;
    return rows.map((r, i) => {
      assertFinite(r, `the token vectors of inputs[${i}]`);
      return Array.from({ length: r.length / H }, (_, k) => Array.from(r.subarray(k * H, (k + 1) * H)));
    });
  });

  // SPLADE vectors from the model's MLM head, [inputs][{ index, value }] with every non-zero entry (424 for a
  // model without an MLM head); the texts are held to the length policy as on the other routes
  app.post('/embed_sparse', { schema: schemas.embedSparse }, async (req, reply) => {
    const b = req.body as Body;
    const m = cx.pick(b);
    const { texts } = cx.withPrompt(m, cx.batch(b.inputs as string | string[]), b.prompt_name);
    const policy = cx.policy(b);
    cx.perTokenBudget('/embed_sparse', await cx.encodeAll(m, texts, policy));
    if (!m.embedder.outputs.includes('sparse')) {
      throw new HttpError(424, 'Backend', m.embedder.encoder.backend === 'onnx' ? `model "${m.name}" is an ONNX graph: sparse vectors need the checkpoint's MLM head` : `model "${m.name}" has no MLM head (or bge-m3 sparse head) for sparse vectors`);
    }
    const r = await withSignal(cx.cancellation(req, reply), (signal) =>
      m.embedder.encode(texts, { dense: false, sparse: true, truncate: policy === 'error' ? 'right' : policy, signal }),
    );
    return r.sparse!.map((v) => Array.from(v.indices, (index, k) => ({ index, value: v.values[k] })));
  });

  // the cosine similarity of each of `sentences` to `source_sentence`
  app.post('/similarity', { schema: schemas.similarity }, async (req, reply) => {
    const b = req.body as Body;
    const m = cx.pick(b);
    const inputs = b.inputs as { source_sentence: string; sentences: string[] };
    const sentences = cx.batch(inputs.sentences, 1);
    const { texts, promptTokens } = cx.withPrompt(m, [inputs.source_sentence, ...sentences], b.prompt_name);
    const encs = await cx.encodeAll(m, texts, cx.policy(b));
    const [src, ...others] = await cx.embed(m, encs, true, undefined, cx.cancellation(req, reply), promptTokens);
    return others.map((v) => v.reduce((acc, x, j) => acc + x * src[j], 0));
  });

  // sequence classification: inputs is a text, a [text, pair], or an array of either
  app.post('/predict', { schema: schemas.predict }, async (req, reply) => {
    const b = req.body as Body;
    const m = cx.pick(b);
    const isPair = (x: unknown) => Array.isArray(x) && x.length === 2 && x.every((y) => typeof y === 'string');
    const one = typeof b.inputs === 'string' || isPair(b.inputs);
    const list = cx.batch((one ? [b.inputs] : b.inputs) as Array<string | [string, string]>);
    const heads = m.heads(cx.cancellation(req, reply));
    if (!heads.hasSequenceHead()) throw new HttpError(424, 'Backend', `model "${m.name}" has no sequence-classification head`);
    const r = await classify(heads, list.map((x) => (typeof x === 'string' ? x : { text: x[0], text_pair: x[1] })), null, cx.policy(b));
    return one ? r[0] : r;
  });

  // cross-encoder reranking: [{ index, score, text? }], best first
  app.post('/rerank', { schema: schemas.rerank }, async (req, reply) => {
    const b = req.body as Body;
    const m = cx.pick(b);
    const texts = cx.batch(b.texts as string[]);
    const heads = m.heads(cx.cancellation(req, reply));
    if (!heads.hasSequenceHead()) throw new HttpError(424, 'Backend', `model "${m.name}" is not a cross-encoder`);
    return rerank(heads, b.query as string, texts, {
      topN: (b.top_n as number | null) ?? undefined,
      returnDocuments: (b.return_text as boolean | null) ?? false,
      rawScores: (b.raw_scores as boolean | null) ?? false,
      truncate: cx.policy(b),
    });
  });

  // bounded like /embed: an input over max_input_length tokens is refused with 413 unless `truncate` is set
  app.post('/tokenize', { schema: schemas.tokenize }, async (req) => {
    const b = req.body as Body;
    const m = cx.pick(b);
    const encs = await cx.encodeAll(m, cx.batch(b.inputs as string | string[]), cx.policy(b), { addSpecialTokens: (b.add_special_tokens as boolean | null) ?? true });
    return encs.map((e) => Array.from(e.ids, (id, k) => ({ id, text: e.tokens[k], special: e.specialTokensMask[k] === 1, start: e.offsets[k][0], stop: e.offsets[k][1] })));
  });

  app.post('/decode', { schema: schemas.decode }, async (req) => {
    const b = req.body as Body;
    const tok = cx.pick(b).embedder.tokenizer;
    const ids = b.ids as number[] | number[][];
    const lists = cx.batch(typeof ids[0] === 'number' ? [ids as number[]] : (ids as number[][]));
    const skip = (b.skip_special_tokens as boolean | null) ?? true;
    return lists.map((l) => tok.decode(l, { skipSpecialTokens: skip }));
  });
}
