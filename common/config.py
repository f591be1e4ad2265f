"""The one place where settings are read: environment variables named PRT_VIDEODOWNLOADER_<WORD>.

Every service calls `load_settings()` at start; a bad value stops it with a message naming the variable.
"""
from __future__ import annotations

import ipaddress
import os
import re
import sys
import typing
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, ValidationError

from common.network import NONGLOBAL

ENV_PREFIX = "PRT_VIDEODOWNLOADER_"


class IPNetworkList(list):
    """Comma-separated CIDRs (or a list of them) as ipaddress networks."""

    @classmethod
    def parse(cls, value: object) -> "IPNetworkList":
        parts = value.split(",") if isinstance(value, str) else value
        return cls(cls.network(part) for part in parts if str(part).strip())

    @staticmethod
    def network(part: object) -> object:
        if isinstance(part, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            return part
        return ipaddress.ip_network(str(part).strip(), strict=False)


class BlockedNetworkList(IPNetworkList):
    """CIDRs and the word `nonglobal` (every address that is not globally routable, common.network)."""

    @staticmethod
    def network(part: object) -> object:
        if isinstance(part, str) and part.strip().lower() == NONGLOBAL:
            return NONGLOBAL
        return IPNetworkList.network(part)


def _convert(kind: type, value: object) -> object:
    """msgspec's hook for the types it does not know: paths and network lists, from strings or as they are."""
    if kind is Path and isinstance(value, (str, Path)):
        return Path(value)
    if isinstance(kind, type) and issubclass(kind, IPNetworkList) and isinstance(value, (str, list, tuple)):
        return kind.parse(value)
    raise TypeError(f"expected {kind.__name__}")


def environment_settings() -> dict[str, str]:
    """The PRT_VIDEODOWNLOADER_<WORD> variables of this process, by WORD (case-sensitive)."""
    return {name[len(ENV_PREFIX):]: value for name, value in os.environ.items() if name.startswith(ENV_PREFIX)}


class Settings(msgspec.Struct, kw_only=True):
    """All settings of all services; each field is the variable PRT_VIDEODOWNLOADER_<FIELD NAME>.

    Built by `Settings.load()`: values come from the environment, overridden by keyword arguments, converted
    and checked by msgspec (pydantic cost every process ~10 MiB; it is left to the API's schemas)."""

    @classmethod
    def load(cls, **values: object) -> "Settings":
        values = {**environment_settings(), **values}
        for name in _numeric_settings():  # " 8080" is a port, as pydantic read it
            if isinstance(values.get(name), str):
                values[name] = values[name].strip()
        return msgspec.convert(values, cls, strict=False, dec_hook=_convert)

    SQLITEFILEPATH: Annotated[Path, Meta(
        description="SQLite database file (written only by the DB writer).")] = \
        Path("/opt/prt/prt-videodownloader/db/prt-videodownloader.sqlite")
    VIDEODATAPATH: Annotated[Path, Meta(
        description="Folder of finished videos, named <uuid>.<ext>; partial files live in its .partial/ "
                    "subfolder.")] = Path("/opt/prt/prt-videodownloader/data/")
    RUNPATH: Annotated[Path, Meta(
        description="Folder for the ZeroMQ ipc sockets, the supervisord socket and generated nginx "
                    "files.")] = Path("/opt/prt/prt-videodownloader/run/")
    BUSBASEADDRESS: Annotated[str, Meta(
        description="Empty: ipc:// sockets under RUNPATH. `tcp://HOST:PORT`: the bus uses PORT..PORT+5 on HOST.")] = ""
    COOKIESPATH: Annotated[Path, Meta(
        description="Folder of the cookie profiles (<name>.txt, mode 0600, written by the API) and of the "
                    "per-download copies yt-dlp is given (.in-use/).")] = \
        Path("/opt/prt/prt-videodownloader/cookies/")
    YTDLPVERSIONSPATH: Annotated[Path, Meta(
        description="Environments of yt-dlp versions installed by `make update-ytdlp` (or the update channel), "
                    "and selected.json, the one new downloads use (none: the pinned one of requirements.txt).")] = \
        Path("/opt/prt/prt-videodownloader/ytdlp/")
    YTDLPUPDATECHANNEL: Annotated[Literal["pinned", "stable", "nightly"], Meta(
        description="`pinned`: yt-dlp changes only with `make update-ytdlp`. `stable`/`nightly`: the "
                    "runner also checks PyPI every YTDLPUPDATECHECKHOURS and installs a newer release "
                    "(nightly: pre-releases too) once it passes the smoke download.")] = "pinned"
    YTDLPUPDATECHECKHOURS: Annotated[float, Meta(
        gt=0, description="How often the `stable` and `nightly` channels look for a newer yt-dlp.")] = 24
    HTTPSBASEURL: Annotated[str, Meta(
        description="Public base URL under which nginx serves the video folder; links are <base>/<file "
                    "name>.")] = "https://prt.teevity.com/videodownloader"
    APIPORT: Annotated[int, Meta(
        ge=1, le=65535, description="Port of the Flask API (plain HTTP, bound to 0.0.0.0).")] = 8080
    HTTPSPORT: Annotated[int, Meta(
        ge=1, le=65535, description="HTTPS port of the local nginx started by `make run`.")] = 8443
    MAXCONCURRENTDOWNLOADS: Annotated[int, Meta(
        ge=1, le=500, description="yt-dlp processes running at once, at most.")] = 3
    MAXATTEMPTS: Annotated[int, Meta(
        ge=1, le=100,
        description="Times a download is started before it is FAILED when its runner keeps dying under it.")] = 3
    STALLTIMEOUTSECONDS: Annotated[float, Meta(
        gt=0, description="A yt-dlp process that prints nothing for this long is killed and FAILED.")] = 300
    MAXDOWNLOADSECONDS: Annotated[float, Meta(
        gt=0, description="A download still running after this long (6 h by default) is stopped and FAILED, "
                          "even if it keeps making progress (a throttled server).")] = 21600
    ORPHANFILEMINAGESECONDS: Annotated[float, Meta(
        gt=0, description="Files named like a download (<uuid>...) in the data folder or .partial/ that no "
                          "download owns are removed once they are older than this.")] = 3600
    WARMPROCESSES: Annotated[int, Meta(
        ge=0, le=16,
        description="Spare yt-dlp processes the runner keeps forked from its warm zygote, ready to start (each ~10 "
                    "MiB; a download that finds none waits ~10 ms for a fork).")] = 1
    WARMIDLESECONDS: Annotated[float, Meta(
        ge=0, description="The spares are stopped once no download has started or run for this long, and forked "
                          "again when the next one starts (that one waits ~10 ms for its own fork). 0: spares are "
                          "kept at all times.")] = 60
    BLOCKEDURLNETWORKS: Annotated[BlockedNetworkList, Meta(
        description="Addresses no download may connect to (the video URL, redirects, every connection of yt-dlp "
                    "and ffmpeg): comma-separated CIDRs and `nonglobal` (every address that is not globally "
                    "routable, see Security). A full replacement: `nonglobal,203.0.113.0/24` adds a range, "
                    "`169.254.0.0/16` alone allows everything else.")] = \
        msgspec.field(default_factory=lambda: BlockedNetworkList.parse(NONGLOBAL))
    ALLOWEDCLIENTNETWORKS: Annotated[IPNetworkList, Meta(
        description="Only API clients from these networks are served; others get 418 forbiddenClient.")] = \
        msgspec.field(default_factory=lambda: IPNetworkList.parse(
            "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,::1/128,fc00::/7"))
    TRUSTEDPROXYNETWORKS: Annotated[IPNetworkList, Meta(
        description="Peers whose X-Forwarded-For header is believed (the nginx in front of the API).")] = \
        msgspec.field(default_factory=lambda: IPNetworkList.parse("127.0.0.1/32,::1/128"))
    TLSCERTIFICATEPATH: Annotated[str, Meta(
        description="PEM certificate of the local nginx; empty: a self-signed one is made under RUNPATH/tls/.")] = ""
    TLSKEYPATH: Annotated[str, Meta(
        description="PEM private key matching TLSCERTIFICATEPATH.")] = ""
    S3ENDPOINTURL: Annotated[str, Meta(
        description="S3 endpoint the service uploads finished files to (e.g. http://prt-videodownloader-rustfs:9000); "
                    "empty: S3 publishing is off.")] = ""
    S3PUBLICURL: Annotated[str, Meta(
        description="S3 endpoint as clients reach it; presigned links are signed for this host. Empty: "
                    "S3ENDPOINTURL.")] = ""
    S3BUCKET: Annotated[str, Meta(
        min_length=3, max_length=63,
        description="Bucket of the published videos (created when missing).")] = "prt-videodownloader"
    S3ACCESSKEY: Annotated[str, Meta(
        description="S3 access key (the RustFS RUSTFS_ACCESS_KEY).")] = ""
    S3SECRETKEY: Annotated[str, Meta(
        description="S3 secret key (the RustFS RUSTFS_SECRET_KEY).")] = ""
    S3REGION: Annotated[str, Meta(
        description="Region used in S3 signatures.")] = "us-east-1"
    S3URLEXPIRYSECONDS: Annotated[int, Meta(
        ge=1, le=7 * 24 * 3600, description="Lifetime of presigned S3 links (at most 7 days, SigV4's limit).")] = 86400
    RETENTIONHOURS: Annotated[float, Meta(
        ge=0,
        description="Finished downloads older than this are deleted (file, S3 object, row); 0 keeps them forever.")] = 0
    APIWORKERS: Annotated[int, Meta(
        ge=1, le=64, description="gevent worker processes of the API. One worker (the API process "
                                 "itself, no gunicorn master) serves many requests at once; more workers (forked by "
                                 "gunicorn's master) use more cores and memory for higher request rates.")] = 1
    APITHREADS: Annotated[int, Meta(
        ge=1, le=256, description="Unused since the API runs on gevent (APIWORKERCONNECTIONS); kept so that "
                                  "existing configurations stay valid.")] = 8
    APIWORKERCONNECTIONS: Annotated[int, Meta(
        ge=10, le=100_000,
        description="Requests each API worker serves at once (gevent greenlets, not threads): long waits "
                    "(waitForDownload, /api/events) count too.")] = 1000
    EVENTSKEPT: Annotated[int, Meta(
        ge=1, le=10_000_000,
        description="Download events kept for /api/events reconnections (Last-Event-ID); a client that missed more is "
                    "told to reload.")] = 10000
    WEBHOOKSECRET: Annotated[str, Meta(
        description="Key of the webhooks' X-PRT-Signature header (sha256=HMAC-SHA256 of the body, hex); "
                    "empty: webhooks are sent without a signature.")] = ""
    WEBHOOKMAXATTEMPTS: Annotated[int, Meta(
        ge=1, le=100,
        description="POSTs of one webhook before it is given up (callbackStatus failed) while the receiver fails, "
                    "times out or is down.")] = 10
    WEBHOOKRETRYSECONDS: Annotated[float, Meta(
        gt=0, le=3600,
        description="Wait before the second webhook attempt; each later wait doubles, at most 1 h (the default 10 "
                    "attempts span about 1.4 h).")] = 5.0
    BUSTIMEOUTSECONDS: Annotated[float, Meta(
        gt=0, le=60, description="How long the API waits for the DB writer before answering serviceUnavailable.")] = 3.0

    def __post_init__(self) -> None:
        if not self.HTTPSBASEURL.startswith(("http://", "https://")):
            raise SettingError("HTTPSBASEURL", self.HTTPSBASEURL, "must start with https:// (or http://)")
        self.HTTPSBASEURL = self.HTTPSBASEURL.rstrip("/")
        for name in ("S3ENDPOINTURL", "S3PUBLICURL"):
            value = getattr(self, name)
            if value and not value.startswith(("http://", "https://")):
                raise SettingError(name, value, "must be empty or an http(s):// URL")
            setattr(self, name, value.rstrip("/"))
        if self.BUSBASEADDRESS and not self.BUSBASEADDRESS.startswith("tcp://"):
            raise SettingError("BUSBASEADDRESS", self.BUSBASEADDRESS,
                               "must be empty (ipc sockets under RUNPATH) or tcp://HOST:PORT")

    @property
    def s3_enabled(self) -> bool:
        return bool(self.S3ENDPOINTURL)

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


class SettingError(ValueError):
    def __init__(self, name: str, value: object, problem: str):
        super().__init__(f"invalid setting {ENV_PREFIX}{name}={value!r}: {problem}")


KINDS = {"int": "a whole number", "float": "a number", "str": "text"}


@lru_cache(maxsize=1)
def _setting_types() -> dict[str, object]:
    """Each setting's type, without its Meta (every field is Annotated[type, Meta(...)])."""
    return {field.name: typing.get_args(field.type)[0] for field in msgspec.structs.fields(Settings)}


def _numeric_settings() -> list[str]:
    return [name for name, kind in _setting_types().items() if kind in (int, float)]


def _choices(name: str) -> tuple[str, ...]:
    """The values a Literal setting accepts (none for other settings)."""
    kind = _setting_types().get(name)
    return typing.get_args(kind) if typing.get_origin(kind) is Literal else ()


def describe_error(error: ValidationError, values: dict[str, object]) -> str:
    """msgspec's message ("Expected `int` >= 1 - at `$.APIPORT`") said for a person, with the variable and the
    value it had. Errors raised by Settings itself (SettingError) already are."""
    message = str(error)
    located = re.fullmatch(r"(.*) - at `\$\.(\w+)[^`]*`", message, re.DOTALL)
    if located is None:
        return message
    problem, name = located.groups()
    if wrong_type := re.fullmatch(r"Expected `(\w+)`, got `\w+`", problem):
        problem = f"expected {KINDS.get(wrong_type[1], wrong_type[1])}"
    elif bound := re.fullmatch(r"Expected `(\w+)` (.+)", problem):
        problem = f"expected {KINDS.get(bound[1], bound[1])} {bound[2]}"
    elif problem.startswith("Invalid enum value") and (choices := _choices(name)):
        problem = f"expected one of {', '.join(choices)}"
    return f"invalid setting {ENV_PREFIX}{name}={values.get(name)!r}: {problem}"


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """Settings of this process; exits with a message naming the bad variable when one is invalid."""
    try:
        settings = Settings.load()
    except ValidationError as error:
        print(f"configuration error: {describe_error(error, environment_settings())}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    try:
        settings.create_folders()
    except OSError as error:
        print(f"configuration error: cannot create folder {error.filename}: {error.strerror}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    return settings


def setting_fields() -> dict[str, tuple[object, str]]:
    """Each setting's default and description, in the order they are declared."""
    fields = {}
    for field in msgspec.structs.fields(Settings):
        default = field.default_factory() if field.default is msgspec.NODEFAULT else field.default
        meta = next(item for item in field.type.__metadata__ if isinstance(item, Meta))
        fields[field.name] = (default, meta.description)
    return fields


def settings_table() -> str:
    """The Markdown table of all settings and their defaults, as the README shows it."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, (default, description) in setting_fields().items():
        if isinstance(default, list):
            default = ",".join(str(item) for item in default)
        rows.append(f"| `{ENV_PREFIX}{name}` | `{default}` | {description} |")
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
