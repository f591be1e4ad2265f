"""Safe yt-dlp updates: a new version goes into an environment of its own, is tried on a smoke download, and
only then is selected for the runner's zygote.

- `install VERSION` (`make update-ytdlp VERSION=...`): a venv YTDLPVERSIONSPATH/<version>/ whose
  site-packages holds only what that yt-dlp needs beyond the service's own environment (a .pth file puts the
  service's site-packages after its own, so its yt_dlp wins); pip's own settings apply (PIP_INDEX_URL,
  PIP_FIND_LINKS, PIP_NO_INDEX...). Then a smoke download: a clip made with ffmpeg, served on 127.0.0.1,
  fetched by a warm yt-dlp process of the new environment (services.runner.warm_ytdlp, the runner's own
  command line, verify_command_line, its address guard narrowed to 127.0.0.1 alone, the media check). Only
  if all of it passes is the version written to selected.json (atomically); else the selection stays and
  last-update.json says why.
- `pinned`: back to the yt-dlp of the service's own environment (requirements.txt).
- `check`: for the `stable` and `nightly` channels (YTDLPUPDATECHANNEL), the newest release (nightly:
  pre-releases too) is installed as above when it is not the selected one. The runner runs it every
  YTDLPUPDATECHECKHOURS.

The runner (services.runner.processes) reads selected.json every second and, when it changed, starts a new
zygote with that environment's Python between two forks: processes already running keep their version.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from common.config import Settings, load_settings

APP_DIR = Path(__file__).resolve().parents[2]
SELECTED_FILE, LAST_UPDATE_FILE = "selected.json", "last-update.json"
VERSION_PATTERN = re.compile(r"[0-9][0-9A-Za-z.+!-]{0,40}")
SMOKE_TIMEOUT_SECONDS = 120
PIP_TIMEOUT_SECONDS = 900
SMOKE_UUID = "00000000-0000-4000-8000-00000000c0de"
JS_RUNTIMES = ("deno", "node", "bun", "qjs")


class UpdateFailed(Exception):
    pass


@dataclass(frozen=True)
class Selection:
    version: str
    python: Path


def selected(settings: Settings) -> Selection | None:
    """The environment new yt-dlp processes start from; None: the service's own (the pinned version)."""
    try:
        data = json.loads((settings.YTDLPVERSIONSPATH / SELECTED_FILE).read_text())
        return Selection(version=data["version"], python=Path(data["python"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def last_problem(settings: Settings) -> str | None:
    """Why the last update was not switched to (None: it was, or there was none)."""
    try:
        data = json.loads((settings.YTDLPVERSIONSPATH / LAST_UPDATE_FILE).read_text())
        return None if data.get("ok") else data.get("problem")
    except (OSError, ValueError, AttributeError):
        return None


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def _run(arguments: list, timeout: float, **options) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([str(a) for a in arguments], capture_output=True, text=True, timeout=timeout,
                              **options)
    except subprocess.TimeoutExpired:
        raise UpdateFailed(f"{Path(str(arguments[0])).name} did not finish within {timeout:g} s") from None


def _last_lines(text: str, count: int = 3) -> str:
    return " / ".join(line.strip() for line in text.strip().splitlines()[-count:]) or "no output"


def build_environment(settings: Settings, requirement: str, folder: Path) -> str:
    """Creates the venv in folder and installs the requirement; returns the yt-dlp version it imports."""
    if folder.exists():
        shutil.rmtree(folder)
    result = _run([sys.executable, "-m", "venv", "--without-pip", folder], 120)
    if result.returncode:
        raise UpdateFailed(f"cannot create the environment: {_last_lines(result.stderr)}")
    python = folder / "bin" / "python"
    site_packages = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              30).stdout.strip())
    import site
    (site_packages / "prt-service.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    result = _run([sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check", "install",
                   "--no-warn-script-location", requirement], PIP_TIMEOUT_SECONDS)
    if result.returncode:
        raise UpdateFailed(f"pip could not install {requirement}: {_last_lines(result.stderr)}")
    for runtime in JS_RUNTIMES:  # yt-dlp looks for them beside sys.executable: the service's own, unless pip
        own, new = Path(sys.executable).parent / runtime, folder / "bin" / runtime  # installed a newer one
        if own.exists() and not new.exists():
            new.symlink_to(own.resolve())
    where = _run([python, "-c", "import yt_dlp, yt_dlp.version; print(yt_dlp.version.__version__); "
                                "print(yt_dlp.__file__)"], 60)
    if where.returncode:
        raise UpdateFailed(f"the new yt-dlp cannot be imported: {_last_lines(where.stderr)}")
    version, location = where.stdout.split()[:2]
    if not Path(location).resolve().is_relative_to(folder.resolve()):
        raise UpdateFailed("the new environment imports the service's own yt-dlp, not the installed one")
    return version


def check_js_runtimes(python: Path) -> None:
    """The new yt-dlp must find a JS runtime when the current one does (YouTube needs it)."""
    from services.runner.zygote import describe_ytdlp

    result = _run([python, "-c", "import json; from services.runner.zygote import describe_ytdlp; "
                                 "print(json.dumps(describe_ytdlp()))"], 120, cwd=APP_DIR)
    if result.returncode:
        raise UpdateFailed(f"the new yt-dlp does not start: {_last_lines(result.stderr)}")
    now, new = describe_ytdlp()["jsRuntimes"], json.loads(result.stdout.splitlines()[-1])["jsRuntimes"]
    if now and not new:
        raise UpdateFailed(f"the new yt-dlp finds no JavaScript runtime (the current one uses {', '.join(now)})")


def _loopback_only() -> str:
    """BLOCKEDURLNETWORKS for the smoke run: every address but 127.0.0.1 (the smoke server)."""
    allowed = ipaddress.ip_network("127.0.0.1/32")
    return ",".join([*(str(n) for n in ipaddress.ip_network("0.0.0.0/0").address_exclude(allowed)), "::/0"])


def smoke_download(python: Path, work: Path) -> None:
    """A clip generated here, served on 127.0.0.1, downloaded by a warm yt-dlp process of `python` with the
    runner's command line and checks; UpdateFailed says what went wrong."""
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer  # not in the runner's own memory

    from common.ytdlp import DONE_MARKER, FILE_MARKER, PROBE_MARKER, build_command_line, job_line
    from services.runner.media import check_final_file

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    media, data = work / "media", work / "data"
    media.mkdir(parents=True)
    result = _run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=2:size=160x120:rate=25",
                   "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                   "-c:a", "aac", "-shortest", media / "smoke.mp4"], 120)
    if result.returncode:
        raise UpdateFailed(f"ffmpeg could not make the smoke clip: {_last_lines(result.stderr)}")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(media)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/smoke.mp4"
        # checked by the new yt-dlp's own parser in its process, as every download's command line is
        job = job_line(build_command_line(SMOKE_UUID, url, [], data, data / ".partial"), SMOKE_UUID, url, data,
                       data / ".partial")
        env = {**os.environ, "PRT_VIDEODOWNLOADER_VIDEODATAPATH": str(data),
               "PRT_VIDEODOWNLOADER_BLOCKEDURLNETWORKS": _loopback_only(),
               "PRT_VIDEODOWNLOADER_SQLITEFILEPATH": str(work / "db" / "unused.sqlite"),
               "PRT_VIDEODOWNLOADER_RUNPATH": str(work / "run"),
               "PRT_VIDEODOWNLOADER_COOKIESPATH": str(work / "cookies")}
        process = subprocess.Popen([str(python), "-u", "-m", "services.runner.warm_ytdlp"], cwd=APP_DIR, env=env,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)  # it kills its own process group if this one dies
        reported, probe, errors = _converse(process, job, DONE_MARKER, FILE_MARKER, PROBE_MARKER)
        if process.returncode != 0:
            raise UpdateFailed(f"the smoke download failed (yt-dlp exit code {process.returncode}): "
                               f"{_last_lines(errors, 2)}")
        if probe is None:
            raise UpdateFailed("the smoke download's file was not checked")
        path, problem = check_final_file(reported, SMOKE_UUID, data, probe.get("problem"))
        if problem:
            raise UpdateFailed(f"the smoke download is wrong: {problem}")
    finally:
        server.shutdown()
        server.server_close()


def _converse(process: subprocess.Popen, job: str, done, file_marker, probe_marker):
    """The runner's side of warm_ytdlp's protocol, for one job: the job line in, the reported file back."""
    timer = threading.Timer(SMOKE_TIMEOUT_SECONDS, process.kill)
    timer.start()
    errors: list[str] = []
    threading.Thread(target=lambda: errors.extend(process.stderr), daemon=True).start()
    reported, probe = None, None
    try:
        process.stdin.write(job)
        process.stdin.flush()
        for line in process.stdout:
            if line.startswith(file_marker):
                reported = json.loads(line[len(file_marker):])
            elif line.startswith(done):
                process.stdin.write((reported or "" if line.strip().endswith(" 0") else "") + "\n")
                process.stdin.close()
            elif line.startswith(probe_marker):
                probe = json.loads(line[len(probe_marker):])
    except (OSError, ValueError):
        pass
    finally:
        process.wait()
        timer.cancel()
    return reported, probe, "".join(errors)


def same_version(one: str, other: str) -> bool:
    """yt-dlp says 2026.01.05, pip says 2026.1.5."""
    def normal(version: str) -> str:
        return ".".join(str(int(part)) if part.isdigit() else part for part in version.lower().split("."))
    return normal(one) == normal(other)


def install(settings: Settings, version: str) -> Selection:
    """Installs, smoke-tests and selects one yt-dlp version; UpdateFailed leaves the selection as it was."""
    if not VERSION_PATTERN.fullmatch(version):
        raise UpdateFailed(f"not a version number: {version!r}")
    current = selected(settings)
    if current is not None and same_version(current.version, version):
        raise UpdateFailed(f"yt-dlp {current.version} is already selected")
    root = settings.YTDLPVERSIONSPATH
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"yt-dlp-{version}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    try:
        installed = build_environment(settings, f"yt-dlp[default]=={version}", folder)
        if not same_version(installed, version):
            raise UpdateFailed(f"asked for yt-dlp {version}, the environment has {installed}")
        check_js_runtimes(folder / "bin" / "python")
        with tempfile.TemporaryDirectory(prefix=".smoke-", dir=root) as work:
            smoke_download(folder / "bin" / "python", Path(work))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # running processes never used it
        raise
    selection = Selection(version=installed, python=folder / "bin" / "python")
    _write_json(root / SELECTED_FILE, {"version": selection.version, "python": str(selection.python),
                                       "selectedAt": time.time()})
    _write_json(root / LAST_UPDATE_FILE, {"ok": True, "requested": version, "at": time.time()})
    return selection


def select_pinned(settings: Settings) -> None:
    """Back to the yt-dlp of the service's own environment (the version requirements.txt pins)."""
    (settings.YTDLPVERSIONSPATH / SELECTED_FILE).unlink(missing_ok=True)
    _write_json(settings.YTDLPVERSIONSPATH / LAST_UPDATE_FILE, {"ok": True, "requested": "pinned",
                                                                "at": time.time()})


def newest_version(channel: str) -> str:
    """The newest yt-dlp pip would install for a channel (nightly: pre-releases too), without installing it."""
    result = _run([sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "--dry-run",
                   "--ignore-installed", "--no-deps", "--quiet", "--report", "-",
                   *(["--pre"] if channel == "nightly" else []), "yt-dlp"], PIP_TIMEOUT_SECONDS)
    if result.returncode:
        raise UpdateFailed(f"pip could not look up the newest yt-dlp: {_last_lines(result.stderr)}")
    try:
        return next(item["metadata"]["version"] for item in json.loads(result.stdout)["install"]
                    if item["metadata"]["name"].lower() == "yt-dlp")
    except (ValueError, KeyError, StopIteration):
        raise UpdateFailed("pip's report names no yt-dlp version") from None


def check_channel(settings: Settings) -> Selection | None:
    """For the stable and nightly channels: installs the newest version when it is not the one in use."""
    channel = settings.YTDLPUPDATECHANNEL
    if channel == "pinned":
        return None
    newest = newest_version(channel)
    current = selected(settings)
    # the installed version from the package metadata: importing yt_dlp.version would load yt-dlp (~27 MiB);
    # importlib.metadata (email, zipfile, csv: ~1.5 MiB) is loaded only here, in the update check's process
    import importlib.metadata

    in_use = current.version if current is not None else importlib.metadata.version("yt-dlp")
    if same_version(newest, in_use):
        return None
    return install(settings, newest)


def record_failure(settings: Settings, requested: str, problem: str) -> None:
    _write_json(settings.YTDLPVERSIONSPATH / LAST_UPDATE_FILE,
                {"ok": False, "requested": requested, "problem": f"yt-dlp {requested} not used: {problem}",
                 "at": time.time()})


def main(arguments: list[str]) -> int:
    """`install VERSION`, `pinned`, `check` (see the module's docstring); exit 1 with the reason on failure."""
    settings = load_settings()
    command = arguments[0] if arguments else ""
    requested = arguments[1] if command == "install" and len(arguments) == 2 else command
    try:
        if command == "install" and len(arguments) == 2:
            selection = install(settings, arguments[1])
            print(f"yt-dlp {selection.version} passed the smoke download and is selected: new downloads use it")
        elif command == "pinned" and len(arguments) == 1:
            select_pinned(settings)
            print("the pinned yt-dlp (requirements.txt) is selected: new downloads use it")
        elif command == "check" and len(arguments) == 1:
            selection = check_channel(settings)
            print(f"yt-dlp {selection.version} selected" if selection else "no newer yt-dlp to install")
        else:
            print("usage: python -m services.runner.ytdlp_update install VERSION | pinned | check", file=sys.stderr)
            return 2
    except UpdateFailed as failure:
        record_failure(settings, requested, str(failure))
        print(f"yt-dlp update failed, the previous version stays in use: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
