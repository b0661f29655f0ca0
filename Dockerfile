# syntax=docker/dockerfile:1
# Build stage: full install, compile TypeScript.
FROM node:22-bookworm-slim AS build
# No install-time telemetry (@scarf/scarf, a dependency of swagger-ui-dist, reports npm installs).
ENV SCARF_ANALYTICS=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ormconfig.ts ./
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies only, non-root.
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production PORT=3000 DATA_DIR=/data SCARF_ANALYTICS=false
WORKDIR /app
COPY package.json package-lock.json ./
# TypeScript is an optional peer of @nestjs/swagger (its build-time plugin), which --omit=dev keeps:
# nothing in dist/ loads it (docs/operations.md), so 24 MB less.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
  && rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver
COPY --from=build /app/dist ./dist
COPY bin ./bin
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# node is PID 1 here: run the image with `docker run --init` (compose: `init: true`), docs/operations.md.
CMD ["node", "dist/src/main.js"]
