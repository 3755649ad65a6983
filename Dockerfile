# Safelist container image: build with the full toolchain, run as a non-root user on a slim base.
# Node.js 24 LTS (the major scripts/use-node pins for development and CI).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    SAFELIST_SERVER__HOST=0.0.0.0 \
    SAFELIST_STORAGE__PATH=/var/lib/safelist/blobs \
    SAFELIST_DATABASE__PGLITE_PATH=/var/lib/safelist/pglite
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY allowlists ./allowlists
COPY exceptions ./exceptions
RUN mkdir -p /var/lib/safelist && chown -R node:node /var/lib/safelist
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The memory flags of dist/cli/main.js's first line (see src/cli/main.ts), which `node FILE` would ignore.
ENTRYPOINT ["node", "--max-semi-space-size=4", "--liftoff-only", "--expose-gc", "dist/cli/main.js"]
CMD ["serve"]
