"""The one place where settings are read: environment variables named PRT_VIDEODOWNLOADER_<WORD>.

Every service calls `load_settings()` at start; a bad value stops it with a message naming the variable.
"""
from __future__ import annotations

import ipaddress
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from common.network import NONGLOBAL

ENV_PREFIX = "PRT_VIDEODOWNLOADER_"

IPNetworkList = list[ipaddress.IPv4Network | ipaddress.IPv6Network]
BlockedNetworkList = list[Literal["nonglobal"] | ipaddress.IPv4Network | ipaddress.IPv6Network]


def _parse_networks(value: object) -> object:
    if isinstance(value, str):
        return [ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()]
    return value


def _parse_blocked_networks(value: object) -> object:
    """CIDRs and the word `nonglobal` (every address that is not globally routable, common.network)."""
    if isinstance(value, str):
        return [NONGLOBAL if part.strip().lower() == NONGLOBAL else ipaddress.ip_network(part.strip(), strict=False)
                for part in value.split(",") if part.strip()]
    return value


def environment_settings() -> dict[str, str]:
    """The PRT_VIDEODOWNLOADER_<WORD> variables of this process, by WORD (case-sensitive)."""
    return {name[len(ENV_PREFIX):]: value for name, value in os.environ.items() if name.startswith(ENV_PREFIX)}


class Settings(BaseModel):
    """All settings of all services; each field is the variable PRT_VIDEODOWNLOADER_<FIELD NAME>.

    Values come from the environment, overridden by keyword arguments, and are validated by pydantic (strings
    converted as for any input). A plain model: pydantic-settings' sources (dotenv, secrets, cloud providers)
    are not used here and cost every process ~5 MiB of imports."""

    model_config = ConfigDict(extra="ignore")

    def __init__(self, **values: object):
        super().__init__(**{**environment_settings(), **values})

    SQLITEFILEPATH: Path = Field(
        Path("/opt/prt/prt-videodownloader/db/prt-videodownloader.sqlite"),
        description="SQLite database file (written only by the DB writer).")
    VIDEODATAPATH: Path = Field(
        Path("/opt/prt/prt-videodownloader/data/"),
        description="Folder of finished videos, named <uuid>.<ext>; partial files live in its .partial/ subfolder.")
    RUNPATH: Path = Field(
        Path("/opt/prt/prt-videodownloader/run/"),
        description="Folder for the ZeroMQ ipc sockets, the supervisord socket and generated nginx files.")
    BUSBASEADDRESS: str = Field(
        "",
        description="Empty: ipc:// sockets under RUNPATH. `tcp://HOST:PORT`: the bus uses PORT..PORT+5 on HOST.")
    COOKIESPATH: Path = Field(
        Path("/opt/prt/prt-videodownloader/cookies/"),
        description="Folder of the cookie profiles (<name>.txt, mode 0600, written by the API) and of the "
                    "per-download copies yt-dlp is given (.in-use/).")
    YTDLPVERSIONSPATH: Path = Field(
        Path("/opt/prt/prt-videodownloader/ytdlp/"),
        description="Environments of yt-dlp versions installed by `make update-ytdlp` (or the update channel), "
                    "and selected.json, the one new downloads use (none: the pinned one of requirements.txt).")
    YTDLPUPDATECHANNEL: Literal["pinned", "stable", "nightly"] = Field(
        "pinned", description="`pinned`: yt-dlp changes only with `make update-ytdlp`. `stable`/`nightly`: the "
                              "runner also checks PyPI every YTDLPUPDATECHECKHOURS and installs a newer release "
                              "(nightly: pre-releases too) once it passes the smoke download.")
    YTDLPUPDATECHECKHOURS: float = Field(
        24, gt=0, description="How often the `stable` and `nightly` channels look for a newer yt-dlp.")
    HTTPSBASEURL: str = Field(
        "https://prt.teevity.com/videodownloader",
        description="Public base URL under which nginx serves the video folder; links are <base>/<file name>.")
    APIPORT: int = Field(8080, ge=1, le=65535, description="Port of the Flask API (plain HTTP, bound to 0.0.0.0).")
    HTTPSPORT: int = Field(8443, ge=1, le=65535, description="HTTPS port of the local nginx started by `make run`.")
    MAXCONCURRENTDOWNLOADS: int = Field(3, ge=1, le=500, description="yt-dlp processes running at once, at most.")
    MAXATTEMPTS: int = Field(
        3, ge=1, le=100,
        description="Times a download is started before it is FAILED when its runner keeps dying under it.")
    STALLTIMEOUTSECONDS: float = Field(
        300, gt=0, description="A yt-dlp process that prints nothing for this long is killed and FAILED.")
    MAXDOWNLOADSECONDS: float = Field(
        21600, gt=0, description="A download still running after this long (6 h by default) is stopped and FAILED, "
                                 "even if it keeps making progress (a throttled server).")
    ORPHANFILEMINAGESECONDS: float = Field(
        3600, gt=0, description="Files named like a download (<uuid>...) in the data folder or .partial/ that no "
                                "download owns are removed once they are older than this.")
    WARMPROCESSES: int = Field(
        1, ge=0, le=16,
        description="Spare yt-dlp processes the runner keeps forked from its warm zygote, ready to start (each "
                    "~10 MiB; a download that finds none waits ~10 ms for a fork).")
    BLOCKEDURLNETWORKS: BlockedNetworkList = Field(
        default_factory=lambda: [NONGLOBAL],
        description="Addresses no download may connect to (the video URL, redirects, every connection of yt-dlp "
                    "and ffmpeg): comma-separated CIDRs and `nonglobal` (every address that is not globally "
                    "routable, see Security). A full replacement: `nonglobal,203.0.113.0/24` adds a range, "
                    "`169.254.0.0/16` alone allows everything else.")
    ALLOWEDCLIENTNETWORKS: IPNetworkList = Field(
        default_factory=lambda: _parse_networks(
            "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,::1/128,fc00::/7"),
        description="Only API clients from these networks are served; others get 418 forbiddenClient.")
    TRUSTEDPROXYNETWORKS: IPNetworkList = Field(
        default_factory=lambda: _parse_networks("127.0.0.1/32,::1/128"),
        description="Peers whose X-Forwarded-For header is believed (the nginx in front of the API).")
    TLSCERTIFICATEPATH: str = Field(
        "", description="PEM certificate of the local nginx; empty: a self-signed one is made under RUNPATH/tls/.")
    TLSKEYPATH: str = Field("", description="PEM private key matching TLSCERTIFICATEPATH.")
    S3ENDPOINTURL: str = Field(
        "", description="S3 endpoint the service uploads finished files to (e.g. http://prt-videodownloader-rustfs:9000); "
                        "empty: S3 publishing is off.")
    S3PUBLICURL: str = Field(
        "", description="S3 endpoint as clients reach it; presigned links are signed for this host. Empty: S3ENDPOINTURL.")
    S3BUCKET: str = Field("prt-videodownloader", min_length=3, max_length=63,
                          description="Bucket of the published videos (created when missing).")
    S3ACCESSKEY: str = Field("", description="S3 access key (the RustFS RUSTFS_ACCESS_KEY).")
    S3SECRETKEY: str = Field("", description="S3 secret key (the RustFS RUSTFS_SECRET_KEY).")
    S3REGION: str = Field("us-east-1", description="Region used in S3 signatures.")
    S3URLEXPIRYSECONDS: int = Field(86400, ge=1, le=7 * 24 * 3600,
                                    description="Lifetime of presigned S3 links (at most 7 days, SigV4's limit).")
    RETENTIONHOURS: float = Field(
        0, ge=0, description="Finished downloads older than this are deleted (file, S3 object, row); 0 keeps them forever.")
    APIWORKERS: int = Field(1, ge=1, le=64, description="gunicorn worker processes of the API. One gevent worker "
                            "serves many requests at once; more workers use more cores (and memory) for higher "
                            "request rates.")
    APITHREADS: int = Field(
        8, ge=1, le=256, description="Unused since the API runs on gevent (APIWORKERCONNECTIONS); kept so that "
                                     "existing configurations stay valid.")
    APIWORKERCONNECTIONS: int = Field(
        1000, ge=10, le=100_000,
        description="Requests each API worker serves at once (gevent greenlets, not threads): long waits "
                    "(waitForDownload, /api/events) count too.")
    EVENTSKEPT: int = Field(
        10000, ge=1, le=10_000_000,
        description="Download events kept for /api/events reconnections (Last-Event-ID); a client that "
                    "missed more is told to reload.")
    WEBHOOKSECRET: str = Field(
        "", description="Key of the webhooks' X-PRT-Signature header (sha256=HMAC-SHA256 of the body, hex); "
                        "empty: webhooks are sent without a signature.")
    WEBHOOKMAXATTEMPTS: int = Field(
        10, ge=1, le=100,
        description="POSTs of one webhook before it is given up (callbackStatus failed) while the receiver "
                    "fails, times out or is down.")
    WEBHOOKRETRYSECONDS: float = Field(
        5.0, gt=0, le=3600,
        description="Wait before the second webhook attempt; each later wait doubles, at most 1 h (the default "
                    "10 attempts span about 1.4 h).")
    BUSTIMEOUTSECONDS: float = Field(
        3.0, gt=0, le=60, description="How long the API waits for the DB writer before answering serviceUnavailable.")

    _parse_network_lists = field_validator(
        "ALLOWEDCLIENTNETWORKS", "TRUSTEDPROXYNETWORKS", mode="before")(_parse_networks)
    _parse_blocked_network_list = field_validator("BLOCKEDURLNETWORKS", mode="before")(_parse_blocked_networks)

    @field_validator("HTTPSBASEURL")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http://)")
        return value.rstrip("/")

    @field_validator("S3ENDPOINTURL", "S3PUBLICURL")
    @classmethod
    def _check_s3_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be empty or an http(s):// URL")
        return value.rstrip("/")

    @property
    def s3_enabled(self) -> bool:
        return bool(self.S3ENDPOINTURL)

    @field_validator("BUSBASEADDRESS")
    @classmethod
    def _check_bus_address(cls, value: str) -> str:
        if value and not value.startswith("tcp://"):
            raise ValueError("must be empty (ipc sockets under RUNPATH) or tcp://HOST:PORT")
        return value

    @property
    def partial_path(self) -> Path:
        return self.VIDEODATAPATH / ".partial"

    def remove_download_files(self, uuid: str) -> list[str]:
        """Removes every file of a download (<uuid>.* finished, partial, subtitles...); returns their names."""
        removed = []
        for folder in (self.VIDEODATAPATH, self.partial_path):
            for path in folder.glob(f"{uuid}*"):
                try:
                    path.unlink()
                    removed.append(path.name)
                except OSError:  # already gone, or not ours to remove: the caller's outcome must not depend on it
                    pass
        return removed

    def create_folders(self) -> None:
        for folder in (self.SQLITEFILEPATH.parent, self.VIDEODATAPATH, self.partial_path, self.RUNPATH):
            folder.mkdir(parents=True, exist_ok=True)
        self.COOKIESPATH.mkdir(parents=True, exist_ok=True, mode=0o700)


def describe_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = ENV_PREFIX + str(item["loc"][0]) if item["loc"] else "settings"
        lines.append(f"invalid setting {name}={item.get('input')!r}: {item['msg']}")
    return "; ".join(lines)


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """Settings of this process; exits with a message naming the bad variable when one is invalid."""
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"configuration error: {describe_error(error)}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    try:
        settings.create_folders()
    except OSError as error:
        print(f"configuration error: cannot create folder {error.filename}: {error.strerror}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    return settings


def settings_table() -> str:
    """The Markdown table of all settings and their defaults, as the README shows it."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(str(item) for item in default)
        rows.append(f"| `{ENV_PREFIX}{name}` | `{default}` | {field.description} |")
    return "\n".join(rows)


def main(arguments: list[str]) -> None:
    """`check` validates the environment (exit 2 naming a bad variable), `get NAME` prints one setting,
    `table` prints the README's settings table."""
    if arguments[:1] == ["table"]:
        print(settings_table())
    elif arguments[:1] == ["check"]:
        load_settings()
    elif arguments[:1] == ["get"] and len(arguments) == 2:
        print(getattr(load_settings(), arguments[1]))
    else:
        print("usage: python -m common.config check | get NAME | table", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
