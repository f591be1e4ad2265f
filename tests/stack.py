"""The real local stack (ops/run-stack: supervisord, all services, nginx) started in a private folder."""
from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import requests

APP_DIR = Path(__file__).resolve().parents[1]
PYTHON = APP_DIR / ".venv" / "bin" / "python"
SERVICES = ("api", "dbwriter", "scheduler", "runner")  # supervisord's programs; the publisher is in the scheduler


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05,
             message: str = "condition") -> Any:
    """Polls until predicate returns something truthy; fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # the thing polled may not be up yet
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last error: {last_error})")


class Stack:
    def __init__(self, folder: Path | None = None, ports: tuple[int, int] | None = None, **settings: str):
        """A new stack in a new folder, or (folder=) the stack that ran there before, restarted; ports: the
        (API, HTTPS) ports of that stack, else new free ones. A setting given as None is left unset (its
        default applies)."""
        self.folder = folder or Path(tempfile.mkdtemp(prefix="prt-stack-", dir="/tmp"))
        self.folder.chmod(0o755)  # nginx workers (nobody) read the video folder inside it
        self.api_port, self.https_port = ports or (free_port(), free_port())
        self.data = self.folder / "data"
        self.db = self.folder / "db" / "prt-videodownloader.sqlite"
        self.run = self.folder / "run"
        self.env = {
            **os.environ,
            "PRT_VIDEODOWNLOADER_SQLITEFILEPATH": str(self.db),
            "PRT_VIDEODOWNLOADER_VIDEODATAPATH": str(self.data),
            "PRT_VIDEODOWNLOADER_RUNPATH": str(self.run),
            "PRT_VIDEODOWNLOADER_COOKIESPATH": str(self.folder / "cookies"),
            "PRT_VIDEODOWNLOADER_YTDLPVERSIONSPATH": str(self.folder / "ytdlp"),
            "PRT_VIDEODOWNLOADER_APIPORT": str(self.api_port),
            "PRT_VIDEODOWNLOADER_HTTPSPORT": str(self.https_port),
            "PRT_VIDEODOWNLOADER_HTTPSBASEURL": f"https://127.0.0.1:{self.https_port}/videodownloader",
            # the tests' media server is on loopback: keep only link-local (cloud metadata) blocked
            "PRT_VIDEODOWNLOADER_BLOCKEDURLNETWORKS": "169.254.0.0/16,fe80::/10",
            **settings,
        }
        self.env = {name: value for name, value in self.env.items() if value is not None}  # None: the default
        self.log_path = self.folder / "stack.log"
        self.process: subprocess.Popen | None = None

    # --- life cycle ---------------------------------------------------------------------------------------
    def start(self) -> "Stack":
        log = open(self.log_path, "ab")  # append mode: supervisord's own lines must not overwrite children's
        self.process = subprocess.Popen([str(APP_DIR / "ops" / "run-stack")], env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        # the database appears once the DB writer has built it (common.db.upgrade_schema_in_child)
        wait_for(lambda: self.hello_ok() and self.all_running() and self.db.exists(), timeout=60,
                 message="the stack to start")
        return self

    def hello_ok(self) -> bool:
        """The API answers (a stack that does not serve this client answers forbiddenClient: also up)."""
        return requests.get(f"{self.api}/api/hello", timeout=2).status_code in (200, 418)

    def all_running(self, services=SERVICES) -> bool:
        status = self.status()
        return all(status.get(name, ("", None))[0] == "RUNNING" for name in services)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- supervisord ---------------------------------------------------------------------------------------
    def ctl(self, *arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(PYTHON), "-m", "supervisor.supervisorctl", "-s",
                               f"unix://{self.run}/supervisor.sock", *arguments],
                              capture_output=True, text=True, timeout=60)

    def status(self) -> dict[str, tuple[str, int | None]]:
        result = {}
        for line in self.ctl("status").stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                pid = int(parts[3].rstrip(",")) if len(parts) > 3 and parts[2] == "pid" else None
                result[parts[0]] = (parts[1], pid)
        return result

    def pid(self, service: str) -> int:
        return self.status()[service][1]

    def processes(self) -> list[int]:
        """supervisord and every live process below it: this stack's processes, and only them."""
        return [self.process.pid, *descendants(self.process.pid)] if self.process else []

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    # --- API -------------------------------------------------------------------------------------------------
    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ca(self) -> str:
        """The self-signed certificate the local nginx generated (valid for 127.0.0.1)."""
        return str(self.run / "tls" / "selfsigned.crt")

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def initiate(self, video_url: str, parameters: Any = None) -> requests.Response:
        body = {"videoURL": video_url}
        if parameters is not None:
            body["ytdlpCLIParameters"] = parameters
        return requests.post(f"{self.api}/api/initiateDownload", json=body, timeout=30)

    def start_download(self, video_url: str, parameters: Any = None) -> str:
        response = self.initiate(video_url, parameters)
        assert response.status_code == 200, response.text
        return response.json()["downloadUUID"]

    def downloads(self, **query: Any) -> list[dict]:
        response = requests.get(f"{self.api}/api/listDownloads", params=query, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["downloads"]

    def download(self, uuid: str) -> dict | None:
        return next((item for item in self.downloads(overLastPeriodDurationInMinutes=100000)
                     if item["downloadUUID"] == uuid), None)

    def wait_until_final(self, uuid: str, timeout: float = 60) -> dict:
        return wait_for(lambda: (item := self.download(uuid)) and item["downloadStatus"] in ("COMPLETED", "FAILED")
                        and item, timeout=timeout, message=f"download {uuid} to finish")

    def public_url(self, uuid: str, url_type: str = "HTTPS") -> requests.Response:
        return requests.get(f"{self.api}/api/getVideoDownloadPublicURL",
                            params={"videoDownloadUUID": uuid, "URLType": url_type}, timeout=30)

    def row_count(self) -> int:
        if not self.db.exists():
            return 0
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as connection:
            return connection.execute("SELECT count(*) FROM downloads").fetchone()[0]


# services.runner.zygote names its processes (ps, /proc/PID/comm); yt-dlp renames itself once it runs a job
YTDLP_PROCESS_NAMES = ("prt-yt-dlp", "yt-dlp")
ZYGOTE_PROCESS_NAME = "prt-zygote"


def ytdlp_processes(runner: int | None = None) -> list[int]:
    """PIDs of the live yt-dlp processes forked by a runner's zygote (spares and running ones), of one runner
    (their parent) when given."""
    return [pid for pid, (parent, name, state) in process_table().items()
            if name in YTDLP_PROCESS_NAMES and state != "Z" and (runner is None or parent == runner)]


def zygotes_of(runner: int) -> list[int]:
    """PIDs of a runner's live zygotes (one, but for the moment one is replaced)."""
    return [pid for pid, (parent, name, state) in process_table().items()
            if name == ZYGOTE_PROCESS_NAME and state != "Z" and parent == runner]


def ytdlp_process_of(uuid: str) -> int | None:
    """The yt-dlp process that has a file of this download open (its .part file), if any."""
    for pid in ytdlp_processes():
        try:
            if any(uuid in os.readlink(link) for link in Path(f"/proc/{pid}/fd").iterdir()):
                return pid
        except OSError:
            continue
    return None


def descendants(root: int) -> list[int]:
    """Every live process below root (children, their children...), from one reading of /proc."""
    by_parent: dict[int, list[int]] = {}
    states = {}
    for pid, (parent, _, state) in process_table().items():
        by_parent.setdefault(parent, []).append(pid)
        states[pid] = state
    found, todo = [], [root]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            todo.append(child)
            if states[child] != "Z":
                found.append(child)
    return found


def process_name(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def socket_inodes_of(pid: int) -> set[str]:
    """The inodes of the sockets a process has open (from its /proc/PID/fd links)."""
    inodes = set()
    for link in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(link)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def service_env(folder: Path) -> dict[str, str]:
    """Environment for a service module run outside a stack (a warm yt-dlp process, a fresh interpreter): its
    files under folder, loopback addresses allowed."""
    return {**os.environ, "PYTHONUNBUFFERED": "1",
            "PRT_VIDEODOWNLOADER_SQLITEFILEPATH": str(folder / "db" / "x.sqlite"),
            "PRT_VIDEODOWNLOADER_VIDEODATAPATH": str(folder / "data"),
            "PRT_VIDEODOWNLOADER_RUNPATH": str(folder / "run"),
            "PRT_VIDEODOWNLOADER_BLOCKEDURLNETWORKS": "169.254.0.0/16,fe80::/10"}


def loaded_by_services(module: str, folder: Path) -> bool:
    """Whether `module` is in sys.modules of a fresh interpreter that imported the runner, the scheduler (with
    its publisher) and the DB writer and built the API's app, with settings under folder."""
    program = ("import sys, services.runner.service, services.scheduler.service, services.dbwriter.service; "
               "from common.config import load_settings; from services.api.app import create_app; "
               f"create_app(load_settings()); print({module!r} in sys.modules)")
    result = subprocess.run([str(PYTHON), "-c", program], capture_output=True, text=True, timeout=120,
                            env=service_env(folder), cwd=APP_DIR)
    assert result.returncode == 0 and result.stdout.strip() in ("True", "False"), (result.stdout, result.stderr)
    return result.stdout.strip() == "True"


def cmdline(pid: int) -> bytes:
    """A process's command line as /proc has it (NUL-separated), empty when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def process_table() -> dict[int, tuple[int, str, str]]:
    """pid: (parent pid, name, state letter) of every process."""
    result = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                head, tail = (entry / "stat").read_text().rsplit(")", 1)
            except (OSError, ValueError):
                continue
            fields = tail.split()
            result[int(entry.name)] = (int(fields[1]), head.split("(", 1)[1], fields[0])
    return result


def parent_pid(pid: int) -> int | None:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def metric(stack: Stack, name: str, labels: str = "") -> float:
    """One sample of the API's /api/metrics (0 when the series does not exist yet)."""
    text = requests.get(f"{stack.api}/api/metrics", timeout=10).text
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$", text, re.M)
    return float(match[1]) if match else 0.0
