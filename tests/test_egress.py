"""The address guard with DEFAULT settings: no download reaches a non-global address, ffmpeg included.

The stack scenarios run in a network namespace the test makes (tests/egress_scenarios.py): the site is on
11.0.0.1, an address that exists only there; a trap serves the same media on every other local address and
must see no connection at all. The ffmpeg tests run ffmpeg as a download does (the service's proxy and
command checks) against loopback servers, with 127.0.0.2 blocked and 127.0.0.1 allowed.
"""
from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import sys

import pytest

from common.network import BLOCKED_ADDRESS, EgressGuard, blocked_reason
from services.runner.egress_proxy import GuardedProxy, isolated_listener
from services.runner.ffmpeg_guard import checked_command, in_namespace, proxied_environment
from tests.media import MediaServer, ffprobe_streams, self_signed_tls
from tests.stack import APP_DIR, PYTHON

ATTACKS = ("0.0.0.0", "0", "[::]", "[::ffff:0.0.0.0]", "127.0.0.1", "127.0.0.2", "localhost", "[::1]",
           "[::ffff:127.0.0.1]", "2130706433", "[64:ff9b::7f00:1]", "100.100.100.200", "[fd00:ec2::254]",
           "10.0.0.1", "192.168.1.1")
NAMES = ("v6-loopback.test", "v6-unspecified.test", "v6-mapped-zero.test", "v6-mapped-loopback.test",
         "nat64-loopback.test")  # names of ::1, ::, ::ffff:0.0.0.0, ::ffff:127.0.0.1, 64:ff9b::7f00:1
ATTACKS += NAMES
REDIRECTS = ("0.0.0.0", "0", "[::]", "[::ffff:0.0.0.0]", "127.0.0.2", "localhost", "[::1]", "[::ffff:127.0.0.1]",
             "[64:ff9b::7f00:1]", *NAMES)
HLS_CASES = ("plain-segments-blocked", "plain-segments-redirected", "aes-key-blocked", "aes-segments-blocked",
             "ffmpeg-segments-blocked", "ffmpeg-segments-redirected", "live-segments-blocked")


@pytest.fixture(scope="module")
def scenarios(media_folder) -> dict:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.fail("these tests need unshare (util-linux) and ip (iproute2)")
    result = subprocess.run(["unshare", "-n", "-m", str(PYTHON), "-m", "tests.egress_scenarios"], cwd=APP_DIR,
                            capture_output=True, text=True, timeout=900)
    sys.stderr.write(result.stderr[-20000:])
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_default_settings_download_from_a_global_address(scenarios):
    """Also the ffmpeg path: a SAMPLE-AES playlist (which yt-dlp hands to ffmpeg) through the proxy."""
    for name in ("global address: direct file", "global address: AES-128 HLS", "global address: DASH",
                 "global address: HLS through ffmpeg"):
        assert scenarios[name]["downloadStatus"] == "COMPLETED", scenarios[name]
        assert scenarios[name]["trap"] == 0


@pytest.mark.parametrize("host", ATTACKS)
def test_default_settings_refuse_local_and_internal_hosts_at_the_api(scenarios, host):
    result = scenarios[f"direct {host}"]
    assert result["status"] == 418 and result["body"]["errorCode"] == "invalidVideoURL", result
    assert result["body"]["errorMessage"].startswith(BLOCKED_ADDRESS), result
    assert result["trap"] == 0


@pytest.mark.parametrize("host", REDIRECTS)
def test_redirects_to_local_hosts_fail_as_blocked_and_reach_nothing(scenarios, host):
    result = scenarios[f"redirect to {host}"]
    assert result["downloadStatus"] == "FAILED", result
    if not host.startswith("["):  # yt-dlp cannot parse an IPv6 literal Location (NAMES cover those addresses)
        assert result["errorCode"] == "blockedAddress" and result["errorDetail"].startswith(BLOCKED_ADDRESS), result
    assert result["trap"] == 0, result


@pytest.mark.parametrize("case", HLS_CASES)
def test_hls_keys_and_segments_on_blocked_addresses_are_never_fetched(scenarios, case):
    """Native HLS (plain, AES-128 key or segments blocked, redirected segments) and the playlists yt-dlp
    hands to ffmpeg (SAMPLE-AES, live): FAILED as blocked, and not one connection reaches the trap."""
    result = scenarios[f"HLS {case}"]
    assert result["downloadStatus"] == "FAILED", result
    assert result["errorCode"] == "blockedAddress" and result["errorDetail"].startswith(BLOCKED_ADDRESS), result
    assert result["trap"] == 0, result


def test_dash_segments_on_a_blocked_address_are_never_fetched(scenarios):
    result = scenarios["DASH dash-segments-blocked"]
    assert result["downloadStatus"] == "FAILED", result
    assert result["errorCode"] == "blockedAddress" and result["errorDetail"].startswith(BLOCKED_ADDRESS), result
    assert result["trap"] == 0, result


@pytest.fixture
def loopback_pair(media_folder, tmp_path):
    """The media over HTTP and HTTPS on 127.0.0.1 (allowed) and 127.0.0.2 (blocked)."""
    tls = self_signed_tls(tmp_path)
    servers = {(host, scheme): MediaServer(media_folder, host, tls=tls if scheme == "https" else None)
               for host in ("127.0.0.1", "127.0.0.2") for scheme in ("http", "https")}
    yield servers
    for server in servers.values():
        server.close()


def run_ffmpeg_as_a_download(url: str, tmp_path, guard: EgressGuard, input_options=(),
                             isolated: bool = True) -> subprocess.CompletedProcess:
    """ffmpeg started the way a yt-dlp process of the service starts it (isolated=False: without the
    network namespace, as where the process may not create one)."""
    listener, namespace = isolated_listener() if isolated else (None, None)
    assert listener or not isolated, "the tests run as root: a network namespace can be made"
    proxy = GuardedProxy(guard, listener)
    output = tmp_path / "out.mp4"
    options: dict = {}
    command = in_namespace(checked_command(["ffmpeg", "-y", "-loglevel", "error", *input_options, "-i", url,
                                            "-c", "copy", f"file:{output}"], guard, tmp_path), options, namespace)
    return subprocess.run(command, env=proxied_environment(None, proxy.url), capture_output=True, text=True,
                          timeout=60, **options)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_ffmpeg_goes_through_the_guarded_proxy(loopback_pair, tmp_path, scheme):
    guard = EgressGuard([ipaddress.ip_network("127.0.0.2/32")])
    blocked = loopback_pair[("127.0.0.2", scheme)]
    result = run_ffmpeg_as_a_download(f"{blocked.url}/hls/index.m3u8", tmp_path, guard)
    assert result.returncode != 0 and "403" in result.stderr, result.stderr
    assert blocked.connections == 0
    assert guard.refusals and guard.refusals[0].startswith(BLOCKED_ADDRESS)

    allowed = loopback_pair[("127.0.0.1", scheme)]
    guard.refusals.clear()
    result = run_ffmpeg_as_a_download(f"{allowed.url}/hls/index.m3u8", tmp_path, guard)
    assert result.returncode == 0, result.stderr
    assert "video" in ffprobe_streams(tmp_path / "out.mp4") and allowed.connections > 0
    assert guard.refusals == []


def test_ffmpeg_told_to_bypass_the_proxy_still_reaches_nothing(loopback_pair, tmp_path):
    """`-http_proxy ''` makes ffmpeg connect directly: without the network namespace it reaches the blocked
    server (the hole the namespace closes); started as a download starts it, it reaches nothing."""
    guard = EgressGuard([ipaddress.ip_network("127.0.0.2/32")])
    blocked = loopback_pair[("127.0.0.2", "http")]
    url = f"{blocked.url}/clip.mp4"
    run_ffmpeg_as_a_download(url, tmp_path, guard, ["-http_proxy", ""], isolated=False)
    assert blocked.connections > 0
    before = blocked.connections
    result = run_ffmpeg_as_a_download(url, tmp_path, guard, ["-http_proxy", ""])
    assert result.returncode != 0
    assert blocked.connections == before


@pytest.mark.parametrize("url", ["rtmp://127.0.0.1:1935/live/x", "rtsp://127.0.0.1/x", "tcp://127.0.0.1:80",
                                 "udp://127.0.0.1:5000", "ftp://127.0.0.1/x.mp4", "file:/etc/passwd",
                                 "/etc/passwd", "concat:/etc/passwd", "pipe:0"])
def test_ffmpeg_may_open_only_http_and_its_own_files(url, tmp_path):
    guard = EgressGuard(["nonglobal"])
    with pytest.raises(PermissionError):
        checked_command(["ffmpeg", "-i", url, "-c", "copy", f"file:{tmp_path}/out.mp4"], guard, tmp_path)


def test_ffmpeg_refuses_demuxers_that_open_other_urls(media_folder, tmp_path):
    """An ffconcat list served over HTTP would make ffmpeg open the URLs it names: not on the whitelist."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "list.txt").write_text("ffconcat version 1.0\nfile clip.mp4\n")
    (site / "clip.mp4").symlink_to(media_folder / "clip.mp4")
    server = MediaServer(site)
    try:
        result = run_ffmpeg_as_a_download(f"{server.url}/list.txt", tmp_path, EgressGuard([]))
    finally:
        server.close()
    assert result.returncode != 0 and "not on whitelist" in result.stderr, result.stderr
    assert server.requests == ["/list.txt"]


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "::ffff:0.0.0.0", "127.0.0.53", "10.1.2.3", "172.16.0.1",
                                     "192.168.0.1", "100.100.100.200", "169.254.169.254", "fd00:ec2::254",
                                     "fe80::1", "::1", "224.0.0.1", "ff02::1", "240.0.0.1", "255.255.255.255",
                                     "64:ff9b::a9fe:a9fe", "64:ff9b:1::808:808", "2002:7f00:1::",
                                     "2001:0:4136:e378:8000:63bf:80ff:fffe", "::ffff:10.0.0.1", "fec0::1"])
def test_nonglobal_blocks_every_address_that_is_not_globally_routable(address):
    assert blocked_reason(address, ["nonglobal"])


@pytest.mark.parametrize("address", ["8.8.8.8", "11.0.0.1", "2606:4700::1111", "::ffff:8.8.8.8",
                                     "64:ff9b::808:808", "2002:808:808::"])
def test_nonglobal_allows_global_addresses_and_their_ipv6_forms(address):
    assert blocked_reason(address, ["nonglobal"]) is None
