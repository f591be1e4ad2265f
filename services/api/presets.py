"""Format presets: named sets of allowlisted yt-dlp options, shared by the web UI and scripts (listPresets)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    id: str
    label: str
    description: str
    ytdlpCLIParameters: tuple[str, ...]


PRESETS: tuple[Preset, ...] = (
    Preset("best", "Best video", "The best video and audio yt-dlp finds, merged into MP4 when they are separate",
           ("--format", "bestvideo*+bestaudio/best", "--merge-output-format", "mp4")),
    Preset("1080p", "1080p", "The best video up to 1080 lines, with audio, as MP4",
           ("--format", "bestvideo*[height<=1080]+bestaudio/best[height<=1080]/best", "--merge-output-format", "mp4")),
    Preset("720p", "720p", "The best video up to 720 lines, with audio, as MP4",
           ("--format", "bestvideo*[height<=720]+bestaudio/best[height<=720]/best", "--merge-output-format", "mp4")),
    Preset("audio-m4a", "Audio only (M4A)", "The best audio, as M4A (AAC)",
           ("--format", "bestaudio/best", "--extract-audio", "--audio-format", "m4a")),
    Preset("audio-mp3", "Audio only (MP3)", "The best audio, converted to MP3",
           ("--format", "bestaudio/best", "--extract-audio", "--audio-format", "mp3", "--audio-quality", "0")),
)

PRESETS_BY_ID = {preset.id: preset for preset in PRESETS}


def preset_arguments(preset_id: str | None) -> list[str]:
    """The preset's options; KeyError for an unknown preset."""
    return [] if preset_id is None else list(PRESETS_BY_ID[preset_id].ytdlpCLIParameters)
