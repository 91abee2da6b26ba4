// `npm run bench:server`: the embedding server under load, loopback only, bounded in time.
//   1. `bertrt serve` in a child process (as deployed); autocannon with 1, 16, 64 and 256 connections, each request
//      one short real sentence (bench/data/sentences.txt); requests/s, p50/p99 latency, mean engine batch size
//      (from /metrics), and the ratio to the engine's offline throughput on the same sentences in batches of 64.
//   2. 4x overload: a verifying client sends 4x --max-concurrent-requests at once, checks every 200 against the
//      embedding of its own text, counts 200/429 and anything else, and reads the server's RSS before and after.
// Writes bench/results/server.{md,json}.
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Embedder } from '../dist';
import { cpuGeneration } from '../dist/bench';

const root = path.resolve(__dirname, '..');
const PORT = 18400 + Math.floor(Math.random() * 500);
const URL = `http://127.0.0.1:${PORT}`;
const MAX_CONCURRENT = 64;
const quick = process.argv.includes('--quick');

function rss(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024;
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(URL + '/metrics')).text();
  const m = new RegExp(`^${name}\\{[^}]*\\} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function main(): Promise<void> {
  const sentences = fs.readFileSync(path.join(root, 'bench', 'data', 'sentences.txt'), 'utf8').split('\n').filter(Boolean).filter((s) => s.length <= 80);
  // offline reference throughput, before the server starts
  const e = await Embedder.load();
  const t0 = performance.now();
  let done = 0;
  while (performance.now() - t0 < 3000) {
    for (let i = 0; i < sentences.length; i += 64) {
      await e.embed(sentences.slice(i, i + 64));
      done += Math.min(64, sentences.length - i);
    }
  }
  const offline = done / ((performance.now() - t0) / 1000);
  await e.close();
  console.log(`offline engine throughput, batches of 64 short sentences: ${offline.toFixed(0)} texts/s`);

  const server = spawn(process.execPath, [path.join(root, 'dist', 'cli.js'), 'serve', '--port', String(PORT), '--max-concurrent-requests', String(MAX_CONCURRENT)], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    server.stderr.on('data', (d: Buffer) => (d.toString().includes('serving') ? resolve() : undefined));
    server.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  const rows: Array<Record<string, number>> = [];
  try {
    for (const connections of [1, 16, 64, 256]) {
      const batchesBefore = await metric('bertrt_batch_size_count');
      const seqBefore = await metric('bertrt_batch_size_sum');
      let k = 0;
      const result = await autocannon({
        url: URL + '/embed',
        connections,
        duration: quick ? 3 : 8,
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req) => ({ ...req, body: JSON.stringify({ inputs: sentences[k++ % sentences.length] }) }),
          },
        ],
      });
      const batches = (await metric('bertrt_batch_size_count')) - batchesBefore;
      const seqs = (await metric('bertrt_batch_size_sum')) - seqBefore;
      const row = {
        connections,
        // successful answers only: past --max-concurrent-requests the rest are fast 429s
        requestsPerSecond: result['2xx'] / result.duration,
        refused: result.non2xx,
        p50ms: result.latency.p50,
        p99ms: result.latency.p99,
        non2xx: result.non2xx,
        errors: result.errors,
        meanBatch: batches ? seqs / batches : 0,
        ratioToOffline: result['2xx'] / result.duration / offline,
      };
      rows.push(row);
      console.log(`${connections} connections: ${row.requestsPerSecond.toFixed(0)} ok/s, p50 ${row.p50ms} ms, p99 ${row.p99ms} ms, mean batch ${row.meanBatch.toFixed(1)}, ${(100 * row.ratioToOffline).toFixed(0)}% of offline, 429s ${row.refused}`);
    }

    // 4x overload, every answer verified
    const ref = await Embedder.load();
    const texts = Array.from({ length: 4 * MAX_CONCURRENT }, (_, i) => `${sentences[i % sentences.length]} (#${i})`);
    const want = await ref.embed(texts);
    await ref.close();
    const rssBefore = rss(server.pid!);
    const counts = { ok: 0, busy: 0, other: 0, wrong: 0 };
    for (let round = 0; round < (quick ? 3 : 10); round++) {
      const rs = await Promise.all(
        texts.map(async (t) => {
          const r = await fetch(URL + '/embed', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: t }) });
          return { status: r.status, body: (await r.json()) as number[][] };
        }),
      );
      rs.forEach((r, i) => {
        if (r.status === 200) {
          counts.ok++;
          const v = r.body[0];
          if (v.length !== want[i].length || v.some((x, j) => Math.abs(x - want[i][j]) > 1e-6)) counts.wrong++;
        } else if (r.status === 429) counts.busy++;
        else counts.other++;
      });
    }
    const rssAfter = rss(server.pid!);
    console.log(`overload: ${counts.ok} x 200, ${counts.busy} x 429, ${counts.other} other, ${counts.wrong} wrong or misrouted; server RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB`);

    const md = [
      '# Embedding server under load',
      '',
      `Measured ${new Date().toISOString().slice(0, 10)} by \`npm run bench:server\` (bench/server.ts) on ${os.cpus()[0].model}${cpuGeneration()}, ${os.cpus().length} cores: the server (\`bertrt serve\`, FP32, all-MiniLM-L6-v2, 2 engine threads) in one process, the load generator (autocannon) in another, both on this machine over loopback, so the client takes CPU from the server.`,
      `Each request is one short real sentence (≤ 80 characters). Offline engine throughput on the same sentences in batches of 64: **${offline.toFixed(0)} texts/s**.`,
      '',
      '| connections | answered 200 per s | p50 ms | p99 ms | mean engine batch | vs offline | refused (429) |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows.map((r) => `| ${r.connections} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50ms} | ${r.p99ms} | ${r.meanBatch.toFixed(1)} | ${(100 * r.ratioToOffline).toFixed(0)}% | ${r.refused} |`),
      '',
      'Latencies mix 200s and 429s at 256 connections (256 > --max-concurrent-requests 64), where refusals are answered at once.',
      '',
      `## 4× overload (--max-concurrent-requests ${MAX_CONCURRENT}, ${texts.length} requests at once, repeated)`,
      '',
      `${counts.ok} answered 200, ${counts.busy} answered 429, ${counts.other} anything else; **${counts.wrong}** of the 200s wrong or misrouted (each checked against the embedding of its own text). Server RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, ${(rssAfter / 2 ** 20).toFixed(0)} MiB after.`,
      '',
    ].join('\n');
    fs.writeFileSync(path.join(root, 'bench', 'results', 'server.md'), md);
    fs.writeFileSync(path.join(root, 'bench', 'results', 'server.json'), JSON.stringify({ date: new Date().toISOString(), offline, rows, overload: { ...counts, rssBefore, rssAfter } }, null, 2) + '\n');
    console.log('wrote bench/results/server.{md,json}');
  } finally {
    server.kill('SIGTERM');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
