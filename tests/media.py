"""Media the tests download: generated with ffmpeg, served by a loopback HTTP server started by the tests."""
from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import threading
import time
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

THROTTLE_CHUNK = 16 * 1024
THROTTLE_DELAY = 0.05  # about 320 KB/s per connection
CRAWL_DELAY = 0.5  # about 32 KB/s: long.mp4 takes most of a minute
REQUIRED_COOKIE = "prt_session=s3cr3t-cookie-value-4242"  # what /members/<file> asks for


def generate_media(folder: Path) -> Path:
    """clip.mp4 (small), long.mp4 (about 1.5 MB, for throttled downloads), longer.mp4 (about 3 MB, 10 s when
    throttled: the chaos run), large.mp4 (about 8 MB, read at full speed), HLS streams (plain and AES-128), a
    DASH stream, and non-media."""
    folder.mkdir(parents=True, exist_ok=True)
    source = ["-f", "lavfi", "-i", "testsrc=duration={d}:size=320x240:rate=25",
              "-f", "lavfi", "-i", "sine=frequency=440:duration={d}"]

    def encode(name: str, duration: int, extra: list[str]) -> None:
        target = folder / name
        if not target.exists():
            arguments = [part.format(d=duration) for part in source]
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *arguments, "-c:v", "libx264", "-pix_fmt",
                            "yuv420p", "-c:a", "aac", "-shortest", *extra, str(target)], check=True)

    encode("clip.mp4", 3, [])
    constant_bitrate = ["-b:v", "1200k", "-minrate", "1200k", "-maxrate", "1200k", "-bufsize", "600k",
                        "-x264-params", "nal-hrd=cbr"]
    encode("long.mp4", 10, constant_bitrate)
    encode("longer.mp4", 20, constant_bitrate)
    encode("large.mp4", 4, ["-b:v", "16M", "-minrate", "16M", "-maxrate", "16M", "-bufsize", "8M",
                            "-x264-params", "nal-hrd=cbr"])
    hls = folder / "hls"
    hls.mkdir(exist_ok=True)
    hls_arguments = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(folder / "clip.mp4"), "-c:v", "libx264",
                     "-g", "25", "-c:a", "aac", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"]
    if not (hls / "index.m3u8").exists():
        subprocess.run([*hls_arguments, str(hls / "index.m3u8")], check=True)
    encrypted = folder / "hls-aes"  # AES-128 HLS: segments encrypted with key.bin, named by URI="key.bin"
    encrypted.mkdir(exist_ok=True)
    if not (encrypted / "index.m3u8").exists():
        (encrypted / "key.bin").write_bytes(bytes(range(16)))
        (encrypted / "key.info").write_text(f"key.bin\n{encrypted / 'key.bin'}\n{'00' * 15}01\n")
        subprocess.run([*hls_arguments, "-hls_key_info_file", str(encrypted / "key.info"),
                        str(encrypted / "index.m3u8")], check=True)
    dash = folder / "dash"  # DASH: separate video and audio representations, numbered segments
    dash.mkdir(exist_ok=True)
    if not (dash / "manifest.mpd").exists():
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(folder / "clip.mp4"), "-c", "copy", "-f",
                        "dash", "-seg_duration", "1", "-use_template", "1", "-use_timeline", "0",
                        str(dash / "manifest.mpd")], check=True)
    if not (folder / "thumb.jpg").exists():
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x180", "-frames:v",
                        "1", str(folder / "thumb.jpg")], check=True)
    (folder / "notes.txt").write_text("just some text, not a video\n" * 20)
    (folder / "page.html").write_text("<!doctype html><html><head><title>No video here</title></head>"
                                      "<body><p>Nothing to see.</p></body></html>")
    return folder


OG_TITLE = "A test clip & its thumbnail"
OG_PAGE = ("<!doctype html><html><head><title>Page title</title>"
           f'<meta property="og:title" content="{OG_TITLE.replace("&", "&amp;")}">'
           '<meta property="og:image" content="{base}/thumb.jpg"></head>'
           '<body><video src="{base}/clip.mp4" controls></video></body></html>')


def rss_feed(base: str, count: int, bad: set[int] = frozenset(), clip: str = "clip.mp4") -> str:
    """An RSS feed of `count` items, each linking to a distinct URL of `clip` (item i of `bad`: a 404)."""
    items = "".join(
        f"<item><title>Clip {i}</title><link>{base}/status/404/clip-{i}.mp4</link><guid>clip-{i}</guid></item>"
        if i in bad else
        f"<item><title>Clip {i}</title><link>{base}/{clip}?entry={i}</link><guid>clip-{i}</guid></item>"
        for i in range(1, count + 1))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Test feed</title>'
            f"<link>{base}/</link><description>clips</description>{items}</channel></rss>")


def videos_page(base: str, count: int) -> str:
    videos = "".join(f'<video src="{base}/clip.mp4?video={i}" controls></video>' for i in range(1, count + 1))
    return f"<!doctype html><html><head><title>Several videos</title></head><body>{videos}</body></html>"


class MediaHandler(SimpleHTTPRequestHandler):
    """Serves the media folder; /slow/<file> is throttled, /crawl/<file> ten times more, /stall/<file> stops
    sending after a few bytes, /redirect?to=<url> redirects, /status/<code> answers that HTTP status,
    /og-video.html is a page with a <video> and og:title, og:image (absolute URLs on this server, as sites
    write them), /members/<file> answers 403 without the cookie REQUIRED_COOKIE, /feed.rss?items=N&bad=I,J an
    RSS feed of N clips (items I, J: 404; &slow=1: throttled long.mp4 clips; &delay=S: answered after S
    seconds), /feed.rss without items the server's `feed_items` (a feed that grows), and /videos.html?n=N a
    page with N <video> elements. Every request is recorded for the tests."""

    server: "MediaServer"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.record(self.path)
        if path == "/redirect":
            target = self.path.split("to=", 1)[1] if "to=" in self.path else "/"
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path.startswith("/status/") and path[len("/status/"):].split("/")[0].isdigit():
            self.send_error(int(path[len("/status/"):].split("/")[0]))
            return
        if path == "/og-video.html":
            return self._send_page(OG_PAGE.format(base=f"http://{self.headers.get('Host')}"))
        if path.startswith("/members/"):  # only with the cookie REQUIRED_COOKIE
            if REQUIRED_COOKIE not in [part.strip() for part in self.headers.get("Cookie", "").split(";")]:
                self.send_error(HTTPStatus.FORBIDDEN, "sign in first")
                return
            self.path = self.path.replace("/members/", "/", 1)
        if path in ("/feed.rss", "/videos.html"):
            query = parse_qs(urlsplit(self.path).query)
            base = f"http://{self.headers.get('Host')}"
            if path == "/videos.html":
                return self._send_page(videos_page(base, int(query.get("n", ["2"])[0])))
            count = int(query["items"][0]) if "items" in query else self.server.feed_items
            bad = {int(i) for i in query.get("bad", [""])[0].split(",") if i}
            time.sleep(float(query.get("delay", ["0"])[0]))
            clip = "slow/long.mp4" if query.get("slow") else "clip.mp4"
            return self._send_page(rss_feed(base, count, bad, clip), "application/rss+xml")
        for prefix, mode in (("/slow/", "slow"), ("/crawl/", "crawl"), ("/stall/", "stall")):
            if path.startswith(prefix):
                return self._send_throttled(path[len(prefix):], mode)
        return super().do_GET()

    def _send_page(self, html: str, content_type: str = "text/html") -> None:
        body = html.encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_throttled(self, name: str, mode: str) -> None:
        file = Path(self.directory) / name
        if not file.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        data = file.read_bytes()
        start = 0
        match = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match and int(match[1]) < len(data):
            start = int(match[1])
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.server.transfer_started(self.path)
        try:
            position = start
            while position < len(data):
                self.wfile.write(data[position:position + THROTTLE_CHUNK])
                self.wfile.flush()
                position += THROTTLE_CHUNK
                self.server.sent[self.path] = min(position, len(data))
                if mode == "stall" and position > 4 * THROTTLE_CHUNK:
                    self.server.stalled.wait(600)
                    return
                time.sleep(CRAWL_DELAY if mode == "crawl" else THROTTLE_DELAY)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self.server.transfer_ended(self.path)


class MediaServer(ThreadingHTTPServer):
    """The media folder over HTTP (or HTTPS with `tls`) on host:port; IPv6 hosts listen on IPv6 only."""

    daemon_threads = True

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None):
        handler = lambda *args, **kwargs: MediaHandler(*args, directory=str(folder), **kwargs)  # noqa: E731
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.connections = 0  # TCP connections accepted, whatever was (or was not) sent on them
        super().__init__((host, port), handler)
        self.scheme = "http"
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
            self.scheme = "https"
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.active: set[str] = set()
        self.max_active = 0
        self.transfer_order: list[str] = []
        self.sent: dict[str, int] = {}  # bytes written so far by the throttled sender, per request path
        self.stalled = threading.Event()
        self.feed_items = 2  # what /feed.rss lists without ?items=
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()

    def verify_request(self, request, client_address) -> bool:
        with self.lock:
            self.connections += 1
        return True

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"{self.scheme}://[{host}]:{port}" if ":" in host else f"{self.scheme}://{host}:{port}"

    def handle_error(self, request, client_address) -> None:
        """yt-dlp reads the start of a file to identify it, then hangs up: not an error worth printing."""

    def record(self, path: str) -> None:
        with self.lock:
            self.requests.append(path)

    def transfer_started(self, path: str) -> None:
        with self.lock:
            self.active.add(path)
            self.max_active = max(self.max_active, len(self.active))
            if path not in self.transfer_order:
                self.transfer_order.append(path)

    def transfer_ended(self, path: str) -> None:
        with self.lock:
            self.active.discard(path)

    def reset_counters(self) -> None:
        with self.lock:
            self.requests.clear()
            self.transfer_order.clear()
            self.max_active = len(self.active)

    def close(self) -> None:
        self.stalled.set()
        self.shutdown()
        self.server_close()


class TrapServer:
    """The media folder served on every local address at once (0.0.0.0 and :: on one port: loopback, its
    aliases, and any address of the host or namespace). A download that reaches it was not stopped."""

    def __init__(self, folder: Path):
        self.v4 = MediaServer(folder, "0.0.0.0")
        self.port = self.v4.server_address[1]
        self.v6 = MediaServer(folder, "::", self.port)

    @property
    def connections(self) -> int:
        return self.v4.connections + self.v6.connections

    @property
    def requests(self) -> list[str]:
        return self.v4.requests + self.v6.requests

    def close(self) -> None:
        self.v4.close()
        self.v6.close()


def self_signed_tls(folder: Path) -> ssl.SSLContext:
    """A server TLS context with a throw-away certificate for 127.0.0.1 (made with openssl)."""
    certificate, key = folder / "tls.crt", folder / "tls.key"
    if not certificate.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-keyout", str(key), "-out", str(certificate)], check=True,
                       capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return context


def ffprobe_streams(path: Path) -> list[str]:
    result = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
                             str(path)], capture_output=True, text=True)
    return result.stdout.split() if result.returncode == 0 else []


def is_readable_by_others(path: Path) -> bool:
    return bool(os.stat(path).st_mode & 0o004)
