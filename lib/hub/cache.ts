// The Hub cache as `bertrt models` and `bertrt rm` see it: each models--org--name folder's revisions, size
// (blobs counted once) and last use (the newest access or change time of its files).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BertrtError } from '../errors';
import { type HubOptions, hubCacheDir, parseRepoId, repoFolder } from './hub';

export interface CachedModel {
  id: string;
  /** refs (branch / tag → commit) and the snapshot commits on disk */
  refs: Record<string, string>;
  commits: string[];
  bytes: number;
  lastUsed: Date;
  path: string;
}

function walk(dir: string, visit: (file: string, st: fs.Stats) => void): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const f = path.join(dir, e.name);
    if (e.isDirectory()) walk(f, visit);
    else {
      try {
        visit(f, fs.lstatSync(f));
      } catch {
        // vanished while listing
      }
    }
  }
}

export function listCache(opts: HubOptions = {}): CachedModel[] {
  const cache = hubCacheDir(opts);
  let names: string[];
  try {
    // (a stray file named models--… is not a repository: huggingface_hub's scan skips it too)
    names = fs.readdirSync(cache, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name.startsWith('models--')).map((d) => d.name);
  } catch {
    return [];
  }
  const out: CachedModel[] = [];
  for (const n of names.sort()) {
    const folder = path.join(cache, n);
    const id = n.slice('models--'.length).replace(/--/g, '/');
    const refs: Record<string, string> = {};
    walk(path.join(folder, 'refs'), (f) => {
      refs[path.relative(path.join(folder, 'refs'), f)] = fs.readFileSync(f, 'utf8').trim();
    });
    let commits: string[] = [];
    try {
      commits = fs.readdirSync(path.join(folder, 'snapshots'));
    } catch {
      // no snapshot yet
    }
    let bytes = 0;
    let last = 0;
    walk(path.join(folder, 'blobs'), (f, st) => {
      bytes += st.size;
      last = Math.max(last, st.atimeMs, st.mtimeMs);
    });
    walk(path.join(folder, 'snapshots'), (f, st) => {
      last = Math.max(last, st.mtimeMs);
    });
    out.push({ id, refs, commits, bytes, lastUsed: new Date(last || fs.statSync(folder).mtimeMs), path: folder });
  }
  return out;
}

/** Deletes a model (every revision) from the cache; E_MODEL_NOT_FOUND when it is not there. */
export function removeFromCache(id: string, opts: HubOptions = {}): CachedModel {
  const parsed = parseRepoId(id);
  if (!parsed || parsed.revision) throw new BertrtError(`${JSON.stringify(id)} is not a Hub id (org/name)`, 'E_INVALID_ARGUMENT');
  const folder = repoFolder(hubCacheDir(opts), parsed.repo);
  const found = listCache(opts).find((m) => m.path === folder);
  if (!found) throw new BertrtError(`${parsed.repo} is not in the Hub cache (${hubCacheDir(opts)})`, 'E_MODEL_NOT_FOUND');
  fs.rmSync(folder, { recursive: true, force: true });
  return found;
}
