// The HTTP server: HF text-embeddings-inference routes (/embed, /embed_all, /similarity, /rerank, /predict,
// /tokenize, /decode, /health, /info, /metrics) and
// OpenAI's /v1/embeddings, over one dynamic batcher per model. Errors are TEI's { error, error_type } (OpenAI's
// { error: { message, type, code } } on /v1), with the status codes clients expect.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { BertrtError } from '../errors';
import { lengthPastLimit, policyOptions } from '../truncate';
import { Embedder } from '../embedder';
import { assertFinite, sentenceVector } from '../heads/pooling';
import type { Device, Precision } from '../native';
import type { EngineOptions } from '../model/engine';
import { native } from '../native';
import type { Encoding } from '../tokenizer/tokenizer';
import { classify, rerank } from '../heads/classification';
import { TaskModel } from '../heads/task-model';
import { Batcher, CancelledError, OverloadedError } from './batcher';
import { createMetrics, type Metrics } from './metrics';

export interface ServerOptions {
  /** name → model directory; the first is the default model (TEI routes use it) */
  models: Array<{ name: string; dir?: string; backend?: EngineOptions['backend']; onnx?: EngineOptions['onnx'] }>;
  precision?: Precision;
  /** 'cpu' (default), 'cuda' or 'auto' (see EngineOptions.device) */
  device?: Device;
  threads?: number;
  maxBatchTokens?: number;
  maxBatchRequests?: number;
  maxWaitMs?: number;
  /** pending requests per model before 429 */
  maxConcurrentRequests?: number;
  /** inputs in one request */
  maxClientBatchSize?: number;
  /** request body bytes */
  maxBodyBytes?: number;
  /** bearer token required on every route but /health */
  apiKey?: string;
  /** a client must send its request headers within this many ms (default 10,000), or the socket is closed */
  headersTimeoutMs?: number;
  /** ... and its whole request, body included, within this many ms (default 60,000) */
  requestTimeoutMs?: number;
  /** an idle keep-alive connection is closed after this many ms (default 5,000) */
  keepAliveTimeoutMs?: number;
  /** open connections at most; one more is closed at once (default 1,024) */
  maxConnections?: number;
  /** cut inputs longer than the model takes instead of answering 413, on every route (TEI's --auto-truncate) */
  autoTruncate?: boolean;
  logger?: boolean;
}

/** An error with the HTTP status and TEI error_type it maps to. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

interface Model {
  name: string;
  embedder: Embedder;
  batcher: Batcher;
  heads: (cancelled: () => boolean) => TaskModel;
}

export interface BertrtServer {
  app: FastifyInstance;
  metrics: Metrics;
  /** stop accepting, finish what is in flight, free the models */
  close(): Promise<void>;
}

/** Tokens one /embed_all request may ask for: its answer holds tokens × hidden numbers as JSON. */
const EMBED_ALL_MAX_TOKENS = 4096;

const VERSION = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

export async function createServer(opts: ServerOptions): Promise<BertrtServer> {
  if (opts.models.length === 0) throw new BertrtError('createServer: at least one model', 'E_INVALID_ARGUMENT');
  const o = {
    maxBatchTokens: opts.maxBatchTokens ?? 16384,
    maxBatchRequests: opts.maxBatchRequests ?? 256,
    maxWaitMs: opts.maxWaitMs ?? 1,
    maxConcurrentRequests: opts.maxConcurrentRequests ?? 512,
    maxClientBatchSize: opts.maxClientBatchSize ?? 64,
    maxBodyBytes: opts.maxBodyBytes ?? 4 * 1024 * 1024,
    headersTimeoutMs: opts.headersTimeoutMs ?? 10_000,
    requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
    keepAliveTimeoutMs: opts.keepAliveTimeoutMs ?? 5_000,
    maxConnections: opts.maxConnections ?? 1024,
    autoTruncate: opts.autoTruncate ?? false,
  };
  for (const k of ['headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs', 'maxConnections'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new BertrtError(`createServer: ${k} must be a positive integer`, 'E_INVALID_ARGUMENT');
  }
  const metrics = createMetrics();
  const models = new Map<string, Model>();
  try {
    for (const m of opts.models) {
      if (models.has(m.name)) throw new BertrtError(`model name "${m.name}" given twice`, 'E_INVALID_ARGUMENT');
      const embedder = await Embedder.load(m.dir, { threads: opts.threads, precision: opts.precision, device: opts.device, backend: m.backend, onnx: m.onnx });
      const batcher = new Batcher(embedder.encoder, { maxBatchTokens: o.maxBatchTokens, maxBatchRequests: o.maxBatchRequests, maxWaitMs: o.maxWaitMs, maxQueue: o.maxConcurrentRequests }, metrics, m.name);
      models.set(m.name, {
        name: m.name,
        embedder,
        batcher,
        heads: (() => {
          // an ONNX graph without the checkpoint (or with a pooled output) serves embeddings only: its head routes say 424
          let base: TaskModel | BertrtError;
          try {
            base = TaskModel.over(embedder.encoder, embedder.tokenizer);
          } catch (e) {
            if (!(e instanceof BertrtError && e.code === 'E_UNSUPPORTED' && embedder.encoder.backend === 'onnx')) throw e;
            base = e;
          }
          return (cancelled: () => boolean) => {
            if (base instanceof BertrtError) throw new HttpError(424, 'Backend', `model "${m.name}" has no task heads here: ${base.message}`);
            return base.withRunner((encs) => batcher.submit(encs, cancelled));
          };
        })(),
      });
    }
  } catch (e) {
    for (const m of models.values()) await m.embedder.close();
    throw e;
  }
  const defaultModel = models.values().next().value as Model;
  const startedAt = Math.floor(Date.now() / 1000);
  let draining = false;

  // Slow or idle clients are bounded by Node's own timers: headers, the whole request, keep-alive idleness,
  // checked every 500 ms (Node's default of 30 s would let a slowloris socket live far past its timeout), and a
  // cap on open connections.
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: o.maxBodyBytes,
    // Bodies are read field by field and never merged into other objects, so an own "__proto__" key is inert;
    // the scan for one (a regular expression over the whole body) was most of the cost of a large hostile body.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    serverFactory: (handler) => {
      const server = http.createServer(
        {
          headersTimeout: o.headersTimeoutMs,
          requestTimeout: Math.max(o.requestTimeoutMs, o.headersTimeoutMs),
          keepAliveTimeout: o.keepAliveTimeoutMs,
          connectionsCheckingInterval: Math.min(500, o.headersTimeoutMs),
        },
        handler,
      );
      server.maxConnections = o.maxConnections;
      return server;
    },
  });

  app.addHook('onRequest', async (req: FastifyRequest) => {
    (req as FastifyRequest & { startedAt: number }).startedAt = performance.now();
    const route = req.routeOptions.url ?? req.url;
    if (route === '/health') return;
    if (draining) throw new HttpError(503, 'Unhealthy', 'the server is shutting down');
    if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`) throw new HttpError(401, 'Unauthorized', 'missing or wrong bearer token');
  });
  // While draining, close each connection after its response: a keep-alive socket that went idle after close()
  // began would otherwise hold shutdown until the keep-alive timeout.
  app.addHook('onSend', async (_req, reply, payload) => {
    if (draining) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    const route = req.routeOptions.url ?? 'unknown';
    const labels = { route, status: String(reply.statusCode) };
    metrics.requests.inc(labels);
    metrics.requestDuration.observe(labels, (performance.now() - (req as FastifyRequest & { startedAt: number }).startedAt) / 1000);
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    let status = 500;
    let type = 'Backend';
    let message = err.message;
    if (err instanceof HttpError) {
      status = err.status;
      type = err.type;
    } else if (err instanceof OverloadedError) {
      status = 429;
      type = 'Overloaded';
      message = `model is overloaded: ${err.message}`;
    } else if (err instanceof BertrtError) {
      status = err.code === 'E_INVALID_ARGUMENT' ? 422 : err.code === 'E_INPUT_TOO_LONG' ? 413 : 500;
      type = status === 500 ? 'Backend' : 'Validation';
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      status = 413;
      type = 'Validation';
      message = `request body larger than ${o.maxBodyBytes} bytes`;
    } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      status = err.statusCode; // malformed JSON, wrong content type, ...
      type = 'Validation';
    }
    if (status >= 500 && status !== 503) req.log.error(err);
    if (req.url.startsWith('/v1/')) {
      const oaType = status === 429 ? 'rate_limit_error' : status === 401 ? 'authentication_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
      return reply.status(status).send({ error: { message, type: oaType, param: null, code: type } });
    }
    return reply.status(status).send({ error: message, error_type: type });
  });

  // -------------------------------------------------------------------------------------------- helpers
  const watchClient = (reply: FastifyReply) => {
    let gone = false;
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) gone = true;
    });
    return () => gone;
  };

  const deadline = (req: FastifyRequest): (() => boolean) => {
    const h = req.headers['x-request-timeout-ms'];
    if (h === undefined) return () => false;
    const ms = Number(h);
    if (!Number.isFinite(ms) || ms <= 0) throw new HttpError(422, 'Validation', 'x-request-timeout-ms must be a positive number');
    const until = performance.now() + ms;
    return () => performance.now() > until;
  };

  function stringInputs(v: unknown, field: string): string[] {
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw new HttpError(422, 'Validation', `\`${field}\` must be a string or an array of strings`);
    if (list.length === 0) throw new HttpError(422, 'Empty', `\`${field}\` cannot be empty`);
    if (list.length > o.maxClientBatchSize) throw new HttpError(413, 'Validation', `batch size ${list.length} > maximum allowed batch size ${o.maxClientBatchSize}`);
    return list as string[];
  }

  /** TEI's `truncate` (default false: a long input is refused with 413) and `truncation_direction`. */
  function truncation(b: Record<string, unknown>): 'right' | 'left' | 'error' {
    if (!flag(b, 'truncate', o.autoTruncate)) return 'error';
    const dir = String(b.truncation_direction ?? 'right').toLowerCase();
    if (dir !== 'right' && dir !== 'left') throw new HttpError(422, 'Validation', '`truncation_direction` must be "right" or "left"');
    return dir;
  }

  /** Tokenizes a request's texts, bounded by the token limit: refusing or cutting from the right looks at no
   *  more than the first max + 1 tokens of a text, and every text is tokenized in slices that give the event
   *  loop a turn (Tokenizer.encodeAsync), so no request body holds the loop for long. */
  async function encodeAll(m: Model, texts: string[], policy: 'right' | 'left' | 'error', addSpecialTokens = true): Promise<Encoding[]> {
    const t0 = performance.now();
    const max = m.embedder.maxSeqLength;
    const options = { ...policyOptions(max, policy), addSpecialTokens };
    const out: Encoding[] = [];
    for (let i = 0; i < texts.length; i++) {
      const e = await m.embedder.tokenizer.encodeAsync(texts[i], null, options);
      const over = policy === 'error' ? lengthPastLimit(e, max) : null;
      if (over) throw new HttpError(413, 'Validation', `input validation error: inputs[${i}] must have at most ${max} tokens, given ${over} (set \`truncate\` to cut them)`);
      out.push(e);
    }
    metrics.tokenizationDuration.observe({ model: m.name }, (performance.now() - t0) / 1000);
    return out;
  }

  /** Each encoding's hidden rows, through the model's batcher; a request dropped before it ran is a 408. */
  async function hiddenRows(m: Model, encs: Encoding[], cancelled: () => boolean): Promise<Float32Array[]> {
    try {
      return await m.batcher.submit(encs, cancelled);
    } catch (e) {
      if (e instanceof CancelledError) throw new HttpError(408, 'Cancelled', 'request cancelled or past its deadline before it ran');
      throw e;
    }
  }

  async function embed(m: Model, encs: Encoding[], normalize: boolean, dims: number | undefined, cancelled: () => boolean, promptTokens = 0): Promise<Float32Array[]> {
    const rows = await hiddenRows(m, encs, cancelled);
    const H = m.embedder.encoder.hiddenSize;
    return rows.map((r) => sentenceVector(r, H, 0, r.length / H, m.embedder.sentence, dims, normalize, promptTokens));
  }

  function dimensions(m: Model, v: unknown): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > m.embedder.dimension) {
      throw new HttpError(422, 'Validation', `\`dimensions\` must be an integer in [1, ${m.embedder.dimension}]`);
    }
    return v as number;
  }

  function withPrompt(m: Model, texts: string[], name: unknown): { texts: string[]; promptTokens: number } {
    if (name === undefined || name === null) return { texts, promptTokens: 0 };
    const prompts = m.embedder.prompts;
    if (typeof name !== 'string' || !Object.hasOwn(prompts, name)) {
      throw new HttpError(422, 'Validation', `unknown prompt_name ${JSON.stringify(name)} (the model defines: ${Object.keys(prompts).join(', ') || 'none'})`);
    }
    return { texts: texts.map((t) => prompts[name] + t), promptTokens: m.embedder.promptTokens(prompts[name]) };
  }

  const body = (req: FastifyRequest): Record<string, unknown> => {
    if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) throw new HttpError(422, 'Validation', 'the body must be a JSON object');
    return req.body as Record<string, unknown>;
  };

  // Unknown routes and methods answer in the same error shape as everything else (fastify's own would be
  // { message, error, statusCode }): 405 with Allow when the path exists under another method, else 404.
  const methodsByPath = new Map<string, Set<string>>();
  app.addHook('onRoute', (r) => {
    const set = methodsByPath.get(r.url) ?? new Set<string>();
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) set.add(m);
    methodsByPath.set(r.url, set);
  });
  app.setNotFoundHandler(async (req, reply) => {
    const p = req.url.split('?')[0];
    const allowed = methodsByPath.get(p);
    if (allowed && !allowed.has(req.method)) {
      reply.header('allow', [...allowed].filter((m) => m !== 'HEAD').join(', '));
      throw new HttpError(405, 'Validation', `${req.method} is not allowed on ${p} (allowed: ${[...allowed].filter((m) => m !== 'HEAD').join(', ')})`);
    }
    throw new HttpError(404, 'NotFound', `no route ${req.method} ${p}`);
  });

  /** The model a request names in `model` (the default one when it names none); 404 for a name not served. */
  function pick(b: Record<string, unknown>): Model {
    if (b.model === undefined || b.model === null) return defaultModel;
    if (typeof b.model !== 'string') throw new HttpError(422, 'Validation', '`model` must be a string');
    const m = models.get(b.model);
    if (!m) throw new HttpError(404, 'ModelNotFound', `model "${b.model}" is not served here (available: ${[...models.keys()].join(', ')})`);
    return m;
  }

  /** A boolean field: absent gives `dflt`; anything but true or false is a 422 naming it. */
  function flag(b: Record<string, unknown>, field: string, dflt: boolean): boolean {
    const v = b[field];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') throw new HttpError(422, 'Validation', `\`${field}\` must be true or false`);
    return v;
  }

  // ---------------------------------------------------------------------------------------------- routes
  app.get('/health', async (_req, reply) => {
    if (draining) return reply.status(503).send({ error: 'shutting down', error_type: 'Unhealthy' });
    return {};
  });

  app.get('/info', async () => {
    const m = defaultModel;
    const i = native().info();
    return {
      model_id: m.name,
      model_dir: m.embedder.encoder.dir,
      model_type: { embedding: { pooling: m.embedder.sentence.pooling.join('+') } },
      model_dtype: m.embedder.encoder.precision,
      dimension: m.embedder.dimension,
      max_input_length: m.embedder.maxSeqLength,
      max_batch_tokens: o.maxBatchTokens,
      max_batch_requests: o.maxBatchRequests,
      max_concurrent_requests: o.maxConcurrentRequests,
      max_client_batch_size: o.maxClientBatchSize,
      models: [...models.keys()],
      device: m.embedder.encoder.device === 'cpu' ? `cpu (${i.cpu}, kernels ${m.embedder.encoder.gemmIsa})` : `${m.embedder.encoder.device}, kernels ${m.embedder.encoder.gemmIsa}`,
      ...(m.embedder.encoder.deviceNote ? { device_note: m.embedder.encoder.deviceNote } : {}),
      backend: m.embedder.encoder.backend,
      ...(m.embedder.encoder.onnx ? { onnx: m.embedder.encoder.onnx } : {}),
      threads: i.threads,
      version: VERSION,
    };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.post('/embed', async (req, reply) => {
    const b = body(req);
    const m = pick(b);
    const { texts, promptTokens } = withPrompt(m, stringInputs(b.inputs, 'inputs'), b.prompt_name);
    const encs = await encodeAll(m, texts, truncation(b));
    const normalize = flag(b, 'normalize', true);
    const gone = watchClient(reply);
    const late = deadline(req);
    const vecs = await embed(m, encs, normalize, dimensions(m, b.dimensions), () => gone() || late(), promptTokens);
    return vecs.map((v) => Array.from(v));
  });

  // TEI's /embed_all: every token's hidden state, [inputs][tokens][hidden], special tokens included, not normalized.
  // Bounded by tokens per request: the answer is tokens × hidden numbers of JSON.
  app.post('/embed_all', async (req, reply) => {
    const b = body(req);
    const m = pick(b);
    const { texts } = withPrompt(m, stringInputs(b.inputs, 'inputs'), b.prompt_name);
    if (m.embedder.encoder.pooled) throw new HttpError(424, 'Backend', `model "${m.name}" is an ONNX graph that pools inside: it has no per-token vectors`);
    const encs = await encodeAll(m, texts, truncation(b));
    const tokens = encs.reduce((n, e) => n + e.ids.length, 0);
    if (tokens > EMBED_ALL_MAX_TOKENS) throw new HttpError(413, 'Validation', `/embed_all answers at most ${EMBED_ALL_MAX_TOKENS} tokens per request, given ${tokens}`);
    const gone = watchClient(reply);
    const late = deadline(req);
    const rows = await hiddenRows(m, encs, () => gone() || late());
    const H = m.embedder.encoder.hiddenSize;
    return rows.map((r, i) => {
      assertFinite(r, `the token vectors of inputs[${i}]`);
      return Array.from({ length: r.length / H }, (_, k) => Array.from(r.subarray(k * H, (k + 1) * H)));
    });
  });

  // TEI's /embed_sparse: SPLADE vectors from the model's MLM head, [inputs][{ index, value }] with every non-zero
  // entry (424 for a model without an MLM head). The texts are held to the length policy as on the other routes.
  app.post('/embed_sparse', async (req, reply) => {
    const b = body(req);
    const m = pick(b);
    const { texts } = withPrompt(m, stringInputs(b.inputs, 'inputs'), b.prompt_name);
    const policy = truncation(b);
    const encs = await encodeAll(m, texts, policy);
    const tokens = encs.reduce((n, e) => n + e.ids.length, 0);
    if (tokens > EMBED_ALL_MAX_TOKENS) throw new HttpError(413, 'Validation', `/embed_sparse takes at most ${EMBED_ALL_MAX_TOKENS} tokens per request, given ${tokens}`);
    const ctl = new AbortController();
    const gone = watchClient(reply);
    const late = deadline(req);
    const timer = setInterval(() => (gone() || late()) && ctl.abort(), 50);
    try {
      const vs = await m.embedder.embedSparse(texts, { truncate: policy === 'error' ? 'right' : policy, signal: ctl.signal });
      return vs.map((v) => Array.from(v.indices, (index, k) => ({ index, value: v.values[k] })));
    } catch (e) {
      if (e instanceof BertrtError && e.code === 'E_MODEL_FORMAT' && /MLM|fill-mask/.test(e.message)) {
        throw new HttpError(424, 'Backend', `model "${m.name}" has no MLM head for sparse vectors`);
      }
      if (e instanceof BertrtError && e.code === 'E_UNSUPPORTED' && m.embedder.encoder.backend === 'onnx') {
        throw new HttpError(424, 'Backend', `model "${m.name}" cannot give sparse vectors: ${e.message}`);
      }
      throw e;
    } finally {
      clearInterval(timer);
    }
  });

  // TEI's /similarity: the cosine similarity of each of `sentences` to `source_sentence`.
  app.post('/similarity', async (req, reply) => {
    const b = body(req);
    const m = pick(b);
    const inputs = b.inputs as Record<string, unknown> | undefined;
    if (typeof inputs !== 'object' || inputs === null || typeof inputs.source_sentence !== 'string') {
      throw new HttpError(422, 'Validation', '`inputs` must be { source_sentence: string, sentences: string[] }');
    }
    const sentences = stringInputs(inputs.sentences, 'inputs.sentences');
    if (sentences.length + 1 > o.maxClientBatchSize) throw new HttpError(413, 'Validation', `batch size ${sentences.length + 1} > maximum allowed batch size ${o.maxClientBatchSize}`);
    const { texts, promptTokens } = withPrompt(m, [inputs.source_sentence, ...sentences], b.prompt_name);
    const encs = await encodeAll(m, texts, truncation(b));
    const gone = watchClient(reply);
    const late = deadline(req);
    const [src, ...others] = await embed(m, encs, true, undefined, () => gone() || late(), promptTokens);
    return others.map((v) => v.reduce((acc, x, j) => acc + x * src[j], 0));
  });

  app.post('/v1/embeddings', async (req, reply) => {
    const b = body(req);
    const m = pick(b);
    const fmt = b.encoding_format ?? 'float';
    if (fmt !== 'float' && fmt !== 'base64') throw new HttpError(422, 'Validation', '`encoding_format` must be "float" or "base64"');
    let encs: Encoding[];
    const input = b.input;
    const isIds = (x: unknown) => Array.isArray(x) && x.every((t) => Number.isInteger(t));
    if (isIds(input) && (input as unknown[]).length > 0) {
      encs = [idsEncoding(m, input as number[])];
    } else if (Array.isArray(input) && input.length > 0 && input.every(isIds)) {
      if (input.length > o.maxClientBatchSize) throw new HttpError(413, 'Validation', `batch size ${input.length} > maximum allowed batch size ${o.maxClientBatchSize}`);
      encs = (input as number[][]).map((ids) => idsEncoding(m, ids));
    } else {
      // `truncate` (bertrt's extension; OpenAI's API has none) or --auto-truncate cut instead of answering 413
      encs = await encodeAll(m, stringInputs(input, 'input'), truncation(b));
    }
    const gone = watchClient(reply);
    const late = deadline(req);
    const vecs = await embed(m, encs, true, dimensions(m, b.dimensions), () => gone() || late());
    const tokens = encs.reduce((a, e) => a + e.ids.length, 0);
    return {
      object: 'list',
      data: vecs.map((v, index) => ({
        object: 'embedding',
        index,
        embedding: fmt === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v),
      })),
      model: m.name,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  });

  /** OpenAI token-array input: the ids are the sequence the model sees (special tokens included if wanted). */
  function idsEncoding(m: Model, ids: number[]): Encoding {
    const V = m.embedder.encoder.config.vocabSize;
    if (ids.length === 0) throw new HttpError(422, 'Empty', 'a token array cannot be empty');
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

  // Sequence classification (TEI /predict): inputs is a text, a [text, pair], or an array of either.
  app.post('/predict', async (req, reply) => {
    const b = body(req);
    const m = pick(b);
    const inputs = b.inputs;
    const isPair = (x: unknown) => Array.isArray(x) && x.length === 2 && x.every((y) => typeof y === 'string');
    const one = typeof inputs === 'string' || isPair(inputs);
    const list = one ? [inputs] : inputs;
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string' || isPair(x))) {
      throw new HttpError(422, 'Validation', '`inputs` must be a text, a [text, text] pair, or an array of them');
    }
    if (list.length > o.maxClientBatchSize) throw new HttpError(413, 'Validation', `batch size ${list.length} > maximum allowed batch size ${o.maxClientBatchSize}`);
    const heads = m.heads(watchClient(reply));
    if (!heads.hasSequenceHead()) throw new HttpError(424, 'Backend', `model "${m.name}" has no sequence-classification head`);
    const inputsList = (list as Array<string | [string, string]>).map((x) => (typeof x === 'string' ? x : { text: x[0], text_pair: x[1] }));
    const r = await classify(heads, inputsList, null, truncation(b));
    return one ? r[0] : r;
  });

  // Cross-encoder reranking (TEI /rerank): [{ index, score, text? }], best first.
  app.post('/rerank', async (req, reply) => {
    const b = body(req);
    const m = pick(b);
    if (typeof b.query !== 'string') throw new HttpError(422, 'Validation', '`query` must be a string');
    if (!Array.isArray(b.texts) || !b.texts.every((x) => typeof x === 'string')) throw new HttpError(422, 'Validation', '`texts` must be an array of strings');
    if (b.texts.length > o.maxClientBatchSize) throw new HttpError(413, 'Validation', `batch size ${b.texts.length} > maximum allowed batch size ${o.maxClientBatchSize}`);
    const heads = m.heads(watchClient(reply));
    if (!heads.hasSequenceHead()) throw new HttpError(424, 'Backend', `model "${m.name}" is not a cross-encoder`);
    if (b.texts.length === 0) throw new HttpError(422, 'Empty', '`texts` cannot be empty');
    if (b.top_n !== undefined && b.top_n !== null && (!Number.isSafeInteger(b.top_n) || (b.top_n as number) < 0)) {
      throw new HttpError(422, 'Validation', '`top_n` must be a non-negative integer');
    }
    const topN = b.top_n === undefined || b.top_n === null ? undefined : (b.top_n as number);
    return rerank(heads, b.query, b.texts as string[], { topN, returnDocuments: flag(b, 'return_text', false), rawScores: flag(b, 'raw_scores', false), truncate: truncation(b) });
  });

  // Bounded like /embed: an input over max_input_length tokens is refused with 413 unless `truncate` is set.
  app.post('/tokenize', async (req) => {
    const b = body(req);
    const m = pick(b);
    const encs = await encodeAll(m, stringInputs(b.inputs, 'inputs'), truncation(b), flag(b, 'add_special_tokens', true));
    return encs.map((e) => Array.from(e.ids, (id, k) => ({ id, text: e.tokens[k], special: e.specialTokensMask[k] === 1, start: e.offsets[k][0], stop: e.offsets[k][1] })));
  });

  app.post('/decode', async (req) => {
    const b = body(req);
    const tok = pick(b).embedder.tokenizer;
    const ids = b.ids;
    const one = Array.isArray(ids) && ids.every((x) => Number.isInteger(x));
    const lists = one ? [ids as number[]] : ids;
    if (!Array.isArray(lists) || lists.length === 0 || !lists.every((l) => Array.isArray(l) && l.every((x) => Number.isInteger(x)))) {
      throw new HttpError(422, 'Validation', '`ids` must be an array of token ids or an array of such arrays');
    }
    const skip = flag(b, 'skip_special_tokens', true);
    return (lists as number[][]).map((l) => tok.decode(l, { skipSpecialTokens: skip }));
  });

  // OpenAI's model list: every model this server serves
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [...models.keys()].map((id) => ({ id, object: 'model', created: startedAt, owned_by: 'bertrt' })),
  }));

  return {
    app,
    metrics,
    async close() {
      draining = true;
      await app.close();
      for (const m of models.values()) await m.embedder.close();
    },
  };
}
