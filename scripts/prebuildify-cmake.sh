#!/bin/sh
# prebuildify calls its builder as `<builder> rebuild --target=... --devdir=...`; with N-API there is one ABI,
# so the arguments are not needed: build the addon with cmake-js (offline, headers from node-api-headers) into
# build/Release, where prebuildify collects it.
set -e
cd "$(dirname "$0")/.."
exec npx --no-install cmake-js rebuild
