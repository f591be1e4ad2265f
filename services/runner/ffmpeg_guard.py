"""What a download may run: ffmpeg and ffprobe only, on its own files or on http(s) through the proxy.

yt-dlp starts every subprocess through `yt_dlp.utils.Popen` (external downloaders, post-processors, version
checks). In a yt-dlp process of the service that class is wrapped so that
- only ffmpeg and ffprobe run (anything else fails as if it were not installed);
- each input (`-i` value, ffprobe's file) and ffmpeg's output is a file under the data folder, or an
  http(s) URL; any other protocol (rtmp, rtsp, tcp, udp, ftp, pipe...) is refused, because ffmpeg would
  connect by itself where no guard sees it;
- each input gets `-protocol_whitelist`: local inputs `file,crypto,data` (a downloaded playlist cannot make
  ffmpeg fetch anything), network inputs `http,https,tls,tcp,crypto,httpproxy,data` (no file: or other protocol
  from a remote playlist), and `-format_whitelist` of plain media demuxers, so no demuxer that opens other
  URLs by itself (concat, imf...) is probed;
- the environment has `http_proxy`/`https_proxy` set to the process's GuardedProxy and no `no_proxy`, so
  every http and tls connection of ffmpeg goes through the proxy's address check;
- given the proxy's network namespace (egress_proxy.isolated_listener), they run in it through `nsenter`:
  there, nothing but the proxy can be reached, whatever ffmpeg tries.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import weakref
from pathlib import Path

from common.network import EgressGuard

PROGRAMS = {"ffmpeg", "ffprobe"}
NETWORK_PROTOCOLS = "http,https,tls,tcp,crypto,httpproxy,data"
LOCAL_PROTOCOLS = "file,crypto,data"
NETWORK_FORMATS = "hls,dash,mpegts,mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,flv,aac,mp3,ac3,eac3,flac,ogg,wav,webvtt"
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"
_PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY")
_BYPASS_VARIABLES = ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY")


def checked_command(args, guard: EgressGuard, folder: Path) -> list[str]:
    """args with protocol and format whitelists added; PermissionError when they may not run."""
    if isinstance(args, (str, bytes)) or not args:
        raise PermissionError(errno.EACCES, "downloads may not run shell commands on this service")
    command = [os.fsdecode(arg) for arg in args]
    program = os.path.basename(command[0])
    if program not in PROGRAMS:
        raise PermissionError(errno.EACCES, f"downloads may not run {program} on this service")
    inputs = [index + 1 for index, arg in enumerate(command[:-1]) if arg == "-i"]
    last = len(command) - 1
    if last > 0 and not command[last].startswith("-") and last not in inputs:
        if program == "ffprobe":
            inputs.append(last)
        else:
            _local_path(command[last], guard, folder, "write")
    for index in sorted(inputs, reverse=True):
        value = command[index]
        if re.match(r"(?i)https?://", value):
            whitelist = ["-protocol_whitelist", NETWORK_PROTOCOLS, "-format_whitelist", NETWORK_FORMATS]
        else:
            _local_path(value, guard, folder, "read")
            whitelist = ["-protocol_whitelist", LOCAL_PROTOCOLS]
        at = index - 1 if command[index - 1] == "-i" else index
        command[at:at] = whitelist
    return command


def _local_path(value: str, guard: EgressGuard, folder: Path, verb: str) -> None:
    path = value[len("file:"):] if value.startswith("file:") else value
    if value == path and _URL_SCHEME.match(value):
        raise PermissionError(errno.EACCES, guard.refuse(
            f"ffmpeg would {verb} {value[:200]!r} by itself, outside the address guard "
            f"(only http(s) and the download's own files are allowed)"))
    real = os.path.realpath(path)
    if os.path.commonpath([real, os.path.realpath(folder)]) != os.path.realpath(folder):
        raise PermissionError(errno.EACCES, f"ffmpeg may {verb} only the download's own files, not {path!r}")


def proxied_environment(env: dict | None, proxy_url: str) -> dict:
    env = dict(os.environ if env is None else env)
    for name in _BYPASS_VARIABLES:
        env.pop(name, None)
    for name in _PROXY_VARIABLES:
        env[name] = proxy_url
    return env


def in_namespace(command: list[str], kwargs: dict, namespace_fd: int | None) -> list[str]:
    """command run in the network namespace namespace_fd (kwargs get the descriptor passed); unchanged
    without one. nsenter execs the command: the process stays the one yt-dlp started."""
    if namespace_fd is None:
        return command
    kwargs["pass_fds"] = (*kwargs.get("pass_fds", ()), namespace_fd)
    return [NSENTER, f"--net=/proc/self/fd/{namespace_fd}", "--", *command]


def guard_subprocesses(guard: EgressGuard, proxy_url: str, folder: Path, namespace_fd: int | None = None) -> None:
    """Wraps yt-dlp's Popen in this process (see the module's docstring)."""
    from yt_dlp.utils import _utils

    original = _utils.Popen.__init__
    started: weakref.WeakSet = weakref.WeakSet()

    def guarded_init(self, args, *remaining, env=None, **kwargs):
        if kwargs.get("shell") or kwargs.get("executable"):
            raise PermissionError(errno.EACCES, "downloads may run only ffmpeg and ffprobe on this service")
        command = in_namespace(checked_command(args, guard, folder), kwargs, namespace_fd)
        original(self, command, *remaining, env=proxied_environment(env, proxy_url), **kwargs)
        started.add(self)

    def stop_started() -> None:
        """After a refusal the download FAILS: its ffmpeg stops now instead of skipping segments (or
        waiting for a live playlist) for minutes."""
        for process in list(started):
            if process.poll() is None:
                process.kill()

    _utils.Popen.__init__ = guarded_init
    guard.on_refusal = stop_started
