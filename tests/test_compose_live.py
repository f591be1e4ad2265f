"""The docker-compose deployment really running: `make compose-up` (ops/compose.py) starts the three
containers on a Docker engine of this host, and a user's path is followed through them: a download started
through nginx's published HTTPS port, its HTTPS and presigned S3 links fetched from the host, the api
container restarted mid-download, and the whole deployment taken down and up again with its volumes.

Docker Hub cannot be reached here, so the base images are stand-ins built from Debian packages and RustFS
is replaced by moto's S3 server (docs/deployment.md says what that does and does not show). The media
server listens on the compose network's gateway address, the host's side of the network Docker made here;
no other private-range address is contacted.
"""
from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from tests.media import MediaServer
from tests.stack import APP_DIR, PYTHON, wait_for

API, NGINX, S3 = "prt-videodownloader-api", "prt-videodownloader-nginx", "prt-videodownloader-rustfs"
NETWORK = "prt-videodownloader-net"
HTTPS = "https://127.0.0.1"
S3_PUBLIC = "http://127.0.0.1:9000"
NON_GLOBAL = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
              "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
              "203.0.113.0/24", "224.0.0.0/3", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8"]


def blocked_networks_except(gateway: str) -> str:
    """Every non-public network, minus the one address the deployment must reach: the media server."""
    address = ipaddress.ip_network(f"{gateway}/32")
    networks = []
    for network in map(ipaddress.ip_network, NON_GLOBAL):
        if network.version == 4 and address.subnet_of(network):
            networks.extend(network.address_exclude(address))
        else:
            networks.append(network)
    return ",".join(str(network) for network in networks)


def compose(command: str, env_file: Path) -> None:
    """make compose-up/down with the test's env file; shell variables would override it, so none are passed."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("PRT_", "NGINX_"))}
    subprocess.run([str(PYTHON), "-m", "ops.compose", command], cwd=APP_DIR, check=True, timeout=1500,
                   env={**environment, "PRT_COMPOSE_ENV_FILE": str(env_file)})


def docker(*arguments: str) -> str:
    return subprocess.run(["docker", *arguments], check=True, capture_output=True, text=True, timeout=120).stdout


def network_gateway() -> str:
    """The host's address on the compose network: the address of the bridge Docker made for it here."""
    network_id = json.loads(docker("network", "inspect", NETWORK))[0]["Id"]
    shown = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", f"br-{network_id[:12]}"], check=True,
                           capture_output=True, text=True).stdout
    return json.loads(shown)[0]["addr_info"][0]["local"]


class Deployment:
    def __init__(self, folder: Path, media: MediaServer | None = None):
        self.folder = folder
        self.media = media
        self.ca = folder / "tls.crt"

    def api(self, method: str, operation: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{HTTPS}/api/{operation}", verify=str(self.ca), timeout=30, **kwargs)

    def item(self, uuid: str) -> dict | None:
        response = self.api("GET", "listDownloads", params={"overLastPeriodDurationInMinutes": 100000})
        assert response.status_code == 200, response.text
        return next((item for item in response.json()["downloads"] if item["downloadUUID"] == uuid), None)

    def wait_final(self, uuid: str, timeout: float = 180) -> dict:
        return wait_for(lambda: (item := self.item(uuid)) and item["downloadStatus"] in ("COMPLETED", "FAILED")
                        and item, timeout=timeout, interval=0.5, message=f"download {uuid}")

    def public_url(self, uuid: str, url_type: str) -> str:
        def answer():
            response = self.api("GET", "getVideoDownloadPublicURL",
                                params={"videoDownloadUUID": uuid, "URLType": url_type})
            if response.status_code == 418 and response.json()["errorCode"] == "downloadNotReady":
                return None
            assert response.status_code == 200, response.text
            return response.json()["publicURL"]
        return wait_for(answer, timeout=60, interval=0.5, message=f"{url_type} link of {uuid}")

    def start(self, path: str) -> str:
        response = self.api("POST", "initiateDownload", json={"videoURL": f"{self.media.url}{path}"})
        assert response.status_code == 200, response.text
        return response.json()["downloadUUID"]


def remove_earlier_deployment() -> None:
    """The test owns this host's deployment: containers and volumes left by an earlier run (perhaps of an
    older schema) go first. Nothing to do when no engine runs yet (make compose-up starts it)."""
    subprocess.run(["docker", "rm", "-f", API, NGINX, S3], capture_output=True, timeout=120)
    listed = subprocess.run(["docker", "volume", "ls", "-q", "--filter", "name=prt-videodownloader-"],
                            capture_output=True, text=True, timeout=60)
    if listed.returncode == 0 and listed.stdout.split():
        docker("volume", "rm", *listed.stdout.split())


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, media_folder):
    folder = tmp_path_factory.mktemp("compose")
    env_file = folder / "compose.env"
    settings = {
        "PRT_VIDEODOWNLOADER_HTTPSBASEURL": f"{HTTPS}/videodownloader",
        "PRT_VIDEODOWNLOADER_S3PUBLICURL": S3_PUBLIC,
        "PRT_VIDEODOWNLOADER_S3ACCESSKEY": "prt-test-access-key",
        "PRT_VIDEODOWNLOADER_S3SECRETKEY": "prt-test-secret-key",
        "PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS": "2",
    }
    gateway = str(ipaddress.ip_network(os.environ.get("PRT_NETWORK_SUBNET", "172.30.57.0/24"))[1])
    settings["PRT_VIDEODOWNLOADER_BLOCKEDURLNETWORKS"] = blocked_networks_except(gateway)
    example = (APP_DIR / ".env.example").read_text().splitlines()
    lines = [line for line in example if line.split("=", 1)[0] not in settings]
    env_file.write_text("\n".join(lines + [f"{name}={value}" for name, value in settings.items()]) + "\n")
    remove_earlier_deployment()
    compose("up", env_file)
    deployed = Deployment(folder)
    try:
        assert network_gateway() == gateway
        docker("cp", f"{NGINX}:/etc/nginx/tls/tls.crt", str(deployed.ca))
        deployed.media = MediaServer(media_folder, host=gateway)
        yield deployed
    finally:
        if deployed.media:
            deployed.media.close()
        for name in (API, NGINX, S3):
            (folder / f"{name}.log").write_text(subprocess.run(
                ["docker", "logs", name], capture_output=True, text=True).stdout)
        compose("down", env_file)


def test_containers_are_healthy_read_only_and_none_runs_as_root(deployment):
    for name in (API, NGINX, S3):
        assert docker("inspect", "-f", "{{.State.Health.Status}}", name).strip() == "healthy"
    for name in (API, NGINX):
        assert docker("inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", name).strip() == "true"
    assert docker("exec", API, "id", "-u").strip() == "10100"
    assert docker("exec", NGINX, "id", "-u").strip() == "101"
    assert docker("exec", S3, "id", "-u").strip() != "0"
    assert "root" not in docker("top", NGINX, "-o", "user,pid").split()  # master and workers alike
    refused = subprocess.run(["docker", "exec", API, "touch", "/opt/prt/prt-videodownloader/app/x"],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    redirect = requests.get("http://127.0.0.1/videodownloader/x.mp4", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == "https://127.0.0.1/videodownloader/x.mp4"
    verbose = subprocess.run(["docker", "exec", API, "yt-dlp", "-v", "--ignore-config", "--simulate",
                              "https://example.invalid/video.mp4"], capture_output=True, text=True, timeout=60)
    assert "JS runtimes: deno-" in verbose.stderr  # the JavaScript runtime YouTube needs is in the image
    health = deployment.api("GET", "health")
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text


def test_download_through_https_port_then_https_link_with_range_and_s3_link(deployment, media_folder):
    uuid = deployment.start("/clip.mp4?compose")
    item = deployment.wait_final(uuid)
    assert item["downloadStatus"] == "COMPLETED", item
    original = (media_folder / "clip.mp4").read_bytes()

    link = deployment.public_url(uuid, "HTTPS")
    assert link == f"{HTTPS}/videodownloader/{uuid}.mp4"
    whole = requests.get(link, verify=str(deployment.ca), timeout=30)
    assert whole.status_code == 200 and whole.content == original
    part = requests.get(link, headers={"Range": "bytes=100-199"}, verify=str(deployment.ca), timeout=30)
    assert part.status_code == 206 and part.content == original[100:200]

    s3_link = deployment.public_url(uuid, "S3")
    assert s3_link.startswith(f"{S3_PUBLIC}/") and "X-Amz-Signature=" in s3_link
    fetched = requests.get(s3_link, timeout=30)
    assert fetched.status_code == 200 and fetched.content == original


def test_restart_of_the_api_container_mid_download_loses_nothing(deployment, media_folder):
    uuid = deployment.start("/crawl/long.mp4?compose-restart")
    wait_for(lambda: (item := deployment.item(uuid)) and item["downloadStatus"] == "DOWNLOADING"
             and (item.get("progress") or 0) > 1, timeout=60, interval=0.3, message="the download under way")
    docker("restart", API)
    wait_for(lambda: docker("inspect", "-f", "{{.State.Health.Status}}", API).strip() == "healthy",
             timeout=120, interval=1, message="the api container healthy again")
    item = deployment.wait_final(uuid, timeout=240)
    assert item["downloadStatus"] == "COMPLETED", item
    assert item["attempts"] >= 2  # it really was interrupted, and ran again
    served = requests.get(deployment.public_url(uuid, "HTTPS"), verify=str(deployment.ca), timeout=30)
    assert served.content == (media_folder / "long.mp4").read_bytes()


def test_down_and_up_keeps_rows_and_files(deployment, media_folder):
    uuid = deployment.start("/clip.mp4?before-down")
    assert deployment.wait_final(uuid)["downloadStatus"] == "COMPLETED"
    env_file = deployment.folder / "compose.env"
    compose("down", env_file)
    assert not docker("ps", "-aq", "--filter", f"name={API}").strip()
    compose("up", env_file)
    item = deployment.item(uuid)
    assert item is not None and item["downloadStatus"] == "COMPLETED"
    served = requests.get(deployment.public_url(uuid, "HTTPS"), verify=str(deployment.ca), timeout=30)
    assert served.status_code == 200 and served.content == (media_folder / "clip.mp4").read_bytes()


def test_each_container_logs_its_services_on_stdout(deployment):
    api_logs = subprocess.run(["docker", "logs", API], capture_output=True, text=True).stdout
    for service in ("dbwriter", "scheduler", "runner", "publisher", "api"):
        assert f"\n{service}: " in api_logs, service
    nginx_logs = subprocess.run(["docker", "logs", NGINX], capture_output=True, text=True).stdout
    assert '"GET /api/health' in nginx_logs or '"GET /api/listDownloads' in nginx_logs
