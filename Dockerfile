# roblox-messaging-server in a container (see README.md, "Operating it").
#   docker build -t roblox-messaging-server .
#   docker run -p 5000:5000 -e API_KEYS=game:$(openssl rand -hex 32) roblox-messaging-server
# Two stages: the TypeScript is compiled with the dev dependencies, and the image that runs keeps only
# the production dependencies, the compiled code and the tester's files, and runs as an unprivileged user.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's prepare script builds, and the sources are not here yet.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json index.ts main.ts ./
COPY domain domain
COPY application application
COPY adapters adapters
COPY composition composition
RUN npm run build

FROM node:24-bookworm-slim AS run
ENV NODE_ENV=production PORT=5000 HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist dist
COPY web web
# The image's unprivileged user (uid 1000): the server writes nothing on disk.
USER node
EXPOSE 5000
# The process answers: GET /healthz, with the fetch built into node (the slim image has no curl).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 5000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The young generation pinned as npm start pins it; SIGTERM (docker stop) stops it cleanly.
CMD ["node", "--min-semi-space-size=16", "--max-semi-space-size=16", "dist/main.js"]
