"""Address checks shared by the API (video URLs, clients) and the yt-dlp processes (every connection).

`blocked_reason` is the one judgement of an address: the API's URL check, the guard inside each yt-dlp
process (every name resolution and every connect) and the proxy that carries ffmpeg's traffic all use it.
"""
from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Literal
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
NONGLOBAL = "nonglobal"
"""In BLOCKEDURLNETWORKS: every address that is not globally routable (see `is_nonglobal`)."""
BlockedEntry = Network | Literal["nonglobal"]

BLOCKED_ADDRESS = "blocked address"
"""Every refusal message starts with this (the runner's and the API's messages, the proxy's answers)."""

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_EXTRA_NONGLOBAL = [ipaddress.ip_network(cidr) for cidr in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "::/128", _NAT64_LOCAL)]


def in_networks(address: str | None, networks: Sequence[Network]) -> bool:
    """True when address (an IPv4-mapped IPv6 address counts as its IPv4) is in one of networks."""
    ip = _parse(address)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def _parse(address: str | None) -> Address | None:
    if not address:
        return None
    try:
        return ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None


def embedded_ipv4(ip: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a packet to this IPv6 address ends up at: mapped (::ffff:0:0/96), 6to4
    (2002::/16), Teredo (2001::/32: server and client) and NAT64 (64:ff9b::/96, 64:ff9b:1::/48, last 32 bits)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def is_nonglobal(ip: Address) -> bool:
    """Not globally routable: Python's `not is_global`, plus this network (0.0.0.0/8, ::), multicast,
    reserved, site-local and the local-use NAT64 prefix; an IPv6 address that embeds IPv4 is judged by it."""
    embedded = embedded_ipv4(ip)
    if embedded:
        return (ip in _NAT64_LOCAL) or any(is_nonglobal(inner) for inner in embedded)
    return (not ip.is_global or ip.is_private or ip.is_multicast or ip.is_reserved or ip.is_loopback
            or ip.is_link_local or ip.is_unspecified or getattr(ip, "is_site_local", False)
            or any(ip in network for network in _EXTRA_NONGLOBAL if network.version == ip.version))


def blocked_reason(address: str, blocked: Sequence[BlockedEntry]) -> str | None:
    """Why address may not be connected to (None: it may); unparsable addresses are blocked."""
    ip = _parse(address)
    if ip is None:
        return f"{address!r} is not an IP address"
    for candidate in (ip, *embedded_ipv4(ip)):
        for entry in blocked:
            if entry == NONGLOBAL:
                if candidate is ip and is_nonglobal(ip):
                    inner = [str(v4) for v4 in embedded_ipv4(ip) if is_nonglobal(v4)]
                    return (f"{ip} (which leads to {inner[0]}) is not a globally routable address" if inner
                            else f"{ip} is not a globally routable address")
            elif candidate.version == entry.version and candidate in entry:
                return f"{candidate} is in {entry}" if candidate is ip else f"{ip} leads to {candidate}, in {entry}"
    return None


def check_video_url(url: str, blocked: Sequence[BlockedEntry]) -> None:
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
        reason = blocked_reason(str(info[4][0]), blocked)
        if reason:
            raise ValueError(f"{BLOCKED_ADDRESS}: the host {parts.hostname!r} resolves to {info[4][0]} ({reason})")


class EgressGuard:
    """The address guard of one yt-dlp process: once installed, every name resolution drops blocked
    addresses and every connect (or UDP send) to a blocked address fails. Refusals are remembered so that
    a download whose fragments were skipped after a refusal still FAILS with the reason."""

    def __init__(self, blocked: Sequence[BlockedEntry]):
        self.blocked = list(blocked)
        self.refusals: list[str] = []
        self.on_refusal: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._getaddrinfo = socket.getaddrinfo

    def refuse(self, message: str) -> str:
        """Records a refusal (the download will FAIL with the first one) and returns its message."""
        message = f"{BLOCKED_ADDRESS}: {message}"
        with self._lock:
            self.refusals.append(message)
        if self.on_refusal is not None:
            self.on_refusal()
        return message

    def resolve(self, host, port, *args, **kwargs) -> list:
        """getaddrinfo without the blocked addresses; socket.gaierror naming them when none is left.
        A lookup without a host (for bind) is left alone: connecting is checked on its own."""
        results = self._getaddrinfo(host, port, *args, **kwargs)
        if host is None:
            return results
        allowed, reasons = [], []
        for info in results:
            reason = (blocked_reason(str(info[4][0]), self.blocked)
                      if info[0] in (socket.AF_INET, socket.AF_INET6) else None)
            (reasons if reason else allowed).append(reason or info)
        if not allowed and reasons:
            label = host.decode(errors="replace") if isinstance(host, bytes) else host
            message = self.refuse(f"{label} resolves to a blocked address ({reasons[0]})")
            raise socket.gaierror(socket.EAI_NONAME, message)
        return allowed

    def check_destination(self, sock: socket.socket, address):
        """The address to really connect to: an IP literal that is allowed (names are resolved here)."""
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
            return address
        host, port, *rest = address
        if _parse(str(host)) is None:
            info = self.resolve(host, port, sock.family, socket.SOCK_STREAM)[0]
            return (info[4][0], port, *rest)
        reason = blocked_reason(str(host), self.blocked)
        if reason:
            raise PermissionError(errno.EACCES, self.refuse(f"connection to {reason}"))
        return address

    def install(self) -> None:
        guard = self
        connect, connect_ex, sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto

        def guarded_connect(sock, address):
            return connect(sock, guard.check_destination(sock, address))

        def guarded_connect_ex(sock, address):
            return connect_ex(sock, guard.check_destination(sock, address))

        def guarded_sendto(sock, data, *flags_and_address):
            *flags, address = flags_and_address
            return sendto(sock, data, *flags, guard.check_destination(sock, address))

        socket.getaddrinfo = self.resolve
        socket.socket.connect = guarded_connect
        socket.socket.connect_ex = guarded_connect_ex
        socket.socket.sendto = guarded_sendto


def guard_connections(blocked: Sequence[BlockedEntry]) -> EgressGuard:
    """Installs the address guard in this process and returns it.

    yt-dlp follows redirects and resolves names again when it connects, so checking the URL once in the API
    is not enough: this closes redirects and DNS rebinding towards loopback, private or metadata addresses.
    """
    guard = EgressGuard(blocked)
    guard.install()
    return guard
