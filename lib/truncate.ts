// The long-input policy every entry point shares: cut tokens from the right (default) or the left, or refuse
// with E_INPUT_TOO_LONG naming the input and its length. Never silent: the policy is the caller's choice.
import { BertrtError, invalidArgument } from './errors';
import type { Encoding, Tokenizer, TruncationStrategy } from './tokenizer/tokenizer';

export type Truncate = 'right' | 'left' | 'error';

/** `a` (with `pair`) as at most `maxLength` tokens under `truncate`; `what` names the input in the error. */
export function encodeWithin(
  tokenizer: Tokenizer,
  a: string,
  pair: string | null,
  maxLength: number,
  truncate: Truncate = 'right',
  what = 'input',
  strategy: TruncationStrategy = 'longest_first',
): Encoding {
  if (truncate === 'error') {
    const e = tokenizer.encode(a, pair);
    if (e.ids.length > maxLength) throw new BertrtError(`${what} has ${e.ids.length} tokens, the model takes at most ${maxLength}`, 'E_INPUT_TOO_LONG');
    return e;
  }
  if (truncate !== 'right' && truncate !== 'left') throw invalidArgument(`truncate must be 'right', 'left' or 'error' (got ${String(truncate)})`);
  return tokenizer.encode(a, pair, { truncation: { maxLength, strategy, direction: truncate }, returnOverflowing: false });
}
