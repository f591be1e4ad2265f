"""Address-guard scenarios against a stack with DEFAULT settings, run inside a network namespace.

Run by tests/test_egress.py as `unshare -n -m python -m tests.egress_scenarios`: the namespace has only its
own loopback, on which this script puts 11.0.0.1 (a globally routable address that exists only in the
namespace, so the default settings allow it), and its own /etc/hosts naming IPv6 forms of local addresses.
The "site" is served there; a TrapServer serves the same media on every other local address (0.0.0.0 and
:: on one port). Each scenario asks the stack for a
download and records what the user sees and how many connections reached the trap. Prints one JSON object
{scenario: result} on stdout.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import MEDIA_CACHE
from tests.media import MediaServer, TrapServer, generate_media
from tests.stack import Stack

SITE_ADDRESS = "11.0.0.1"


def attack_hosts(port: int) -> dict[str, str]:
    """Base URLs that reach the trap (or would reach a local or internal service) unless refused."""
    return {
        "0.0.0.0": f"http://0.0.0.0:{port}", "0": f"http://0:{port}", "[::]": f"http://[::]:{port}",
        "[::ffff:0.0.0.0]": f"http://[::ffff:0.0.0.0]:{port}", "127.0.0.1": f"http://127.0.0.1:{port}",
        "127.0.0.2": f"http://127.0.0.2:{port}", "localhost": f"http://localhost:{port}",
        "[::1]": f"http://[::1]:{port}", "[::ffff:127.0.0.1]": f"http://[::ffff:127.0.0.1]:{port}",
        "2130706433": f"http://2130706433:{port}", "[64:ff9b::7f00:1]": f"http://[64:ff9b::7f00:1]:{port}",
        "100.100.100.200": f"http://100.100.100.200:{port}", "[fd00:ec2::254]": f"http://[fd00:ec2::254]:{port}",
        "10.0.0.1": f"http://10.0.0.1:{port}", "192.168.1.1": f"http://192.168.1.1:{port}",
        **{name: f"http://{name}:{port}" for name in NAMES},
    }


NAMES = {  # host names for the IPv6 forms: yt-dlp cannot follow a redirect to a bracketed IPv6 literal
    "v6-loopback.test": "::1", "v6-unspecified.test": "::", "v6-mapped-zero.test": "::ffff:0.0.0.0",
    "v6-mapped-loopback.test": "::ffff:127.0.0.1", "nat64-loopback.test": "64:ff9b::7f00:1",
}


def make_namespace_addresses(folder: Path) -> None:
    """The site's address on the namespace's loopback, and NAMES in an /etc/hosts seen only in this
    (mount) namespace."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{SITE_ADDRESS}/32", "dev", "lo"], check=True)
    hosts = folder / "hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + "".join(f"{ip} {name}\n" for name, ip in NAMES.items()))
    subprocess.run(["mount", "--bind", str(hosts), "/etc/hosts"], check=True)


def write_playlist(site: Path, name: str, source: Path, segment_base: str, key_url: str | None = None,
                   method: str | None = None, live: bool = False) -> None:
    """A copy of the HLS playlist `source` whose segments (and key) are absolute URLs on other hosts."""
    lines = []
    for line in source.read_text().splitlines():
        if line.startswith("#EXT-X-KEY") and key_url:
            line = line.replace('URI="key.bin"', f'URI="{key_url}"')
        if line.startswith("#EXT-X-KEY") and method:
            line = line.replace("METHOD=AES-128", f"METHOD={method}")
        if live and (line.startswith("#EXT-X-PLAYLIST-TYPE") or line == "#EXT-X-ENDLIST"):
            continue
        if live and line.startswith("#EXT-X-MEDIA-SEQUENCE"):
            line = "#EXT-X-MEDIA-SEQUENCE:7"
        if line and not line.startswith("#"):
            line = f"{segment_base}/{line}"
        lines.append(line)
    (site / name).write_text("\n".join(lines) + "\n")


def main() -> None:
    media = generate_media(MEDIA_CACHE)
    site = Path(tempfile.mkdtemp(prefix="prt-egress-site-"))
    make_namespace_addresses(site)
    for item in media.iterdir():
        (site / item.name).symlink_to(item)
    server = MediaServer(site, SITE_ADDRESS)
    trap = TrapServer(site)
    attacks = attack_hosts(trap.port)
    plain, encrypted = media / "hls" / "index.m3u8", media / "hls-aes" / "index.m3u8"
    blocked = attacks["127.0.0.2"]
    write_playlist(site, "plain-segments-blocked.m3u8", plain, f"{blocked}/hls")
    write_playlist(site, "plain-segments-redirected.m3u8", plain, f"{server.url}/redirect?to={blocked}/hls")
    write_playlist(site, "aes-key-blocked.m3u8", encrypted, f"{server.url}/hls-aes",
                   key_url=f"{blocked}/hls-aes/key.bin")
    write_playlist(site, "aes-segments-blocked.m3u8", encrypted, f"{attacks['[::]']}/hls-aes",
                   key_url=f"{server.url}/hls-aes/key.bin")
    write_playlist(site, "aes-allowed.m3u8", encrypted, f"{server.url}/hls-aes",
                   key_url=f"{server.url}/hls-aes/key.bin")
    # SAMPLE-AES is not a method yt-dlp decrypts: it hands the whole playlist to ffmpeg
    write_playlist(site, "ffmpeg-segments-blocked.m3u8", encrypted, f"{attacks['0.0.0.0']}/hls-aes",
                   key_url=f"{attacks['0.0.0.0']}/hls-aes/key.bin", method="SAMPLE-AES")
    write_playlist(site, "ffmpeg-segments-redirected.m3u8", encrypted,
                   f"{server.url}/redirect?to={attacks['[::1]']}/hls-aes",
                   key_url=f"{server.url}/redirect?to={attacks['[::1]']}/hls-aes/key.bin", method="SAMPLE-AES")
    write_playlist(site, "ffmpeg-allowed.m3u8", encrypted, f"{server.url}/hls",  # clear segments: -c copy works
                   key_url=f"{server.url}/hls-aes/key.bin", method="SAMPLE-AES")
    write_playlist(site, "live-segments-blocked.m3u8", plain, f"{attacks['[::ffff:127.0.0.1]']}/hls", live=True)
    for name, base in (("dash-allowed", f"{server.url}/dash/"), ("dash-segments-blocked", f"{attacks['0']}/dash/")):
        manifest = (media / "dash" / "manifest.mpd").read_text()
        (site / f"{name}.mpd").write_text(manifest.replace("<Period ", f"<BaseURL>{base}</BaseURL><Period ", 1))
    results: dict[str, dict] = {}

    def record(name: str, stack: Stack, url: str) -> None:
        before = trap.connections
        response = stack.initiate(url)
        result = {"url": url, "status": response.status_code, "body": response.json()}
        if response.status_code == 200:
            try:
                item = stack.wait_until_final(response.json()["downloadUUID"], timeout=90)
                result.update(downloadStatus=item["downloadStatus"], errorMessage=item.get("errorMessage"),
                              errorCode=item.get("errorCode"), errorDetail=item.get("errorDetail"))
            except AssertionError as error:  # still running: the test says so instead of stopping here
                result.update(downloadStatus="NOT FINISHED", errorMessage=str(error))
        result["trap"] = trap.connections - before
        results[name] = result
        print(f"{name}: {result}", file=sys.stderr, flush=True)

    try:
        with Stack(PRT_VIDEODOWNLOADER_BLOCKEDURLNETWORKS=None) as stack:
            record("global address: direct file", stack, f"{server.url}/clip.mp4")
            record("global address: AES-128 HLS", stack, f"{server.url}/aes-allowed.m3u8")
            record("global address: DASH", stack, f"{server.url}/dash-allowed.mpd")
            record("global address: HLS through ffmpeg", stack, f"{server.url}/ffmpeg-allowed.m3u8")
            for name, base in attacks.items():
                record(f"direct {name}", stack, f"{base}/clip.mp4")
            for name in ("0.0.0.0", "0", "[::]", "[::ffff:0.0.0.0]", "127.0.0.2", "localhost", "[::1]",
                         "[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]", *NAMES):
                record(f"redirect to {name}", stack, f"{server.url}/redirect?to={attacks[name]}/clip.mp4")
            for playlist in ("plain-segments-blocked", "plain-segments-redirected", "aes-key-blocked",
                             "aes-segments-blocked", "ffmpeg-segments-blocked", "ffmpeg-segments-redirected",
                             "live-segments-blocked"):
                record(f"HLS {playlist}", stack, f"{server.url}/{playlist}.m3u8")
            record("DASH dash-segments-blocked", stack, f"{server.url}/dash-segments-blocked.mpd")
            results["stack log"] = {"blocked lines": [line for line in stack.logs().splitlines()
                                                      if "blocked address" in line][-5:]}
        shutil.rmtree(stack.folder, ignore_errors=True)
    finally:
        server.close()
        trap.close()
        shutil.rmtree(site, ignore_errors=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
