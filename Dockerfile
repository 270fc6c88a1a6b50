# SPDX-License-Identifier: Apache-2.0
# podtrail image: one image for every stage (capture, enrich, export, tail, doctor).
#   docker build -t podtrail .
# The build steps live in scripts/build-in-image.sh; scripts/docker-build-steps.sh runs
# this file's build-in-image.sh RUN lines as plain shell (CI has no engine), so keep
# each such RUN on one line, with /src, /out and /opt/podtrail as the only paths.

# ---- build: BPF object (clang), addon (node-gyp, libbpf), TypeScript ----
FROM node:26-bookworm AS build
WORKDIR /src
COPY scripts/build-in-image.sh /usr/local/bin/build-in-image.sh
RUN build-in-image.sh install build
COPY . /src
RUN build-in-image.sh build /src
RUN build-in-image.sh stage /src /out
RUN build-in-image.sh check /out

# ---- runtime: Node, the three shared libraries the addon links, the built tree ----
FROM node:26-bookworm-slim AS runtime
COPY --from=build /usr/local/bin/build-in-image.sh /usr/local/bin/build-in-image.sh
RUN build-in-image.sh install runtime
COPY --from=build /out /opt/podtrail
RUN build-in-image.sh check /opt/podtrail
RUN ! command -v cc && ! command -v gcc && ! command -v clang && ! command -v g++
RUN node /opt/podtrail/bin/podtrail.js --version
ENV NODE_ENV=production
WORKDIR /opt/podtrail
# enrich, export and tail run as the image's unprivileged "node" user (uid 1000).
# capture (and enrich when it reads a node's files) needs uid 0: compose and the
# Kubernetes manifests set it per service, with only the capabilities it needs.
USER node
ENTRYPOINT ["node", "/opt/podtrail/bin/podtrail.js"]
CMD ["--help"]
