// A lock between processes that share a Hub cache: a directory created atomically (mkdir), holding its owner's
// pid and host, kept fresh by a heartbeat. A lock whose owner died (same host, pid gone) or whose heartbeat stopped
// (30 s) is taken over. (huggingface_hub's own .lock files are flock()ed and left behind; this lives beside them.)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const STALE_MS = 30_000;
const BEAT_MS = 5_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function stale(lock: string): boolean {
  try {
    const owner = JSON.parse(fs.readFileSync(path.join(lock, 'owner'), 'utf8')) as { pid?: number; host?: string };
    if (owner.host === os.hostname() && typeof owner.pid === 'number' && owner.pid !== process.pid && !alive(owner.pid)) return true;
  } catch {
    // no owner file yet: judged by age alone
  }
  try {
    return Date.now() - fs.statSync(lock).mtimeMs > STALE_MS;
  } catch {
    return false; // it went away: the next mkdir decides
  }
}

export async function withFileLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  for (let wait = 50; ; wait = Math.min(wait * 2, 500)) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (stale(lock)) {
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  fs.writeFileSync(path.join(lock, 'owner'), JSON.stringify({ pid: process.pid, host: os.hostname() }));
  const beat = setInterval(() => {
    const now = new Date();
    try {
      fs.utimesSync(lock, now, now);
    } catch {
      // removed under us: nothing to keep fresh
    }
  }, BEAT_MS);
  beat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(beat);
    fs.rmSync(lock, { recursive: true, force: true });
  }
}
