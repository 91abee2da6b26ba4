// The native boundary: bad packed batches from a caller get typed errors (never a crash), and errors created
// in C++ are instances of the same BertrtError class as TS errors.
import assert from 'node:assert/strict';
import { BertrtError, Encoder, info } from '../lib';
import { writeTinyModel } from './helpers/fixtures';

describe('native engine boundary', function () {
  let enc: Encoder;
  before(async () => {
    enc = await Encoder.load(writeTinyModel(), { threads: 1 });
  });
  after(() => enc.close());

  const cases: Array<[string, () => Parameters<Encoder['run']>[0], string, RegExp]> = [
    ['id outside the vocabulary', () => ({ ids: Int32Array.of(2, 40, 3), typeIds: null, cuSeqlens: Int32Array.of(0, 3) }), 'E_INVALID_ARGUMENT', /token id 40/],
    ['negative id', () => ({ ids: Int32Array.of(-1), typeIds: null, cuSeqlens: Int32Array.of(0, 1) }), 'E_INVALID_ARGUMENT', /token id -1/],
    ['type id outside type_vocab_size', () => ({ ids: Int32Array.of(2, 3), typeIds: Int32Array.of(0, 2), cuSeqlens: Int32Array.of(0, 2) }), 'E_INVALID_ARGUMENT', /token type id 2/],
    ['cuSeqlens past the end', () => ({ ids: Int32Array.of(2, 3), typeIds: null, cuSeqlens: Int32Array.of(0, 5) }), 'E_INVALID_ARGUMENT', /cuSeqlens/],
    ['decreasing cuSeqlens', () => ({ ids: Int32Array.of(2, 3), typeIds: null, cuSeqlens: Int32Array.of(0, 2, 1, 2) }), 'E_INVALID_ARGUMENT', /cuSeqlens/],
    ['cuSeqlens not starting at 0', () => ({ ids: Int32Array.of(2, 3), typeIds: null, cuSeqlens: Int32Array.of(1, 2) }), 'E_INVALID_ARGUMENT', /cuSeqlens\[0\]/],
    ['sequence longer than the position table', () => ({ ids: new Int32Array(25).fill(5), typeIds: null, cuSeqlens: Int32Array.of(0, 25) }), 'E_INPUT_TOO_LONG', /25 tokens.*at most 24/],
    ['ids not an Int32Array', () => ({ ids: [2, 3] as unknown as Int32Array, typeIds: null, cuSeqlens: Int32Array.of(0, 2) }), 'E_INVALID_ARGUMENT', /Int32Array/],
    ['typeIds of another length', () => ({ ids: Int32Array.of(2, 3), typeIds: Int32Array.of(0), cuSeqlens: Int32Array.of(0, 2) }), 'E_INVALID_ARGUMENT', /length/],
  ];
  for (const [label, batch, code, pattern] of cases) {
    it(`${label} → ${code}`, async () => {
      await assert.rejects(
        (async () => enc.run(batch()))(),
        (err: unknown) => {
          assert.ok(err instanceof BertrtError, `not a BertrtError: ${String(err)}`);
          assert.equal(err.code, code);
          assert.match(err.message, pattern);
          return true;
        },
      );
    });
  }

  it('an empty batch gives an empty result', async () => {
    const out = await enc.run({ ids: new Int32Array(0), typeIds: null, cuSeqlens: Int32Array.of(0) });
    assert.equal(out.length, 0);
  });

  it('still works after every bad call', async () => {
    const out = await enc.run({ ids: Int32Array.of(2, 7, 3), typeIds: null, cuSeqlens: Int32Array.of(0, 3) });
    assert.equal(out.length, 3 * 32);
    assert.ok(out.every(Number.isFinite));
  });

  it('info() reports the kernels in use and the CPU features', () => {
    const i = info();
    assert.ok(i.isas.includes('generic'));
    assert.ok(i.isas.includes(i.isa));
    assert.ok(i.physicalCores >= 1);
  });
});
