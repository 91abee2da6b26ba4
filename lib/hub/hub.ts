// Models by Hub id, through the Hugging Face Hub's file protocol and into its shared cache, the way the official
// huggingface_hub client does it, so that either tool finds what the other downloaded:
//   GET  {endpoint}/api/models/{repo}/revision/{rev}    -> the commit (sha) and the file list (siblings)
//   HEAD {endpoint}/{repo}/resolve/{commit}/{file}      -> X-Repo-Commit, ETag (git blob sha1) or, for LFS files, a
//        redirect to a file host with X-Linked-Etag (the SHA-256) and X-Linked-Size; X-Error-Code on failures
//   GET  the file (resolve URL, or the redirect target without Authorization), resumable with Range
// Cache ($HF_HUB_CACHE, or $HF_HOME/hub, or ~/.cache/huggingface/hub):
//   models--{org}--{name}/blobs/{etag}, snapshots/{commit}/{path} -> ../../blobs/{etag}, refs/{revision} = commit,
//   .no_exist/{commit}/{path} for files the Hub says are absent.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BertrtError, invalidArgument } from '../errors';
import { ONNX_FILES } from '../model/onnx';
import { withFileLock } from './lock';
import { progressBar } from './progress';

export interface HubProgress {
  repo: string;
  file: string;
  /** bytes of this file so far (a resumed download starts where it stopped), and its size */
  loaded: number;
  total: number;
}

export interface HubOptions {
  /** branch, tag or commit (default 'main'); an id's `@revision` suffix sets it too */
  revision?: string;
  /** default $HF_ENDPOINT or https://huggingface.co */
  endpoint?: string;
  /** default $HF_TOKEN (or the token file huggingface-cli login writes); false sends none */
  token?: string | false;
  /** the hub cache folder; default $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub */
  cacheDir?: string;
  /** never touch the network (default: $HF_HUB_OFFLINE is 1/true/yes/on) */
  offline?: boolean;
  /** called as bytes arrive; without it, a progress bar on stderr when stderr is a TTY */
  progress?: (p: HubProgress) => void;
  /** seconds without a byte before a request is abandoned (then retried); default 10 */
  timeout?: number;
  /** attempts per request on 5xx, 429, timeouts and network errors; default 5 */
  retries?: number;
  /** which files: those an encoder with its tokenizer and sentence-transformers modules needs (default), or the
   *  tokenizer's only */
  files?: 'model' | 'tokenizer';
  /** fetch this ONNX file (e.g. 'onnx/model_quantized.onnx') instead of the checkpoint, or with 'auto' the first of
   *  model.onnx, onnx/model.onnx the repository has; absent: the checkpoint, or that ONNX file when the repository
   *  has no checkpoint bertrt reads */
  onnxFile?: string;
}

const DEFAULT_ENDPOINT = 'https://huggingface.co';
const COMMIT = /^[0-9a-f]{40}$/;

export function isOffline(opts: HubOptions = {}): boolean {
  if (opts.offline !== undefined) return opts.offline;
  return ['1', 'true', 'yes', 'on'].includes(String(process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
}

export function hubCacheDir(opts: HubOptions = {}): string {
  if (opts.cacheDir) return path.resolve(opts.cacheDir);
  if (process.env.HF_HUB_CACHE) return path.resolve(process.env.HF_HUB_CACHE);
  const home = process.env.HF_HOME ? path.resolve(process.env.HF_HOME) : path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface');
  return path.join(home, 'hub');
}

function hubToken(opts: HubOptions): string | null {
  if (opts.token === false) return null;
  if (typeof opts.token === 'string') return opts.token;
  if (process.env.HF_TOKEN) return process.env.HF_TOKEN;
  const home = process.env.HF_HOME ? path.resolve(process.env.HF_HOME) : path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface');
  try {
    const t = fs.readFileSync(process.env.HF_TOKEN_PATH || path.join(home, 'token'), 'utf8').trim();
    return t || null;
  } catch {
    return null;
  }
}

/** `org/name` or `name`, optionally `@revision`: the Hub's rules (letters, digits, - _ .; no -- or ..; 96 chars). */
export function parseRepoId(id: string): { repo: string; revision?: string } | null {
  const at = id.indexOf('@');
  const repo = at < 0 ? id : id.slice(0, at);
  const revision = at < 0 ? undefined : id.slice(at + 1);
  if (!/^([A-Za-z0-9][A-Za-z0-9_.-]*\/)?[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(repo) || repo.length > 96) return null;
  if (/--|\.\./.test(repo) || /[.-]$/.test(repo)) return null;
  if (revision !== undefined && !validRevision(revision)) return null;
  return { repo, revision };
}

function validRevision(r: string): boolean {
  return r.length > 0 && r.length <= 255 && !/[\x00-\x1f\\]|\.\.|^\/|\/$/.test(r);
}

export function repoFolder(cache: string, repo: string): string {
  return path.join(cache, `models--${repo.replace(/\//g, '--')}`);
}

/** A file path inside a repository: relative, `/`-separated, no `.`/`..` segments (a hostile listing cannot write
 *  outside the snapshot). */
function safeRepoPath(p: string): boolean {
  return p.length > 0 && p.length <= 1024 && !p.startsWith('/') && !p.includes('\\') && !p.includes('\0') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

// ------------------------------------------------------------------------------------------------- which files
const CONFIG_FILES = ['config.json', 'modules.json', 'sentence_bert_config.json', 'config_sentence_transformers.json'];
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json'];
const LEGACY_TOKENIZER = ['vocab.txt', 'vocab.json', 'merges.txt'];
const WEIGHTS = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'];

/** The weights file of `prefix` (a module folder or the root) that bertrt reads, in its order of preference. */
function pickWeights(have: Set<string>, prefix: string): string | null {
  for (const w of WEIGHTS) if (have.has(prefix + w)) return prefix + w;
  return null;
}

function moduleFolders(modulesJson: string): string[] {
  let mods: unknown;
  try {
    mods = JSON.parse(modulesJson);
  } catch {
    return [];
  }
  if (!Array.isArray(mods)) return [];
  const out: string[] = [];
  for (const m of mods.slice(0, 64)) {
    const p = (m as { path?: unknown })?.path;
    if (typeof p === 'string' && p !== '' && safeRepoPath(p)) out.push(p.replace(/\/+$/, '') + '/');
  }
  return out;
}

// ------------------------------------------------------------------------------------------------------- HTTP
class HttpFailure extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status = 0,
  ) {
    super(message);
  }
}

interface Session {
  repo: string;
  endpoint: string;
  token: string | null;
  timeoutMs: number;
  retries: number;
  progress?: (p: HubProgress) => void;
}

function errorFor(s: Session, res: Response, what: string, revision: string): BertrtError | null {
  const code = res.headers.get('x-error-code');
  const msg = res.headers.get('x-error-message');
  const tail = msg ? ` (${msg})` : '';
  if (code === 'GatedRepo') {
    return new BertrtError(`${s.repo} is a gated repository: accept its terms on the Hub, then pass a token (HF_TOKEN or the token option)${tail}`, 'E_GATED_REPO');
  }
  if (code === 'RepoNotFound' || (res.status === 401 && !code)) {
    return new BertrtError(`${s.repo}: no such repository on ${s.endpoint} (or it is private and no token with access was sent)${tail}`, 'E_REPO_NOT_FOUND');
  }
  if (code === 'RevisionNotFound') return new BertrtError(`${s.repo} has no revision "${revision}"${tail}`, 'E_REVISION_NOT_FOUND');
  if (code === 'EntryNotFound' || res.status === 404) return new BertrtError(`${s.repo}@${revision} has no file ${what}${tail}`, 'E_ENTRY_NOT_FOUND');
  if (res.status === 401 || res.status === 403) return new BertrtError(`${s.repo}: access denied to ${what} (HTTP ${res.status})${tail}`, 'E_REPO_NOT_FOUND');
  return null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One request with an idle timeout; retried with exponential backoff (Retry-After honoured) on 5xx, 429,
 *  timeouts and network errors. `body` consumes a successful response (its own failures retry too). */
async function request<T>(s: Session, url: string, init: () => RequestInit, handle: (res: Response, poke: () => void) => Promise<T>): Promise<T> {
  let last: unknown;
  for (let attempt = 0; attempt < s.retries; attempt++) {
    if (attempt) await sleep(Math.min(8000, 250 * 2 ** (attempt - 1)) * (0.75 + Math.random() / 2));
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const poke = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => ac.abort(new HttpFailure(`no data from ${new URL(url).host} for ${s.timeoutMs / 1000} s`, true)), s.timeoutMs);
    };
    poke();
    try {
      const res = await fetch(url, { redirect: 'manual', ...init(), signal: ac.signal });
      if (res.status === 429 || res.status >= 500) {
        const after = Number(res.headers.get('retry-after'));
        await res.body?.cancel().catch(() => {});
        last = new HttpFailure(`HTTP ${res.status} from ${new URL(url).host}`, true, res.status);
        if (after > 0 && after <= 30) await sleep(after * 1000);
        continue;
      }
      return await handle(res, poke);
    } catch (e) {
      if (e instanceof BertrtError) throw e;
      const reason = ac.signal.aborted ? ac.signal.reason : e;
      if (reason instanceof HttpFailure && !reason.retryable) throw reason;
      const cause = (reason as Error)?.cause as NodeJS.ErrnoException | undefined;
      // a name that does not resolve, or a port nobody listens on, will not change in a few seconds: no retries
      const hopeless = cause?.code === 'ENOTFOUND' || cause?.code === 'ECONNREFUSED';
      last = reason instanceof HttpFailure ? reason : new HttpFailure(`${new URL(url).host}: ${cause?.message ?? (reason as Error)?.message ?? String(reason)}`, !hopeless);
      if (!(last as HttpFailure).retryable) throw last;
    } finally {
      clearTimeout(timer);
    }
  }
  throw last;
}

function headers(s: Session, url: string, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': 'bertrt; hf_hub-protocol', 'accept-encoding': 'identity', ...extra };
  // the token goes to the Hub's own origin only, never to a host a redirect names
  if (s.token && new URL(url).origin === new URL(s.endpoint).origin) h.authorization = `Bearer ${s.token}`;
  return h;
}

const normEtag = (e: string | null): string | null => (e ? e.replace(/^W\//, '').replace(/^"|"$/g, '') : null);

interface FileMeta {
  commit: string;
  etag: string;
  size: number;
  /** where to GET it: the resolve URL, or the file host's */
  location: string;
  lfs: boolean;
}

async function fileMeta(s: Session, commit: string, file: string): Promise<FileMeta> {
  let url = `${s.endpoint}/${s.repo}/resolve/${encodeURIComponent(commit)}/${file.split('/').map(encodeURIComponent).join('/')}`;
  for (let hop = 0; hop < 5; hop++) {
    const res = await request(s, url, () => ({ method: 'HEAD', headers: headers(s, url) }), async (r) => r);
    const err = errorFor(s, res, file, commit);
    if (err) throw err;
    const loc = res.headers.get('location');
    const redirect = res.status >= 300 && res.status < 400 && loc;
    if (!redirect && res.status !== 200) throw new HttpFailure(`HTTP ${res.status} for ${file}`, false, res.status);
    const target = redirect ? new URL(loc, url).toString() : url;
    if (redirect && new URL(target).origin === new URL(s.endpoint).origin && !res.headers.get('x-linked-etag')) {
      url = target; // a renamed repo: the Hub redirects to itself
      continue;
    }
    const linked = normEtag(res.headers.get('x-linked-etag'));
    const etag = linked ?? normEtag(res.headers.get('etag'));
    const sizeHeader = res.headers.get('x-linked-size') ?? (redirect ? null : res.headers.get('content-length'));
    const size = Number(sizeHeader);
    const gotCommit = res.headers.get('x-repo-commit') ?? commit;
    if (!etag || !/^[A-Za-z0-9_.-]{1,128}$/.test(etag)) throw new BertrtError(`${s.repo}: the Hub sent no usable ETag for ${file}`, 'E_NETWORK');
    if (sizeHeader === null || !Number.isSafeInteger(size) || size < 0) throw new BertrtError(`${s.repo}: the Hub sent no size for ${file}`, 'E_NETWORK');
    if (!COMMIT.test(gotCommit)) throw new BertrtError(`${s.repo}: the Hub sent an invalid X-Repo-Commit for ${file}`, 'E_NETWORK');
    return { commit: gotCommit, etag, size, location: target, lfs: linked !== null };
  }
  throw new BertrtError(`${s.repo}: too many redirects resolving ${file}`, 'E_NETWORK');
}

/** A file operation of a download in the cache: its failure (a full disk, a cache folder that cannot be written) is
 *  E_IO at once, which request() does not retry, where the network's failures are retried. */
function local<T>(s: Session, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof BertrtError) throw e;
    throw new BertrtError(`${s.repo}: cannot write the Hub cache: ${(e as Error).message}`, 'E_IO', { cause: e });
  }
}

/** Downloads into `incomplete` (resuming what is there) and checks the bytes: SHA-256 for LFS files, the git blob
 *  SHA-1 for the others. A mismatch deletes the partial file and is E_INTEGRITY; nothing unverified is renamed. */
async function download(s: Session, meta: FileMeta, file: string, incomplete: string, blob: string): Promise<void> {
  const report = s.progress;
  const partial = (): number => local(s, () => (fs.existsSync(incomplete) ? fs.statSync(incomplete).size : 0));
  if (partial() > meta.size) local(s, () => fs.rmSync(incomplete));
  const init = (): RequestInit => {
    const have = partial();
    return { method: 'GET', redirect: 'follow', headers: headers(s, meta.location, have ? { range: `bytes=${have}-` } : {}) };
  };
  await request(s, meta.location, init, async (res, poke) => {
    let have = partial();
    const err = errorFor(s, res, file, meta.commit);
    if (err) throw err;
    if (res.status === 200 && have) {
      have = 0; // the host ignored Range: start over
      local(s, () => fs.truncateSync(incomplete, 0));
    } else if (res.status === 206) {
      const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== have) throw new HttpFailure(`bad Content-Range for ${file}`, true);
    } else if (res.status === 416 && have === meta.size) {
      return; // all of it was already here
    } else if (res.status !== 200) {
      throw new HttpFailure(`HTTP ${res.status} downloading ${file}`, false, res.status);
    }
    const fd = local(s, () => fs.openSync(incomplete, have ? 'a' : 'w'));
    try {
      let loaded = have;
      let lastReport = 0;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        poke();
        if (loaded + chunk.length > meta.size) {
          fs.closeSync(fd);
          fs.rmSync(incomplete, { force: true });
          throw new BertrtError(`${s.repo}: ${file} is longer than the ${meta.size} bytes the Hub announced; the download was deleted, not cached`, 'E_INTEGRITY');
        }
        local(s, () => fs.writeSync(fd, chunk));
        loaded += chunk.length;
        const now = Date.now();
        if (report && (now - lastReport > 100 || loaded === meta.size)) {
          lastReport = now;
          report({ repo: s.repo, file, loaded, total: meta.size });
        }
      }
      if (loaded !== meta.size) throw new HttpFailure(`${file}: connection closed at ${loaded} of ${meta.size} bytes`, true);
    } finally {
      try {
        fs.closeSync(fd);
      } catch {
        // closed above
      }
    }
  });
  if (!local(s, () => verify(incomplete, meta))) {
    fs.rmSync(incomplete, { force: true });
    throw new BertrtError(`${s.repo}: ${file} failed its ${meta.lfs ? 'SHA-256' : 'git SHA-1'} check (expected ${meta.etag}); the download was deleted, not cached`, 'E_INTEGRITY');
  }
  local(s, () => fs.renameSync(incomplete, blob));
}

function verify(file: string, meta: FileMeta): boolean {
  const kind = meta.lfs || /^[0-9a-f]{64}$/.test(meta.etag) ? 'sha256' : /^[0-9a-f]{40}$/.test(meta.etag) ? 'sha1' : null;
  if (!kind) return true; // an opaque ETag (neither hash): nothing to check it against
  const h = createHash(kind);
  if (kind === 'sha1') h.update(`blob ${meta.size}\0`);
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (!n) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex') === meta.etag;
}

function linkSnapshot(folder: string, commit: string, file: string, etag: string): void {
  const dst = path.join(folder, 'snapshots', commit, ...file.split('/'));
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  const target = path.relative(path.dirname(dst), path.join(folder, 'blobs', etag));
  try {
    if (fs.readlinkSync(dst) === target) return;
    fs.rmSync(dst, { force: true });
  } catch {
    fs.rmSync(dst, { force: true });
  }
  try {
    fs.symlinkSync(target, dst);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') fs.copyFileSync(path.join(folder, 'blobs', etag), dst); // file systems without links
  }
}

const inflight = new Map<string, Promise<void>>();

async function fetchFile(s: Session, folder: string, commit: string, file: string): Promise<boolean> {
  const dst = path.join(folder, 'snapshots', commit, ...file.split('/'));
  if (fs.existsSync(dst)) return true;
  let meta: FileMeta;
  try {
    meta = await fileMeta(s, commit, file);
  } catch (e) {
    if (e instanceof BertrtError && e.code === 'E_ENTRY_NOT_FOUND') {
      const marker = path.join(folder, '.no_exist', commit, ...file.split('/'));
      fs.mkdirSync(path.dirname(marker), { recursive: true });
      fs.closeSync(fs.openSync(marker, 'a'));
      return false;
    }
    throw e;
  }
  const blob = path.join(folder, 'blobs', meta.etag);
  // one download per blob: in this process (a map of promises), across processes (a lock file beside the cache)
  let p = inflight.get(blob);
  if (!p) {
    p = (async () => {
      if (fs.existsSync(blob)) return;
      fs.mkdirSync(path.dirname(blob), { recursive: true });
      const lock = path.join(path.dirname(folder), '.locks', path.basename(folder), `${meta.etag}.bertrt-lock`);
      await withFileLock(lock, async () => {
        if (fs.existsSync(blob)) return; // another process finished it while we waited
        await download(s, meta, file, `${blob}.incomplete`, blob);
      });
    })().finally(() => inflight.delete(blob));
    inflight.set(blob, p);
  }
  await p;
  linkSnapshot(folder, commit, file, meta.etag);
  return true;
}

interface RepoInfo {
  sha: string;
  files: string[];
}

async function repoInfo(s: Session, revision: string): Promise<RepoInfo> {
  const url = `${s.endpoint}/api/models/${s.repo}/revision/${encodeURIComponent(revision)}`;
  return request(s, url, () => ({ method: 'GET', headers: headers(s, url) }), async (res, poke) => {
    const err = errorFor(s, res, 'revision info', revision);
    if (err) throw err;
    if (res.status !== 200) throw new HttpFailure(`HTTP ${res.status} for ${url}`, false, res.status);
    const text = await res.text();
    poke();
    if (text.length > 64 * 1024 * 1024) throw new BertrtError(`${s.repo}: the Hub's file list is over 64 MB`, 'E_NETWORK');
    let j: { sha?: unknown; siblings?: unknown };
    try {
      j = JSON.parse(text);
    } catch {
      throw new BertrtError(`${s.repo}: the Hub's revision info is not JSON`, 'E_NETWORK');
    }
    if (typeof j.sha !== 'string' || !COMMIT.test(j.sha) || !Array.isArray(j.siblings)) throw new BertrtError(`${s.repo}: the Hub's revision info has no commit or file list`, 'E_NETWORK');
    const files = j.siblings.map((x) => (x as { rfilename?: unknown })?.rfilename).filter((f): f is string => typeof f === 'string' && safeRepoPath(f));
    return { sha: j.sha, files };
  });
}

/** The files of a listing that a model (or its tokenizer) needs; module folders come from modules.json, so it is
 *  fetched first by the caller and passed in. */
function wanted(have: Set<string>, kind: 'model' | 'tokenizer', modulesJson: string | null, onnxFile?: string): string[] {
  const out: string[] = [];
  const add = (f: string): void => {
    if (have.has(f) && !out.includes(f)) out.push(f);
  };
  add('config.json');
  for (const f of TOKENIZER_FILES) add(f);
  if (!have.has('tokenizer.json')) for (const f of LEGACY_TOKENIZER) add(f);
  if (kind === 'tokenizer') return out;
  for (const f of CONFIG_FILES) add(f);
  const w = onnxFile ? null : pickWeights(have, '');
  if (w) add(w);
  // the ONNX backend's file: the one asked for, else the export's usual place when there is no checkpoint; with the
  // external-data file onnxruntime reads beside it, when the repository has one
  const onnx = onnxFile && onnxFile !== 'auto' ? onnxFile : w ? undefined : ONNX_FILES.find((f) => have.has(f));
  if (onnx) {
    add(onnx);
    add(`${onnx}_data`);
  }
  for (const m of modulesJson ? moduleFolders(modulesJson) : []) {
    add(`${m}config.json`);
    const mw = pickWeights(have, m);
    if (mw) add(mw);
  }
  return out;
}

function shardNames(indexFile: string): string[] {
  try {
    const j = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { weight_map?: Record<string, unknown> };
    const names = new Set(Object.values(j.weight_map ?? {}).filter((v): v is string => typeof v === 'string' && v === path.basename(v) && safeRepoPath(v)));
    return [...names].slice(0, 4096);
  } catch {
    return [];
  }
}

/** Backup and indexing tools skip a folder with this tag (bford.info/cachedir); huggingface_hub tags the cache too. */
function markCacheDir(cache: string): void {
  const tag = path.join(cache, 'CACHEDIR.TAG');
  if (fs.existsSync(tag)) return;
  try {
    fs.writeFileSync(tag, 'Signature: 8a477f597d28d172789f06886806bc55\n# The Hugging Face Hub cache (bertrt and huggingface_hub share it); see bford.info/cachedir\n', { flag: 'wx' });
  } catch {
    // another process wrote it, or the cache is read-only: neither matters
  }
}

/** The snapshot folder a cached model lives in, without the network, or null. */
export function cachedSnapshot(repo: string, revision: string, opts: HubOptions = {}): string | null {
  const folder = repoFolder(hubCacheDir(opts), repo);
  let commit = revision;
  if (!COMMIT.test(revision)) {
    try {
      commit = fs.readFileSync(path.join(folder, 'refs', ...revision.split('/')), 'utf8').trim();
    } catch {
      return null;
    }
    if (!COMMIT.test(commit)) return null;
  }
  const snap = path.join(folder, 'snapshots', commit);
  return fs.existsSync(path.join(snap, 'config.json')) ? snap : null;
}

/** Downloads (or finds in the cache) what `repo` needs and returns its snapshot folder. */
export async function snapshot(repo: string, opts: HubOptions = {}): Promise<string> {
  const revision = opts.revision ?? 'main';
  if (!validRevision(revision)) throw invalidArgument(`invalid revision ${JSON.stringify(revision)}`);
  const cache = hubCacheDir(opts);
  const folder = repoFolder(cache, repo);
  const endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const offlineNote = (why: string): BertrtError =>
    new BertrtError(`${repo}${revision === 'main' ? '' : `@${revision}`} is not in the Hub cache (${cache}) and ${why}; run once online, or \`bertrt pull ${repo}\``, 'E_OFFLINE');
  if (isOffline(opts)) {
    const snap = cachedSnapshot(repo, revision, opts);
    if (!snap) throw offlineNote('offline mode is on (HF_HUB_OFFLINE)');
    return snap;
  }
  try {
    new URL(endpoint);
  } catch {
    throw invalidArgument(`HF_ENDPOINT / endpoint is not a URL: ${endpoint}`);
  }
  const timeout = opts.timeout ?? 10;
  const retries = opts.retries ?? 5;
  if (!(timeout > 0 && timeout <= 3600)) throw invalidArgument('timeout must be in (0, 3600] seconds');
  if (!Number.isInteger(retries) || retries < 1 || retries > 20) throw invalidArgument('retries must be an integer in [1, 20]');
  const s: Session = { repo, endpoint, token: hubToken(opts), timeoutMs: timeout * 1000, retries, progress: opts.progress ?? progressBar() };
  let info: RepoInfo;
  try {
    info = await repoInfo(s, revision);
  } catch (e) {
    if (e instanceof HttpFailure) {
      // the Hub is unreachable (or failing): the cache, if it has this revision, with a warning
      const snap = cachedSnapshot(repo, revision, opts);
      if (!snap) throw new BertrtError(`${repo}: the Hub (${endpoint}) is unreachable (${e.message}) and the model is not in the cache (${cache})`, 'E_OFFLINE');
      process.emitWarning(`bertrt: the Hub is unreachable (${e.message}); ${repo} loads from the cache (${snap})`, 'BertrtWarning');
      return snap;
    }
    throw e;
  }
  const have = new Set(info.files);
  if (!have.has('config.json')) throw new BertrtError(`${repo}@${revision} has no config.json: not a transformers model repository`, 'E_ENTRY_NOT_FOUND');
  const commit = info.sha;
  const snap = path.join(folder, 'snapshots', commit);
  try {
    fs.mkdirSync(path.join(folder, 'blobs'), { recursive: true });
    markCacheDir(cache);
    if (revision !== commit) {
      fs.mkdirSync(path.dirname(path.join(folder, 'refs', ...revision.split('/'))), { recursive: true });
      fs.writeFileSync(path.join(folder, 'refs', ...revision.split('/')), commit);
    }
    const kind = opts.files ?? 'model';
    let modules: string | null = null;
    if (kind === 'model' && have.has('modules.json')) {
      await fetchFile(s, folder, commit, 'modules.json');
      modules = fs.readFileSync(path.join(snap, 'modules.json'), 'utf8');
    }
    if (opts.onnxFile && opts.onnxFile !== 'auto' && !have.has(opts.onnxFile)) throw new BertrtError(`${repo}@${revision} has no file ${opts.onnxFile}`, 'E_ENTRY_NOT_FOUND');
    const files = wanted(have, kind, modules, opts.onnxFile || undefined);
    if (kind === 'model' && !files.some((f) => WEIGHTS.includes(f) || f.endsWith('.onnx'))) {
      throw new BertrtError(`${repo}@${revision} has no weights bertrt reads (${WEIGHTS.join(', ')}) nor an ONNX file (${ONNX_FILES.join(', ')})`, 'E_ENTRY_NOT_FOUND');
    }
    for (const f of files) await fetchFile(s, folder, commit, f);
    for (const f of files.filter((x) => x.endsWith('.index.json'))) {
      const dir = path.posix.dirname(f) === '.' ? '' : `${path.posix.dirname(f)}/`;
      for (const shard of shardNames(path.join(snap, ...f.split('/')))) {
        if (!have.has(dir + shard)) throw new BertrtError(`${repo}@${revision}: ${f} names the shard ${shard}, which the repository does not have`, 'E_MODEL_FORMAT');
        await fetchFile(s, folder, commit, dir + shard);
      }
    }
  } catch (e) {
    if (e instanceof HttpFailure) throw new BertrtError(`${repo}: download failed after ${retries} attempts (${e.message}); what finished is cached and the rest resumes on the next try`, 'E_NETWORK');
    // a system error of the cache's folders (a cache path that is a file, a read-only file system)
    if (!(e instanceof BertrtError) && typeof (e as NodeJS.ErrnoException).syscall === 'string') {
      throw new BertrtError(`${repo}: cannot write the Hub cache (${cache}): ${(e as Error).message}`, 'E_IO', { cause: e });
    }
    throw e;
  }
  return snap;
}
