// A denser container for the tokenizer conformance fixtures (*.refs.br): the same JSON document, with every
// encoding object ({ids, type_ids, offsets, special, words}) moved out into columns of zigzag varints (offsets
// as gaps and lengths, word ids as steps) and the rest kept as JSON. Brotli over binary columns is ~18% smaller
// than over the JSON numbers; unpacking gives back the document deep-equal to the one packed (tools/
// compress_fixtures.ts checks that before it writes). Layout, all little-endian: u32 count, then six blocks
// each u32 byte length + bytes: skeleton JSON (each encoding replaced by {"$ref":0}), lengths, ids, offsets,
// words, type_ids + special (one byte per token each).
import * as zlib from 'node:zlib';

export interface EncodingRef {
  ids: number[];
  type_ids: number[];
  offsets: number[];
  special: number[];
  words: number[];
}

const KEYS = ['ids', 'type_ids', 'offsets', 'special', 'words'];
const isRef = (x: unknown): x is EncodingRef =>
  !!x && typeof x === 'object' && !Array.isArray(x) && Object.keys(x).length === KEYS.length && KEYS.every((k) => Array.isArray((x as any)[k]));

class Varints {
  private bytes: number[] = [];
  push(v: number): void {
    if (!Number.isSafeInteger(v) || Math.abs(v) >= 2 ** 31) throw new RangeError(`refs: ${v} is not a 32-bit integer`);
    let z = v < 0 ? -2 * v - 1 : 2 * v;
    while (z >= 128) {
      this.bytes.push((z % 128) | 128);
      z = Math.floor(z / 128);
    }
    this.bytes.push(z);
  }
  buffer(): Buffer {
    return Buffer.from(this.bytes);
  }
}

class Reader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  next(): number {
    let z = 0;
    for (let scale = 1; ; scale *= 128) {
      if (this.at >= this.b.length) throw new RangeError('refs: column ends early');
      const byte = this.b[this.at++];
      z += (byte & 127) * scale;
      if (byte < 128) break;
    }
    return z % 2 === 1 ? -(z + 1) / 2 : z / 2;
  }
}

export function packRefs(doc: unknown): Buffer {
  const lens = new Varints(), ids = new Varints(), offs = new Varints(), words = new Varints();
  const flags: number[] = [];
  let count = 0;
  const walk = (x: unknown): unknown => {
    if (isRef(x)) {
      const n = x.ids.length;
      if (x.type_ids.length !== n || x.special.length !== n || x.words.length !== n || x.offsets.length !== 2 * n) throw new RangeError('refs: encoding arrays of unequal lengths');
      lens.push(n);
      let end = 0, word = -1;
      for (let i = 0; i < n; i++) {
        ids.push(x.ids[i]);
        offs.push(x.offsets[2 * i] - end);
        offs.push(x.offsets[2 * i + 1] - x.offsets[2 * i]);
        end = x.offsets[2 * i + 1];
        words.push(x.words[i] - word);
        word = x.words[i];
        if ((x.type_ids[i] | 1) !== 1 || (x.special[i] | 1) !== 1) throw new RangeError('refs: type id or special flag is not 0/1');
        flags.push(x.type_ids[i] | (x.special[i] << 1));
      }
      count++;
      return { $ref: 0 };
    }
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, walk(v)]));
    return x;
  };
  const skeleton = Buffer.from(JSON.stringify(walk(doc)), 'utf8');
  const blocks = [skeleton, lens.buffer(), ids.buffer(), offs.buffer(), words.buffer(), Buffer.from(flags)];
  return brotli(Buffer.concat([u32(count), ...blocks.flatMap((b) => [u32(b.length), b])]));
}

/** Brotli as the fixtures are stored: the densest setting, a 16 MB window. */
export function brotli(raw: Buffer): Buffer {
  return zlib.brotliCompressSync(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_LGWIN]: 24, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length } });
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

export function unpackRefs(file: Buffer): any {
  const raw = zlib.brotliDecompressSync(file);
  const count = raw.readUInt32LE(0);
  const blocks: Buffer[] = [];
  for (let at = 4; blocks.length < 6; ) {
    const n = raw.readUInt32LE(at);
    blocks.push(raw.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  const [skeleton, lensB, idsB, offsB, wordsB, flags] = blocks;
  const lens = new Reader(lensB), ids = new Reader(idsB), offs = new Reader(offsB), words = new Reader(wordsB);
  let made = 0, flag = 0;
  const next = (): EncodingRef => {
    const n = lens.next();
    const r: EncodingRef = { ids: [], type_ids: [], offsets: [], special: [], words: [] };
    let end = 0, word = -1;
    for (let i = 0; i < n; i++) {
      r.ids.push(ids.next());
      const start = end + offs.next();
      end = start + offs.next();
      r.offsets.push(start, end);
      word += words.next();
      r.words.push(word);
      const f = flags[flag++];
      r.type_ids.push(f & 1);
      r.special.push(f >> 1);
    }
    made++;
    return r;
  };
  // the reviver sees each {"$ref":0} after its own members and before anything that follows it: document order
  const doc = JSON.parse(skeleton.toString('utf8'), (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) && '$ref' in v ? next() : v));
  if (made !== count || flag !== flags.length) throw new RangeError(`refs: ${made} of ${count} encodings unpacked`);
  return doc;
}
