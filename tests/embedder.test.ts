// Embedder API behaviour: empty and bad input, truncation, batch invariance, concurrency, async execution.
import assert from 'node:assert/strict';
import { BertrtError, Embedder } from '../lib';
import { f32, golden } from './helpers/fixtures';

describe('Embedder', function () {
  let e: Embedder;
  before(async () => {
    e = await Embedder.load(undefined, { threads: 2 });
  });
  after(async () => e.close());

  it('reports the dimension and max sequence length of the model', () => {
    assert.equal(e.dimension, 384);
    assert.equal(e.maxSeqLength, 256);
  });

  it('returns [] for an empty array', async () => {
    assert.deepEqual(await e.embed([]), []);
  });

  it('embeds the empty string as sentence-transformers does ([CLS] [SEP])', async () => {
    const ref = golden().sentences.find((s) => s.text === '')!;
    assert.deepEqual(ref.ids, [101, 102]);
    const [v] = await e.embed(['']);
    assert.ok(Math.max(...v.map((x, i) => Math.abs(x - f32(ref.embedding)[i]))) < 1e-5);
  });

  for (const [label, input] of [
    ['a number', [42]],
    ['null', [null]],
    ['an object', [{ text: 'x' }]],
  ] as const) {
    it(`rejects ${label} in the input with E_INVALID_ARGUMENT naming its index`, async () => {
      await assert.rejects(e.embed(['ok', ...(input as unknown as string[])]), (err: unknown) => {
        assert.ok(err instanceof BertrtError);
        assert.equal(err.code, 'E_INVALID_ARGUMENT');
        assert.match(err.message, /texts\[1\]/);
        return true;
      });
    });
  }

  it('rejects a non-array', async () => {
    await assert.rejects(e.embed('just a string' as unknown as string[]), { code: 'E_INVALID_ARGUMENT' });
  });

  it('truncates inputs longer than max_seq_length to exactly that many tokens (documented policy)', async () => {
    const long = 'word '.repeat(1000);
    const enc = e.tokenizer.encode(long, null, { maxLength: e.maxSeqLength });
    assert.equal(enc.ids.length, 256);
    const [a] = await e.embed([long]);
    const [b] = await e.embed(['word '.repeat(254)]); // 254 words + [CLS] + [SEP] = the same 256 tokens
    assert.deepEqual(a, b);
  });

  it('gives the same bits for a text alone and inside any batch (padding-free packing)', async () => {
    const texts = golden().sentences.slice(0, 40).map((s) => s.text);
    const together = await e.embed(texts);
    const reversed = await e.embed([...texts].reverse());
    for (let i = 0; i < texts.length; i += 7) {
      const [alone] = await e.embed([texts[i]]);
      assert.deepEqual(alone, together[i], `text ${i} alone vs batch`);
      assert.deepEqual(reversed[texts.length - 1 - i], together[i], `text ${i} in reversed batch`);
    }
  });

  it('100 overlapping calls give the same bits as sequential ones', async () => {
    const texts = golden().sentences.map((s) => s.text);
    const sequential: Float32Array[] = [];
    for (let i = 0; i < 100; i++) sequential.push((await e.embed([texts[i % texts.length]]))[0]);
    const concurrent = await Promise.all(Array.from({ length: 100 }, (_, i) => e.embed([texts[i % texts.length]])));
    concurrent.forEach(([v], i) => assert.deepEqual(v, sequential[i]));
  });

  it('runs inference off the main thread: timers keep firing while a large batch is in flight', async () => {
    const texts = Array.from({ length: 64 }, (_, i) => `sentence number ${i} `.repeat(20));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    let done = false;
    const p = e.embed(texts).then((v) => {
      done = true;
      return v;
    });
    // While the engine works (~0.5 s here), the event loop must keep turning: 5 timer ticks have to happen
    // before the batch completes. A synchronous run would give 0.
    while (ticks < 5 && !done) await new Promise((r) => setImmediate(r));
    const ticksBeforeDone = ticks;
    await p;
    clearInterval(timer);
    assert.ok(ticksBeforeDone >= 5, `only ${ticksBeforeDone} timer ticks before the batch finished`);
  });

  it('fails with E_CLOSED after close()', async () => {
    const e2 = await Embedder.load();
    await e2.close();
    await assert.rejects(e2.embed(['x']), { code: 'E_CLOSED' });
  });

  it('one lifecycle name: dispose() and Symbol.asyncDispose free it as close() does', async () => {
    const a = await Embedder.load();
    await a.dispose();
    await assert.rejects(a.embed(['x']), { code: 'E_CLOSED' });
    const b = await Embedder.load();
    await b[Symbol.asyncDispose]();
    await assert.rejects(b.embed(['x']), { code: 'E_CLOSED' });
  });
});

describe('Embedder options', function () {
  let e: Embedder;
  before(async () => {
    e = await Embedder.load();
  });
  after(async () => e.close());
  const long = 'alpha ' + 'word '.repeat(400) + 'omega';

  it("truncate: 'error' refuses a long text with E_INPUT_TOO_LONG naming its index", async () => {
    await assert.rejects(e.embed(['short', long], { truncate: 'error' }), (err: unknown) => {
      assert.ok(err instanceof BertrtError);
      assert.equal(err.code, 'E_INPUT_TOO_LONG');
      assert.match(err.message, /texts\[1\] has more than 256 tokens/); // tokenizing stops at the first token past the limit
      return true;
    });
    assert.equal((await e.embed(['short'], { truncate: 'error' })).length, 1);
  });

  it("truncate: 'left' keeps the end of the text", async () => {
    const [left] = await e.embed([long], { truncate: 'left' });
    const [tail] = await e.embed(['word '.repeat(253) + 'omega']);
    assert.deepEqual(left, tail);
  });

  it('prompt prefixes every text; an unknown promptName is refused', async () => {
    const [a] = await e.embed(['bar'], { prompt: 'query: ' });
    const [b] = await e.embed(['query: bar']);
    assert.deepEqual(a, b);
    await assert.rejects(e.embed(['x'], { promptName: 'nope' }), { code: 'E_INVALID_ARGUMENT' });
    // a prompt that is not a string is refused, not turned into text ("5bar")
    for (const prompt of [5, null, {}]) {
      const bad = { prompt } as unknown as { prompt: string };
      await assert.rejects(e.embed(['bar'], bad), { code: 'E_INVALID_ARGUMENT', message: /prompt must be a string/ });
      await assert.rejects(e.embedTokens(['bar'], bad), { code: 'E_INVALID_ARGUMENT', message: /prompt must be a string/ });
      await assert.rejects(e.encode(['bar'], bad), { code: 'E_INVALID_ARGUMENT', message: /prompt must be a string/ });
    }
  });

  it('truncateDim keeps the first dimensions, then normalizes', async () => {
    const [full] = await e.embed(['matryoshka'], { normalize: false });
    const [small] = await e.embed(['matryoshka'], { truncateDim: 64 });
    const head = full.slice(0, 64);
    const n = Math.hypot(...head);
    small.forEach((x, i) => assert.ok(Math.abs(x - head[i] / n) < 1e-6));
  });
});

describe('Embedder cancellation (AbortSignal)', function () {
  it('an aborted signal rejects with E_ABORTED; a signal aborted mid-call drops the batches not yet run; the embedder still works', async () => {
    const { Embedder: E, BertrtError: Err } = await import('../lib');
    const e = await E.load();
    const before = new AbortController();
    before.abort();
    await assert.rejects(e.embed(['x'], { signal: before.signal }), (err: unknown) => err instanceof Err && err.code === 'E_ABORTED');
    // many engine batches (16k tokens each): abort once the first has started; count the batches that ran
    const texts = Array.from({ length: 400 }, (_, i) => `text ${i} ` + 'word '.repeat(200));
    const mid = new AbortController();
    const run = e.encoder.run.bind(e.encoder);
    let batches = 0;
    (e.encoder as { run: typeof run }).run = (b) => {
      batches++;
      mid.abort(new Error('user gave up'));
      return run(b);
    };
    await assert.rejects(e.embed(texts, { signal: mid.signal }), (err: unknown) => err instanceof Err && err.code === 'E_ABORTED' && /user gave up/.test(err.message));
    assert.equal(batches, 1, 'the batches after the abort never ran');
    (e.encoder as { run: typeof run }).run = run;
    const [v] = await e.embed(['still working']);
    assert.equal(v.length, 384);
    await e.close();
  });
});
