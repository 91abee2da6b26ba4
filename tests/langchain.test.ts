// The LangChain.js adapter (issue 19), against the real @langchain/core: BertrtEmbeddings is a LangChain
// Embeddings whose vectors are the Embedder's, queries and documents with their own prompts, reachable as the
// package's `bertrt/langchain` subpath.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Embeddings } from '@langchain/core/embeddings';
import { Embedder } from '../lib';
import { BertrtEmbeddings } from '../lib/langchain';
import { root, tmpDir, writeTinyModel } from './helpers/fixtures';

describe('LangChain adapter (bertrt/langchain)', function () {
  this.timeout(120_000);

  it("is a LangChain Embeddings giving the Embedder's vectors", async () => {
    const lc = new BertrtEmbeddings();
    assert.ok(lc instanceof Embeddings);
    const e = await Embedder.load();
    const docs = ['A man is eating food.', 'A man is eating a piece of bread.', 'The girl is carrying a baby.'];
    const got = await new BertrtEmbeddings({ batchSize: 2 }).embedDocuments(docs);
    assert.deepEqual(got, (await e.embed(docs)).map((v) => Array.from(v)));
    assert.deepEqual(await lc.embedQuery('A man is eating pasta.'), Array.from((await e.embed(['A man is eating pasta.']))[0]));
    await lc.dispose();
    await e.close();
  });

  it('queries and documents take their own prompts (words of the tiny model vocabulary)', async () => {
    const dir = writeTinyModel();
    fs.writeFileSync(path.join(dir, 'config_sentence_transformers.json'), JSON.stringify({ prompts: { query: 'hello ', passage: 'world ' } }));
    const lc = new BertrtEmbeddings({ model: dir, queryPromptName: 'query', documentPromptName: 'passage' });
    const e = await Embedder.load(dir);
    assert.deepEqual(await lc.embedQuery('the cat'), Array.from((await e.embed(['the cat'], { promptName: 'query' }))[0]));
    assert.deepEqual(await lc.embedDocuments(['the dog']), [Array.from((await e.embed(['the dog'], { promptName: 'passage' }))[0])]);
    assert.notDeepEqual(await lc.embedQuery('the cat'), (await lc.embedDocuments(['the cat']))[0]);
    await lc.dispose();
    await e.close();
  });

  it('resolves as require("bertrt/langchain") from another project', () => {
    const dir = tmpDir('bertrt-lc-');
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(root, path.join(dir, 'node_modules', 'bertrt'), 'dir');
    const code = "const { BertrtEmbeddings } = require('bertrt/langchain'); new BertrtEmbeddings().embedQuery('hi').then((v) => console.log(v.length));";
    const r = spawnSync(process.execPath, ['-e', code], { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '384');
  });
});
