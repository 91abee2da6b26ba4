// The install a user gets: `npm run prebuild` (prebuildify over cmake-js), `npm pack`, then the tarball installed
// into a fresh folder whose PATH has node and npm but no compiler, cmake or make, and a sentence embedded there.
// Works in a scratch copy of the package so rebuilding never touches the addon this test process has loaded.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cosine, f32, golden, root, tmpDir } from './helpers/fixtures';

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('packaged install (prebuild inside, no compiler on PATH)', function () {
  this.timeout(600_000);
  let tarball: string;
  let consumer: string;
  let bareEnv: NodeJS.ProcessEnv;

  before(() => {
    const work = tmpDir('bertrt-pack-');
    const files = sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], root).split('\0').filter(Boolean);
    for (const f of files) {
      if (!fs.existsSync(path.join(root, f))) continue;
      fs.mkdirSync(path.dirname(path.join(work, f)), { recursive: true });
      fs.copyFileSync(path.join(root, f), path.join(work, f));
    }
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(work, 'node_modules'));
    // the ONNX backend's headers: the ones this checkout fetched, rather than fetching them again into the copy
    const ortInclude = path.join(root, '.onnxruntime', 'include');
    sh('npm', ['run', 'prebuild'], work, fs.existsSync(ortInclude) ? { ...process.env, BERTRT_ORT_INCLUDE: ortInclude } : process.env);
    assert.ok(fs.existsSync(path.join(work, 'prebuilds', 'linux-x64')), 'prebuildify wrote nothing');
    const packed = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', work], work)) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = path.join(work, packed[0].filename);
    const paths = packed[0].files.map((f) => f.path);
    assert.ok(paths.some((p) => p.startsWith('prebuilds/linux-x64/') && p.endsWith('.node')), 'tarball lacks the prebuild');
    assert.ok(paths.includes('models/all-MiniLM-L6-v2/model.safetensors'), 'tarball lacks the default model');
    assert.ok(paths.includes('dist/index.js') && paths.includes('dist/index.d.ts'), 'tarball lacks compiled JS and types');

    // A PATH with node, npm and a shell (npm runs lifecycle scripts through sh) and nothing else.
    const bin = tmpDir('bertrt-bin-');
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
    const npmCli = fs.realpathSync(sh('sh', ['-c', 'command -v npm'], root).trim());
    fs.symlinkSync(npmCli, path.join(bin, 'npm'));
    bareEnv = { ...process.env, PATH: bin };
    for (const tool of ['cc', 'gcc', 'g++', 'c++', 'clang', 'cmake', 'make']) {
      assert.throws(() => sh('sh', ['-c', `command -v ${tool}`], root, { PATH: bin }), `${tool} is still reachable`);
    }
    consumer = tmpDir('bertrt-consumer-');
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    sh(path.join(bin, 'npm'), ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], consumer, bareEnv);
  });

  it('require("bertrt") embeds a sentence equal to the reference, from the prebuild', () => {
    const script = `
      const { Embedder, info } = require('bertrt');
      (async () => {
        const e = await Embedder.load();
        const [v] = await e.embed(['The weather is lovely today.']);
        await e.close();
        console.log(JSON.stringify({ v: Array.from(v), info: info() }));
      })().catch((err) => { console.error(err); process.exit(1); });`;
    const out = JSON.parse(sh(path.join(bareEnv.PATH!, 'node'), ['-e', script], consumer, bareEnv));
    const addon = path.join(consumer, 'node_modules', 'bertrt', 'build');
    assert.ok(!fs.existsSync(addon), 'a build/ folder exists: something compiled during install');
    const ref = f32(golden().sentences.find((s) => s.text === 'The weather is lovely today.')!.embedding);
    assert.ok(cosine(out.v, ref) > 0.99999);
    assert.ok(out.v.every((x: number, i: number) => Math.abs(x - ref[i]) < 1e-5));
  });

  it('the prebuild has the ONNX backend, and finds onnxruntime in the optional onnxruntime-node dependency', () => {
    const script = `
      const { onnxruntimeInfo } = require('bertrt');
      console.log(JSON.stringify(onnxruntimeInfo()));`;
    const got = JSON.parse(sh(path.join(bareEnv.PATH!, 'node'), ['-e', script], consumer, bareEnv));
    assert.equal(got.available, true, got.reason);
    assert.ok(got.library.startsWith(path.join(consumer, 'node_modules', 'onnxruntime-node')), got.library);
  });

  it('the bertrt bin works from the installed package', () => {
    const out = sh(path.join(consumer, 'node_modules', '.bin', 'bertrt'), ['embed', 'hello'], consumer, bareEnv);
    const [v] = JSON.parse(out) as number[][];
    assert.equal(v.length, 384);
  });
});
