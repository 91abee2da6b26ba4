// The dynamic batcher of one model: requests (already tokenized on the main thread) queue here and are merged
// into packed batches bounded by tokens and requests. One batch runs at a time; whatever arrives meanwhile forms
// the next one, so batches grow with load and the engine never idles while work is queued. With maxInFlight > 1 (a
// GPU's engine), a batch that is already full is handed to the engine while others run: it waits in the native job
// queue, so the engine starts it the moment the one before ends, while this thread pools and answers that one
// (partial batches still wait for the engine to be free, to grow). The queue is bounded: past maxQueue pending
// requests, submit() fails at once with Overloaded.
import { pack } from '../batch';
import type { Encoder } from '../model/engine';
import type { Encoding } from '../tokenizer/tokenizer';
import type { Metrics } from './metrics';

export interface BatcherOptions {
  maxBatchTokens: number;
  maxBatchRequests: number;
  /** how long a partial batch may wait for company while the engine is idle (ms) */
  maxWaitMs: number;
  /** pending requests (queued or running) beyond which new ones are refused */
  maxQueue: number;
  /** batches handed to the engine at once (default 1); the ones past the first only when full */
  maxInFlight?: number;
}

export class OverloadedError extends Error {}
export class CancelledError extends Error {}

interface Item {
  encodings: Encoding[];
  tokens: number;
  enqueued: number;
  isCancelled: () => boolean;
  resolve: (rows: Float32Array[]) => void;
  reject: (e: unknown) => void;
}

export class Batcher {
  private readonly queue: Item[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | null = null;
  private pending = 0;

  constructor(
    private readonly encoder: Encoder,
    readonly options: BatcherOptions,
    private readonly metrics: Metrics,
    private readonly modelName: string,
  ) {}

  get size(): number {
    return this.pending;
  }

  /** Hidden states of each encoding (a [tokens × hidden] view per encoding), once its batch has run. */
  submit(encodings: Encoding[], isCancelled: () => boolean = () => false): Promise<Float32Array[]> {
    if (this.pending >= this.options.maxQueue) return Promise.reject(new OverloadedError(`queue full (${this.options.maxQueue} requests pending)`));
    this.pending++;
    this.metrics.queueSize.set({ model: this.modelName }, this.pending);
    return new Promise<Float32Array[]>((resolve, reject) => {
      const tokens = encodings.reduce((a, e) => a + e.ids.length, 0);
      this.queue.push({ encodings, tokens, enqueued: performance.now(), isCancelled, resolve, reject });
      this.pump();
    }).finally(() => {
      this.pending--;
      this.metrics.queueSize.set({ model: this.modelName }, this.pending);
    });
  }

  /** batches handed to the engine and not yet answered */
  get inFlight(): number {
    return this.running;
  }

  private pump(): void {
    if (this.running >= (this.options.maxInFlight ?? 1) || this.queue.length === 0) return;
    const queuedTokens = this.queue.reduce((a, it) => a + it.tokens, 0);
    const waited = performance.now() - this.queue[0].enqueued;
    const full = queuedTokens >= this.options.maxBatchTokens || this.queue.length >= this.options.maxBatchRequests;
    if (this.running > 0 && !full) return; // another batch runs: this one grows until it is full or the engine is free
    if (!full && waited < this.options.maxWaitMs) {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        this.pump();
      }, this.options.maxWaitMs - waited);
      return;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch: Item[] = [];
    let tokens = 0;
    while (this.queue.length > 0 && batch.length < this.options.maxBatchRequests) {
      const it = this.queue[0];
      if (it.isCancelled()) {
        this.queue.shift();
        it.reject(new CancelledError('cancelled before it ran'));
        continue;
      }
      // a request bigger than the budget still runs, alone
      if (batch.length > 0 && tokens + it.tokens > this.options.maxBatchTokens) break;
      this.queue.shift();
      batch.push(it);
      tokens += it.tokens;
    }
    if (batch.length === 0) return this.pump();
    this.running++;
    void this.run(batch, tokens).finally(() => {
      this.running--;
      this.pump();
    });
    this.pump(); // (a second slot: the rest of the queue may already fill another batch)
  }

  private async run(batch: Item[], tokens: number): Promise<void> {
    const start = performance.now();
    for (const it of batch) this.metrics.queueDuration.observe({ model: this.modelName }, (start - it.enqueued) / 1000);
    const encodings = batch.flatMap((it) => it.encodings);
    this.metrics.batchSize.observe({ model: this.modelName }, encodings.length);
    this.metrics.batchTokens.observe({ model: this.modelName }, tokens);
    try {
      const packed = pack(encodings, this.encoder.takesTokenTypes);
      const hidden = await this.encoder.run(packed);
      this.metrics.inferenceDuration.observe({ model: this.modelName }, (performance.now() - start) / 1000);
      const H = this.encoder.hiddenSize;
      const pooled = this.encoder.pooled; // one row per sequence (an ONNX graph's sentence_embedding)
      let k = 0;
      for (const it of batch) {
        const rows = it.encodings.map(() => {
          const b = pooled ? k : packed.cuSeqlens[k];
          const e = pooled ? ++k : packed.cuSeqlens[++k];
          return hidden.subarray(b * H, e * H);
        });
        it.resolve(rows);
      }
    } catch (e) {
      for (const it of batch) it.reject(e);
    }
  }
}
