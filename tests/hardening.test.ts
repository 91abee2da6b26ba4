// Hostile input, one regression test per defect the outside probe found (issue 15): work bounded by the limits,
// every bad file or option a typed BertrtError at load naming the file and field, nothing resolved through the
// object prototype, no path out of the model folder, no NaN served, slow clients cut off.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { BertrtError, createServer, Embedder, Tokenizer } from '../lib';
import { defaultModel, rng, safetensorsBytes, tinyTensors, tmpDir, writeTinyModel } from './helpers/fixtures';

function isTyped(code: string, pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof BertrtError, `not a BertrtError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

/** Overwrites element `index` of F32 tensor `name` in a model folder's model.safetensors with `value`. */
function patchFloat(dir: string, name: string, index: number, value: number): void {
  const f = path.join(dir, 'model.safetensors');
  const b = fs.readFileSync(f);
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString());
  b.writeFloatLE(value, 8 + n + h[name].data_offsets[0] + 4 * index);
  fs.writeFileSync(f, b);
}


// eslint-disable-next-line @typescript-eslint/no-require-imports
const hf = require('tokenizers') as { Tokenizer: { fromFile(p: string): any } };
function hfTokenizer(file: string) {
  const t = hf.Tokenizer.fromFile(file);
  t.disablePadding();
  t.disableTruncation();
  return t;
}

describe('hardening: the tokenizer', function () {
  const tj = path.join(defaultModel, 'tokenizer.json');
  const tok = Tokenizer.fromDir(defaultModel);
  const ref = hfTokenizer(tj);

  it('long words of 1 to 130 characters tokenize exactly as HF does (WordPiece bounded by the longest piece)', async () => {
    const r = rng(7);
    const alphabet = 'abcdefghijklmnopqrstuvwxyzéü𝒜日';
    for (let len = 1; len <= 130; len++) {
      let w = '';
      while ([...w].length < len) w += [...alphabet][Math.floor(r() * [...alphabet].length)];
      const text = `pre ${w} post`;
      const ours = tok.encode(text, null, { offsets: 'codepoint' });
      const theirs = await ref.encode(text);
      assert.deepEqual(Array.from(ours.ids), theirs.getIds(), `word of ${len} characters`);
      assert.deepEqual(ours.offsets, theirs.getOffsets(), `offsets, word of ${len} characters`);
    }
  });

  it('a word over max_input_chars_per_word is one [UNK] spanning it, as HF gives', async () => {
    const w = 'ab'.repeat(51);
    const e = tok.encode(w);
    assert.deepEqual(Array.from(e.ids), (await ref.encode(w)).getIds());
    assert.deepEqual(e.offsets[1], [0, w.length]);
  });

  it('encodeAsync gives the event loop turns on a long text and returns exactly what encode does', async () => {
    const r = rng(11);
    const words = ['alpha', 'beta', 'gamma', 'naïve', '[MASK]', 'tokenizer', 'x'.repeat(120), '日本語', '🙂'];
    let text = '';
    while (text.length < 100_000) text += words[Math.floor(r() * words.length)] + (r() < 0.1 ? '\n' : ' ');
    let turns = 0;
    const tick = setInterval(() => turns++, 0);
    const a = await tok.encodeAsync(text);
    clearInterval(tick);
    const b = tok.encode(text);
    assert.deepEqual(a.ids, b.ids);
    assert.deepEqual(a.offsets, b.offsets);
    assert.deepEqual(a.wordIds, b.wordIds);
    assert.ok(turns >= 2, `the event loop ran ${turns} times during encodeAsync`);
  });

  it('stopAfter: the first tokens of a 4 MB text, the same as the whole encoding begins with', () => {
    const text = 'the quick brown fox jumps over the lazy dog '.repeat(100_000);
    const e = tok.encode(text, null, { stopAfter: 300 });
    const head = tok.encode(text.slice(0, 2000));
    assert.ok(e.ids.length >= 302 && e.ids.length < 320, `${e.ids.length} tokens`);
    assert.deepEqual(Array.from(e.ids.subarray(0, 301)), Array.from(head.ids.subarray(0, 301)));
    assert.throws(() => tok.encode('x', null, { stopAfter: 0 }), isTyped('E_INVALID_ARGUMENT'));
  });

  it('fromEnd: left truncation of a long text tokenizes only its end, with the full encoding\'s ids and offsets', () => {
    const r = rng(5);
    const parts = ['word', 'naïve', 'e\u0301\u0316', '[MASK]', '日本', 'x'.repeat(101), '\n', '  ', 'ok.', '🙂', 'tokenization'];
    for (const n of [10, 300, 3000, 40_000]) {
      let text = '';
      while (text.length < n) text += parts[Math.floor(r() * parts.length)] + (r() < 0.7 ? ' ' : '');
      for (const maxLength of [8, 128]) {
        const opts = { truncation: { maxLength, direction: 'left' as const }, returnOverflowing: false };
        const full = tok.encode(text, null, opts);
        const tail = tok.encode(text, null, { ...opts, fromEnd: true });
        assert.deepEqual(tail.ids, full.ids, `${n} chars, ${maxLength} tokens`);
        assert.deepEqual(tail.offsets, full.offsets);
        assert.deepEqual(tail.specialTokensMask, full.specialTokensMask);
        // word ids: the same words, counted from the first one tokenized
        const shift = (full.wordIds[1] ?? 0) - (tail.wordIds[1] ?? 0);
        assert.deepEqual(tail.wordIds.map((w) => (w === null ? null : w + shift)), full.wordIds);
      }
    }
  });

  it('overflowing windows are bounded: a stride one short of the window over a long text is refused, not built', () => {
    const long = 'word '.repeat(70_000);
    assert.throws(() => tok.encode(long, null, { truncation: { maxLength: 384, stride: 381 } }), isTyped('E_INPUT_TOO_LONG', /windows/));
    const ok = tok.encode('word '.repeat(1000), null, { truncation: { maxLength: 384, stride: 128 } });
    assert.equal(ok.overflowing.length, 3);
  });

  it('lone surrogates are read as U+FFFD, which is what HF receives for them; offsets stay in place', async () => {
    for (const text of ['a\ud800b', '\udc00', 'x \ud83d', 'caf\udfffé ok', '\ud800\ud800']) {
      const ours = tok.encode(text);
      const fixed = tok.encode(text.replace(/[\ud800-\udfff]/g, '\ufffd'));
      assert.deepEqual(ours.ids, fixed.ids, JSON.stringify(text));
      assert.deepEqual(ours.offsets, fixed.offsets);
      assert.deepEqual(Array.from(ours.ids), (await ref.encode(text)).getIds(), JSON.stringify(text));
    }
  });

  it('padding sizes are bounded: padding.length 1e9 is an E_INVALID_ARGUMENT, not a V8 abort', () => {
    for (const padding of [{ length: 1e9 }, { length: -1 }, { length: 2.5 }, { padToMultipleOf: 1e9 }, { padToMultipleOf: 0 }, { direction: 'up' as never }]) {
      assert.throws(() => tok.encodeBatch(['a'], { padding }), isTyped('E_INVALID_ARGUMENT', /pad/), JSON.stringify(padding));
    }
    // many encodings each padded long: bounded by the total
    assert.throws(() => tok.encodeBatch(Array(100).fill('a'), { padding: { length: 1 << 20 } }), isTyped('E_INVALID_ARGUMENT', /more than/));
    const ok = tok.encodeBatch(['a', 'a b c'], { padding: { length: 8 } });
    assert.deepEqual(ok.map((e) => e.ids.length), [8, 8]);
  });

  describe('a broken tokenizer.json is an E_MODEL_FORMAT at load naming the file and field', () => {
    const base = JSON.parse(fs.readFileSync(tj, 'utf8'));
    const cases: Array<[string, (j: any) => void, RegExp]> = [
      ['model.vocab missing', (j) => delete j.model.vocab, /model\.vocab/],
      ['model.vocab null', (j) => (j.model.vocab = null), /model\.vocab/],
      ['a vocab id that is null', (j) => (j.model.vocab.hello = null), /"hello" has id null/],
      ['a vocab id that is a string', (j) => (j.model.vocab.hello = '7'), /"hello" has id "7"/],
      ['a fractional vocab id', (j) => (j.model.vocab.hello = 7.5), /"hello" has id 7\.5/],
      ['a special token without ids', (j) => delete j.post_processor.special_tokens['[CLS]'].ids, /special token "\[CLS\]" needs "ids"/],
      ['a template piece of no known kind', (j) => (j.post_processor.single[0] = { Bogus: {} }), /post_processor\.single\[0\]/],
      ['a template naming an undefined special token', (j) => (j.post_processor.pair[0].SpecialToken.id = '[NOPE]'), /\[NOPE\]/],
      ['a Sequence id other than A or B', (j) => (j.post_processor.single[1].Sequence.id = 'C'), /"A" or "B"/],
      ['added_tokens not a list', (j) => (j.added_tokens = { a: 1 }), /added_tokens must be a list/],
      ['an added token without content', (j) => delete j.added_tokens[0].content, /added_tokens\[0\]/],
      ['a bad Replace regex', (j) => (j.normalizer = { type: 'Replace', pattern: { Regex: '(' }, content: ' ' }), /Replace pattern/],
      ['a Replace without a pattern', (j) => (j.normalizer = { type: 'Replace', pattern: 5, content: ' ' }), /without a pattern/],
      ['a Sequence normalizer without a list', (j) => (j.normalizer = { type: 'Sequence', normalizers: null }), /Sequence normalizer/],
      ['a Sequence pre-tokenizer without a list', (j) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: 3 }), /Sequence pre_tokenizer/],
      ['a post-processor id past the vocabulary', (j) => (j.post_processor.special_tokens['[CLS]'].ids = [999_999]), /id 999999, which neither/],
      ['BertProcessing with a bad sep', (j) => (j.post_processor = { type: 'BertProcessing', sep: ['[SEP]'], cls: ['[CLS]', 101] }), /post_processor\.sep/],
    ];
    for (const [what, mutate, pattern] of cases) {
      it(what, () => {
        const j = structuredClone(base);
        mutate(j);
        const dir = tmpDir();
        const file = path.join(dir, 'tokenizer.json');
        fs.writeFileSync(file, JSON.stringify(j));
        assert.throws(() => Tokenizer.fromDir(dir), isTyped('E_MODEL_FORMAT', pattern));
        assert.throws(() => Tokenizer.fromDir(dir), (e: Error) => e.message.startsWith(file));
      });
    }
  });
});

describe('hardening: model files', function () {
  it('config sizes are bounded before anything is allocated from them', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ num_hidden_layers: 1_000_000 }, /num_hidden_layers" must be an integer in \[1, 256\]/],
      [{ hidden_size: 1e9 }, /hidden_size/],
      [{ vocab_size: 2 ** 40 }, /vocab_size/],
      [{ intermediate_size: -4 }, /intermediate_size/],
      [{ max_position_embeddings: 1 }, /max_position_embeddings/],
      [{ num_hidden_layers: 200 }, /config\.json says 200 layers, the weights hold 2/],
    ];
    for (const [config, pattern] of cases) await assert.rejects(Embedder.load(writeTinyModel({ config })), isTyped('E_MODEL_FORMAT', pattern), JSON.stringify(config));
  });

  it('a length limit that leaves no room for text is refused at load, not at every call', async () => {
    const dir = writeTinyModel();
    fs.writeFileSync(path.join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: 2 }));
    await assert.rejects(Embedder.load(dir), isTyped('E_MODEL_FORMAT', /at most 2 tokens, which leaves no room/));
  });

  it('a tokenizer that can emit an id past the embedding table is refused at load', async () => {
    const dir = writeTinyModel();
    const j = {
      model: { type: 'WordPiece', vocab: { '[UNK]': 1, '[CLS]': 2, '[SEP]': 3, hello: 15 }, unk_token: '[UNK]' },
      added_tokens: [{ id: 77, content: '<big>', special: true }],
      normalizer: { type: 'BertNormalizer' },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] },
    };
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(j));
    await assert.rejects(Embedder.load(dir), isTyped('E_MODEL_FORMAT', /token id 77 but the model has only 40 embeddings/));
  });

  it('model.safetensors that is a directory → E_MODEL_FORMAT, not a raw EISDIR', async () => {
    const dir = writeTinyModel();
    fs.rmSync(path.join(dir, 'model.safetensors'));
    fs.mkdirSync(path.join(dir, 'model.safetensors'));
    await assert.rejects(Embedder.load(dir), isTyped('E_MODEL_FORMAT', /not a regular file/));
  });

  for (const [what, value] of [
    ['NaN', NaN],
    ['infinity', Infinity],
  ] as const) {
    it(`a weight holding ${what} is refused at load naming the tensor`, async () => {
      const dir = writeTinyModel();
      patchFloat(dir, 'encoder.layer.1.output.dense.weight', 17, value);
      await assert.rejects(Embedder.load(dir), isTyped('E_MODEL_FORMAT', new RegExp(`encoder\\.layer\\.1\\.output\\.dense\\.weight.*non-finite.*element 17`)));
    });
  }

  it('an F16 NaN is refused too', async () => {
    const t = tinyTensors().map((x) => ({ ...x, dtype: 'F16' as const }));
    const dir = writeTinyModel({ weights: safetensorsBytes(t) });
    const f = path.join(dir, 'model.safetensors');
    const b = fs.readFileSync(f);
    const n = Number(b.readBigUInt64LE(0));
    const h = JSON.parse(b.subarray(8, 8 + n).toString());
    b.writeUInt16LE(0x7e00, 8 + n + h['embeddings.LayerNorm.bias'].data_offsets[0]); // F16 NaN
    fs.writeFileSync(f, b);
    await assert.rejects(Embedder.load(dir), isTyped('E_MODEL_FORMAT', /embeddings\.LayerNorm\.bias.*NaN/));
  });

  it('finite weights that overflow give E_NON_FINITE, never a vector of nulls; the server answers 500', async () => {
    const dir = writeTinyModel();
    for (let i = 0; i < 32; i++) patchFloat(dir, 'encoder.layer.0.output.LayerNorm.weight', i, 3e38);
    const e = await Embedder.load(dir);
    await assert.rejects(e.embed(['the cat sat on the mat']), isTyped('E_NON_FINITE', /non-finite/));
    await e.close();
    const s = await createServer({ models: [{ name: 'hot', dir }] });
    const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
    const r = await fetch(url + '/embed', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: 'the cat' }) });
    assert.equal(r.status, 500);
    assert.match(((await r.json()) as { error: string }).error, /non-finite/);
    assert.equal((await fetch(url + '/health')).status, 200);
    await s.close();
  });

  describe('modules.json cannot point outside the model folder', () => {
    const withModules = (modulePath: string) => {
      const dir = writeTinyModel();
      fs.writeFileSync(
        path.join(dir, 'modules.json'),
        JSON.stringify([
          { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
          { idx: 1, name: '1', path: modulePath, type: 'sentence_transformers.models.Pooling' },
        ]),
      );
      return dir;
    };
    for (const p of ['../../../../etc', '/etc', '1_Pooling/../../x']) {
      it(JSON.stringify(p), async () => {
        await assert.rejects(Embedder.load(withModules(p)), isTyped('E_MODEL_FORMAT', /leaves the model folder/));
      });
    }
    it('a symbolic link that leaves it', async () => {
      const outside = tmpDir();
      fs.writeFileSync(path.join(outside, 'config.json'), JSON.stringify({ pooling_mode_cls_token: true }));
      const dir = withModules('1_Pooling');
      fs.symlinkSync(outside, path.join(dir, '1_Pooling'));
      await assert.rejects(Embedder.load(dir), isTyped('E_MODEL_FORMAT', /leaves the model folder/));
    });
    it('a module folder inside it still loads (the control case)', async () => {
      const dir = withModules('1_Pooling');
      fs.mkdirSync(path.join(dir, '1_Pooling'));
      fs.writeFileSync(path.join(dir, '1_Pooling', 'config.json'), JSON.stringify({ pooling_mode_cls_token: true }));
      const e = await Embedder.load(dir);
      assert.deepEqual(e.sentence.pooling, ['cls']);
      await e.close();
    });
  });
});

describe('hardening: the embedder and the server', function () {
  let e: Embedder;
  before(async () => {
    e = await Embedder.load();
  });
  after(async () => e.close());

  it('prompt names never resolve through the object prototype', async () => {
    for (const promptName of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      await assert.rejects(e.embed(['x'], { promptName }), isTyped('E_INVALID_ARGUMENT', /unknown promptName/), promptName);
    }
  });

  it("truncate: 'chunk' is bounded by maxChunks (default 64): a 500k-character text is refused at once", async () => {
    const long = 'many words in a very long document '.repeat(15_000);
    await assert.rejects(e.embed([long], { truncate: 'chunk' }), isTyped('E_INPUT_TOO_LONG', /more than maxChunks \(64\)/));
    await assert.rejects(e.embed(['x'], { truncate: 'chunk', maxChunks: 0 }), isTyped('E_INVALID_ARGUMENT', /maxChunks/));
    // within the bound the windows are pooled as before: 3 windows
    const mid = 'many words in a very long document '.repeat(90);
    const [a] = await e.embed([mid], { truncate: 'chunk', maxChunks: 3 });
    assert.equal(a.length, 384);
    await assert.rejects(e.embed([mid], { truncate: 'chunk', maxChunks: 2 }), isTyped('E_INPUT_TOO_LONG'));
  });

  describe('server', () => {
    let s: Awaited<ReturnType<typeof createServer>>;
    let url: string;
    const post = async (route: string, body: unknown) => {
      const r = await fetch(url + route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as any };
    };
    before(async () => {
      s = await createServer({ models: [{ name: 'minilm' }], headersTimeoutMs: 400, maxConnections: 24 });
      url = await s.app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(async () => s.close());

    it('/tokenize is bounded by tokens like /embed: 413 past max_input_length unless truncate is set', async () => {
      const long = 'word '.repeat(60_000);
      const r = await post('/tokenize', { inputs: [long, 'short'] });
      assert.equal(r.status, 413);
      assert.match(r.body.error, /inputs\[0\] must have at most 256 tokens, given more than 256/);
      const cut = await post('/tokenize', { inputs: [long], truncate: true });
      assert.equal(cut.status, 200);
      assert.equal(cut.body[0].length, 256);
      const left = await post('/tokenize', { inputs: ['a b ' + long + 'end'], truncate: true, truncation_direction: 'left' });
      assert.equal(left.body[0].at(-2).text, 'end');
    });

    it('/embed on a 1 MB text: 413 without truncate, and right truncation tokenizes only what it keeps', async () => {
      const long = 'lorem ipsum dolor sit amet '.repeat(40_000);
      assert.equal((await post('/embed', { inputs: long })).status, 413);
      const r = await post('/embed', { inputs: long, truncate: true });
      assert.equal(r.status, 200);
      const [want] = await e.embed([long]);
      assert.deepEqual(Float32Array.from(r.body[0]), want);
    });

    it('prompt_name "constructor" is a 422, not a 200', async () => {
      for (const name of ['constructor', 'toString', '__proto__']) assert.equal((await post('/embed', { inputs: 'x', prompt_name: name })).status, 422, name);
    });

    it('a slowloris client is cut off after the headers timeout; past the connection cap, sockets are closed at once', async () => {
      const port = Number(new URL(url).port);
      const open = (): Promise<net.Socket> =>
        new Promise((resolve, reject) => {
          const c = net.connect(port, '127.0.0.1', () => resolve(c));
          c.on('error', reject);
          c.resume(); // read (and drop) the 408 the server sends, so its close reaches us
        });
      const closed = (c: net.Socket) => new Promise<number>((resolve) => c.once('close', () => resolve(performance.now())));
      const t0 = performance.now();
      const slow = await Promise.all(Array.from({ length: 20 }, open));
      const ends = slow.map(closed);
      for (const c of slow) c.write('POST /embed HTTP/1.1\r\nHost: x\r\nX-Slow: '); // never finishes its headers
      // the cap (24): 4 more fit, the next is refused
      const extra = await Promise.all(Array.from({ length: 4 }, open));
      const over = await open();
      const overEnd = closed(over);
      const refusedAt = await overEnd;
      assert.ok(refusedAt - t0 < 1000, 'the socket past the cap is closed at once');
      extra.forEach((c) => c.destroy());
      const last = Math.max(...(await Promise.all(ends)));
      assert.ok(last - t0 < 3000, `slow sockets closed after ${(last - t0).toFixed(0)} ms (headers timeout 400 ms, checked every 400 ms)`);
      assert.equal((await fetch(url + '/health')).status, 200);
    });
  });
});

describe('hardening: /rerank arguments', function () {
  it('top_n must be a non-negative integer and texts non-empty (422), as TEI types them', async () => {
    const dir = path.join(__dirname, 'fixtures', 'heads', 'reranker');
    const s = await createServer({ models: [{ name: 'rr', dir }] });
    const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
    const post = async (body: unknown) => {
      const r = await fetch(url + '/rerank', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as any };
    };
    for (const top_n of [-1, 'abc', 1.5, true, [2]]) {
      const r = await post({ query: 'q', texts: ['a', 'b'], top_n });
      assert.equal(r.status, 422, JSON.stringify(top_n));
      assert.match(r.body.error, /top_n/);
    }
    const empty = await post({ query: 'q', texts: [] });
    assert.deepEqual([empty.status, empty.body.error_type], [422, 'Empty']);
    const ok = await post({ query: 'q', texts: ['a', 'b', 'c'], top_n: 2 });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.length, 2);
    assert.equal((await post({ query: 'q', texts: ['a'], top_n: 0 })).body.length, 0);
    await s.close();
  });
});
