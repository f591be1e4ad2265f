"""moto's S3 server on 0.0.0.0:9000, answering GET /health like RustFS (the compose healthcheck)."""
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

s3 = DomainDispatcherApplication(create_backend_app)


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/health":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]
    return s3(environ, start_response)


if __name__ == "__main__":
    run_simple("0.0.0.0", 9000, application, threaded=True)
