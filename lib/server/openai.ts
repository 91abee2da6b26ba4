// OpenAI's embeddings API: POST /v1/embeddings (texts or token arrays, float or base64, `dimensions`, and a
// `truncate` extension) and GET /v1/models. Errors on /v1 are in OpenAI's shape (see app.ts).
import type { FastifyInstance } from 'fastify';
import type { Encoding } from '../tokenizer/tokenizer';
import { type Body, HttpError, type Model, type ServerContext } from './context';
import { schemas } from './schemas';
import { formatVectors, PRECISIONS } from './formats';
import type { EmbeddingPrecision } from '../quantize';

export function openaiRoutes(app: FastifyInstance, cx: ServerContext): void {
  const startedAt = Math.floor(Date.now() / 1000);

  app.post('/v1/embeddings', { schema: schemas.openaiEmbeddings }, async (req, reply) => {
    const b = req.body as Body;
    const m = cx.pick(b);
    const input = b.input as string | string[] | number[] | number[][];
    let encs: Encoding[];
    if (Array.isArray(input) && typeof input[0] === 'number') {
      encs = [idsEncoding(m, input as number[])];
    } else if (Array.isArray(input) && Array.isArray(input[0])) {
      encs = cx.batch(input as number[][]).map((ids) => idsEncoding(m, ids));
    } else {
      // `truncate` (bertrt's extension; OpenAI's API has none) or --auto-truncate cut instead of answering 413
      encs = await cx.encodeAll(m, cx.batch(input as string | string[]), cx.policy(b), { field: 'input' });
    }
    const vecs = await cx.embed(m, encs, true, cx.dimensions(m, b.dimensions), cx.cancellation(req, reply));
    const tokens = encs.reduce((a, e) => a + e.ids.length, 0);
    // encoding_format 'int8' (…) is that precision as integers; precision + base64 sends its bytes
    const fmt = (b.encoding_format as string | null) ?? 'float';
    const base64 = fmt === 'base64';
    const precision = PRECISIONS.includes(fmt as EmbeddingPrecision) ? (fmt as EmbeddingPrecision) : ((b.precision as EmbeddingPrecision | null) ?? 'float32');
    const out = formatVectors(vecs, precision, base64, b.ranges);
    return {
      object: 'list',
      data: out.map((embedding, index) => ({ object: 'embedding', index, embedding })),
      model: m.name,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  });

  app.get('/v1/models', { schema: schemas.openaiModels }, async () => ({
    object: 'list',
    data: [...cx.models.keys()].map((id) => ({ id, object: 'model', created: startedAt, owned_by: 'bertrt' })),
  }));
}

/** A token-array input: the ids are the sequence the model sees (special tokens included if wanted). */
function idsEncoding(m: Model, ids: number[]): Encoding {
  const V = m.embedder.encoder.config.vocabSize;
  if (ids.length > m.embedder.maxSeqLength) throw new HttpError(413, 'Validation', `a token array has ${ids.length} tokens, the model takes at most ${m.embedder.maxSeqLength}`);
  for (const id of ids) if (id < 0 || id >= V) throw new HttpError(422, 'Validation', `token id ${id} is outside the vocabulary [0, ${V})`);
  const n = ids.length;
  return {
    ids: Int32Array.from(ids),
    typeIds: new Int32Array(n),
    attentionMask: new Int32Array(n).fill(1),
    specialTokensMask: new Int32Array(n),
    offsets: [],
    wordIds: [],
    sequenceIds: [],
    tokens: [],
    overflowing: [],
  };
}
