# gsdns container image (SPEC §5 "Deploy": a non-root image).
#
# Owns: how the image is built (stage "build": npm ci, tsc, prune dev dependencies) and what the
# runtime stage holds (dist, bin, config, package.json, production node_modules — nothing else).
# Never: runs as root at run time, starts through npm, or ships sources, tests, benches or dev
# dependencies.
# Invariants (checked by test/integration/dockerfile.test.ts, replayed without a Docker engine by
# scripts/dockerfile-smoke.sh): every FROM is the same pinned Node 22 bookworm-slim; the exposed
# ports are helm/gsdns/values.yaml containerPorts (dns 5353 udp+tcp, sync 7443, http 8080).
#
# Default CMD: the embedded demo (DNS 127.0.0.1:5353, ops HTTP 127.0.0.1:8080), reachable only from
# inside the container. The Helm chart overrides the args with `--config /etc/gsdns/config.yaml`;
# by hand: docker run IMAGE node bin/gsdns serve --config /etc/gsdns/config.yaml

# Node 22 LTS, pinned to the full version (`npx -y node@22 --version` gave 22.23.3 when this was
# written). Pinned by tag only: no Docker engine or registry was reachable from the build machine,
# so the digest could not be looked up. Pin it with `FROM node:22.23.3-bookworm-slim@sha256:…`
# (docker buildx imagetools inspect node:22.23.3-bookworm-slim) once a registry is at hand.
ARG NODE_VERSION=22.23.3

# ---------------------------------------------------------------------------------------------
# build: install every dependency, compile TypeScript, then drop the dev dependencies
# ---------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app

# Manifests first: the dependency layer is rebuilt only when the lockfile changes. .npmrc: the same
# npm settings as the lockfile was made with (legacy-peer-deps: a dev dependency's unused peers).
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: the "prepare" script runs tsc, and the sources are not here yet (no dependency
# has an install script; the lockfile's hasInstallScript is never set).
RUN npm ci --ignore-scripts --no-audit --no-fund

COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# Keep only production dependencies for the runtime stage.
RUN npm prune --omit=dev --no-audit --no-fund

# ---------------------------------------------------------------------------------------------
# runtime: the compiled server and its production dependencies, as uid 10001
# ---------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# Re-declared so the global ARG is in scope for the label below.
ARG NODE_VERSION

LABEL org.opencontainers.image.title="gsdns" \
      org.opencontainers.image.description="DNS server for global service names in multi-cluster Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/node:${NODE_VERSION}-bookworm-slim"

# uid/gid 10001 matches the Helm chart's securityContext (runAsUser/runAsGroup 10001). The numeric
# USER below lets Kubernetes' runAsNonRoot verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 gsdns \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin gsdns

ENV NODE_ENV=production
WORKDIR /app

# Owned by root and not writable by the server: it needs no writable files (config and TLS material
# are mounted read-only by the chart).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config

USER 10001:10001

# DNS (UDP and TCP on the same port), peer catalog sync (HTTPS), ops HTTP (/healthz, /readyz,
# /metrics, /debug). Unprivileged ports, so no NET_BIND_SERVICE capability is needed.
EXPOSE 5353/udp 5353/tcp 7443/tcp 8080/tcp

# The slim image has no curl: ask node's fetch. Liveness only (/readyz is for load balancing).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz', { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# Exec form, node directly (never npm): SIGTERM reaches gsdns, which goes not-ready, serves a
# lame-duck period, and exits 0.
CMD ["node", "bin/gsdns", "serve"]
