// A string being normalized, kept aligned with the original: chars[i] is one code point that came from the
// original UTF-16 range [starts[i], ends[i]). Every normalizer maps an Aligned to an Aligned, so offsets into the
// original text survive any number of steps.
export interface Aligned {
  chars: string[];
  starts: number[];
  ends: number[];
}

export function alignedFrom(text: string): Aligned {
  const chars: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  let i = 0;
  for (const c of text) {
    chars.push(c);
    starts.push(i);
    i += c.length;
    ends.push(i);
  }
  return { chars, starts, ends };
}

/** Replaces each char by fn(char) (zero or more code points), each output char keeping its source's range. */
export function mapChars(a: Aligned, fn: (c: string) => string): Aligned {
  const out: Aligned = { chars: [], starts: [], ends: [] };
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
  return { chars: a.chars.slice(begin, end), starts: a.starts.slice(begin, end), ends: a.ends.slice(begin, end) };
}
