# Stand-in for python:3.11.14-slim-bookworm, built only when Docker Hub cannot be reached (ops/compose.py).
# Contract the project relies on: `python` on PATH (3.11) with venv and pip; groupadd/useradd.
# Debian 12's python3 is 3.11.2, not 3.11.14.
FROM prt-standin/debian:bookworm
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/python3 /usr/local/bin/python
CMD ["python3"]
