// `npm test`: builds what is missing, runs the native C++ tests (ctest; once more under ASan + UBSan) and the mocha
// suite, and ends with one
// line `N passed, N failed[, N skipped]` over both, which is what CI reads. Exit code is non-zero on any failure.
//   --native-only   only the C++ tests
//   --js-only       only mocha (extra arguments go to mocha, e.g. a file or --grep)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const nativeOnly = args.includes('--native-only');
const jsOnly = args.includes('--js-only');
const mochaArgs = args.filter((a) => !a.startsWith('--native-only') && !a.startsWith('--js-only'));

const totals = { passed: 0, failed: 0, skipped: 0 };

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: opts.capture ? ['ignore', 'pipe', 'inherit'] : 'inherit', env: { ...process.env, ...opts.env }, encoding: 'utf8' });
  if (opts.capture) process.stdout.write(r.stdout ?? '');
  return r;
}

function step(name, cmd, argv, opts) {
  const r = run(cmd, argv, opts);
  if (r.status !== 0) {
    console.error(`\n${name} failed (exit ${r.status ?? r.signal})`);
    totals.failed += 1;
    return null;
  }
  return r;
}

// Builds the C++ tests in `dir` with extra cmake flags and runs them under ctest, adding their counts.
// A test that exits 77 is reported by ctest as skipped; its `SKIP <test>: <reason>` line counts as one skip.
function nativeSuite(name, dir, flags, env = {}, only = null) {
  // only: { targets, test } builds just those targets and runs just that test
  const ok =
    step(`${name}: cmake configure`, 'cmake', ['-S', '.', '-B', dir, '-DBERTRT_TESTS=ON', ...flags], { capture: true }) &&
    step(`${name}: build`, 'cmake', ['--build', dir, '-j', String(Math.max(2, os.availableParallelism?.() ?? 2)), ...(only ? ['--target', ...only.targets] : [])], { capture: true });
  if (!ok) return;
  const r = run('ctest', ['--test-dir', dir, '--output-on-failure', '-V', ...(only ? ['-R', `^${only.test}$`] : [])], { capture: true, env });
  for (const m of (r.stdout ?? '').matchAll(/^\d+: SKIP (\S+): (.*)$/gm)) {
    totals.skipped += 1;
    console.log(`skipped ${m[1]}: ${m[2]}`);
  }
  // Each test executable prints its own `N passed, N failed`; sum them.
  let failedHere = 0;
  for (const m of (r.stdout ?? '').matchAll(/^\d+: (\d+) passed, (\d+) failed$/gm)) {
    totals.passed += Number(m[1]);
    failedHere += Number(m[2]);
  }
  if (r.status !== 0 && failedHere === 0) failedHere = 1; // a crash or a sanitizer report
  totals.failed += failedHere;
}

if (!jsOnly) {
  nativeSuite('native tests', path.join(root, 'build', 'native-tests'), ['-DCMAKE_BUILD_TYPE=Release']);
  // The same tests under AddressSanitizer (with leak checks) and UBSan, any report fatal.
  // BERTRT_SKIP_SANITIZE=1 skips this pass for quick local runs.
  if (!process.env.BERTRT_SKIP_SANITIZE) {
    nativeSuite('sanitized native tests', path.join(root, 'build', 'native-asan'), ['-DBERTRT_SANITIZE=ON', '-DCMAKE_BUILD_TYPE=RelWithDebInfo'], {
      ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1',
      UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
    });
  } else {
    console.log('sanitized native tests skipped (BERTRT_SKIP_SANITIZE is set)');
  }
}

// The CUDA backend: compiled wherever nvcc can be had (scripts/get-nvcc.mjs fetches it from PyPI once), so the
// device code cannot rot: a compile error fails the run. Its tests run where a GPU is and are skipped, with the
// reason, where none is. With no nvcc and no way to fetch one (offline), the build is skipped with the reason,
// unless BERTRT_REQUIRE_CUDA_BUILD=1 makes that a failure. BERTRT_SKIP_CUDA=1 leaves it out of quick local runs.
if (!jsOnly && !process.env.BERTRT_SKIP_CUDA) {
  const nvcc = spawnSync(process.execPath, [path.join(root, 'scripts', 'get-nvcc.mjs')], { cwd: root, encoding: 'utf8' });
  if (nvcc.status !== 0) {
    console.error(`\nCUDA backend not built: no nvcc could be found or fetched:\n${nvcc.stderr}`);
    if (process.env.BERTRT_REQUIRE_CUDA_BUILD) totals.failed += 1;
    else totals.skipped += 1;
  } else {
    nativeSuite('CUDA backend', path.join(root, 'build', 'cuda'), ['-DCMAKE_BUILD_TYPE=Release', '-DBERTRT_CUDA=ON', `-DCMAKE_CUDA_COMPILER=${nvcc.stdout.trim()}`], {}, {
      targets: ['bertrt_cuda', 'test_cuda', 'bench_cuda'],
      test: 'test_cuda',
    });
  }
}

if (!nativeOnly) {
  const stats = path.join(os.tmpdir(), `bertrt-mocha-${process.pid}.json`);
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) step('tsc', process.execPath, [tsc, '-p', '.']);
  // the benchmark scripts run under tsx, which does not type-check: do it here so they cannot rot
  if (step('type-check bench/', process.execPath, [tsc, '-p', 'tsconfig.bench.json'])) totals.passed += 1;
  const mocha = path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
  const r = run(process.execPath, [mocha, ...mochaArgs], { env: { BERTRT_MOCHA_STATS: stats } });
  if (fs.existsSync(stats)) {
    const s = JSON.parse(fs.readFileSync(stats, 'utf8'));
    fs.unlinkSync(stats);
    totals.passed += s.passed;
    totals.failed += s.failed;
    totals.skipped += s.skipped;
  } else {
    console.error(`mocha did not report (exit ${r.status ?? r.signal})`);
    totals.failed += 1;
  }
  if (r.status !== 0 && totals.failed === 0) totals.failed += 1;
}

console.log(`\n${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exitCode = totals.failed > 0 ? 1 : 0;
