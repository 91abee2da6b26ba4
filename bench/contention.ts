// Latency on a shared CPU (npm run bench:contention): one short sentence, FP32 all-MiniLM-L6-v2, median latency with
// 0, 2, 4 and 6 CPU-burning neighbour processes, bertrt against onnxruntime-node on the ONNX export of the same
// weights, alternating engines at each level; then the same inside a cgroup whose CPU quota is one CPU (a container
// started with --cpus 1), where each engine picks its thread count by itself, as users run them. Writes
// bench/results/contention.{json,md}.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Encoder, info, Tokenizer } from '../dist';
import { cpuGeneration, median } from '../dist/bench';
import { OpenVinoPeer, padded } from './openvino';
import { type OrtModule, ortVersion, peerFeeds } from './peer';

const root = path.resolve(__dirname, '..');
const modelDir = path.join(root, 'models', 'all-MiniLM-L6-v2');
const onnxFile = path.join(root, 'bench', '.cache', 'all-MiniLM-L6-v2.onnx');
const outDir = path.join(root, 'bench', 'results');
const quick = process.argv.includes('--quick');
const child = process.argv.includes('--child');
const SECONDS = quick ? 0.5 : 1.5;
const ROUNDS = quick ? 1 : 3;
const noOpenVino = process.argv.includes('--no-openvino');
const SENTENCE = 'The weather is lovely today.';

// Median latency per engine at one level (ms); OpenVINO's only where its child could start.
type Level = { neighbours: number; bertrtMs: number; peerMs: number; openvinoMs: number | null };
type Name = 'bertrt' | 'peer' | 'openvino';
type Threads = { bertrt: number; peer: string; openvino: string | null; openvinoVersion: string | null };

function burners(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

/** Back-to-back calls for about `seconds` (at least 5), each timed here. */
async function latency(fn: () => Promise<unknown>, seconds: number): Promise<number[]> {
  const out: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end || out.length < 5) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

/** Each engine: `seconds` of back-to-back calls, their latencies in ms (OpenVINO's timed inside its child, per call). */
type Engines = Partial<Record<Name, (seconds: number) => Promise<number[]>>>;

async function load(explicitThreads: boolean): Promise<{ engines: Engines; threads: Threads; close: () => void }> {
  const tok = Tokenizer.fromDir(modelDir);
  const enc1 = tok.encode(SENTENCE);
  const ids = Int32Array.from(enc1.ids);
  const batch = { ids, typeIds: null, cuSeqlens: Int32Array.of(0, ids.length) };
  const enc = await Encoder.load(modelDir, { threads: explicitThreads ? 2 : 0 });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = require('onnxruntime-node') as OrtModule;
  const session = await ort.InferenceSession.create(onnxFile, explicitThreads ? { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all' } : { graphOptimizationLevel: 'all' });
  const feeds = peerFeeds(ort, ids, new Int32Array(ids.length).fill(1), 1, ids.length);
  const ov = noOpenVino ? null : await OpenVinoPeer.start(onnxFile, 'fp32', explicitThreads ? 2 : 0, []);
  const one = padded([enc1]);
  const engines: Engines = {
    bertrt: (sec) => latency(() => enc.run(batch), sec),
    peer: (sec) => latency(() => session.run(feeds), sec),
  };
  if (ov) {
    engines.openvino = async (sec) => {
      const out: number[] = [];
      const end = performance.now() + sec * 1000;
      while (performance.now() < end || out.length < 5) out.push(...(await ov.time(one, 10)).map((x) => x * 1000));
      return out;
    };
  }
  for (const f of Object.values(engines)) await f(0.2);
  const threads: Threads = {
    bertrt: info().threads,
    peer: explicitThreads ? '2' : "onnxruntime's default",
    openvino: ov ? (explicitThreads ? '2' : `its default (${ov.threads})`) : null,
    openvinoVersion: ov ? `OpenVINO ${ov.version}` : null,
  };
  return { engines, threads, close: () => ov?.close() };
}

/** Every engine, in an order that rotates each round, while the neighbours (started by the caller) run. */
async function level(engines: Engines, n: number): Promise<Level> {
  const names = (Object.keys(engines) as Name[]);
  const t: Record<Name, number[]> = { bertrt: [], peer: [], openvino: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length];
      t[name].push(...(await engines[name]!(SECONDS)));
    }
  }
  return { neighbours: n, bertrtMs: median(t.bertrt), peerMs: median(t.peer), openvinoMs: t.openvino.length ? median(t.openvino) : null };
}

/** Runs fn with n neighbours burning the CPU (outside any cgroup this process makes). */
async function withNeighbours<T>(n: number, fn: () => Promise<T>): Promise<T> {
  const procs = burners(n);
  await new Promise((r) => setTimeout(r, 300));
  try {
    return await fn();
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
  }
}

const log = (l: Level) =>
  console.error(`  ${l.neighbours} neighbours: bertrt ${l.bertrtMs.toFixed(2)} ms, onnxruntime-node ${l.peerMs.toFixed(2)} ms` +
    (l.openvinoMs === null ? '' : `, OpenVINO ${l.openvinoMs.toFixed(2)} ms`));

async function measure(levels: number[]): Promise<{ levels: Level[]; threads: Threads }> {
  const { engines, threads, close } = await load(true);
  const out: Level[] = [];
  try {
    for (const n of levels) {
      out.push(await withNeighbours(n, () => level(engines, n)));
      log(out[out.length - 1]);
    }
  } finally {
    close();
  }
  return { levels: out, threads };
}

/** The quota run: this script again as a child moved into a fresh cgroup with a quota of one CPU before it loads
 *  anything (cgroup v2 if the hierarchy is writable, else v1's cpu controller); the neighbours stay outside it, as
 *  other containers on the host would. null when no cgroup can be made. */
async function underQuota(levels: number[]): Promise<{ levels: Level[]; threads: Threads; cgroup: string } | null> {
  const name = `bertrt-bench-${process.pid}`;
  const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
  const dir = v2 ? path.join('/sys/fs/cgroup', name) : path.join('/sys/fs/cgroup/cpu', name);
  try {
    fs.mkdirSync(dir);
    if (v2) fs.writeFileSync(path.join(dir, 'cpu.max'), '100000 100000');
    else fs.writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), '100000');
  } catch (e) {
    console.error(`  quota run skipped: cannot make a cgroup (${(e as Error).message})`);
    return null;
  }
  const c = spawn(process.execPath, [...process.execArgv, __filename, '--child', ...process.argv.slice(2).filter((a) => a !== '--child')], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(c.pid));
    const lines: string[] = [];
    let buf = '';
    let wake: (() => void) | null = null;
    c.stdout!.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        wake?.();
      }
    });
    const next = async () => {
      while (!lines.length) await new Promise<void>((r) => (wake = r));
      return JSON.parse(lines.shift()!);
    };
    c.stdin!.write('load\n');
    const threads = await next();
    const out: Level[] = [];
    for (const n of levels) {
      out.push(await withNeighbours(n, async () => {
        c.stdin!.write(`${n}\n`);
        return (await next()) as Level;
      }));
      log(out[out.length - 1]);
    }
    c.stdin!.end();
    return { levels: out, threads, cgroup: `${v2 ? 'v2 cpu.max' : 'v1 cpu.cfs_quota_us'} = 1 CPU` };
  } finally {
    c.kill('SIGKILL');
    // the cgroup can go once its last process (the child's OpenVINO peer too) has exited
    for (let i = 0; ; i++) {
      await new Promise((r) => setTimeout(r, 200));
      try {
        fs.rmdirSync(dir);
        break;
      } catch (e) {
        if (i >= 50) throw e;
      }
    }
  }
}

/** --child: inside the cgroup, answers "load" with the thread counts and "N" with one level's latencies. */
async function serveChild(): Promise<void> {
  let engines: Engines | null = null;
  let close = () => {};
  const rl = (await import('node:readline')).createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line === 'load') {
      const l = await load(false);
      engines = l.engines;
      close = l.close;
      process.stdout.write(JSON.stringify(l.threads) + '\n');
    } else if (engines) {
      process.stdout.write(JSON.stringify(await level(engines, Number(line))) + '\n');
    }
  }
  close();
  process.exit(0);
}

async function main(): Promise<void> {
  if (!fs.existsSync(onnxFile)) {
    console.error(`${path.relative(root, onnxFile)} is missing: make it with tools/.venv/bin/python tools/export_onnx.py`);
    process.exit(1);
  }
  if (child) return serveChild();
  const sys = info();
  console.error(`machine: ${sys.cpu}, ${sys.physicalCores} cores; onnxruntime-node ${ortVersion()}; node ${process.version}`);
  const shared = await measure([0, 2, 4, 6]);
  console.error('  under a cgroup quota of 1 CPU, each engine choosing its threads:');
  const quota = await underQuota([0, 2, 4]);
  const ovNote = shared.threads.openvino ? `; ${shared.threads.openvinoVersion} (bench/openvino_peer.py, FP32, each call timed inside its child)` : '';
  const report = { date: new Date().toISOString(), machine: { cpu: sys.cpu + cpuGeneration(), physicalCores: sys.physicalCores, memoryGiB: Math.round(os.totalmem() / 2 ** 30) }, peer: `onnxruntime-node ${ortVersion()}`, openvino: shared.threads.openvino ? shared.threads.openvinoVersion : null, shared, quota };
  if (quick) return;
  fs.writeFileSync(path.join(outDir, 'contention.json'), JSON.stringify(report, null, 2) + '\n');
  const withOv = shared.levels.some((l) => l.openvinoMs !== null);
  const cell = (ms: number | null, base: number | null) => (ms === null || base === null ? '—' : `${ms.toFixed(2)} ms (×${(ms / base).toFixed(1)})`);
  const ratio = (ms: number | null, ours: number) => (ms === null ? '—' : (ms / ours).toFixed(2));
  const head = ['| neighbours | bertrt (slowdown) | onnxruntime-node (slowdown) |' + (withOv ? ' OpenVINO (slowdown) |' : '') + ' onnxruntime-node / bertrt |' + (withOv ? ' OpenVINO / bertrt |' : ''),
    '| --- | --- | --- |' + (withOv ? ' --- |' : '') + ' --- |' + (withOv ? ' --- |' : '')];
  const row = (l: Level, b: Level) =>
    `| ${l.neighbours} | ${cell(l.bertrtMs, b.bertrtMs)} | ${cell(l.peerMs, b.peerMs)} |` + (withOv ? ` ${cell(l.openvinoMs, b.openvinoMs)} |` : '') +
    ` ${ratio(l.peerMs, l.bertrtMs)} |` + (withOv ? ` ${ratio(l.openvinoMs, l.bertrtMs)} |` : '');
  const base = shared.levels[0];
  const lines = [
    '# Latency on a shared CPU',
    '',
    `Measured ${report.date.slice(0, 10)} on ${sys.cpu}${cpuGeneration()} (${sys.physicalCores} cores), by \`npm run bench:contention\`: one short sentence`,
    `(${Tokenizer.fromDir(modelDir).encode(SENTENCE).ids.length} tokens), FP32 all-MiniLM-L6-v2, median latency of back-to-back calls; bertrt's native engine against`,
    `${report.peer}${ovNote} on the ONNX export of the same weights (tools/export_onnx.py), engines rotating at each level;`,
    'neighbours are `node -e "for (;;) {}"` processes. (×: latency over the same engine\'s quiet latency.)',
    '',
    '## Every engine on 2 threads, N CPU-burning neighbours',
    '',
    ...head,
    ...shared.levels.map((l) => row(l, base)),
    '',
  ];
  if (quota) {
    lines.push(
      `## Inside a cgroup with a CPU quota of 1 CPU (${quota.cgroup}), each engine's own thread count`,
      '',
      `bertrt chose ${quota.threads.bertrt} thread(s) from the quota; onnxruntime-node ran ${quota.threads.peer}` + (quota.threads.openvino ? `; OpenVINO ran ${quota.threads.openvino} thread(s).` : '.'),
      '',
      ...head,
      ...quota.levels.map((l) => row(l, quota.levels[0])),
      '',
    );
  } else {
    lines.push('The quota run was skipped: no cgroup could be made here.', '');
  }
  fs.writeFileSync(path.join(outDir, 'contention.md'), lines.join('\n'));
  console.error('wrote bench/results/contention.{json,md}');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
