// Every JavaScript block of the README runs as written (issue 19): each is saved as an ES module in a scratch
// project whose node_modules/bertrt is this package, with the model folders the samples name (./my-sst2-model,
// ...) linked to the seeded test models (./my-onnx-model: the seeded ONNX graph, from the copy that holds its
// external data; ./my-bge-m3-model and ./my-colbert-model: the multi-vector tests' models), and must exit 0.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultModel, familyFixture, onnxFixtures, overlayDir, root, tmpDir } from './helpers/fixtures';

const heads = path.join(root, 'tests', 'fixtures', 'heads');
const outputs = path.join(root, 'tests', 'fixtures', 'outputs');
const MODELS: Record<string, string> = {
  'my-sst2-model': 'classifier',
  'my-ner-model': 'ner',
  'my-bert-base': 'mlm',
  'my-bert-nsp-model': 'nsp',
  'my-squad-model': 'qa',
  'my-nli-model': 'nli',
  'my-cross-encoder': 'reranker',
};

describe('README', function () {
  this.timeout(120_000);
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);

  it('has JavaScript samples', () => assert.ok(blocks.length >= 2, `${blocks.length} blocks`));

  blocks.forEach((code, i) => {
    it(`JavaScript block ${i + 1} (${code.split('\n')[0].slice(0, 50)}) runs as written`, () => {
      const dir = tmpDir('bertrt-readme-');
      fs.mkdirSync(path.join(dir, 'node_modules'));
      fs.symlinkSync(root, path.join(dir, 'node_modules', 'bertrt'), 'dir');
      for (const [name, fixture] of Object.entries(MODELS)) fs.symlinkSync(path.join(heads, fixture), path.join(dir, name), 'dir');
      fs.symlinkSync(path.join(onnxFixtures(), 'bert'), path.join(dir, 'my-onnx-model'), 'dir');
      // ./my-bge-m3-model: the seeded XLM-R with the seeded bge-m3 heads; ./my-colbert-model: the embedded MiniLM with
      // the seeded pylate Dense (tests/multivector.test.ts' models)
      fs.symlinkSync(overlayDir(familyFixture('xlm-roberta').dir, path.join(outputs, 'm3')), path.join(dir, 'my-bge-m3-model'), 'dir');
      fs.symlinkSync(overlayDir(defaultModel, path.join(outputs, 'colbert')), path.join(dir, 'my-colbert-model'), 'dir');
      fs.writeFileSync(path.join(dir, 'sample.mjs'), code);
      const r = spawnSync(process.execPath, ['sample.mjs'], { cwd: dir, encoding: 'utf8', timeout: 100_000 });
      assert.equal(r.status, 0, `block ${i + 1} exited ${r.status ?? r.signal}:\n${r.stderr}`);
    });
  });
});
