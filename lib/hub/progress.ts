// The download progress bar: one line on stderr, redrawn in place, only when stderr is a terminal.
import type { HubProgress } from './hub';

function mb(n: number): string {
  return (n / 1e6).toFixed(n < 1e7 ? 2 : 1);
}

/** A progress callback drawing on stderr, or undefined when stderr is not a TTY (logs and pipes stay clean). */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): ((p: HubProgress) => void) | undefined {
  if (!stream.isTTY) return undefined;
  let file = '';
  let start = 0;
  let from = 0;
  return (p) => {
    const now = Date.now();
    if (p.file !== file) {
      file = p.file;
      start = now;
      from = p.loaded;
    }
    const rate = ((p.loaded - from) / Math.max(1, now - start)) * 1000;
    const eta = rate > 0 ? Math.ceil((p.total - p.loaded) / rate) : 0;
    const pct = p.total ? Math.floor((100 * p.loaded) / p.total) : 100;
    const width = 24;
    const bar = '#'.repeat(Math.round((width * pct) / 100)).padEnd(width, '.');
    const line = `${p.repo}/${p.file} [${bar}] ${pct}% ${mb(p.loaded)}/${mb(p.total)} MB ${mb(rate)} MB/s ETA ${eta}s`;
    stream.write(`\r${line.slice(0, (stream.columns || 120) - 1)}\x1b[K${p.loaded === p.total ? '\n' : ''}`);
  };
}
