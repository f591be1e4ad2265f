"""What the runner checks on a finished file and how it reads yt-dlp's progress lines."""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = re.compile(r"^[0-9a-f-]{36}\.[A-Za-z0-9_]{1,16}$")


@dataclass(frozen=True)
class Progress:
    percent: float | None
    total_bytes: int | None
    speed: float | None
    eta: int | None


def parse_progress(payload: str) -> Progress | None:
    """Reads one `%(progress)j` object: total_bytes is null for HLS, where the estimate and fragments count."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("status") not in ("downloading", "finished"):
        return None
    downloaded = data.get("downloaded_bytes")
    total = data.get("total_bytes") or data.get("total_bytes_estimate")
    percent = None
    if data.get("fragment_count") and data.get("fragment_index") is not None:
        percent = 100.0 * data["fragment_index"] / data["fragment_count"]
    elif downloaded is not None and total:
        percent = 100.0 * downloaded / total
    if data["status"] == "finished":
        percent = 100.0
    if percent is not None:
        percent = max(0.0, min(100.0, percent))
    speed = data.get("speed")
    eta = data.get("eta")
    return Progress(percent=percent, total_bytes=int(total) if total else None,
                    speed=float(speed) if speed is not None else None, eta=int(eta) if eta is not None else None)


def check_final_file(reported: str | None, uuid: str, data_path: Path) -> tuple[Path | None, str | None]:
    """The file yt-dlp reported, if it is a regular <uuid>.<ext> file inside the data folder holding real media."""
    if not reported:
        return None, "yt-dlp finished without reporting a file"
    path = Path(reported)
    if path.parent.resolve() != data_path.resolve() or not FILE_NAME.match(path.name) \
            or not path.name.startswith(uuid + "."):
        return None, f"yt-dlp wrote an unexpected file name: {path.name!r}"
    if path.is_symlink() or not path.is_file():
        return None, "the downloaded file is missing"
    problem = probe_media(path)
    if problem:
        return None, problem
    return path, None


def probe_media(path: Path) -> str | None:
    """None when ffprobe finds an audio or video stream in the file, else why it is not media."""
    try:
        result = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json", str(path)],
            capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"could not check the downloaded file with ffprobe: {error}"
    try:
        streams = json.loads(result.stdout or "{}").get("streams", [])
    except ValueError:
        streams = []
    if result.returncode == 0 and any(s.get("codec_type") in ("video", "audio") for s in streams):
        return None
    detail = (result.stderr.strip().splitlines() or ["no audio or video stream"])[-1]
    return f"the URL did not serve a video or audio file (ffprobe: {detail})"
