// `npm run bench:amx`: the INT8 GEMM on AMX tiles ("amx" kernel table) against the AVX-512 VNNI one ("avx512") on
// the same packed weights, on a CPU with AMX-INT8: (1) each of all-MiniLM-L6-v2's four GEMM shapes at 32x128
// tokens, the tables alternating round by round; (2) end to end, INT8 32x128 and the 1,200 real sentences, in
// child processes alternating BERTRT_AMX=0 and 1 (the table is chosen once per process; AMX is opt-in). Both give the same int32
// sums (tests/native/test_kernels.cc). Writes bench/results/amx.{md,json}.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Embedder, Encoder, info } from '../dist';
import { median, microbenchInt8, syntheticIds } from '../dist/bench';

const root = path.resolve(__dirname, '..');
const modelDir = path.join(root, 'models', 'all-MiniLM-L6-v2');
const ROUNDS = 5;

/** One child's end-to-end INT8 figures: the median 32x128 batch, and real sentences per second. */
async function endToEnd(): Promise<void> {
  const enc = await Encoder.load(modelDir, { threads: 2, precision: 'int8' });
  const ids = syntheticIds(32, 128);
  const cu = Int32Array.from({ length: 33 }, (_, i) => i * 128);
  await enc.run({ ids, typeIds: null, cuSeqlens: cu });
  const ts: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    await enc.run({ ids, typeIds: null, cuSeqlens: cu });
    ts.push(performance.now() - t);
  }
  enc.close();
  const e = await Embedder.load(modelDir, { threads: 2, precision: 'int8' });
  const s = fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').filter(Boolean);
  await e.embed(s.slice(0, 64));
  const t = performance.now();
  for (let i = 0; i < s.length; i += 32) await e.embed(s.slice(i, i + 32));
  const real = s.length / ((performance.now() - t) / 1000);
  await e.close();
  process.stdout.write(JSON.stringify({ table: info().int8Isa, batchMs: median(ts), real }) + '\n');
}

async function main(): Promise<void> {
  process.env.BERTRT_AMX = '1'; // the AMX table is opt-in; read when the addon first lists the INT8 tables
  const sys = info();
  if (!sys.int8Isas.includes('amx')) {
    console.log(`bench:amx needs a CPU with AMX-INT8 that this process may use; this one runs INT8 on: ${sys.int8Isas.join(', ')}`);
    return;
  }
  const enc = await Encoder.load(modelDir, { threads: 2 });
  const gemms: Record<string, { amx: number[]; avx512: number[] }> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const isa of r % 2 ? (['avx512', 'amx'] as const) : (['amx', 'avx512'] as const)) {
      for (const x of await microbenchInt8(enc.config, 32 * 128, isa, 0.2)) {
        if (!x.op.startsWith('gemm')) continue;
        const key = `${x.op} ${x.shape}`;
        (gemms[key] ??= { amx: [], avx512: [] })[isa].push(x.seconds);
      }
    }
  }
  enc.close();
  const e2e: Record<'0' | '1', Array<{ table: string; batchMs: number; real: number }>> = { '0': [], '1': [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const amx of r % 2 ? (['1', '0'] as const) : (['0', '1'] as const)) {
      const c = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--child'], { cwd: root, env: { ...process.env, BERTRT_AMX: amx }, encoding: 'utf8' });
      if (c.status !== 0) throw new Error(c.stderr);
      e2e[amx].push(JSON.parse(c.stdout.trim().split('\n').pop()!));
    }
  }
  const rows = Object.entries(gemms).map(([k, v]) => ({ gemm: k, amxMs: median(v.amx) * 1e3, vnniMs: median(v.avx512) * 1e3 }));
  const end = (k: '0' | '1') => ({ batchMs: median(e2e[k].map((x) => x.batchMs)), real: median(e2e[k].map((x) => x.real)), tables: [...new Set(e2e[k].map((x) => x.table))] });
  const result = { date: new Date().toISOString(), machine: { cpu: sys.cpu, physicalCores: sys.physicalCores, flags: sys.cpuFlags }, rounds: ROUNDS, gemms: rows, endToEnd: { vnni: end('0'), amx: end('1') } };
  fs.writeFileSync(path.join(root, 'bench', 'results', 'amx.json'), JSON.stringify(result, null, 2) + '\n');
  const r2 = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const L = [
    '# INT8 GEMMs on AMX tiles against AVX-512 VNNI',
    '',
    `Measured ${result.date.slice(0, 10)} by \`npm run bench:amx\` (bench/amx.ts) on ${sys.cpu} (${sys.physicalCores} cores; ${sys.cpuFlags}). all-MiniLM-L6-v2's INT8 weights, 2 threads, ${ROUNDS} rounds alternating the two kernel tables, medians. The two give identical int32 sums.`,
    '',
    'The "amx" table runs a GEMM on tiles only where K is a multiple of 64 and N ≤ 512 (the shapes where it measured faster: out-proj and FFN-out here); the QKV and FFN-in GEMMs (N = 1152, 1536) run the same VNNI code in both tables, so their difference below is not the code\'s (this machine\'s speed after tile use was not isolated). AMX is opt-in (BERTRT_AMX=1): end to end it is no clear win here.',
    '',
    '| GEMM (32×128 tokens) | AMX table ms | VNNI ms | VNNI / AMX |',
    '| --- | ---: | ---: | ---: |',
    ...rows.map((x) => `| ${x.gemm} | ${x.amxMs.toFixed(2)} | ${x.vnniMs.toFixed(2)} | ${r2(x.vnniMs, x.amxMs)} |`),
    '',
    `End to end, INT8, in child processes alternating BERTRT_AMX=0 (table ${result.endToEnd.vnni.tables.join('/')}) and 1 (table ${result.endToEnd.amx.tables.join('/')}):`,
    '',
    '| | AMX | VNNI | VNNI / AMX |',
    '| --- | ---: | ---: | ---: |',
    `| 32 × 128 batch, ms | ${result.endToEnd.amx.batchMs.toFixed(1)} | ${result.endToEnd.vnni.batchMs.toFixed(1)} | ${r2(result.endToEnd.vnni.batchMs, result.endToEnd.amx.batchMs)} |`,
    `| 1,200 real sentences in batches of 32, sentences/s | ${result.endToEnd.amx.real.toFixed(0)} | ${result.endToEnd.vnni.real.toFixed(0)} | ${r2(result.endToEnd.amx.real, result.endToEnd.vnni.real)} |`,
    '',
  ];
  fs.writeFileSync(path.join(root, 'bench', 'results', 'amx.md'), L.join('\n'));
  console.log(L.join('\n'));
}

(process.argv.includes('--child') ? endToEnd() : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});
