// Finds onnxruntime's C API headers for the ONNX backend, or fetches them. onnxruntime-node ships the library but not
// its headers; the npm package com.github.asus4.onnxruntime 0.4.9 (MIT) carries onnxruntime 1.29's (API version
// 29). It is fetched with `npm pack` (pinned version and integrity), and only its header folder is kept, in
// .onnxruntime/include (git-ignored, reused on later runs). Never committed.
// Prints the include folder on stdout; exits 1 with the reason on stderr if none can be had (the build then leaves
// the ONNX backend out and says so).
//   node scripts/get-onnxruntime-headers.mjs     use $BERTRT_ORT_INCLUDE, or .onnxruntime/include (fetching it)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const home = path.join(root, '.onnxruntime');
const include = path.join(home, 'include');
const PACKAGE = 'com.github.asus4.onnxruntime@0.4.9';
const INTEGRITY = 'sha512-BkzxduSZ9IkeDP6Q8lz2TFU2ie7hSSvS7ZIfzMooExoq0CNzJnuuGaUJ7IsojBgqO4ouD1jXah8OYyJbCN29Fg==';
const HEADERS = 'package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers';
const API_VERSION = 29;

function fail(msg) {
  process.stderr.write(`get-onnxruntime-headers: ${msg}\n`);
  process.exit(1);
}

/** The folder holds onnxruntime_c_api.h of the pinned API version. */
function usable(dir) {
  const h = path.join(dir, 'onnxruntime_c_api.h');
  if (!fs.existsSync(h)) return false;
  const m = /#define ORT_API_VERSION (\d+)/.exec(fs.readFileSync(h, 'utf8'));
  return m !== null && Number(m[1]) >= API_VERSION;
}

function fetchHeaders() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bertrt-ort-'));
  try {
    process.stderr.write(`get-onnxruntime-headers: fetching ${PACKAGE} (its C API headers only are kept)\n`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = spawnSync(npm, ['pack', PACKAGE, '--pack-destination', tmp, '--silent'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) fail(`npm pack ${PACKAGE} failed (exit ${r.status ?? r.signal})`);
    const tgz = path.join(tmp, r.stdout.trim().split('\n').pop());
    const digest = `sha512-${createHash('sha512').update(fs.readFileSync(tgz)).digest('base64')}`;
    if (digest !== INTEGRITY) fail(`${PACKAGE}: integrity mismatch (${digest}), refusing to use it`);
    const x = spawnSync('tar', ['xzf', tgz, '-C', tmp, '--wildcards', `${HEADERS}/*.h`], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (x.status !== 0) fail(`tar could not extract the headers (exit ${x.status ?? x.signal})`);
    fs.rmSync(include, { recursive: true, force: true });
    fs.mkdirSync(home, { recursive: true });
    fs.renameSync(path.join(tmp, HEADERS), include);
    fs.writeFileSync(path.join(home, 'SOURCE'), `${PACKAGE} ${INTEGRITY}\nonnxruntime C API headers (MIT); fetched at build time, never committed\n`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (!usable(include)) fail(`${include} lacks onnxruntime_c_api.h of API version ${API_VERSION}`);
  return include;
}

const env = process.env.BERTRT_ORT_INCLUDE;
if (env && !usable(env)) fail(`BERTRT_ORT_INCLUDE=${env} has no onnxruntime_c_api.h of API version >= ${API_VERSION}`);
process.stdout.write((env || (usable(include) ? include : fetchHeaders())) + '\n');
