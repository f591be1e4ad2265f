"""Safe yt-dlp updates on the real stack, from wheels the tests build (no internet): a new version passes its
smoke download and is switched to between downloads; a broken one is refused and the previous one stays."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests
import yt_dlp

from tests.stack import APP_DIR, PYTHON, Stack, wait_for, zygotes_of
from tests.ytdlp_wheels import build_wheel

PINNED = yt_dlp.version.__version__
GOOD, BROKEN, CHANNEL_NEWEST = "2099.1.1", "2099.2.2", "2099.3.3"


@pytest.fixture(scope="module")
def wheels():
    folder = Path(tempfile.mkdtemp(prefix="prt-ytdlp-wheels-"))
    build_wheel(folder / "manual", GOOD)
    build_wheel(folder / "manual", BROKEN, broken=True)
    build_wheel(folder / "channel", CHANNEL_NEWEST)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(wheels):
    with Stack(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels / "manual")) as running:
        yield running
    shutil.rmtree(running.folder, ignore_errors=True)


def update(stack, *arguments: str) -> subprocess.CompletedProcess:
    """What `make update-ytdlp VERSION=...` runs, with the stack's settings."""
    return subprocess.run([str(PYTHON), "-m", "services.runner.ytdlp_update", *arguments], cwd=APP_DIR,
                          env=stack.env, capture_output=True, text=True, timeout=600)


def health_ytdlp(stack) -> dict:
    answer = requests.get(f"{stack.api}/api/health", timeout=10)
    return answer.json().get("ytdlp", {}) if answer.status_code == 200 else {}


def test_a_new_version_is_used_for_new_downloads_while_a_running_one_finishes_on_the_old(stack, media):
    assert wait_for(lambda: health_ytdlp(stack).get("version") == PINNED, message="health with the pinned version")
    running = stack.start_download(f"{media.url}/slow/long.mp4", "--limit-rate 60K")
    wait_for(lambda: stack.download(running)["downloadStatus"] == "DOWNLOADING", message="the long download")

    result = update(stack, "install", GOOD)
    assert result.returncode == 0, result.stderr
    assert "passed the smoke download" in result.stdout
    wait_for(lambda: health_ytdlp(stack).get("version") == GOOD, message="the runner to switch")
    assert any(runtime.startswith("deno ") for runtime in health_ytdlp(stack)["jsRuntimes"])
    assert "problem" not in health_ytdlp(stack)

    fresh = stack.wait_until_final(stack.start_download(f"{media.url}/clip.mp4"))
    assert fresh["downloadStatus"] == "COMPLETED" and fresh["ytdlpVersion"] == GOOD, fresh
    assert stack.download(running)["downloadStatus"] == "DOWNLOADING"  # not disturbed by the switch
    finished = stack.wait_until_final(running, timeout=120)
    assert finished["downloadStatus"] == "COMPLETED" and finished["ytdlpVersion"] == PINNED, finished
    metrics = requests.get(f"{stack.api}/api/metrics", timeout=10).text
    assert f'version="{GOOD}"' in metrics and f'version="{PINNED}"' not in metrics


def test_a_broken_version_fails_its_smoke_download_and_the_previous_one_stays(stack, media):
    wait_for(lambda: health_ytdlp(stack).get("version") == GOOD, message="the version of the previous test")
    environments = sorted((stack.folder / "ytdlp").glob("yt-dlp-*"))

    result = update(stack, "install", BROKEN)
    assert result.returncode == 1
    assert "smoke download failed" in result.stderr and "previous version stays" in result.stderr, result.stderr
    problem = wait_for(lambda: health_ytdlp(stack).get("problem"), message="health to say why")
    assert BROKEN in problem and "broken on purpose" in problem and "smoke download" in problem
    assert health_ytdlp(stack)["version"] == GOOD
    assert sorted((stack.folder / "ytdlp").glob("yt-dlp-*")) == environments  # the broken one is gone
    item = stack.wait_until_final(stack.start_download(f"{media.url}/clip.mp4"))
    assert item["downloadStatus"] == "COMPLETED" and item["ytdlpVersion"] == GOOD, item

    missing = update(stack, "install", "2099.9.9")  # not in the wheel folder
    assert missing.returncode == 1 and "pip could not install" in missing.stderr
    assert health_ytdlp(stack)["version"] == GOOD


def test_back_to_the_pinned_version(stack, media):
    result = update(stack, "pinned")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: health_ytdlp(stack).get("version") == PINNED, message="the pinned version")
    item = stack.wait_until_final(stack.start_download(f"{media.url}/clip.mp4"))
    assert item["downloadStatus"] == "COMPLETED" and item["ytdlpVersion"] == PINNED, item


def test_an_environment_that_no_longer_starts_is_left_for_the_services_own(stack, media):
    assert update(stack, "install", GOOD).returncode == 0
    wait_for(lambda: health_ytdlp(stack).get("version") == GOOD, message="the runner to switch")
    selected = json.loads((stack.folder / "ytdlp" / "selected.json").read_text())
    package = next(Path(selected["python"]).parent.parent.glob("lib/python*/site-packages/yt_dlp"))
    (package / "__init__.py").write_text('raise SystemExit("damaged after its smoke test")\n')
    zygote = zygotes_of(stack.pid("runner"))[0]
    os.kill(zygote, signal.SIGKILL)  # its successor must import the damaged package

    problem = wait_for(lambda: health_ytdlp(stack).get("version") == PINNED and health_ytdlp(stack).get("problem"),
                       timeout=60, message="the runner to fall back")
    assert "did not start" in problem, problem
    item = stack.wait_until_final(stack.start_download(f"{media.url}/clip.mp4"))
    assert item["downloadStatus"] == "COMPLETED" and item["ytdlpVersion"] == PINNED, item
    assert update(stack, "pinned").returncode == 0


def test_the_stable_channel_installs_the_newest_release_by_itself(wheels, media):
    with Stack(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels / "channel"),
               PRT_VIDEODOWNLOADER_YTDLPUPDATECHANNEL="stable") as channel_stack:
        try:
            wait_for(lambda: health_ytdlp(channel_stack).get("version") == CHANNEL_NEWEST, timeout=180,
                     message="the channel's newest version")
            item = channel_stack.wait_until_final(channel_stack.start_download(f"{media.url}/clip.mp4"))
            assert item["ytdlpVersion"] == CHANNEL_NEWEST, item
        finally:
            channel_stack.stop()
            shutil.rmtree(channel_stack.folder, ignore_errors=True)
