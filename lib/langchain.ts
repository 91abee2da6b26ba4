// `bertrt/langchain`: a LangChain.js Embeddings class over the Embedder, so a LangChain pipeline (a vector store,
// a retriever) embeds locally with no service. @langchain/core is a peer dependency: install it beside bertrt.
// Queries and documents may take different sentence-transformers prompts (e5's "query: " / "passage: ", ...).
import { Embeddings, type EmbeddingsParams } from '@langchain/core/embeddings';
import { Embedder, type EmbedOptions, type EmbedderOptions } from './embedder';

export interface BertrtEmbeddingsParams extends EmbeddingsParams {
  /** a model directory (default: the embedded all-MiniLM-L6-v2) */
  model?: string;
  /** engine options: threads, precision, device */
  engine?: EmbedderOptions;
  /** embedding options for every call (normalize, truncate, truncateDim, ...) */
  embed?: Omit<EmbedOptions, 'prompt' | 'promptName' | 'signal'>;
  /** prompts by name from the model's config_sentence_transformers.json, for queries and for documents */
  queryPromptName?: string;
  documentPromptName?: string;
  /** texts per embed() call in embedDocuments (default 64) */
  batchSize?: number;
}

export class BertrtEmbeddings extends Embeddings {
  #embedder: Promise<Embedder> | null = null;
  readonly params: BertrtEmbeddingsParams;

  constructor(params: BertrtEmbeddingsParams = {}) {
    super(params);
    this.params = params;
  }

  /** The Embedder, loaded at the first call (or now, if you await this). */
  embedder(): Promise<Embedder> {
    this.#embedder ??= Embedder.load(this.params.model, this.params.engine);
    return this.#embedder;
  }

  async embedDocuments(documents: string[]): Promise<number[][]> {
    const e = await this.embedder();
    const size = this.params.batchSize ?? 64;
    const out: number[][] = [];
    for (let i = 0; i < documents.length; i += size) {
      // caller runs each batch through LangChain's AsyncCaller (its concurrency and retry settings)
      const batch = documents.slice(i, i + size);
      const vs = await this.caller.call(() => e.embed(batch, { ...this.params.embed, promptName: this.params.documentPromptName }));
      for (const v of vs) out.push(Array.from(v));
    }
    return out;
  }

  async embedQuery(query: string): Promise<number[]> {
    const e = await this.embedder();
    const [v] = await this.caller.call(() => e.embed([query], { ...this.params.embed, promptName: this.params.queryPromptName }));
    return Array.from(v);
  }

  /** Frees the native model. */
  async dispose(): Promise<void> {
    const e = this.#embedder;
    this.#embedder = null;
    if (e) await (await e).close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
