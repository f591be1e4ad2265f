"""yt-dlp wheels for the update tests, built from the installed yt-dlp with another version number (no
internet): a working one, and a broken one whose downloads all fail."""
from __future__ import annotations

import base64
import hashlib
import zipfile
from importlib import metadata
from pathlib import Path

BROKEN_MAIN = '''

def main(argv=None):  # added by the tests: this "new version" cannot download anything
    raise SystemExit("ERROR: this yt-dlp build is broken on purpose")
'''


def build_wheel(folder: Path, version: str, broken: bool = False) -> Path:
    """yt_dlp-<version>-py3-none-any.whl in folder: the installed yt-dlp's files, version number replaced."""
    distribution = metadata.distribution("yt-dlp")
    old_version = distribution.version
    dist_info = f"yt_dlp-{version}.dist-info"
    wheel = folder / f"yt_dlp-{version}-py3-none-any.whl"
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        def add(name: str, data: bytes) -> None:
            archive.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{name},sha256={digest},{len(data)}")

        for file in distribution.files:
            name = str(file)
            if not name.startswith("yt_dlp/") or "__pycache__" in name:
                continue
            data = Path(file.locate()).read_bytes()
            if name == "yt_dlp/version.py":
                data = data.replace(f"__version__ = '{old_version}'".encode(), f"__version__ = '{version}'".encode())
                assert f"'{version}'".encode() in data, "yt_dlp/version.py changed its format"
            if name == "yt_dlp/__init__.py" and broken:
                data += BROKEN_MAIN.encode()
            add(name, data)
        metadata_text = distribution.read_text("METADATA").replace(f"Version: {old_version}\n", f"Version: {version}\n", 1)
        add(f"{dist_info}/METADATA", metadata_text.encode())
        add(f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: prt-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{dist_info}/RECORD", "\n".join([*records, f"{dist_info}/RECORD,,"]) + "\n")
    return wheel
