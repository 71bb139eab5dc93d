# engage-gateway: a multi-stage build. The build stage is the Debian-based Node 20 image, so better-sqlite3's native
# module is compiled against the same glibc as the runtime stage (Debian bookworm slim) runs it with.
# docker build -t engage-gateway . && docker run -p 8080:8080 --env-file gateway.env engage-gateway

FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ormconfig.ts ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
# tini as PID 1: forwards SIGTERM to node (graceful drain) and reaps the MIME worker threads' processes, if any.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production PORT=8080 METRICS_PORT=9464
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# The image's own unprivileged user; nothing is written inside the image (MySQL holds all state).
USER node
EXPOSE 8080 9464
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]
