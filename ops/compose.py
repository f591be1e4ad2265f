"""`make compose-up` / `make compose-down`: the docker-compose deployment, really running on this host.

up: makes sure a Docker engine answers (installs Debian's docker.io and docker-compose and starts dockerd
when none does), makes sure every base image the Dockerfiles and the compose file name exists (pulled, or,
when the registry cannot be reached, a stand-in built from Debian packages and tagged exactly as the FROM
line names it), builds the project's images, starts the three containers and waits until all are healthy.
When rustfs/rustfs cannot be pulled, an S3 stand-in (moto's server) takes its place through
ops/compose-s3-standin.yml, on the same service name and port. down: stops and removes the containers; the
volumes stay.

Settings come from the env file (`.env`, or PRT_COMPOSE_ENV_FILE) and the environment, as for users.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / "ops" / "compose" / "standin"
COMPOSE_FILE = ROOT / "docker-compose.yml"
S3_STANDIN_OVERRIDE = ROOT / "ops" / "compose-s3-standin.yml"
DOCKERFILES = (ROOT / "ops" / "api" / "Dockerfile", ROOT / "ops" / "nginx" / "Dockerfile")
PROJECT = "prt-videodownloader"
CONTAINERS = ("prt-videodownloader-api", "prt-videodownloader-nginx", "prt-videodownloader-rustfs")
STANDIN_LABEL = "org.prt-videodownloader.standin"
DIGEST_LABEL = "org.prt-videodownloader.standin-digest"
DEBIAN_BASE = "prt-standin/debian:bookworm"
S3_STANDIN_IMAGE = "prt-standin/s3:moto"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_IN_IMAGE = "/etc/ssl/certs/prt-host-ca-bundle.crt"
DOCKERD_LOG = Path("/var/log/prt-dockerd.log")
HEALTHY_TIMEOUT_SECONDS = 420
# Docker CLI builds need buildx, which Debian's docker.io lacks: the classic builder of the engine is used.
BUILD_ENV = {"DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}


def say(message: str) -> None:
    print(f"compose: {message}", flush=True)


def run(*command: str, check: bool = True, quiet: bool = False, timeout: float | None = None,
        **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, **BUILD_ENV, **kwargs.pop("env", {})}
    output = subprocess.DEVNULL if quiet else None
    result = subprocess.run(command, env=env, stdout=output, stderr=output, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise SystemExit(f"compose: failed ({result.returncode}): {' '.join(command)}")
    return result


def answers(*command: str, timeout: float = 30) -> bool:
    try:
        return run(*command, check=False, quiet=True, timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


# --- the engine -------------------------------------------------------------------------------------------------

def ensure_engine() -> None:
    if shutil.which("docker") and answers("docker", "info"):
        return
    if not (shutil.which("dockerd") and shutil.which("docker-compose") and shutil.which("debootstrap")):
        run(str(ROOT / "ops" / "install-debian-packages"), "docker.io", "docker-compose", "debootstrap")
    say(f"no Docker engine answers: starting dockerd (log: {DOCKERD_LOG})")
    with open(DOCKERD_LOG, "ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.monotonic() + 60
    while not answers("docker", "info"):
        if time.monotonic() > deadline:
            raise SystemExit(f"compose: dockerd did not answer within 60 s; see {DOCKERD_LOG}")
        time.sleep(0.5)


# --- base images ------------------------------------------------------------------------------------------------

def base_images() -> list[str]:
    """Every image a FROM line names (build stages excluded), in order."""
    images: list[str] = []
    for dockerfile in DOCKERFILES:
        stages: set[str] = set()
        for match in re.finditer(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile.read_text(), re.M | re.I):
            image, stage = match[1], match[2]
            if image not in stages and image not in images:
                images.append(image)
            if stage:
                stages.add(stage)
    return images


def rustfs_image() -> str:
    match = re.search(r"^\s+image:\s*(rustfs/rustfs:\S+)", COMPOSE_FILE.read_text(), re.M)
    if not match:
        raise SystemExit("compose: docker-compose.yml names no rustfs/rustfs image")
    return match[1]


def present(image: str) -> bool:
    return answers("docker", "image", "inspect", image)


def labels(image: str) -> dict[str, str]:
    result = subprocess.run(["docker", "image", "inspect", "-f", "{{json .Config.Labels}}", image],
                            capture_output=True, text=True)
    return (json.loads(result.stdout or "null") or {}) if result.returncode == 0 else {}


def is_standin(image: str) -> bool:
    return STANDIN_LABEL in labels(image)


def standin_digest() -> str:
    """Changes whenever a stand-in's recipe changes, so that a cached stand-in built from an older recipe
    is rebuilt instead of reused."""
    digest = hashlib.sha256()
    for path in sorted(STANDIN.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def current_standin(image: str) -> bool:
    return labels(image).get(DIGEST_LABEL) == standin_digest()


def pulled(image: str) -> bool:
    say(f"pulling {image}")
    return answers("docker", "pull", image, timeout=300)


def debian_mirror() -> str:
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        match = re.search(r"^URIs:\s*(\S+/debian)\s*$", sources.read_text(), re.M)
        if match:
            return match[1]
    return "http://deb.debian.org/debian"


def build_debian_base() -> None:
    """A Debian 12 root from debootstrap, imported as an image; the host's CA bundle is copied in so that
    pip and npm inside reach their registries through this host's TLS-inspecting egress."""
    if present(DEBIAN_BASE):
        return
    say(f"building {DEBIAN_BASE} with debootstrap (about a minute)")
    with tempfile.TemporaryDirectory(prefix="prt-standin-") as folder:
        root = Path(folder) / "root"
        run("debootstrap", "--variant=minbase", "bookworm", str(root), debian_mirror(), quiet=True)
        (root / CA_IN_IMAGE.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(HOST_CA_BUNDLE, root / CA_IN_IMAGE.lstrip("/"))
        changes = [f"ENV {name}={CA_IN_IMAGE}" for name in
                   ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE")]
        changes += ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    f"LABEL {STANDIN_LABEL}=debootstrap", 'CMD ["bash"]']
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        change_args = [part for change in changes for part in ("--change", change)]
        run("docker", "import", *change_args, "-", DEBIAN_BASE, stdin=tar.stdout, quiet=True)
        tar.wait()


STANDIN_DOCKERFILES = {"python": "python.Dockerfile", "node": "node.Dockerfile", "nginx": "nginx.Dockerfile"}


def build_standin(image: str) -> None:
    kind = image.split("/")[-1].split(":")[0]
    if kind not in STANDIN_DOCKERFILES:
        raise SystemExit(f"compose: {image} cannot be pulled and there is no stand-in for it")
    build_debian_base()
    say(f"building a stand-in for {image} from Debian packages ({STANDIN_DOCKERFILES[kind]})")
    run("docker", "build", "-q", "--label", f"{STANDIN_LABEL}={kind}",
        "--label", f"{DIGEST_LABEL}={standin_digest()}", "-t", image,
        "-f", str(STANDIN / STANDIN_DOCKERFILES[kind]), str(STANDIN), quiet=True)


def ensure_base_images() -> bool:
    """True when RustFS's image is available; False when the S3 stand-in must replace it."""
    for image in base_images():
        if present(image) and not is_standin(image):
            say(f"{image}: present")
        elif present(image) and current_standin(image):
            say(f"{image}: stand-in (cached)")
        elif is_standin(image) or not pulled(image):
            build_standin(image)
    rustfs = rustfs_image()
    if present(rustfs) or pulled(rustfs):
        return True
    if not current_standin(S3_STANDIN_IMAGE):
        say(f"{rustfs} cannot be pulled: building the S3 stand-in {S3_STANDIN_IMAGE} (moto's server)")
        run("docker", "build", "-q", "--label", f"{STANDIN_LABEL}=s3",
            "--label", f"{DIGEST_LABEL}={standin_digest()}", "-t", S3_STANDIN_IMAGE,
            "-f", str(STANDIN / "s3.Dockerfile"), str(ROOT), quiet=True)
    say(f"{rustfs} is not available: RustFS is replaced by the S3 stand-in ({S3_STANDIN_OVERRIDE.name})")
    return False


# --- compose ----------------------------------------------------------------------------------------------------

def env_file() -> Path:
    path = Path(os.environ.get("PRT_COMPOSE_ENV_FILE") or ROOT / ".env")
    if not path.exists():
        raise SystemExit(f"compose: {path} does not exist: `cp .env.example .env` and edit it "
                         "(docs/deployment.md), or set PRT_COMPOSE_ENV_FILE")
    return path


def compose(*arguments: str, with_rustfs: bool, check: bool = True) -> subprocess.CompletedProcess:
    files = ["-f", str(COMPOSE_FILE)] + ([] if with_rustfs else ["-f", str(S3_STANDIN_OVERRIDE)])
    return run("docker-compose", "-p", PROJECT, *files, "--env-file", str(env_file()), *arguments,
               check=check, cwd=ROOT)


def health(container: str) -> str:
    result = subprocess.run(["docker", "inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}"
                             "{{else}}{{.State.Status}}{{end}}", container], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "missing"


def wait_healthy() -> None:
    deadline = time.monotonic() + HEALTHY_TIMEOUT_SECONDS
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        current = {name: health(name) for name in CONTAINERS}
        if current != states:
            say(", ".join(f"{name} {state}" for name, state in current.items()))
            states = current
        if all(state == "healthy" for state in current.values()):
            return
        if any(state in ("unhealthy", "exited", "dead", "missing") for state in current.values()):
            break
        time.sleep(1)
    for name in CONTAINERS:
        subprocess.run(["docker", "logs", "--tail", "40", name])
    raise SystemExit(f"compose: not all containers became healthy: {states}")


def up() -> None:
    env_file()
    ensure_engine()
    with_rustfs = ensure_base_images()
    say("building the project's images")
    compose("build", "-q", with_rustfs=with_rustfs)
    compose("up", "-d", "--no-build", with_rustfs=with_rustfs)
    wait_healthy()
    say("all containers are healthy")


def down() -> None:
    if not answers("docker", "info"):
        say("no Docker engine answers: nothing to stop")
        return
    compose("down", "--remove-orphans", with_rustfs=present(rustfs_image()))


def main(arguments: list[str]) -> None:
    commands = {"up": up, "down": down}
    if len(arguments) != 1 or arguments[0] not in commands:
        raise SystemExit("usage: python -m ops.compose up | down")
    commands[arguments[0]]()


if __name__ == "__main__":
    main(sys.argv[1:])
