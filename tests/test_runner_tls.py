"""HTTPS downloads in the yt-dlp processes forked from the zygote, which hand out the SSL context the zygote
built before the forks (services.runner.warm_ytdlp): certificates are still checked in every download, and the
address guard still refuses a blocked host reached over TLS (127.0.0.2 is blocked here, 127.0.0.1 allowed)."""
from __future__ import annotations

import shutil

import pytest

from common.network import BLOCKED_ADDRESS
from tests.media import MediaServer, self_signed_tls
from tests.stack import Stack


@pytest.fixture(scope="module")
def guarded_stack():
    with Stack(PRT_VIDEODOWNLOADER_BLOCKEDURLNETWORKS="169.254.0.0/16,fe80::/10,127.0.0.2/32") as running:
        yield running
    shutil.rmtree(running.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_servers(media_folder, tmp_path_factory):
    tls = self_signed_tls(tmp_path_factory.mktemp("tls"))
    servers = {host: MediaServer(media_folder, host, tls=tls) for host in ("127.0.0.1", "127.0.0.2")}
    yield servers
    for server in servers.values():
        server.close()


def test_an_untrusted_certificate_fails_every_download(guarded_stack, tls_servers):
    allowed = tls_servers["127.0.0.1"]
    for attempt in range(2):  # two processes forked from the same zygote: the second checks as the first
        before = allowed.connections
        item = guarded_stack.wait_until_final(guarded_stack.start_download(f"{allowed.url}/clip.mp4?n={attempt}"))
        assert item["downloadStatus"] == "FAILED", item
        assert item["errorCode"] == "networkError", item
        assert "certificate verify failed" in (item["errorDetail"] or item["errorMessage"]).lower(), item
        assert allowed.connections > before  # it reached the server and refused its certificate


def test_a_redirect_to_a_blocked_https_host_is_refused_before_connecting(guarded_stack, tls_servers, media):
    blocked = tls_servers["127.0.0.2"]
    uuid = guarded_stack.start_download(f"{media.url}/redirect?to={blocked.url}/clip.mp4")
    item = guarded_stack.wait_until_final(uuid)
    assert item["downloadStatus"] == "FAILED", item
    assert item["errorCode"] == "blockedAddress" and item["errorDetail"].startswith(BLOCKED_ADDRESS), item
    assert blocked.connections == 0
