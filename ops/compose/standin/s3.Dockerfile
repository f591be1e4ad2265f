# S3 stand-in for rustfs/rustfs (ops/compose-s3-standin.yml), used only when that image cannot be pulled:
# moto's S3 server on port 9000 with RustFS's GET /health. Objects live in memory (lost when the container
# stops), and moto does not check signatures: a stand-in for the protocol, not for RustFS.
FROM python:3.11.14-slim-bookworm
COPY requirements.txt requirements-web.txt requirements-dev.txt /opt/s3/
RUN python -m venv /opt/s3/venv \
    && /opt/s3/venv/bin/pip install --no-cache-dir -c /opt/s3/requirements-dev.txt "moto[server]"
COPY ops/compose/standin/s3_standin.py /opt/s3/s3_standin.py
USER 10001:10001
EXPOSE 9000
CMD ["/opt/s3/venv/bin/python", "/opt/s3/s3_standin.py"]
