// The permanent fuzzers' CI slice (issue 15), seeded so a failure reproduces: the differential tokenizer fuzzer
// against HF tokenizers, 20,000 inputs per tokenizer configuration (100,000 in all), and the structure-aware
// fuzzers of the tokenizer.json loader, the model folder (config, safetensors header and bytes, sentence-
// transformers files) and the server's request bodies. `npm run fuzz` runs the same with a million inputs.
import assert from 'node:assert/strict';
import { FAMILIES, fuzzModelFiles, fuzzTokenizerJson, sweepFamilyConfigs } from '../fuzz/files';
import { fuzzServer } from '../fuzz/server';
import { configs, engines, fuzz, mismatch } from '../fuzz/tokenizer';

const SEED = 20261201;

describe('fuzzing (seeded CI slice)', function () {
  this.timeout(600_000);

  // 20,000 inputs for each WordPiece configuration, 5,000 for each of Tokenizers II's (CI time)
  for (const [k, c] of configs().entries()) {
    const n = k < 5 ? 20_000 : 5_000;
    it(`tokenizer "${c.name}": ${n.toLocaleString('en')} random inputs identical to HF tokenizers (ids, offsets, masks, word ids)`, async () => {
      const r = await fuzz(engines(c), SEED, n);
      assert.equal(r.inputs, n);
      assert.deepEqual(r.crashes, []);
      assert.equal(r.mismatches.length, 0, r.mismatches.slice(0, 5).map((m) => `minimized ${JSON.stringify(m.minimized)}: ${m.why}`).join('\n'));
    });
  }

  // Precompiled finds grapheme clusters itself where only combining marks and lone Hangul syllables join (the
  // segmenter does the rest): the cases those shortcuts decide, and their neighbours, against HF on XLM-R's pipeline
  it('XLM-R pipeline: the cluster cases Precompiled decides without the segmenter are identical to HF', async () => {
    const e = engines(configs().find((c) => c.name === 'xlmr')!);
    const cases = [
      'e\u0301 cafe\u0301! ok', '\u0301start', '\u0301\u0302', 'x\u0301\u0302\u0303y', '\n\u0301', '\t\u0670x', '\u0001\u0316',
      'a\u102b', '\u1000\u102b\u1038', 'a\u2028\u0301', '한국어 텍스트', '\u1100\u1161\u11a8', '\uac00\u11a8', '가\u0301', '각각 각',
      '\u0915\u094d\u0937', 'ก\u0e33', 'क़ि', '👍🏽', '🇩🇪🇫🇷', 'a\u200db', '\r\n\u0301', '👩\u200d💻', 'ﬁ\u0007', 'ǆ', '⒄\u001b',
      'Ἀ\u0345\u0301', 'ä\u0308\u0308', '\u05d0\u05b7\u05ae', '\u0627\u064b\u0670', 'x\u1ab0\u1dc0',
    ];
    for (const x of cases) assert.equal(await mismatch(e, x), null, JSON.stringify(x));
  });

  it('tokenizer.json: 2,000 mutated files, each loaded or refused with a BertrtError; loaded ones encode', async () => {
    const r = await fuzzTokenizerJson(SEED, 2000);
    assert.deepEqual(r.failures, []);
    assert.ok(r.accepted > 100 && r.accepted < 1900, `${r.accepted} accepted: the mutations should both pass and fail the checks`);
  });

  it('model folders: 400 mutated tiny models, each loaded (and giving finite vectors) or refused with a BertrtError', async () => {
    const r = await fuzzModelFiles(SEED, 400);
    assert.deepEqual(r.failures, []);
    assert.ok(r.accepted > 10, `${r.accepted} accepted`);
  });

  it(`family folders: 400 mutated seeded models of the ${FAMILIES.length} families, each loaded (and giving finite vectors) or refused with a BertrtError`, async () => {
    const r = await fuzzModelFiles(SEED, 400, true);
    assert.deepEqual(r.failures, []);
    assert.ok(r.accepted > 10, `${r.accepted} accepted`);
  });

  it('family configs: every config.json key of each family set to each of 10 hostile values (and removed), loaded in FP32', async () => {
    const r = await sweepFamilyConfigs([null, true, 0, -1, 1.5, 1e9, 2 ** 31, '', [], {}], ['fp32']);
    assert.deepEqual(r.failures, []);
    // both outcomes occur: keys a family ignores load, broken sizes and types are refused
    assert.ok(r.accepted > r.cases / 10 && r.accepted < r.cases * 0.9, `${r.accepted} of ${r.cases} accepted`);
  });

  it('server: 1,000 mutated request bodies, each a 2xx or a shaped 4xx, never a 5xx; healthy afterwards', async () => {
    const r = await fuzzServer(SEED, 1000);
    assert.deepEqual(r.failures, []);
    assert.ok(r.accepted > 50, `${r.accepted} accepted`);
  });
});
