// Rewrites the *.json.gz the Python fixture scripts write (tests/fixtures, tokenizer/, families/, real/) as brotli
// (.json.br): a half to a tenth smaller; the tests read .br. Run after any tools/make_*.py: node tools/compress_fixtures.mjs
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const fixtures = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'tests', 'fixtures');
for (const dir of ['', 'tokenizer', 'families', 'real'].map((d) => path.join(fixtures, d))) for (const f of fs.readdirSync(dir)) {
  if (!f.endsWith('.json.gz') || f === 'corpus.json.gz') continue;
  const raw = zlib.gunzipSync(fs.readFileSync(path.join(dir, f)));
  const br = zlib.brotliCompressSync(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_LGWIN]: 24, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length } });
  fs.writeFileSync(path.join(dir, f.replace(/\.gz$/, '.br')), br);
  fs.unlinkSync(path.join(dir, f));
  console.log(f, raw.length, '->', br.length);
}
// plain JSON references written by tools/make_qa_models.py and tools/make_onnx_fixtures.py
for (const f of ['heads/expected-qa.json', 'onnx/expected.json', 'real/onnx.json'].map((x) => path.join(fixtures, x)).filter((x) => fs.existsSync(x))) {
  const raw = fs.readFileSync(f);
  fs.writeFileSync(`${f}.br`, zlib.brotliCompressSync(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }));
  fs.unlinkSync(f);
  console.log(path.basename(f), raw.length, '->', fs.statSync(`${f}.br`).size);
}
