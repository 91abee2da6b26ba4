// Typed errors. Every failure bertrt reports is a BertrtError with a stable `code`; the native addon creates
// instances of this same class (it is handed over once at load), so native and TS errors look alike.

export type BertrtErrorCode =
  | 'E_INVALID_ARGUMENT' // the caller passed something malformed
  | 'E_MODEL_NOT_FOUND' // no model at the given path
  | 'E_MODEL_FORMAT' // model files inconsistent, truncated or lying
  | 'E_SHAPE' // a tensor's shape disagrees with config.json
  | 'E_INPUT_TOO_LONG' // input longer than the model accepts
  | 'E_UNSUPPORTED' // architecture / activation / dtype not implemented
  | 'E_REPO_NOT_FOUND' // the Hub has no such repository (or it is private and no token grants it)
  | 'E_REVISION_NOT_FOUND' // the repository has no such branch, tag or commit
  | 'E_ENTRY_NOT_FOUND' // the repository has no such file at that revision
  | 'E_GATED_REPO' // the repository is gated: accept its terms on the Hub and pass a token
  | 'E_OFFLINE' // offline (HF_HUB_OFFLINE=1 or the Hub unreachable) and the model is not in the cache
  | 'E_NETWORK' // the Hub or its file host failed after the retries
  | 'E_INTEGRITY' // a downloaded file does not match its checksum (it was deleted, never cached)
  | 'E_IO'
  | 'E_OUT_OF_MEMORY'
  | 'E_NON_FINITE' // the model computed NaN or infinity (never serialized as null)
  | 'E_ABORTED' // the caller's AbortSignal fired before the work was done
  | 'E_CLOSED' // the engine was closed
  | 'E_NATIVE_UNAVAILABLE' // the addon could not be loaded
  | 'E_INTERNAL';

export class BertrtError extends Error {
  readonly code: BertrtErrorCode;
  /** options.cause: the error this one reports (a system error behind an E_IO, say), kept as Error's `cause`. */
  constructor(message: string, code: BertrtErrorCode = 'E_INTERNAL', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BertrtError';
    this.code = code;
  }
}

export function invalidArgument(message: string): BertrtError {
  return new BertrtError(message, 'E_INVALID_ARGUMENT');
}
