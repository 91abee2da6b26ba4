// A Hugging Face Hub on localhost that speaks the protocol huggingface_hub speaks (tools/check_mock_hub.py drives
// it with the real client and compares the caches): the revision and tree APIs, HEAD/GET resolve with X-Repo-Commit,
// ETag = git blob SHA-1 for small files, a 302 to a second server (the file host) with X-Linked-Etag (SHA-256) and
// X-Linked-Size for LFS files, X-Error-Code on errors, Range on the file host. Faults for tests: 5xx/429 bursts, a
// cut-off body, a corrupt body, the Hub down; every request is logged with its Authorization header.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export interface MockRepo {
  /** commit sha -> files (repo path -> bytes) */
  commits: Record<string, Record<string, Buffer>>;
  /** branch / tag -> commit */
  refs: Record<string, string>;
  gated?: boolean;
  /** needs this token */
  token?: string;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  authorization?: string;
  range?: string;
}

const LFS_EXT = /\.(safetensors|bin|onnx|model|h5|msgpack|npy)$/;
const sha1 = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export function commitSha(seed: string): string {
  return createHash('sha1').update(seed).digest('hex');
}

/** Every file under dir (following links) as repo path -> bytes. */
export function filesOf(dir: string, prefix = ''): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const e of fs.readdirSync(dir)) {
    const f = path.join(dir, e);
    if (fs.statSync(f).isDirectory()) Object.assign(out, filesOf(f, `${prefix}${e}/`));
    else out[prefix + e] = fs.readFileSync(f);
  }
  return out;
}

export class MockHub {
  readonly log: LoggedRequest[] = [];
  /** answer the next N Hub requests with this status */
  failNext = 0;
  failStatus = 503;
  /** LFS sha256 -> cut the connection after this many bytes, once */
  cutOnce = new Map<string, number>();
  /** LFS sha256s served with one byte changed */
  corrupt = new Set<string>();
  /** delay each file-host chunk (ms), to make downloads overlap */
  slowMs = 0;
  hubUrl = '';
  cdnUrl = '';
  private hub: http.Server;
  private cdn: http.Server;
  private blobs = new Map<string, Buffer>();

  constructor(readonly repos: Record<string, MockRepo>) {
    this.hub = http.createServer((q, r) => this.serveHub(q, r));
    this.cdn = http.createServer((q, r) => this.serveCdn(q, r));
    for (const repo of Object.values(repos)) for (const files of Object.values(repo.commits)) for (const b of Object.values(files)) this.blobs.set(sha256(b), b);
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.hub.listen(0, '127.0.0.1', r));
    // the file host on another origin ("localhost" vs "127.0.0.1", another port)
    await new Promise<void>((r) => this.cdn.listen(0, '127.0.0.1', r));
    this.hubUrl = `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
    this.cdnUrl = `http://localhost:${(this.cdn.address() as AddressInfo).port}`;
    return this;
  }

  /** The Hub stops answering (connections refused); the file host too. */
  async stop(): Promise<void> {
    this.hub.closeAllConnections();
    this.cdn.closeAllConnections();
    await Promise.all([new Promise((r) => this.hub.close(r)), new Promise((r) => this.cdn.close(r))]);
  }

  private record(server: 'hub' | 'cdn', q: http.IncomingMessage): void {
    this.log.push({ server, method: q.method ?? '', url: q.url ?? '', authorization: q.headers.authorization, range: q.headers.range });
  }

  private error(r: http.ServerResponse, status: number, code: string | null, message: string, commit?: string): void {
    const h: Record<string, string> = { 'content-type': 'application/json' };
    if (code) h['x-error-code'] = code;
    h['x-error-message'] = message;
    if (commit) h['x-repo-commit'] = commit;
    r.writeHead(status, h).end(JSON.stringify({ error: message }));
  }

  /** The repo and commit a request names, or an error already sent. */
  private locate(q: http.IncomingMessage, r: http.ServerResponse, repoId: string, rev: string): { repo: MockRepo; sha: string } | null {
    const repo = this.repos[repoId];
    const auth = q.headers.authorization;
    if (!repo || (repo.token && auth !== `Bearer ${repo.token}`)) {
      this.error(r, 401, 'RepoNotFound', 'Repository not found');
      return null;
    }
    if (repo.gated && !auth) {
      this.error(r, 401, 'GatedRepo', 'Access to model is restricted. You must have access to it and be authenticated to access it. Please log in.');
      return null;
    }
    const sha = repo.refs[rev] ?? (repo.commits[rev] ? rev : undefined);
    if (!sha) {
      this.error(r, 404, 'RevisionNotFound', 'Invalid rev id: ' + rev);
      return null;
    }
    return { repo, sha };
  }

  private serveHub(q: http.IncomingMessage, r: http.ServerResponse): void {
    this.record('hub', q);
    if (this.failNext > 0) {
      this.failNext--;
      r.writeHead(this.failStatus, { 'retry-after': '0' }).end('try later');
      return;
    }
    const url = new URL(q.url ?? '/', this.hubUrl);
    const p = decodeURIComponent(url.pathname);
    let m = /^\/api\/models\/([^/]+\/[^/]+|[^/]+)\/(revision|tree)\/(.+?)(?:\/(.*))?$/.exec(url.pathname);
    if (m) {
      const [, repoId, kind, revEnc] = m;
      const where = this.locate(q, r, decodeURIComponent(repoId), decodeURIComponent(revEnc));
      if (!where) return;
      const files = where.repo.commits[where.sha];
      if (kind === 'revision') {
        r.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({ _id: where.sha.slice(0, 24), id: decodeURIComponent(repoId), sha: where.sha, private: false, gated: where.repo.gated ? 'auto' : false, siblings: Object.keys(files).sort().map((rfilename) => ({ rfilename })) }),
        );
        return;
      }
      const tree = Object.keys(files).sort().map((f) => {
        const b = files[f];
        const e: Record<string, unknown> = { type: 'file', oid: sha1(b), size: b.length, path: f };
        if (LFS_EXT.test(f)) e.lfs = { oid: sha256(b), size: b.length, pointerSize: 134 };
        return e;
      });
      r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(tree));
      return;
    }
    m = /^\/([^/]+\/[^/]+|[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p);
    if (!m || (q.method !== 'GET' && q.method !== 'HEAD')) {
      this.error(r, 404, null, 'not found');
      return;
    }
    const [, repoId, rev, file] = m;
    const where = this.locate(q, r, repoId, rev);
    if (!where) return;
    const body = where.repo.commits[where.sha][file];
    if (!body) {
      this.error(r, 404, 'EntryNotFound', `${file} does not exist on "${rev}"`, where.sha);
      return;
    }
    if (LFS_EXT.test(file)) {
      const h = sha256(body);
      r.writeHead(302, {
        location: `${this.cdnUrl}/lfs/${h}?X-Amz-Signature=mock`,
        'x-repo-commit': where.sha,
        'x-linked-etag': `"${h}"`,
        'x-linked-size': String(body.length),
        etag: `"${sha1(body)}"`,
        'content-length': '0',
      }).end();
      return;
    }
    r.writeHead(200, { 'x-repo-commit': where.sha, etag: `"${sha1(body)}"`, 'content-length': String(body.length), 'content-type': 'application/octet-stream' });
    r.end(q.method === 'HEAD' ? undefined : body);
  }

  private serveCdn(q: http.IncomingMessage, r: http.ServerResponse): void {
    this.record('cdn', q);
    const m = /^\/lfs\/([0-9a-f]{64})/.exec(q.url ?? '');
    const blob = m && this.blobs.get(m[1]);
    if (!m || !blob) {
      r.writeHead(404).end();
      return;
    }
    let body = blob;
    if (this.corrupt.has(m[1])) {
      body = Buffer.from(blob);
      body[body.length >> 1] ^= 0x5a;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(q.headers.range ?? '');
    if (range) start = Number(range[1]);
    if (start > body.length) {
      r.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    const part = body.subarray(start);
    r.writeHead(range ? 206 : 200, {
      'content-length': String(part.length),
      ...(range ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
      'accept-ranges': 'bytes',
    });
    const cut = this.cutOnce.get(m[1]);
    if (cut !== undefined && cut > start) {
      this.cutOnce.delete(m[1]);
      r.write(part.subarray(0, cut - start), () => setTimeout(() => r.socket?.destroy(), 20));
      return;
    }
    if (!this.slowMs) {
      r.end(q.method === 'HEAD' ? undefined : part);
      return;
    }
    let off = 0;
    const step = (): void => {
      if (off >= part.length) {
        r.end();
        return;
      }
      r.write(part.subarray(off, off + 65536));
      off += 65536;
      setTimeout(step, this.slowMs);
    };
    step();
  }
}

// `tsx tests/helpers/mock-hub.ts ID=DIR[@REV] ...`: serve folders as repos (tools/check_mock_hub.py), print the
// endpoint, run until killed.
if (require.main === module) {
  const repos: Record<string, MockRepo> = {};
  for (const arg of process.argv.slice(2)) {
    const [id, dir] = arg.split('=');
    const files = filesOf(dir);
    const sha = commitSha(id);
    repos[id] = { commits: { [sha]: files }, refs: { main: sha } };
  }
  new MockHub(repos).start().then((h) => process.stdout.write(`${h.hubUrl}\n`));
}
