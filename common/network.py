"""Address checks shared by the API (video URLs, clients) and the yt-dlp processes (every connection)."""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def in_networks(address: str | None, networks: Sequence[Network]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def check_video_url(url: str, blocked: Sequence[Network]) -> None:
    """Raises ValueError (with a message for the user) unless url is http(s) to a host outside `blocked`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("only http:// and https:// URLs can be downloaded")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValueError("the URL contains spaces or control characters")
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise ValueError(f"the host {parts.hostname!r} cannot be resolved: {error}") from None
    for info in infos:
        if in_networks(info[4][0], blocked):
            raise ValueError(f"the host {parts.hostname!r} resolves to {info[4][0]}, a blocked address")


def guard_connections(blocked: Sequence[Network]) -> None:
    """Makes every later name resolution in this process refuse blocked addresses.

    yt-dlp follows redirects and resolves names again when it connects, so checking the URL once in the API
    is not enough: this closes redirects and DNS rebinding towards loopback or cloud metadata addresses.
    """
    original = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        results = original(host, *args, **kwargs)
        allowed = [info for info in results if not in_networks(str(info[4][0]), blocked)]
        if not allowed:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} resolves only to blocked addresses")
        return allowed

    socket.getaddrinfo = guarded
