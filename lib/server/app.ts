// The HTTP server: HF text-embeddings-inference's routes (tei.ts), OpenAI's /v1 (openai.ts) and the server's own
// (admin.ts: /health, /info, /metrics, /openapi.json, /docs), over one dynamic batcher per model. This file owns
// what is common to them: the models, the limits, the connection bounds, authentication, draining, metrics, and
// the one error handler — TEI's { error, error_type } (OpenAI's { error: { message, type, code } } on /v1), with
// the status codes clients expect, for handler errors, schema violations, unknown routes and methods alike.
import Fastify, { type FastifyReply, type FastifyRequest, type FastifyInstance } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { BertrtError } from '../errors';
import { Embedder } from '../embedder';
import type { Device, Precision } from '../native';
import type { EngineOptions } from '../model/engine';
import { TaskModel } from '../heads/task-model';
import { adminRoutes, isPublic, registerOpenApi } from './admin';
import { Batcher, OverloadedError } from './batcher';
import { HttpError, type Limits, type Model, ServerContext, statusOf } from './context';
import { createMetrics, type Metrics } from './metrics';
import { openaiRoutes } from './openai';
import { validationError } from './schemas';
import { teiRoutes } from './tei';

export { HttpError } from './context';

export interface ServerOptions {
  /** name → model directory; the first is the default model (TEI routes use it) */
  models: Array<{ name: string; dir?: string; backend?: EngineOptions['backend']; onnx?: EngineOptions['onnx'] }>;
  precision?: Precision;
  /** 'cpu' (default), 'cuda' or 'auto' (see EngineOptions.device) */
  device?: Device;
  threads?: number;
  maxBatchTokens?: number;
  maxBatchRequests?: number;
  /** how long a first request waits for company while the engine is idle (default 0: it runs at once, as in
   * text-embeddings-inference; requests that arrive while a batch runs merge into the next batch either way) */
  maxWaitMs?: number;
  /** engine batches in flight per model: 2 on a GPU (a full batch waits in the engine's queue while the one before
   * runs, so pooling and answering overlap the device), 1 on the CPU (whose one batch takes every core) */
  maxBatchesInFlight?: number;
  /** pending requests per model before 429 */
  maxConcurrentRequests?: number;
  /** inputs in one request */
  maxClientBatchSize?: number;
  /** request body bytes */
  maxBodyBytes?: number;
  /** bearer token required on every route but /health, /openapi.json and /docs */
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

export interface BertrtServer {
  app: FastifyInstance;
  metrics: Metrics;
  /** stop accepting, finish what is in flight, free the models */
  close(): Promise<void>;
}

const VERSION = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

export async function createServer(opts: ServerOptions): Promise<BertrtServer> {
  if (opts.models.length === 0) throw new BertrtError('createServer: at least one model', 'E_INVALID_ARGUMENT');
  const o: Limits = {
    maxBatchTokens: opts.maxBatchTokens ?? 16384,
    maxBatchRequests: opts.maxBatchRequests ?? 256,
    maxWaitMs: opts.maxWaitMs ?? 0,
    maxConcurrentRequests: opts.maxConcurrentRequests ?? 512,
    maxClientBatchSize: opts.maxClientBatchSize ?? 64,
    maxBodyBytes: opts.maxBodyBytes ?? 4 * 1024 * 1024,
    headersTimeoutMs: opts.headersTimeoutMs ?? 10_000,
    requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
    keepAliveTimeoutMs: opts.keepAliveTimeoutMs ?? 5_000,
    maxConnections: opts.maxConnections ?? 1024,
    autoTruncate: opts.autoTruncate ?? false,
  };
  // every limit a positive integer: 0 would refuse every request (or, for maxBatchRequests, never form a batch)
  for (const k of ['maxBatchTokens', 'maxBatchRequests', 'maxConcurrentRequests', 'maxClientBatchSize', 'maxBodyBytes', 'headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs', 'maxConnections'] as const) {
    if (!Number.isSafeInteger(o[k]) || o[k] < 1) throw new BertrtError(`createServer: ${k} must be a positive integer (got ${String(o[k])})`, 'E_INVALID_ARGUMENT');
  }
  if (!(o.maxWaitMs >= 0 && o.maxWaitMs <= 60_000)) throw new BertrtError(`createServer: maxWaitMs must be a number of milliseconds in [0, 60000] (got ${String(o.maxWaitMs)})`, 'E_INVALID_ARGUMENT');
  // an empty key (say `--api-key "$KEY"` with KEY unset) would have turned the guard off without a word, and a key
  // with spaces or control characters cannot arrive intact in a header
  if (opts.apiKey !== undefined && (typeof opts.apiKey !== 'string' || !/^[\x21-\x7e]+$/.test(opts.apiKey)))
    throw new BertrtError('createServer: apiKey must be a non-empty string of visible ASCII characters (no spaces)', 'E_INVALID_ARGUMENT');
  const keyDigest = opts.apiKey !== undefined ? createHash('sha256').update(`Bearer ${opts.apiKey}`).digest() : null;
  // the header compared through digests of equal length in constant time: its timing tells nothing about the key
  const authorized = (header: string | undefined): boolean => keyDigest === null || (header !== undefined && timingSafeEqual(createHash('sha256').update(header).digest(), keyDigest));
  if (opts.maxBatchesInFlight !== undefined && (!Number.isInteger(opts.maxBatchesInFlight) || opts.maxBatchesInFlight < 1 || opts.maxBatchesInFlight > 16))
    throw new BertrtError('createServer: maxBatchesInFlight must be an integer in [1, 16]', 'E_INVALID_ARGUMENT');
  const metrics = createMetrics();
  const models = new Map<string, Model>();
  try {
    for (const m of opts.models) {
      if (models.has(m.name)) throw new BertrtError(`model name "${m.name}" given twice`, 'E_INVALID_ARGUMENT');
      const embedder = await Embedder.load(m.dir, { threads: opts.threads, precision: opts.precision, device: opts.device, backend: m.backend, onnx: m.onnx });
      const maxInFlight = opts.maxBatchesInFlight ?? (embedder.encoder.device?.startsWith('cuda') ? 2 : 1);
      const batcher = new Batcher(embedder.encoder, { maxBatchTokens: o.maxBatchTokens, maxBatchRequests: o.maxBatchRequests, maxWaitMs: o.maxWaitMs, maxQueue: o.maxConcurrentRequests, maxInFlight }, metrics, m.name);
      models.set(m.name, { name: m.name, embedder, batcher, heads: headsOf(m.name, embedder, batcher) });
    }
  } catch (e) {
    for (const m of models.values()) await m.embedder.close();
    throw e;
  }
  const cx = new ServerContext(models, o, metrics, VERSION);
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
    // A body is checked as sent: no coercion ("no" is not a boolean), no defaults filled in, nothing removed.
    // `verbose` puts each failing field's schema in the report, whose description the 422 quotes.
    ajv: { customOptions: { coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, verbose: true } },
    schemaErrorFormatter: (errors) => validationError(errors as Parameters<typeof validationError>[0]),
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
  // Response schemas document the answers in /openapi.json; they do not shape them: every answer is
  // JSON.stringify's, as before the schemas existed (fast-json-stringify would drop fields a schema leaves out).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  app.addHook('onRequest', async (req: FastifyRequest) => {
    (req as FastifyRequest & { startedAt: number }).startedAt = performance.now();
    const route = req.routeOptions.url ?? req.url;
    if (route === '/health') return;
    if (draining) throw new HttpError(503, 'Unhealthy', 'the server is shutting down');
    if (!isPublic(route) && !authorized(req.headers.authorization)) throw new HttpError(401, 'Unauthorized', 'missing or wrong bearer token');
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
      status = statusOf(err);
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
    const allowed = [...(methodsByPath.get(p) ?? [])].filter((m) => m !== 'HEAD');
    if (allowed.length && !allowed.includes(req.method)) {
      reply.header('allow', allowed.join(', '));
      throw new HttpError(405, 'Validation', `${req.method} is not allowed on ${p} (allowed: ${allowed.join(', ')})`);
    }
    throw new HttpError(404, 'NotFound', `no route ${req.method} ${p}`);
  });

  await registerOpenApi(app, cx);
  await adminRoutes(app, cx, () => draining);
  teiRoutes(app, cx);
  openaiRoutes(app, cx);

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

/** The model's task heads, running through its batcher. An ONNX graph without the checkpoint (or with a pooled
 *  output) serves embeddings only: its head routes answer 424. */
function headsOf(name: string, embedder: Embedder, batcher: Batcher): Model['heads'] {
  let base: TaskModel | BertrtError;
  try {
    base = TaskModel.over(embedder.encoder, embedder.tokenizer);
  } catch (e) {
    if (!(e instanceof BertrtError && e.code === 'E_UNSUPPORTED' && embedder.encoder.backend === 'onnx')) throw e;
    base = e;
  }
  return (cancelled) => {
    if (base instanceof BertrtError) throw new HttpError(424, 'Backend', `model "${name}" has no task heads here: ${base.message}`);
    return base.withRunner((encs) => batcher.submit(encs, cancelled));
  };
}
