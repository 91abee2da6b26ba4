// A string being normalized, kept aligned with the original: chars[i] is one code point that came from the
// original UTF-16 range [starts[i], ends[i]). Every normalizer maps an Aligned to an Aligned, so offsets into the
// original text survive any number of steps.
export interface Aligned {
  chars: string[];
  starts: number[];
  ends: number[];
  /** where in the original text this string begins (HF's original shift): what an insertion before every
   *  consumed char is aligned to, and how Metaspace's prepend_scheme "first" knows the text's first piece */
  origin?: number;
}

export function alignedFrom(text: string, origin = 0): Aligned {
  const chars: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  let i = origin;
  for (const c of text) {
    chars.push(c);
    starts.push(i);
    i += c.length;
    ends.push(i);
  }
  return { chars, starts, ends, origin };
}

/** Replaces each char by fn(char) (zero or more code points), each output char keeping its source's range. */
export function mapChars(a: Aligned, fn: (c: string) => string): Aligned {
  const out: Aligned = { chars: [], starts: [], ends: [], origin: a.origin };
  for (let i = 0; i < a.chars.length; i++) {
    const c = a.chars[i];
    const r = fn(c);
    if (r === c) {
      out.chars.push(c);
      out.starts.push(a.starts[i]);
      out.ends.push(a.ends[i]);
      continue;
    }
    for (const d of r) {
      out.chars.push(d);
      out.starts.push(a.starts[i]);
      out.ends.push(a.ends[i]);
    }
  }
  return out;
}

export function slice(a: Aligned, begin: number, end: number): Aligned {
  return {
    chars: a.chars.slice(begin, end),
    starts: a.starts.slice(begin, end),
    ends: a.ends.slice(begin, end),
    origin: begin < a.chars.length ? a.starts[begin] : (a.origin ?? 0),
  };
}

/** One output char of a transformation and its change: 0 replaces the next source char, n > 0 is inserted (n
 *  counts nothing else), -n replaces the next source char and removes the n after it. */
export type Change = [string, number];

/** HF's NormalizedString::transform, reproduced over an Aligned: walking the output, a char with change <= 0
 *  takes the range of the next source char and consumes 1 - change of them; an inserted char takes the range of
 *  the last one consumed (the string's origin, empty, if none was). Source chars left unconsumed are dropped.
 *  `skip` source chars are consumed before the first output char. */
export function transform(a: Aligned, dest: Change[], skip = 0): Aligned {
  const out: Aligned = { chars: [], starts: [], ends: [], origin: a.origin };
  const o = a.origin ?? 0;
  let idx = skip;
  for (const [c, change] of dest) {
    if (change > 0) {
      out.chars.push(c);
      out.starts.push(idx >= 1 ? a.starts[idx - 1] : o);
      out.ends.push(idx >= 1 ? a.ends[idx - 1] : o);
      continue;
    }
    // a malformed transformation from a hostile file must not read past the source: align to its end
    const k = Math.min(idx, a.chars.length - 1);
    out.chars.push(c);
    out.starts.push(k >= 0 ? a.starts[k] : o);
    out.ends.push(k >= 0 ? a.ends[k] : o);
    idx += 1 - change;
  }
  return out;
}

/** HF's NormalizedString::prepend: the prefix and the first char all aligned to the first char. */
export function prepend(a: Aligned, s: string): Aligned {
  if (a.chars.length === 0) return a;
  const pre = [...s];
  return {
    chars: pre.concat(a.chars),
    starts: pre.map(() => a.starts[0]).concat(a.starts),
    ends: pre.map(() => a.ends[0]).concat(a.ends),
    origin: a.origin,
  };
}

/** For a string of `chars` (code points) whose UTF-16 length is `units`: the char index of every UTF-16 position
 *  (units + 1 entries), or null when every char is one unit and the positions are the indices. */
export function charIndexOfUnits(chars: string[], units: number): Int32Array | null {
  if (units === chars.length) return null;
  const at = new Int32Array(units + 1);
  let u = 0;
  for (let i = 0; i < chars.length; i++) {
    at[u] = i;
    if (chars[i].length === 2) at[u + 1] = i;
    u += chars[i].length;
  }
  at[units] = chars.length;
  return at;
}
