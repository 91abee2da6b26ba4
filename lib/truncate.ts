// The long-input policy every entry point shares: cut tokens from the right (default) or the left, or refuse
// with E_INPUT_TOO_LONG naming the input and its length. Never silent: the policy is the caller's choice.
// Work is bounded by the limit, not the text: refusing or cutting from the right tokenizes only up to the
// first token past it (a 4 MB text costs what its first maxLength tokens cost).
import { BertrtError, invalidArgument } from './errors';
import type { EncodeOptions, Encoding, Tokenizer, TruncationStrategy } from './tokenizer/tokenizer';

export type Truncate = 'right' | 'left' | 'error';

/** The encode options that carry out `truncate` within `maxLength` tokens. */
export function policyOptions(maxLength: number, truncate: Truncate, strategy: TruncationStrategy = 'longest_first'): EncodeOptions {
  if (truncate === 'error') return { stopAfter: maxLength + 1 };
  if (truncate !== 'right' && truncate !== 'left') throw invalidArgument(`truncate must be 'right', 'left' or 'error' (got ${String(truncate)})`);
  // fromEnd: cutting from the left tokenizes only the text's end (word ids then count from there)
  return { truncation: { maxLength, strategy, direction: truncate }, returnOverflowing: false, fromEnd: true };
}

/** For an encoding made under policyOptions(maxLength, 'error'): null if it fits, else its length as far as it is
 *  known — "300", or "more than 256" where tokenizing one of its texts stopped at maxLength + 1 tokens. */
export function lengthPastLimit(e: Encoding, maxLength: number): string | null {
  if (e.ids.length <= maxLength) return null;
  const per = [0, 0];
  for (const s of e.sequenceIds) if (s !== null) per[s]++;
  return per[0] > maxLength || per[1] > maxLength ? `more than ${maxLength}` : String(e.ids.length);
}

function checked(e: Encoding, maxLength: number, truncate: Truncate, what: string): Encoding {
  const over = truncate === 'error' ? lengthPastLimit(e, maxLength) : null;
  if (over) throw new BertrtError(`${what} has ${over} tokens, the model takes at most ${maxLength}`, 'E_INPUT_TOO_LONG');
  return e;
}

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
  return checked(tokenizer.encode(a, pair, policyOptions(maxLength, truncate, strategy)), maxLength, truncate, what);
}

/** encodeWithin on Tokenizer.encodeAsync: a long text never holds the event loop for more than one slice. */
export async function encodeWithinAsync(
  tokenizer: Tokenizer,
  a: string,
  pair: string | null,
  maxLength: number,
  truncate: Truncate = 'right',
  what = 'input',
  strategy: TruncationStrategy = 'longest_first',
): Promise<Encoding> {
  return checked(await tokenizer.encodeAsync(a, pair, policyOptions(maxLength, truncate, strategy)), maxLength, truncate, what);
}
