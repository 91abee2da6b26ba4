// The compile fallback a consumer gets when no prebuild fits: node-gyp with binding.gyp, from a copy of the
// package's files, then the addon it built embeds a sentence. Needs Node's headers locally (npm's `nodedir`
// config or an existing node-gyp cache); without them node-gyp would download, so the test says so and skips.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { root, tmpDir } from './helpers/fixtures';

function nodeHeaders(): string | null {
  try {
    const dir = execFileSync('npm', ['config', 'get', 'nodedir'], { encoding: 'utf8' }).trim();
    if (dir && dir !== 'undefined' && fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h'))) return dir;
  } catch {
    /* fall through */
  }
  return null;
}

describe('node-gyp fallback build (binding.gyp)', function () {
  this.timeout(600_000);
  it('compiles the addon with node-gyp and the result runs', function () {
    if (!nodeHeaders()) this.skip(); // no local Node headers: node-gyp would need the network
    const work = tmpDir('bertrt-gyp-');
    for (const f of ['binding.gyp', 'package.json']) fs.copyFileSync(path.join(root, f), path.join(work, f));
    fs.cpSync(path.join(root, 'native'), path.join(work, 'native'), { recursive: true });
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(work, 'node_modules'));
    // npm puts its bundled node-gyp on PATH for scripts: run it the way the install script would
    const pkg = JSON.parse(fs.readFileSync(path.join(work, 'package.json'), 'utf8'));
    pkg.scripts = { gyp: 'node-gyp rebuild -j 2' };
    fs.writeFileSync(path.join(work, 'package.json'), JSON.stringify(pkg));
    execFileSync('npm', ['run', 'gyp'], { cwd: work, stdio: 'pipe' });
    const addon = require(path.join(work, 'build', 'Release', 'bertrt.node')) as { info(): { isa: string; isas: string[] } };
    const i = addon.info();
    assert.ok(i.isas.includes(i.isa));
  });
});
