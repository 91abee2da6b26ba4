// Tokenizer behaviour beyond the golden ids: offsets, loaders, pairs, truncation, decoding, bad input.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError, Tokenizer } from '../lib';
import { defaultModel, golden, readFixture, rng, root, tmpDir } from './helpers/fixtures';

describe('Tokenizer', function () {
  const tok = Tokenizer.fromDir(defaultModel);

  it('offsets index the original string (UTF-16), through accents, CJK and emoji', () => {
    // HF tokenizers gives tokens [cafe, 東, 京, [UNK], naive] with code-point offsets (0,4) (5,6) (6,7) (8,9)
    // (10,15); in UTF-16 units the emoji counts 2, so the last two become (8,10) (11,16).
    const text = 'Café 東京 😀 naïve';
    const e = tok.encode(text);
    assert.deepEqual(e.tokens, ['[CLS]', 'cafe', '東', '京', '[UNK]', 'naive', '[SEP]']);
    assert.deepEqual(e.offsets, [[0, 0], [0, 4], [5, 6], [6, 7], [8, 10], [11, 16], [0, 0]]);
    assert.equal(text.slice(...e.offsets[1]), 'Café');
    assert.equal(text.slice(...e.offsets[4]), '😀');
  });

  it('special tokens get [0, 0] offsets, type 0, and the special-tokens mask', () => {
    const e = tok.encode('hello world');
    assert.deepEqual(Array.from(e.ids), [101, 7592, 2088, 102]);
    assert.deepEqual(Array.from(e.specialTokensMask), [1, 0, 0, 1]);
    assert.deepEqual(e.offsets, [[0, 0], [0, 5], [6, 11], [0, 0]]);
    assert.deepEqual(e.wordIds, [null, 0, 1, null]);
  });

  it('pairs: [CLS] A [SEP] B [SEP] with type ids 0 then 1', () => {
    const e = tok.encode('how are you', 'fine thanks');
    assert.deepEqual(e.tokens, ['[CLS]', 'how', 'are', 'you', '[SEP]', 'fine', 'thanks', '[SEP]']);
    assert.deepEqual(Array.from(e.typeIds), [0, 0, 0, 0, 0, 1, 1, 1]);
    assert.deepEqual(e.sequenceIds, [null, 0, 0, 0, null, 1, 1, null]);
  });

  it('truncation keeps maxLength tokens including the specials', () => {
    const e = tok.encode('one two three four five six', null, { maxLength: 5 });
    assert.deepEqual(e.tokens, ['[CLS]', 'one', 'two', 'three', '[SEP]']);
    assert.throws(() => tok.encode('x', null, { maxLength: 1 }), { code: 'E_INVALID_ARGUMENT' });
  });

  it('added tokens in the text are matched before normalization', () => {
    const e = tok.encode('Paris is the [MASK] of France.');
    assert.ok(e.tokens.includes('[MASK]'));
    assert.equal(e.ids[e.tokens.indexOf('[MASK]')], 103);
    // lowercase "[mask]" is not the special token
    assert.ok(!tok.encode('the [mask] here').tokens.includes('[MASK]'));
  });

  it('vocab.txt + tokenizer_config.json gives the same ids as tokenizer.json on the golden sentences', () => {
    const dir = tmpDir();
    for (const f of ['tokenizer_config.json', 'special_tokens_map.json']) fs.copyFileSync(path.join(defaultModel, f), path.join(dir, f));
    // the model's vocab.txt is its WordPiece vocabulary one token per line in id order (the package does not ship
    // it: tokenizer.json holds the same list); the reference is HF's ids in the golden fixture
    const vocab = JSON.parse(fs.readFileSync(path.join(defaultModel, 'tokenizer.json'), 'utf8')).model.vocab as Record<string, number>;
    const lines: string[] = [];
    for (const [t, id] of Object.entries(vocab)) lines[id] = t;
    assert.equal(lines.filter((x) => x !== undefined).length, Object.keys(vocab).length);
    fs.writeFileSync(path.join(dir, 'vocab.txt'), lines.join('\n') + '\n');
    const fromVocab = Tokenizer.fromDir(dir);
    for (const s of golden().sentences) {
      assert.deepEqual(Array.from(fromVocab.encode(s.text, null, { maxLength: 256 }).ids), s.ids, JSON.stringify(s.text));
    }
  });

  it('decode joins word pieces and cleans up spaces token by token, as HF does', () => {
    // HF tokenizers gives "it ' s" here: its cleanup runs per token, so " ' " never appears within one token.
    const e = tok.encode("Hello, world! It's unbelievable.");
    assert.equal(tok.decode(e.ids), "hello, world! it ' s unbelievable.");
    assert.equal(tok.decode(e.ids, { skipSpecialTokens: false }).startsWith('[CLS] hello'), true);
  });

  it('control characters are dropped and odd whitespace separates words', () => {
    const e = tok.encode('a\u0000b\u200bc\u00a0d\te');
    assert.deepEqual(e.tokens.slice(1, -1), ['abc', 'd', 'e']);
  });

  it('words longer than 100 characters become [UNK]', () => {
    const e = tok.encode('x'.repeat(101) + ' ok');
    assert.deepEqual(e.tokens, ['[CLS]', '[UNK]', 'ok', '[SEP]']);
  });

  it('non-string input throws E_INVALID_ARGUMENT', () => {
    assert.throws(() => tok.encode(5 as unknown as string), { code: 'E_INVALID_ARGUMENT' });
    assert.throws(() => tok.encode('a', 5 as unknown as string), { code: 'E_INVALID_ARGUMENT' });
  });

  it('lone surrogates never throw and never give out-of-range offsets', () => {
    const text = 'a\ud800b \udc00 c';
    const e = tok.encode(text);
    e.offsets.forEach(([s, t]) => assert.ok(s >= 0 && t <= text.length && s <= t));
  });
});

describe('Tokenizer padding', function () {
  const tok = Tokenizer.fromDir(defaultModel);

  it('pads a batch to its longest, right or left, with [PAD], attention 0, special mask 1, offsets [0, 0]', () => {
    for (const direction of ['right', 'left'] as const) {
      const [a, b] = tok.encodeBatch(['hello world', 'hi'], { padding: { direction } });
      assert.equal(a.ids.length, 4);
      assert.equal(b.ids.length, 4);
      const padAt = direction === 'right' ? 3 : 0;
      assert.equal(b.ids[padAt], tok.tokenToId('[PAD]'));
      assert.equal(b.attentionMask[padAt], 0);
      assert.equal(b.specialTokensMask[padAt], 1);
      assert.deepEqual(b.offsets[padAt], [0, 0]);
      assert.equal(b.wordIds[padAt], null);
      assert.deepEqual(Array.from(b.attentionMask).filter((x) => x === 1).length, 3);
      assert.deepEqual(Array.from(a.attentionMask), [1, 1, 1, 1]);
    }
  });

  it('pads to a fixed length or to a multiple, and refuses a bad multiple', () => {
    const [x] = tok.encodeBatch(['hello world'], { padding: { length: 10 } });
    assert.equal(x.ids.length, 10);
    const [y] = tok.encodeBatch(['hello world'], { padding: { padToMultipleOf: 8 } });
    assert.equal(y.ids.length, 8);
    assert.throws(() => tok.encodeBatch(['x'], { padding: { padToMultipleOf: 0 } }), { code: 'E_INVALID_ARGUMENT' });
  });
});

describe('Tokenizer: legacy files and components (Tokenizers II)', () => {
  const fixtures = path.join(root, 'tests', 'fixtures', 'tokenizer');
  const corpus: string[] = readFixture(path.join(fixtures, 'corpus.json.gz'));

  it("vocab.json + merges.txt give what the same model's tokenizer.json gives (RoBERTa's byte-level BPE)", () => {
    const spec = readFixture(path.join(fixtures, 'roberta.tokenizer.json.br'));
    const dir = tmpDir();
    // RoBERTa's vocab.json holds its special tokens too
    const vocab = { ...spec.model.vocab, ...Object.fromEntries(spec.added_tokens.map((t: { content: string; id: number }) => [t.content, t.id])) };
    fs.writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(vocab));
    fs.writeFileSync(path.join(dir, 'merges.txt'), '#version: 0.2\n' + spec.model.merges.map((m: string | string[]) => (Array.isArray(m) ? m.join(' ') : m)).join('\n') + '\n');
    const legacy = Tokenizer.fromDir(dir);
    const ref = Tokenizer.fromJSON(spec);
    for (const s of [...corpus.slice(0, 1500), 'a <mask> b', 'Hello world']) {
      const a = legacy.encode(s, null, { offsets: 'codepoint' });
      const b = ref.encode(s, null, { offsets: 'codepoint' });
      assert.deepEqual(Array.from(a.ids), Array.from(b.ids), JSON.stringify(s));
      assert.deepEqual(a.offsets, b.offsets, JSON.stringify(s));
      assert.equal(legacy.decode(a.ids), ref.decode(b.ids));
    }
  });

  it('a folder with only a SentencePiece model is refused with the conversion to run', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'sentencepiece.bpe.model'), Buffer.alloc(16));
    assert.throws(() => Tokenizer.fromDir(dir), (e: BertrtError) => e.code === 'E_UNSUPPORTED' && /save_pretrained/.test(e.message));
  });

  it('components bertrt does not implement are refused naming them, never approximated', () => {
    const spec = readFixture(path.join(fixtures, 'roberta.tokenizer.json.br'));
    for (const [field, value, name] of [
      ['pre_tokenizer', { type: 'Future' }, 'Future'],
      ['normalizer', { type: 'Future' }, 'Future'],
      ['decoder', { type: 'Future' }, 'Future'],
    ] as const) {
      const j = { ...spec, [field]: value };
      assert.throws(() => Tokenizer.fromJSON(j), (e: BertrtError) => e.code === 'E_UNSUPPORTED' && e.message.includes(name));
    }
    assert.throws(() => Tokenizer.fromJSON({ ...spec, model: { ...spec.model, dropout: 0.1 } }), (e: BertrtError) => e.code === 'E_UNSUPPORTED' && /dropout/.test(e.message));
  });

  it('a corrupt Precompiled charsmap is refused at load, and odd bytes in it never crash a lookup', () => {
    const spec = readFixture(path.join(fixtures, 'xlmr.tokenizer.json.br'));
    const map: string = spec.normalizer.normalizers[0].precompiled_charsmap;
    const bad = (charsmap: string) => Tokenizer.fromJSON({ ...spec, normalizer: { type: 'Precompiled', precompiled_charsmap: charsmap } });
    assert.throws(() => bad('AAA='), (e: BertrtError) => e.code === 'E_MODEL_FORMAT');
    assert.throws(() => bad('not base64!'), (e: BertrtError) => e.code === 'E_MODEL_FORMAT');
    // the trie's units flipped at random: loads or is refused, and encodes without throwing anything else
    const bytes = Buffer.from(map, 'base64');
    const r = rng(11);
    for (let k = 0; k < 20; k++) {
      const b = Buffer.from(bytes);
      for (let i = 0; i < 200; i++) b[4 + Math.floor(r() * (b.length - 4))] = Math.floor(r() * 256);
      let tok: Tokenizer | null = null;
      try {
        tok = bad(b.toString('base64'));
      } catch (e) {
        assert.ok(e instanceof BertrtError, String(e));
      }
      for (const s of corpus.slice(0, 200)) tok?.encode(s);
    }
  });
});
