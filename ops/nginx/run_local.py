"""Starts nginx in the foreground for the local stack: renders the shared server template with local paths,
makes a self-signed certificate when none is configured, then execs ops/nginx/supervise.py (same process,
a fresh interpreter without the settings' libraries), which runs nginx and stays its parent."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from common.config import load_settings
from common.lifecycle import exit_with_supervisor

HERE = Path(__file__).resolve().parent
APP_DIR = HERE.parents[1]
WEB_BUILD = APP_DIR / "web" / "dist" / "prt-videodownloader-web" / "browser"


def render(template: Path, values: dict[str, str]) -> str:
    """envsubst semantics, as in the nginx image: ${NAME} of a known variable is replaced, nginx's $vars stay."""
    return re.sub(r"\$\{(\w+)\}", lambda match: values.get(match[1], match[0]), template.read_text())


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    certificate, key = folder / "selfsigned.crt", folder / "selfsigned.key"
    if not (certificate.exists() and key.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(certificate)], check=True, capture_output=True)
        print(f"nginx: generated a self-signed certificate in {folder}", flush=True)
    return certificate, key


def others_can_read(path: Path) -> bool:
    """Whether an unprivileged user (nginx's workers run as nobody under root) can reach path."""
    path = path.resolve()
    return all(folder.stat().st_mode & 0o001 for folder in path.parents) and bool(path.stat().st_mode & 0o004)


def worker_user(*served: Path) -> str:
    """nginx's `user` line: nobody normally; root's workers only when root runs the stack from a private
    folder (e.g. a clone under /root) that nobody could not read."""
    if os.geteuid() != 0 or all(others_can_read(path) for path in served):
        return ""
    print("nginx: the served folders are private to root, so nginx workers run as root (local stack only)",
          flush=True)
    return "user root;"


def main() -> None:
    exit_with_supervisor()
    settings = load_settings()
    nginx = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
    prefix = settings.RUNPATH / "nginx"
    conf_dir = prefix / "conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    if settings.TLSCERTIFICATEPATH and settings.TLSKEYPATH:
        certificate, key = Path(settings.TLSCERTIFICATEPATH), Path(settings.TLSKEYPATH)
    else:
        certificate, key = self_signed_certificate(settings.RUNPATH / "tls")
    web_root = WEB_BUILD if (WEB_BUILD / "index.html").exists() else HERE / "placeholder"
    values = {
        "NGINX_USER": worker_user(web_root, settings.VIDEODATAPATH),
        "NGINX_PREFIX": str(prefix),
        "NGINX_CONF_DIR": str(conf_dir),
        "NGINX_HTTPS_LISTEN": str(settings.HTTPSPORT),
        "NGINX_TLS_CERTIFICATE": str(certificate),
        "NGINX_TLS_KEY": str(key),
        "NGINX_API_UPSTREAM": f"127.0.0.1:{settings.APIPORT}",
        "NGINX_VIDEO_PATH": urlsplit(settings.HTTPSBASEURL).path.rstrip("/") or "/videodownloader",
        "NGINX_VIDEO_ROOT": str(settings.VIDEODATAPATH.resolve()),
        "NGINX_WEB_ROOT": str(web_root),
    }
    (conf_dir / "prt-videodownloader.conf").write_text(render(HERE / "prt-videodownloader.conf.template", values))
    (conf_dir / "nginx.conf").write_text(render(HERE / "nginx-local.conf.template", values))
    shutil.copy(HERE / "prt-proxy-headers.conf", conf_dir / "prt-proxy-headers.conf")
    print(f"nginx: HTTPS on port {settings.HTTPSPORT}, videos at {values['NGINX_VIDEO_PATH']}/, UI from {web_root}",
          flush=True)
    os.execv(sys.executable, [sys.executable, "-S", "-m", "ops.nginx.supervise",
                              nginx, "-p", str(prefix), "-c", str(conf_dir / "nginx.conf"), "-g", "daemon off;"])


if __name__ == "__main__":
    main()
