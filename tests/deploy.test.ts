// Deployment beyond one machine (issue 19): the Kubernetes manifests validated by kubeconform against
// Kubernetes 1.31's strict JSON schemas (scripts/get-deploy-tools.sh fetches both; CI runs it), the references
// between them that no schema sees, and the Dockerfile's runtime contract — its HEALTHCHECK command run against
// a real server, its entrypoint's flags accepted by `bertrt serve`, a non-root user. No container runtime or
// cluster runs here: `docker build` itself is not exercised (the README says so).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { root, tmpDir } from './helpers/fixtures';

const k8s = path.join(root, 'deploy', 'kubernetes');
const manifests = fs.readdirSync(k8s).filter((f) => f.endsWith('.yaml')).map((f) => path.join(k8s, f));
const kubeconform = path.join(root, '.tools', 'bin', 'kubeconform');
const schemas = path.join(root, '.tools', 'k8s-schemas', 'v1.31.0');

function validate(files: string[]) {
  return spawnSync(kubeconform, ['-strict', '-summary', '-schema-location', `${schemas}/{{ .ResourceKind }}{{ .KindSuffix }}.json`, ...files], { encoding: 'utf8' });
}

type Doc = Record<string, any>;
const docs: Doc[] = manifests.flatMap((f) => parseAllDocuments(fs.readFileSync(f, 'utf8')).map((d) => d.toJS() as Doc));
const byKind = (kind: string) => docs.filter((d) => d.kind === kind);

describe('deployment: Kubernetes manifests and the Dockerfile', function () {
  this.timeout(120_000);

  it('kubeconform (strict, Kubernetes 1.31 schemas) finds every manifest valid, and refuses broken copies of them', function () {
    if (!fs.existsSync(kubeconform) || !fs.existsSync(path.join(schemas, 'deployment-apps-v1.json'))) {
      console.log('      skipped: kubeconform and the schemas are not in .tools/ (run scripts/get-deploy-tools.sh)');
      this.skip();
    }
    const ok = validate(manifests);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`Valid: ${docs.length}, Invalid: 0, Errors: 0, Skipped: 0`));
    // the check bites: a misspelt field (strict schemas refuse unknown ones), a wrong type, a missing selector
    const deployment = fs.readFileSync(path.join(k8s, 'deployment.yaml'), 'utf8');
    const dir = tmpDir('bertrt-k8s-');
    const broken = [
      ['misspelt', deployment.replace('readinessProbe:', 'readinesProbe:'), /additional properties 'readinesProbe' not allowed/],
      ['type', deployment.replace('replicas: 2', 'replicas: two'), /\/spec\/replicas/],
      ['required', deployment.replace(/ {2}selector:\n {4}matchLabels:\n {6}app.kubernetes.io\/name: bertrt\n/, ''), /missing property 'selector'/],
    ] as const;
    for (const [name, text, why] of broken) {
      assert.notEqual(text, deployment, name);
      const f = path.join(dir, `${name}.yaml`);
      fs.writeFileSync(f, text);
      const r = validate([f]);
      assert.equal(r.status, 1, `${name}: ${r.stdout}`);
      assert.match(r.stdout, why, name);
    }
  });

  it('the manifests agree with each other and with the server: probes on /health, selectors, HPA targets, resources', () => {
    const [dep] = byKind('Deployment');
    const pod = dep.spec.template;
    assert.deepEqual(dep.spec.selector.matchLabels, pod.metadata.labels);
    const [svc] = byKind('Service');
    for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(pod.metadata.labels[k], v);
    const c = pod.spec.containers[0];
    const portNames = c.ports.map((p: Doc) => p.name);
    assert.ok(portNames.includes(svc.spec.ports[0].targetPort));
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      assert.equal(c[probe].httpGet.path, '/health', probe);
      assert.ok(portNames.includes(c[probe].httpGet.port), probe);
    }
    assert.equal(c.ports[0].containerPort, 8080); // the Dockerfile's --port
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
    assert.equal(pod.spec.securityContext.runAsNonRoot, true);
    const hpas = byKind('HorizontalPodAutoscaler');
    assert.equal(hpas.length, 2);
    for (const h of hpas) {
      assert.deepEqual([h.spec.scaleTargetRef.kind, h.spec.scaleTargetRef.name], ['Deployment', dep.metadata.name]);
      assert.ok(h.spec.minReplicas >= 1 && h.spec.maxReplicas >= h.spec.minReplicas);
    }
    // the queue-based HPA names a metric the server exports
    const queue = hpas.find((h) => h.spec.metrics[0].type === 'Pods')!;
    const metric = queue.spec.metrics[0].pods.metric.name;
    const metricsSource = fs.readFileSync(path.join(root, 'lib', 'server', 'metrics.ts'), 'utf8');
    assert.ok(metricsSource.includes(`name: '${metric}'`), metric);
    // the container's extra args are flags `bertrt serve` takes
    const help = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), 'serve', '--help'], { encoding: 'utf8' }).stdout;
    for (const a of c.args as string[]) if (a.startsWith('--')) assert.ok(help.includes(a), a);
  });

  it('the Dockerfile: two stages, a non-root user, every COPY source present, its HEALTHCHECK run against a real server', async () => {
    const text = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const froms = lines.filter((l) => l.startsWith('FROM '));
    assert.equal(froms.length, 2);
    const runtime = lines.slice(lines.indexOf(froms[1]));
    const user = runtime.filter((l) => l.startsWith('USER ')).pop();
    assert.equal(user, 'USER node'); // uid 1000 in the node images, the manifests' runAsUser
    const ignored = fs.readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').filter(Boolean);
    for (const l of lines.filter((x) => x.startsWith('COPY ') && !x.includes('--from='))) {
      const srcs = l.split(/\s+/).slice(1, -1);
      for (const s of srcs) {
        assert.ok(fs.existsSync(path.join(root, s)), `COPY ${s}: not in the repository`);
        assert.ok(!ignored.includes(s), `COPY ${s}: excluded by .dockerignore`);
      }
    }
    const entry = JSON.parse(runtime.find((l) => l.startsWith('ENTRYPOINT '))!.slice('ENTRYPOINT '.length)) as string[];
    assert.deepEqual(entry.slice(0, 2), ['bertrt', 'serve']);
    const health = JSON.parse(runtime.find((l) => l.startsWith('HEALTHCHECK '))!.replace(/^HEALTHCHECK .*?CMD /, '')) as string[];
    // the entrypoint's command line (the installed `bertrt` is dist/cli.js), on a free port instead of 8080
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const args = entry.slice(1).map((a) => (a === '0.0.0.0' ? '127.0.0.1' : a === '8080' ? String(port) : a));
    const server = spawn(process.execPath, [path.join(root, 'dist', 'cli.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    server.stderr.on('data', (d) => (log += d));
    const probe = () => spawnSync(health[0] === 'node' ? process.execPath : health[0], health.slice(1).map((a) => a.replace('8080', String(port))), { encoding: 'utf8' }).status;
    try {
      const t0 = Date.now();
      while (!log.includes('serving') && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100));
      assert.ok(log.includes('serving'), log);
      assert.equal(probe(), 0, 'the healthcheck fails on a healthy server');
    } finally {
      server.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => server.on('close', resolve));
    assert.equal(code, 0, `SIGTERM (docker stop) did not drain and exit 0: ${log}`);
    assert.equal(probe(), 1, 'the healthcheck passes with no server');
  });
});
