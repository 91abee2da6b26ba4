// The request and response schemas of every route, in one place. Fastify validates each body against its
// route's schema before the handler runs (ajv, no type coercion, unknown fields allowed as TEI's and OpenAI's
// servers allow them), @fastify/swagger serves the same schemas as /openapi.json, and `validationError` turns
// ajv's report into the 422 a client of TEI expects, naming the field. Each field's `description` is written to
// read after "must be", because that is the sentence the 422 says.
//
// What a schema cannot know (the served model's dimension and prompts, the client batch limit, token counts) is
// checked by the handlers.
import { HttpError } from './context';

type Schema = Record<string, unknown>;

const nullable = (type: string): string[] => [type, 'null'];

// ------------------------------------------------------------------------------------------- shared fields
const model: Schema = { type: nullable('string'), description: 'the name of a served model (default: the first one)' };
const truncate: Schema = {
  type: nullable('boolean'),
  description: 'true or false: cut inputs longer than the model takes instead of answering 413 (default: the server\'s --auto-truncate)',
};
const truncationDirection: Schema = {
  type: nullable('string'),
  pattern: '^([Ll][Ee][Ff][Tt]|[Rr][Ii][Gg][Hh][Tt])$',
  description: '"right" (the default) or "left": which end of a long input is cut',
};
const promptName: Schema = { type: nullable('string'), description: 'a prompt name from the model\'s config_sentence_transformers.json, prepended to every input' };
const texts: Schema = {
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }],
  description: 'a string or a non-empty array of strings',
};
const bool = (what: string): Schema => ({ type: nullable('boolean'), description: `true or false: ${what}` });
const dimensions: Schema = { type: nullable('integer'), minimum: 1, description: 'an integer from 1 to the model\'s dimension: keep this many leading dimensions (Matryoshka)' };
const tokenIds: Schema = { type: 'array', items: { type: 'integer' }, minItems: 1 };

const longInput = { model, truncate, truncation_direction: truncationDirection };

// quantized embeddings (lib/server/formats.ts)
const precision: Schema = {
  type: nullable('string'),
  enum: ['float32', 'int8', 'uint8', 'binary', 'ubinary', null],
  description: '"float32" (the default), "int8", "uint8", "binary" or "ubinary" (sentence-transformers\' quantize_embeddings)',
};
const encodingFormat: Schema = { type: nullable('string'), enum: ['float', 'base64', null], description: '"float" (JSON numbers, the default) or "base64" (the vector\'s bytes)' };
const ranges: Schema = {
  type: nullable('array'),
  items: { type: 'array', items: { type: 'number' } },
  minItems: 2,
  maxItems: 2,
  description: '[min per dimension, max per dimension]: the int8 / uint8 buckets (default: from the request\'s own vectors)',
};
const quantized = { precision, encoding_format: encodingFormat, ranges };

const body = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  properties,
  required,
  description: 'a JSON object',
});

// ----------------------------------------------------------------------------------------------- responses
const teiError: Schema = {
  type: 'object',
  properties: { error: { type: 'string' }, error_type: { type: 'string' } },
  required: ['error', 'error_type'],
};
const openaiError: Schema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: 'null' }, code: { type: 'string' } },
    },
  },
};
const vector: Schema = { type: 'array', items: { type: 'number' } };
const maybeEncoded: Schema = { anyOf: [{ type: 'string' }, vector] };

/** The statuses a POST route can answer besides 200, as the README's table lists them. */
function errors(err: Schema): Record<string, Schema> {
  const e = (description: string): Schema => ({ description, ...err });
  return {
    400: e('malformed JSON'),
    401: e('missing or wrong bearer token (--api-key)'),
    404: e('`model` names no served model'),
    408: e('the client left, or x-request-timeout-ms passed, before the work ran'),
    413: e('too many inputs, an input over the token limit without `truncate`, or a body over --payload-limit'),
    415: e('a content type other than application/json'),
    422: e('a field of the wrong type or range, or an empty input list'),
    424: e('the model lacks what the route needs (a task head, an MLM head, per-token outputs)'),
    429: e('the model\'s queue is full (--max-concurrent-requests)'),
    500: e('an engine failure, e.g. a non-finite output'),
    503: e('the server is shutting down'),
  };
}
const tei = (ok: Schema): Record<string, Schema> => ({ 200: ok, ...errors(teiError) });

// ------------------------------------------------------------------------------------------------- routes
export interface RouteSchema {
  summary: string;
  tags: string[];
  body?: Schema;
  response?: Record<string, Schema>;
  hide?: boolean;
}

export const schemas = {
  embed: {
    summary: 'Sentence embeddings (TEI)',
    tags: ['TEI'],
    body: body(
      { inputs: texts, normalize: bool('unit-length vectors (default true)'), dimensions, prompt_name: promptName, ...quantized, ...longInput },
      ['inputs'],
    ),
    response: tei({ type: 'array', items: maybeEncoded }),
  },
  encode: {
    summary: 'Several outputs of one forward pass: dense, sparse (bge-m3 / SPLADE) and ColBERT vectors (bertrt)',
    tags: ['TEI'],
    body: body(
      {
        inputs: texts,
        outputs: {
          type: 'array',
          items: { type: 'string', enum: ['dense', 'sparse', 'colbert'] },
          minItems: 1,
          uniqueItems: true,
          description: 'a non-empty array of "dense", "sparse", "colbert"',
        },
        is_query: bool('encode as queries (a ColBERT model\'s query prefix and [MASK] expansion)'),
        normalize: bool('unit-length dense vectors (default true)'),
        top_k: { type: nullable('integer'), minimum: 1, description: 'a positive integer: keep the k largest sparse weights' },
        threshold: { type: nullable('number'), minimum: 0, description: 'a number >= 0: keep sparse weights above it (default 0)' },
        prompt_name: promptName,
        ...longInput,
      },
      ['inputs', 'outputs'],
    ),
    response: tei({
      type: 'array',
      items: {
        type: 'object',
        properties: {
          dense: vector,
          sparse: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, value: { type: 'number' } } } },
          colbert: { type: 'array', items: vector },
        },
      },
    }),
  },
  embedAll: {
    summary: 'Every token\'s hidden state, special tokens included, not normalized (TEI)',
    tags: ['TEI'],
    body: body({ inputs: texts, prompt_name: promptName, ...longInput }, ['inputs']),
    response: tei({ type: 'array', items: { type: 'array', items: vector } }),
  },
  embedSparse: {
    summary: 'SPLADE sparse vectors from the model\'s MLM head: every non-zero entry (TEI)',
    tags: ['TEI'],
    body: body({ inputs: texts, prompt_name: promptName, ...longInput }, ['inputs']),
    response: tei({
      type: 'array',
      items: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, value: { type: 'number' } } } },
    }),
  },
  similarity: {
    summary: 'Cosine similarity of each sentence to the source sentence (TEI)',
    tags: ['TEI'],
    body: body(
      {
        inputs: {
          type: 'object',
          properties: {
            source_sentence: { type: 'string', description: 'a string' },
            sentences: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'a non-empty array of strings' },
          },
          required: ['source_sentence', 'sentences'],
          description: 'an object { source_sentence: string, sentences: string[] }',
        },
        prompt_name: promptName,
        ...longInput,
      },
      ['inputs'],
    ),
    response: tei({ type: 'array', items: { type: 'number' } }),
  },
  predict: {
    summary: 'Sequence classification of texts or text pairs (TEI)',
    tags: ['TEI'],
    body: body(
      {
        inputs: {
          anyOf: [
            { type: 'string' },
            { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 },
            {
              type: 'array',
              minItems: 1,
              items: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 }] },
            },
          ],
          description: 'a text, a [text, text] pair, or a non-empty array of them',
        },
        ...longInput,
      },
      ['inputs'],
    ),
    response: tei({}),
  },
  rerank: {
    summary: 'Cross-encoder scores of each text against the query, best first (TEI)',
    tags: ['TEI'],
    body: body(
      {
        query: { type: 'string', description: 'a string' },
        texts: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'a non-empty array of strings' },
        top_n: { type: nullable('integer'), minimum: 0, description: 'a non-negative integer: answer only the best n' },
        return_text: bool('include each text in its answer (default false)'),
        raw_scores: bool('logits instead of probabilities (default false)'),
        ...longInput,
      },
      ['query', 'texts'],
    ),
    response: tei({
      type: 'array',
      items: { type: 'object', properties: { index: { type: 'integer' }, score: { type: 'number' }, text: { type: 'string' } } },
    }),
  },
  tokenize: {
    summary: 'Token ids, texts and offsets (TEI)',
    tags: ['TEI'],
    body: body({ inputs: texts, add_special_tokens: bool('add the model\'s special tokens (default true)'), ...longInput }, ['inputs']),
    response: tei({
      type: 'array',
      items: {
        type: 'array',
        items: {
          type: 'object',
          properties: { id: { type: 'integer' }, text: { type: 'string' }, special: { type: 'boolean' }, start: { type: 'integer' }, stop: { type: 'integer' } },
        },
      },
    }),
  },
  decode: {
    summary: 'Text of token ids (TEI)',
    tags: ['TEI'],
    body: body(
      {
        ids: {
          anyOf: [tokenIds, { type: 'array', items: { type: 'array', items: { type: 'integer' } }, minItems: 1 }],
          description: 'a non-empty array of token ids, or an array of such arrays',
        },
        skip_special_tokens: bool('leave special tokens out (default true)'),
        model,
      },
      ['ids'],
    ),
    response: tei({ type: 'array', items: { type: 'string' } }),
  },
  openaiEmbeddings: {
    summary: 'Embeddings, as OpenAI\'s API (with a `truncate` extension)',
    tags: ['OpenAI'],
    body: body(
      {
        input: {
          anyOf: [
            { type: 'string' },
            { type: 'array', items: { type: 'string' }, minItems: 1 },
            tokenIds,
            { type: 'array', items: tokenIds, minItems: 1 },
          ],
          description: 'a string, an array of strings, an array of token ids, or an array of such arrays (none empty)',
        },
        model,
        encoding_format: {
          type: nullable('string'),
          enum: ['float', 'base64', 'int8', 'uint8', 'binary', 'ubinary', null],
          description: '"float", "base64", or a quantized precision ("int8", "uint8", "binary", "ubinary": integers)',
        },
        precision,
        ranges,
        dimensions,
        user: { type: nullable('string'), description: 'a string (accepted and ignored)' },
        truncate,
      },
      ['input'],
    ),
    response: {
      200: {
        type: 'object',
        properties: {
          object: { type: 'string' },
          data: { type: 'array', items: { type: 'object', properties: { object: { type: 'string' }, index: { type: 'integer' }, embedding: {} } } },
          model: { type: 'string' },
          usage: { type: 'object', properties: { prompt_tokens: { type: 'integer' }, total_tokens: { type: 'integer' } } },
        },
      },
      ...errors(openaiError),
    },
  },
  openaiModels: { summary: 'The models this server serves (OpenAI)', tags: ['OpenAI'] },
  health: { summary: '200 while serving, 503 while shutting down (no key needed)', tags: ['admin'] },
  info: { summary: 'The default model, its limits and the engine', tags: ['admin'] },
  metrics: { summary: 'Prometheus metrics', tags: ['admin'] },
} satisfies Record<string, RouteSchema>;

// ------------------------------------------------------------------------------------------- 422 messages
interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
  parentSchema?: { description?: string; properties?: Record<string, { description?: string }> };
}

/** "/inputs/sentences/2" → "inputs.sentences[2]" */
function fieldName(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
}

/** ajv's errors for one body (it stops at the first field that fails) → the 422 that names that field. An empty
 *  array where one is required is TEI's "Empty" error. */
export function validationError(errs: AjvError[]): HttpError {
  const empty = errs.find((e) => e.keyword === 'minItems' && e.params.limit === 1);
  if (empty) return new HttpError(422, 'Empty', `\`${fieldName(empty.instancePath)}\` cannot be empty`);
  // ajv lists the branches of an anyOf before the anyOf itself: the last error is the field's own
  const e = errs[errs.length - 1];
  if (e.keyword === 'required') {
    const f = [fieldName(e.instancePath), String(e.params.missingProperty)].filter(Boolean).join('.');
    const want = e.parentSchema?.properties?.[String(e.params.missingProperty)]?.description;
    return new HttpError(422, 'Validation', `\`${f}\` is required${want ? `: ${want}` : ''}`);
  }
  if (e.instancePath === '') return new HttpError(422, 'Validation', 'the body must be a JSON object');
  const want = e.parentSchema?.description;
  return new HttpError(422, 'Validation', `\`${fieldName(e.instancePath)}\` ${want ? `must be ${want}` : (e.message ?? 'is invalid')}`);
}
