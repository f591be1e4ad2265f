"""What the runner checks on a finished file and how it reads yt-dlp's progress lines."""
from __future__ import annotations

import json
import re
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


TEXT_ART_CODECS = {"ansi", "bintext", "xbin", "idf"}  # what libav "decodes" from plain text files


def probe_media(path: str) -> tuple[str | None, float | None]:
    """(None, the duration in seconds if the container states one) when libav (PyAV, the libraries ffprobe
    uses) finds an audio or video stream, else (why not, None).

    Runs inside the warm yt-dlp process, where PyAV is already loaded: ~5 ms instead of ~100 ms for an
    ffprobe process."""
    import av

    try:
        with av.open(path) as container:
            kinds = {stream.type for stream in container.streams
                     if stream.type in ("video", "audio") and stream.codec_context.name not in TEXT_ART_CODECS}
            duration = container.duration / av.time_base if container.duration else None
    except (av.FFmpegError, OSError, ValueError) as error:
        return f"the URL did not serve a video or audio file ({error})", None
    if not kinds:
        return "the URL did not serve a video or audio file (no audio or video stream)", None
    return None, duration


def check_final_file(reported: str | None, uuid: str, data_path: Path,
                     probe_problem: str | None) -> tuple[Path | None, str | None]:
    """The file yt-dlp reported, if it is a regular <uuid>.<ext> file inside the data folder holding real media
    (probe_problem: what the media check in the yt-dlp process found wrong, None when it is media)."""
    if not reported:
        return None, "yt-dlp finished without reporting a file"
    path = Path(reported)
    if path.parent.resolve() != data_path.resolve() or not FILE_NAME.match(path.name) \
            or not path.name.startswith(uuid + "."):
        return None, f"yt-dlp wrote an unexpected file name: {path.name!r}"
    if path.is_symlink() or not path.is_file():
        return None, "the downloaded file is missing"
    if probe_problem:
        return None, probe_problem
    return path, None


def keep_thumbnail(written: list | None, uuid: str, data_path: Path, video: Path,
                   extension: str = "jpg") -> str | None:
    """The name of the <uuid>.<extension> thumbnail yt-dlp wrote next to the video, if any. Any other thumbnail
    file it reports (one whose conversion failed) is removed, so that nothing else is named like a second
    video of the download. yt-dlp reports the path the thumbnail had in the temporary folder: only the name
    counts, looked up in the data folder."""
    kept = None
    for reported in written or []:
        if not isinstance(reported, str):
            continue
        name = Path(reported).name
        path = data_path / name
        if not FILE_NAME.match(name) or not name.startswith(uuid + ".") or name == video.name \
                or path.is_symlink() or not path.is_file():
            continue
        if name == f"{uuid}.{extension}":
            kept = name
        else:
            path.unlink(missing_ok=True)
    return kept
