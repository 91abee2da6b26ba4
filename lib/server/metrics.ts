// Prometheus metrics of one server (its own registry, so several servers can live in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  requests: Counter<'route' | 'status'>;
  requestDuration: Histogram<'route' | 'status'>;
  queueSize: Gauge<'model'>;
  batchSize: Histogram<'model'>;
  batchTokens: Histogram<'model'>;
  tokenizationDuration: Histogram<'model'>;
  queueDuration: Histogram<'model'>;
  inferenceDuration: Histogram<'model'>;
}

const LATENCY = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'bertrt_' });
  const opts = { registers: [registry] };
  return {
    registry,
    requests: new Counter({ name: 'bertrt_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], ...opts }),
    requestDuration: new Histogram({ name: 'bertrt_request_duration_seconds', help: 'HTTP request duration', labelNames: ['route', 'status'], buckets: LATENCY, ...opts }),
    queueSize: new Gauge({ name: 'bertrt_queue_size', help: 'requests queued or running, per model', labelNames: ['model'], ...opts }),
    batchSize: new Histogram({ name: 'bertrt_batch_size', help: 'sequences per engine batch', labelNames: ['model'], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], ...opts }),
    batchTokens: new Histogram({ name: 'bertrt_batch_tokens', help: 'tokens per engine batch', labelNames: ['model'], buckets: [16, 64, 256, 1024, 4096, 16384, 65536], ...opts }),
    tokenizationDuration: new Histogram({ name: 'bertrt_tokenization_duration_seconds', help: 'time to tokenize a request', labelNames: ['model'], buckets: LATENCY, ...opts }),
    queueDuration: new Histogram({ name: 'bertrt_queue_duration_seconds', help: 'time a request waited for its batch', labelNames: ['model'], buckets: LATENCY, ...opts }),
    inferenceDuration: new Histogram({ name: 'bertrt_inference_duration_seconds', help: 'engine time per batch', labelNames: ['model'], buckets: LATENCY, ...opts }),
  };
}
