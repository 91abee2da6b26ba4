#!/usr/bin/env python3
"""Proves tests/helpers/mock-hub.ts speaks the Hub's protocol the way huggingface_hub understands it, and that
bertrt's Hub client writes the cache huggingface_hub writes.

1. serves the embedded model (models/all-MiniLM-L6-v2) as the repo `sentence-transformers/all-MiniLM-L6-v2` on
   the mock Hub (LFS weights behind a redirect to a second host);
2. `bertrt pull` fetches it into cache B; huggingface_hub's snapshot_download fetches the same files
   (allow_patterns = the files bertrt chose) into cache A;
3. compares the caches file for file: every path under models--*/ (blobs, snapshots, refs), each symlink's target,
   each file's SHA-256. huggingface_hub's own bookkeeping (.locks/, its tree-listing cache) is listed apart;
4. crosses them: bertrt loads cache A offline (HF_HUB_OFFLINE=1) and huggingface_hub loads cache B with
   local_files_only=True.
Writes tests/fixtures/hub-parity.json (the listing of cache A, the verdicts); tests/hub.test.ts rebuilds cache B
from the same mock repo on every run and compares it with that listing, so the check holds in CI without Python.
Run (after `npx tsc -p .`): tools/.venv/bin/python tools/check_mock_hub.py
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
REPO = "sentence-transformers/all-MiniLM-L6-v2"
OUT = os.path.join(ROOT, "tests", "fixtures", "hub-parity.json")


def listing(cache):
    """path -> ('link', target) | ('file', sha256) for everything under models--*; extra = Python's bookkeeping."""
    entries, extra = {}, []
    for base, dirs, files in os.walk(cache):
        for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(base, d))]:
            full = os.path.join(base, name)
            rel = os.path.relpath(full, cache)
            top = rel.split(os.sep)
            if top[0] == ".locks" or (len(top) > 1 and top[1] not in ("blobs", "snapshots", "refs", ".no_exist")):
                extra.append(rel)
                continue
            if rel == "CACHEDIR.TAG":  # the tag's first line is the standard's; the comment under it is each tool's
                with open(full) as f:
                    entries[rel] = ["tag", f.readline().strip()]
            elif os.path.islink(full):
                entries[rel] = ["link", os.readlink(full)]
            else:
                with open(full, "rb") as f:
                    entries[rel] = ["file", hashlib.sha256(f.read()).hexdigest()]
    return dict(sorted(entries.items())), sorted(extra)


def main():
    tmp = tempfile.mkdtemp(prefix="bertrt-parity-")
    cache_a, cache_b = os.path.join(tmp, "python"), os.path.join(tmp, "bertrt")
    mock = subprocess.Popen(
        ["node", "--import", "tsx", "tests/helpers/mock-hub.ts", f"{REPO}=models/all-MiniLM-L6-v2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        endpoint = mock.stdout.readline().strip()
        env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HUB_CACHE": cache_b, "HF_HUB_DISABLE_XET": "1"}
        env.pop("HF_TOKEN", None)
        cli = os.path.join(ROOT, "dist", "cli.js")
        snap_b = subprocess.check_output(["node", cli, "pull", REPO], env=env, text=True).strip()
        files = sorted(os.path.relpath(os.path.join(b, f), snap_b) for b, _, fs in os.walk(snap_b) for f in fs)

        # huggingface_hub reads HF_ENDPOINT when it is imported
        os.environ.update({"HF_ENDPOINT": endpoint, "HF_HUB_DISABLE_XET": "1"})
        import huggingface_hub
        from huggingface_hub import hf_hub_download, snapshot_download

        snap_a = snapshot_download(REPO, cache_dir=cache_a, allow_patterns=files)
        list_a, extra_a = listing(cache_a)
        list_b, extra_b = listing(cache_b)
        same = list_a == list_b
        diff = sorted({(k, tuple(v)) for k, v in list_a.items()} ^ {(k, tuple(v)) for k, v in list_b.items()}) if not same else []

        # crossed: bertrt on Python's cache, offline; Python on bertrt's, local files only
        env_a = {**env, "HF_HUB_CACHE": cache_a, "HF_HUB_OFFLINE": "1"}
        vec = json.loads(subprocess.check_output(["node", cli, "embed", "--model", REPO, "hello world"], env=env_a, text=True))
        ours_on_python = len(vec) == 1 and len(vec[0]) == 384
        p = hf_hub_download(REPO, "model.safetensors", cache_dir=cache_b, local_files_only=True)
        python_on_ours = os.path.realpath(p).startswith(os.path.realpath(cache_b))
    finally:
        mock.terminate()
    report = {
        "repo": REPO,
        "huggingface_hub": huggingface_hub.__version__,
        "files": files,
        "python_cache": list_a,
        "python_only_bookkeeping": [e.replace(tmp, "") for e in extra_a],
        "same_cache": same,
        "differences": [list(map(str, d)) for d in diff],
        "bertrt_loads_python_cache_offline": ours_on_python,
        "huggingface_hub_loads_bertrt_cache_local_only": python_on_ours,
    }
    with open(OUT, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("python_cache", "files")}, indent=1))
    sys.exit(0 if same and ours_on_python and python_on_ours else 1)


if __name__ == "__main__":
    main()
