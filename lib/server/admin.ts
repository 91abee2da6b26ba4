// The routes about the server itself: /health (no key needed), /info, /metrics, and the API's own description —
// /openapi.json (OpenAPI 3.1, made by @fastify/swagger from the routes' schemas) and /docs (Swagger UI, served
// from the package, no network needed).
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { native } from '../native';
import type { ServerContext } from './context';
import { schemas } from './schemas';

/** Paths that answer without the bearer key: the health probe and the API description (it holds no data). */
export function isPublic(route: string): boolean {
  return route === '/health' || route === '/openapi.json' || route === '/docs' || route.startsWith('/docs/');
}

/** Registers @fastify/swagger; the routes defined after it are the ones /openapi.json describes. */
export async function registerOpenApi(app: FastifyInstance, cx: ServerContext): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'bertrt',
        version: cx.version,
        description:
          'HF text-embeddings-inference routes and OpenAI\'s /v1/embeddings. Every error is `{ error, error_type }` ' +
          '(OpenAI\'s `{ error: { message, type, code } }` on /v1). With --api-key, every route but /health, ' +
          '/openapi.json and /docs needs `Authorization: Bearer <key>`.',
      },
      tags: [
        { name: 'TEI', description: 'text-embeddings-inference\'s API' },
        { name: 'OpenAI', description: 'OpenAI\'s embeddings API' },
        { name: 'admin', description: 'the server itself' },
      ],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
}

export async function adminRoutes(app: FastifyInstance, cx: ServerContext, isDraining: () => boolean): Promise<void> {
  app.get('/health', { schema: schemas.health }, async (_req, reply) => {
    if (isDraining()) return reply.status(503).send({ error: 'shutting down', error_type: 'Unhealthy' });
    return {};
  });

  app.get('/info', { schema: schemas.info }, async () => {
    const m = cx.defaultModel;
    const e = m.embedder.encoder;
    const i = native().info();
    const o = cx.limits;
    return {
      model_id: m.name,
      model_dir: e.dir,
      model_type: { embedding: { pooling: m.embedder.sentence.pooling.join('+') } },
      model_dtype: e.precision,
      dimension: m.embedder.dimension,
      max_input_length: m.embedder.maxSeqLength,
      max_batch_tokens: o.maxBatchTokens,
      max_batch_requests: o.maxBatchRequests,
      max_batches_in_flight: m.batcher.options.maxInFlight ?? 1,
      max_concurrent_requests: o.maxConcurrentRequests,
      max_client_batch_size: o.maxClientBatchSize,
      models: [...cx.models.keys()],
      device: e.device === 'cpu' ? `cpu (${i.cpu}, kernels ${e.gemmIsa})` : `${e.device}, kernels ${e.gemmIsa}`,
      ...(e.deviceNote ? { device_note: e.deviceNote } : {}),
      backend: e.backend,
      ...(e.onnx ? { onnx: e.onnx } : {}),
      threads: i.threads,
      version: cx.version,
    };
  });

  app.get('/metrics', { schema: schemas.metrics }, async (_req, reply) => {
    reply.header('content-type', cx.metrics.registry.contentType);
    return cx.metrics.registry.metrics();
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
