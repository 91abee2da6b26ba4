// Rewrites the *.json.gz the Python fixture scripts write (tests/fixtures, tokenizer/, families/, real/, outputs/) as brotli
// (.json.br), a half to a tenth smaller; the tokenizer conformance fixtures go into the denser .refs.br container
// (tests/helpers/refs.ts), checked to unpack deep-equal before the .gz is removed. The tests read only these.
// The seeded heads and family models' model.safetensors are stored as model.safetensors.br (git ignores the plain
// file, which tests/helpers/fixtures-setup.ts writes back before the tests run).
// Run after any tools/make_*.py: npx tsx tools/compress_fixtures.ts
import { deepStrictEqual } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { brotli, packRefs, unpackRefs } from '../tests/helpers/refs';

const fixtures = path.join(__dirname, '..', 'tests', 'fixtures');

for (const dir of ['', 'tokenizer', 'families', 'real', 'outputs']) for (const f of fs.readdirSync(path.join(fixtures, dir))) {
  if (!f.endsWith('.json.gz') || f === 'corpus.json.gz') continue;
  const file = path.join(fixtures, dir, f);
  const raw = zlib.gunzipSync(fs.readFileSync(file));
  let out: string, packed: Buffer;
  if (dir === 'tokenizer' && !f.endsWith('.tokenizer.json.gz')) {
    const doc = JSON.parse(raw.toString('utf8'));
    packed = packRefs(doc);
    deepStrictEqual(unpackRefs(packed), doc);
    out = file.replace(/\.json\.gz$/, '.refs.br');
  } else {
    packed = brotli(raw);
    out = file.replace(/\.gz$/, '.br');
  }
  fs.writeFileSync(out, packed);
  fs.unlinkSync(file);
  console.log(f, raw.length, '->', path.basename(out), packed.length);
}
// plain JSON references written by tools/make_head_models.py, make_qa_models.py and make_onnx_fixtures.py
for (const f of ['heads/expected.json', 'heads/expected-qa.json', 'onnx/expected.json', 'real/onnx.json'].map((x) => path.join(fixtures, x)).filter((x) => fs.existsSync(x))) {
  const raw = fs.readFileSync(f);
  fs.writeFileSync(`${f}.br`, zlib.brotliCompressSync(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }));
  fs.unlinkSync(f);
  console.log(path.basename(f), raw.length, '->', fs.statSync(`${f}.br`).size);
}
// the seeded heads and family models (tools/make_head_models.py, make_qa_models.py, make_family_models.py)
for (const dir of ['heads', 'families']) {
  for (const name of fs.readdirSync(path.join(fixtures, dir))) {
    const f = path.join(fixtures, dir, name, 'model.safetensors');
    if (!fs.existsSync(f)) continue;
    const raw = fs.readFileSync(f);
    const packed = brotli(raw);
    if (!zlib.brotliDecompressSync(packed).equals(raw)) throw new Error(`${f}: brotli round trip differs`);
    fs.writeFileSync(`${f}.br`, packed);
    console.log(`${dir}/${name}/model.safetensors`, raw.length, '->', packed.length);
  }
}
