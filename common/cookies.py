"""Cookie profiles: Netscape cookies.txt files stored under COOKIESPATH, one `<name>.txt` per profile.

The API writes and deletes profiles itself (files, not the database: the DB writer stays the only SQLite
writer); each write is a new file with mode 0600 renamed over the old one, so a reader (the runner copying a
profile for a download) sees the old or the new file, never half of one. The runner gives yt-dlp a copy per
download (`in_use_path`), because yt-dlp writes cookies back to the file it was given.

Nothing here returns or logs a cookie's value: summaries carry domains, counts and expiry only.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import http.cookiejar

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
NAME_RULE = "1 to 64 letters, digits, '-' or '_', starting with a letter or digit"
IN_USE_FOLDER = ".in-use"  # per-download copies; a profile name cannot start with "."
MAX_COOKIES_BYTES = 60 * 1024


class CookieProfileError(ValueError):
    """A profile that cannot be stored or used; `code` is the API's errorCode."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ProfileSummary:
    name: str
    domains: list[str]
    cookieCount: int
    earliestExpiry: str | None


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise CookieProfileError("invalidCookieProfileName", f"a cookie profile name is {NAME_RULE}")
    return name


def profile_path(folder: Path, name: str) -> Path:
    return folder / f"{check_name(name)}.txt"


def in_use_path(folder: Path, uuid: str) -> Path:
    """The per-download copy yt-dlp gets with --cookies (the only cookies file the runner lets it read)."""
    return folder / IN_USE_FOLDER / f"{uuid}.txt"


def parse(cookies_txt: str) -> http.cookiejar.MozillaCookieJar:
    """The cookies of a Netscape cookies.txt, parsed by the standard library (as yt-dlp reads it);
    invalidCookies when it is not one or holds no cookie. Errors never quote the file."""
    if len(cookies_txt.encode()) > MAX_COOKIES_BYTES:
        raise CookieProfileError("invalidCookies", f"a cookies file may be at most {MAX_COOKIES_BYTES} bytes")
    if "\x00" in cookies_txt:
        raise CookieProfileError("invalidCookies", "a cookies file may not contain NUL characters")
    import http.cookiejar  # here: only the API parses cookies; the runner would carry ~3 MiB of urllib for nothing

    jar = http.cookiejar.MozillaCookieJar()
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as scratch:
        scratch.write(cookies_txt)
        scratch.flush()
        try:
            jar.load(scratch.name, ignore_discard=True, ignore_expires=True)
        except (http.cookiejar.LoadError, OSError, ValueError, IndexError):
            raise CookieProfileError(
                "invalidCookies", "not a Netscape cookies.txt file (it must start with '# Netscape HTTP Cookie "
                                  "File' and have 7 tab-separated fields per cookie)") from None
    if not len(jar):
        raise CookieProfileError("invalidCookies", "the cookies file holds no cookie")
    return jar


def summarise(name: str, jar: http.cookiejar.CookieJar) -> ProfileSummary:
    expiries = [cookie.expires for cookie in jar if cookie.expires]
    earliest = (datetime.fromtimestamp(min(expiries), timezone.utc).isoformat().replace("+00:00", "Z")
                if expiries else None)
    return ProfileSummary(name=name, domains=sorted({cookie.domain for cookie in jar}), cookieCount=len(jar),
                          earliestExpiry=earliest)


def store(folder: Path, name: str, cookies_txt: str) -> ProfileSummary:
    """Validates and stores a profile (replacing one of the same name atomically, mode 0600)."""
    path = profile_path(folder, name)
    summary = summarise(name, parse(cookies_txt))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".txt")  # mode 0600
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(cookies_txt)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return summary


def exists(folder: Path, name: str) -> bool:
    return profile_path(folder, name).is_file()


def delete(folder: Path, name: str) -> None:
    try:
        profile_path(folder, name).unlink()
    except FileNotFoundError:
        raise CookieProfileError("cookieProfileNotFound", f"no cookie profile named {name!r}") from None


def list_profiles(folder: Path) -> list[ProfileSummary]:
    summaries = []
    for path in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        name = path.stem
        if not NAME_PATTERN.fullmatch(name):
            continue
        try:
            summaries.append(summarise(name, parse(path.read_text())))
        except (CookieProfileError, OSError):
            continue  # deleted meanwhile, or not written by this service
    return summaries


def copy_for_download(folder: Path, name: str, uuid: str) -> Path:
    """A private copy of the profile for one download's yt-dlp (which writes cookies back to it)."""
    source, target = profile_path(folder, name), in_use_path(folder, uuid)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        original = open(source, "rb")
    except FileNotFoundError:
        raise CookieProfileError("cookieProfileNotFound",
                                 f"the cookie profile {name!r} was deleted after the download was queued") from None
    with original, os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as copy:
        shutil.copyfileobj(original, copy)
    return target


def remove_copies(folder: Path) -> int:
    """Removes every per-download copy (at the runner's start: no download of this stack runs yet)."""
    removed = 0
    for path in (folder / IN_USE_FOLDER).glob("*.txt"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed
