// What every route family shares: the served models, the limits, and the helpers that turn a validated body into
// engine work — the model a request names, its texts bounded by the client batch and token limits, the long-input
// policy, and the cancellation of work whose client left or whose deadline passed.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BertrtError } from '../errors';
import type { Embedder } from '../embedder';
import { sentenceVector } from '../heads/pooling';
import type { TaskModel } from '../heads/task-model';
import { lengthPastLimit, policyOptions } from '../truncate';
import type { Encoding } from '../tokenizer/tokenizer';
import { type Batcher, CancelledError } from './batcher';
import type { Metrics } from './metrics';

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

export interface Model {
  name: string;
  embedder: Embedder;
  batcher: Batcher;
  /** the model's task heads, running through its batcher; 424 when the model has none */
  heads: (cancelled: () => boolean) => TaskModel;
}

export interface Limits {
  maxBatchTokens: number;
  maxBatchRequests: number;
  maxWaitMs: number;
  maxConcurrentRequests: number;
  maxClientBatchSize: number;
  maxBodyBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  autoTruncate: boolean;
}

/** A validated request body: the route's schema has checked every field's type and range. */
export type Body = Record<string, unknown>;

export type Policy = 'right' | 'left' | 'error';

/** Tokens one /embed_all or /embed_sparse request may ask for: the answer holds tokens × hidden numbers as JSON. */
export const PER_TOKEN_MAX_TOKENS = 4096;

export class ServerContext {
  readonly defaultModel: Model;

  constructor(
    readonly models: Map<string, Model>,
    readonly limits: Limits,
    readonly metrics: Metrics,
    readonly version: string,
  ) {
    this.defaultModel = models.values().next().value as Model;
  }

  /** The model a request names in `model` (the default one when it names none); 404 for a name not served. */
  pick(b: Body): Model {
    if (b.model === undefined || b.model === null) return this.defaultModel;
    const m = this.models.get(b.model as string);
    if (!m) throw new HttpError(404, 'ModelNotFound', `model "${b.model}" is not served here (available: ${[...this.models.keys()].join(', ')})`);
    return m;
  }

  /** `inputs` as a list, held to the client batch limit (413, as TEI answers it). */
  batch<T>(v: T | T[], extra = 0): T[] {
    const list = Array.isArray(v) ? v : [v];
    if (list.length + extra > this.limits.maxClientBatchSize) {
      throw new HttpError(413, 'Validation', `batch size ${list.length + extra} > maximum allowed batch size ${this.limits.maxClientBatchSize}`);
    }
    return list;
  }

  /** TEI's `truncate` (default --auto-truncate; false: a long input is refused with 413) and `truncation_direction`. */
  policy(b: Body): Policy {
    if (!((b.truncate as boolean | null | undefined) ?? this.limits.autoTruncate)) return 'error';
    return String(b.truncation_direction ?? 'right').toLowerCase() as Policy;
  }

  /** Tokenizes a request's texts, bounded by the token limit: refusing or cutting from the right looks at no
   *  more than the first max + 1 tokens of a text, and every text is tokenized in slices that give the event
   *  loop a turn (Tokenizer.encodeAsync), so no request body holds the loop for long. `field` names the inputs
   *  in the 413. */
  async encodeAll(m: Model, texts: string[], policy: Policy, opts: { addSpecialTokens?: boolean; field?: string } = {}): Promise<Encoding[]> {
    const t0 = performance.now();
    const max = m.embedder.maxSeqLength;
    const options = { ...policyOptions(max, policy), addSpecialTokens: opts.addSpecialTokens ?? true };
    const out: Encoding[] = [];
    for (let i = 0; i < texts.length; i++) {
      const e = await m.embedder.tokenizer.encodeAsync(texts[i], null, options);
      const over = policy === 'error' ? lengthPastLimit(e, max) : null;
      if (over) {
        throw new HttpError(413, 'Validation', `input validation error: ${opts.field ?? 'inputs'}[${i}] must have at most ${max} tokens, given ${over} (set \`truncate\` to cut them)`);
      }
      out.push(e);
    }
    this.metrics.tokenizationDuration.observe({ model: m.name }, (performance.now() - t0) / 1000);
    return out;
  }

  /** 413 past the per-token routes' budget. */
  perTokenBudget(route: string, encs: Encoding[]): void {
    const tokens = encs.reduce((n, e) => n + e.ids.length, 0);
    if (tokens > PER_TOKEN_MAX_TOKENS) throw new HttpError(413, 'Validation', `${route} takes at most ${PER_TOKEN_MAX_TOKENS} tokens per request, given ${tokens}`);
  }

  /** Each encoding's hidden rows, through the model's batcher; a request dropped before it ran is a 408. */
  async hiddenRows(m: Model, encs: Encoding[], cancelled: () => boolean): Promise<Float32Array[]> {
    try {
      return await m.batcher.submit(encs, cancelled);
    } catch (e) {
      if (e instanceof CancelledError) throw new HttpError(408, 'Cancelled', 'request cancelled or past its deadline before it ran');
      throw e;
    }
  }

  /** Sentence vectors of the encodings: the model's pooling, then `dims` leading dimensions, then normalization. */
  async embed(m: Model, encs: Encoding[], normalize: boolean, dims: number | undefined, cancelled: () => boolean, promptTokens = 0): Promise<Float32Array[]> {
    const rows = await this.hiddenRows(m, encs, cancelled);
    const H = m.embedder.encoder.hiddenSize;
    return rows.map((r) => sentenceVector(r, H, 0, r.length / H, m.embedder.sentence, dims, normalize, promptTokens));
  }

  /** `dimensions`, whose upper bound is the model's (the schema checked it is a positive integer). */
  dimensions(m: Model, v: unknown): number | undefined {
    if (v === undefined || v === null) return undefined;
    if ((v as number) > m.embedder.dimension) throw new HttpError(422, 'Validation', `\`dimensions\` must be an integer in [1, ${m.embedder.dimension}]`);
    return v as number;
  }

  /** The model's prompt named by `prompt_name` prepended to each text, and its length in tokens (pooling leaves
   *  the prompt out where the model says so). */
  withPrompt(m: Model, texts: string[], name: unknown): { texts: string[]; promptTokens: number } {
    if (name === undefined || name === null) return { texts, promptTokens: 0 };
    const prompts = m.embedder.prompts;
    if (!Object.hasOwn(prompts, name as string)) {
      throw new HttpError(422, 'Validation', `unknown prompt_name ${JSON.stringify(name)} (the model defines: ${Object.keys(prompts).join(', ') || 'none'})`);
    }
    return { texts: texts.map((t) => prompts[name as string] + t), promptTokens: m.embedder.promptTokens(prompts[name as string]) };
  }

  /** True once the client has gone or the request's x-request-timeout-ms has passed: queued work is dropped. */
  cancellation(req: FastifyRequest, reply: FastifyReply): () => boolean {
    let gone = false;
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) gone = true;
    });
    const h = req.headers['x-request-timeout-ms'];
    if (h === undefined) return () => gone;
    const ms = Number(h);
    if (!Number.isFinite(ms) || ms <= 0) throw new HttpError(422, 'Validation', 'x-request-timeout-ms must be a positive number');
    const until = performance.now() + ms;
    return () => gone || performance.now() > until;
  }
}

/** The error a route answers for a BertrtError: invalid arguments are 422, inputs over the limit 413. */
export function statusOf(e: BertrtError): number {
  return e.code === 'E_INVALID_ARGUMENT' ? 422 : e.code === 'E_INPUT_TOO_LONG' ? 413 : 500;
}
