// Structure-aware mutation of JSON documents: a valid document with a few of its values replaced by values of
// the wrong type, out of range, huge, empty, prototype names, or removed — the inputs a parser's checks must
// turn into typed errors.
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Values of the wrong type, out of range, huge, empty or named like prototype members. */
export const WEIRD: Json[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  -0.5,
  1e9,
  2 ** 31,
  2 ** 53 + 2,
  1e308,
  -1e308,
  '',
  'x',
  '7',
  '-1',
  'NaN',
  '__proto__',
  'constructor',
  'toString',
  '\u0000',
  '\ud800',
  '[CLS]',
  [],
  [null],
  [1, 2, 3],
  ['a', 'b'],
  {},
  JSON.parse('{"__proto__": 1}') as Json, // an own property named __proto__, as JSON.parse makes it
  { constructor: 'x' },
];

/** Every path to a value in `doc` (object keys and array indices), up to `limit` of them, sampled evenly. */
function paths(doc: Json, r: () => number, limit = 4000): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  const walk = (v: Json, p: Array<string | number>) => {
    if (out.length >= limit) return;
    out.push(p);
    if (Array.isArray(v)) {
      // long arrays: a few elements only
      const idx = v.length <= 8 ? v.map((_, i) => i) : [0, 1, v.length - 1, Math.floor(r() * v.length)];
      for (const i of idx) walk(v[i], [...p, i]);
    } else if (v && typeof v === 'object') {
      const keys = Object.keys(v);
      const pick = keys.length <= 16 ? keys : Array.from({ length: 8 }, () => keys[Math.floor(r() * keys.length)]);
      for (const k of pick) walk(v[k], [...p, k]);
    }
  };
  walk(doc, []);
  return out;
}

function weird(r: () => number): Json {
  const k = r();
  if (k < 0.7) return structuredClone(WEIRD[Math.floor(r() * WEIRD.length)]);
  if (k < 0.8) return 'z'.repeat(Math.floor(r() * 5000));
  if (k < 0.9) return Array.from({ length: Math.floor(r() * 50) }, (_, i) => i);
  let deep: Json = 1;
  for (let i = 0; i < 200; i++) deep = [deep];
  return deep;
}

/** A copy of `doc` with 1 to 3 mutations at random paths. */
export function mutate(doc: Json, r: () => number): Json {
  const copy = structuredClone(doc);
  const n = 1 + Math.floor(r() * 3);
  let root: Json = copy;
  for (let m = 0; m < n; m++) {
    const ps = paths(root, r);
    const p = ps[Math.floor(r() * ps.length)];
    if (p.length === 0) {
      if (r() < 0.1) root = weird(r);
      continue;
    }
    let parent = root as { [k: string]: Json } | Json[];
    for (const k of p.slice(0, -1)) parent = (parent as Record<string, Json>)[k as string] as Record<string, Json>;
    const last = p[p.length - 1];
    const op = r();
    if (Array.isArray(parent)) {
      if (op < 0.2) parent.splice(last as number, 1);
      else if (op < 0.3) parent.push(weird(r));
      else parent[last as number] = weird(r);
    } else if (op < 0.25) delete parent[last as string];
    else if (op < 0.35) parent[`extra${Math.floor(r() * 10)}`] = weird(r);
    else parent[last as string] = weird(r);
  }
  return root;
}
