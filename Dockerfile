# bertrt's server as a container: `docker build -t bertrt .` then
# `docker run -p 8080:8080 bertrt` (the embedded all-MiniLM-L6-v2) or add `--model NAME=ORG/MODEL`
# (downloaded into the volume at /data/hf, the Hugging Face cache layout).
#
# Two stages, the same steps tests/package.test.ts runs outside a container: the first compiles the addon
# into a prebuild (prebuildify over cmake-js) and packs the npm tarball; the second installs that tarball
# into a slim image that has no compiler, and runs as the unprivileged `node` user.

FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json CMakeLists.txt binding.gyp tsconfig.json LICENSE README.md ./
COPY scripts ./scripts
COPY native ./native
COPY lib ./lib
COPY models ./models
# npm ci compiles the addon (the install script) and dist/ (prepare); the prebuild and the tarball follow
RUN npm ci --no-audit --no-fund \
 && npm run prebuild \
 && npm pack --pack-destination /tmp \
 && mv /tmp/bertrt-*.tgz /tmp/bertrt.tgz

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HF_HOME=/data/hf
COPY --from=build /tmp/bertrt.tgz /tmp/bertrt.tgz
RUN npm install -g --omit=dev --no-audit --no-fund /tmp/bertrt.tgz \
 && rm /tmp/bertrt.tgz \
 && mkdir -p /data/hf \
 && chown -R node:node /data
USER node
WORKDIR /home/node
VOLUME /data
EXPOSE 8080
# the server's own liveness route, with the node binary the image already has (no curl in the slim image)
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) drains in-flight requests and exits 0
ENTRYPOINT ["bertrt", "serve", "--host", "0.0.0.0", "--port", "8080"]
CMD []
