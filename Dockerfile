FROM node:20-bookworm-slim
WORKDIR /opt/swiftlet
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci
COPY . .
# gcc builds the native sums (scripts/build-native.mjs) and leaves with the build.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && npm run build && npm prune --omit=dev \
 && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* \
 && ln -s /opt/swiftlet/dist/bin/swiftlet.js /usr/local/bin/swiftlet && chmod +x dist/bin/swiftlet.js
# As `swiftlet aio` runs its servers (bin/aio.ts): 16 threads for a storage node's disk calls, and at
# most two C heaps per process so freed memory does not stay resident in one arena per thread.
ENV UV_THREADPOOL_SIZE=16 MALLOC_ARENA_MAX=2
# Each storage node keeps one device (a folder) per disk under /srv/node.
RUN mkdir -p /srv/node/d1
ENTRYPOINT ["node", "--initial-old-space-size=128", "--min-semi-space-size=64", "--max-semi-space-size=64", "--no-page-promotion", "/opt/swiftlet/dist/bin/swiftlet.js"]
