"""Cookie profiles and what /api/health, /api/metrics and listDownloads say about the runner's yt-dlp, on the
real stack: a loopback page that answers 403 without a cookie is downloaded with a profile, not without."""
from __future__ import annotations

import json
import shutil
import stat
import time

import pytest
import requests
import yt_dlp

from tests.media import REQUIRED_COOKIE
from tests.stack import Stack, wait_for

COOKIE_NAME, COOKIE_VALUE = REQUIRED_COOKIE.split("=", 1)
EXPIRY = int(time.time()) + 30 * 24 * 3600


@pytest.fixture(scope="module")
def stack():
    """One download at a time: a download queued behind another one has not started yet."""
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="1") as running:
        yield running
    shutil.rmtree(running.folder, ignore_errors=True)


def cookies_txt(value: str = COOKIE_VALUE, expiry: int = EXPIRY) -> str:
    return ("# Netscape HTTP Cookie File\n"
            f"127.0.0.1\tFALSE\t/\tFALSE\t{expiry}\t{COOKIE_NAME}\t{value}\n"
            f".example.org\tTRUE\t/\tTRUE\t{expiry + 3600}\tother\tvalue-two\n")


def post(stack, operation: str, body) -> requests.Response:
    return requests.post(f"{stack.api}/api/{operation}", json=body, timeout=30)


def profiles(stack) -> list[dict]:
    response = requests.get(f"{stack.api}/api/listCookieProfiles", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["cookieProfiles"]


def initiate(stack, url: str, profile: str | None = None) -> requests.Response:
    body = {"videoURL": url}
    if profile is not None:
        body["cookieProfile"] = profile
    return post(stack, "initiateDownload", body)


def test_health_and_metrics_report_the_runners_ytdlp_and_its_js_runtime(stack):
    health = wait_for(lambda: (answer := requests.get(f"{stack.api}/api/health", timeout=10)).status_code == 200
                      and "ytdlp" in answer.json() and answer.json(), message="health with the yt-dlp version")
    assert health["ytdlp"]["version"] == yt_dlp.version.__version__
    assert any(runtime.startswith("deno ") for runtime in health["ytdlp"]["jsRuntimes"]), health
    metrics = requests.get(f"{stack.api}/api/metrics", timeout=10).text
    assert f'prt_ytdlp_info{{js_runtimes="{health["ytdlp"]["jsRuntimes"][0]}",version="{yt_dlp.version.__version__}"}} 1.0' \
        in metrics, [line for line in metrics.splitlines() if "ytdlp_info" in line]


def test_a_profile_is_stored_private_listed_without_values_and_replaced_whole(stack):
    response = post(stack, "putCookieProfile", {"name": "site-a", "cookiesTxt": cookies_txt()})
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["name"] == "site-a" and summary["cookieCount"] == 2
    assert summary["domains"] == [".example.org", "127.0.0.1"]
    assert summary["earliestExpiry"].startswith(time.strftime("%Y-%m-%d", time.gmtime(EXPIRY)))
    stored = stack.folder / "cookies" / "site-a.txt"
    assert stored.read_text() == cookies_txt()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert [p["name"] for p in profiles(stack)] == ["site-a"]
    assert COOKIE_VALUE not in json.dumps(profiles(stack)) and "value-two" not in json.dumps(profiles(stack))

    replaced = post(stack, "putCookieProfile", {"name": "site-a", "cookiesTxt": cookies_txt("new-value")})
    assert replaced.status_code == 200 and stored.read_text() == cookies_txt("new-value")
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert sorted(p.name for p in stored.parent.iterdir() if p.is_file()) == ["site-a.txt"]  # no temporary left
    assert post(stack, "deleteCookieProfile", {"name": "site-a"}).json() == {"name": "site-a", "deleted": True}
    assert profiles(stack) == [] and not stored.exists()
    gone = post(stack, "deleteCookieProfile", {"name": "site-a"})
    assert gone.status_code == 418 and gone.json()["errorCode"] == "cookieProfileNotFound"


def test_bad_files_and_bad_names_are_refused_and_change_nothing(stack):
    assert post(stack, "putCookieProfile", {"name": "keep", "cookiesTxt": cookies_txt()}).status_code == 200
    before = {p.name: p.read_bytes() for p in (stack.folder / "cookies").iterdir() if p.is_file()}
    for bad in ("", "not a cookies file", f"{COOKIE_NAME}={COOKIE_VALUE}",
                "# Netscape HTTP Cookie File\n",  # no cookie at all
                f"# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\tsoon\t{COOKIE_NAME}\t{COOKIE_VALUE}\n"):
        for name in ("keep", "other"):
            response = post(stack, "putCookieProfile", {"name": name, "cookiesTxt": bad})
            assert response.status_code == 418 and response.json()["errorCode"] == "invalidCookies", (bad, response.text)
            assert COOKIE_VALUE not in response.text
    for name in ("", "../keep", "a/b", ".in-use", "keep.txt", "x" * 65, "-dash", "é", "keep\n"):
        response = post(stack, "putCookieProfile", {"name": name, "cookiesTxt": cookies_txt()})
        assert response.status_code == 418, (name, response.text)
        assert response.json()["errorCode"] in ("invalidCookieProfileName", "invalidParameters"), response.text
        response = post(stack, "deleteCookieProfile", {"name": name})
        assert response.status_code == 418 and response.json()["errorCode"] == "invalidCookieProfileName", name
    after = {p.name: p.read_bytes() for p in (stack.folder / "cookies").iterdir() if p.is_file()}
    assert after == before
    post(stack, "deleteCookieProfile", {"name": "keep"})


def test_a_download_with_the_profile_completes_without_it_fails_and_the_profile_stays_as_uploaded(stack, media):
    assert post(stack, "putCookieProfile", {"name": "members", "cookiesTxt": cookies_txt()}).status_code == 200
    stored = stack.folder / "cookies" / "members.txt"
    uploaded = stored.read_bytes()
    url = f"{media.url}/members/clip.mp4"

    signed_in = initiate(stack, url, "members").json()["downloadUUID"]
    anonymous = initiate(stack, url).json()["downloadUUID"]
    item = stack.wait_until_final(signed_in)
    assert item["downloadStatus"] == "COMPLETED", item
    assert item["cookieProfile"] == "members" and item["ytdlpVersion"] == yt_dlp.version.__version__
    failed = stack.wait_until_final(anonymous)
    assert failed["downloadStatus"] == "FAILED" and "403" in failed["errorMessage"], failed
    assert "cookieProfile" not in failed

    assert stored.read_bytes() == uploaded and stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert list((stack.folder / "cookies" / ".in-use").glob("*")) == []  # the per-download copy is gone

    unknown = initiate(stack, url, "nobody")
    assert unknown.status_code == 418 and unknown.json()["errorCode"] == "cookieProfileNotFound"
    assert all(item.get("cookieProfile") != "nobody" for item in stack.downloads(overLastPeriodDurationInMinutes=60))

    listing = requests.get(f"{stack.api}/api/listDownloads", timeout=30).text
    assert COOKIE_VALUE not in listing and "value-two" not in listing
    assert COOKIE_VALUE not in stack.logs() and "value-two" not in stack.logs()
    post(stack, "deleteCookieProfile", {"name": "members"})


def test_a_download_whose_profile_was_deleted_before_it_ran_fails_and_says_why(stack, media):
    assert post(stack, "putCookieProfile", {"name": "short-lived", "cookiesTxt": cookies_txt()}).status_code == 200
    # a slow download holds the only slot: the next ones are still queued when their profile goes
    blocker = stack.start_download(f"{media.url}/crawl/long.mp4")
    wait_for(lambda: stack.download(blocker)["downloadStatus"] == "DOWNLOADING", message="the blocker to start")
    queued = [initiate(stack, f"{media.url}/members/clip.mp4", "short-lived").json()["downloadUUID"]
              for _ in range(2)]
    assert post(stack, "deleteCookieProfile", {"name": "short-lived"}).status_code == 200
    requests.post(f"{stack.api}/api/cancelDownload", json={"videoDownloadUUID": blocker}, timeout=30)
    for uuid in queued:
        item = stack.wait_until_final(uuid)
        assert item["downloadStatus"] == "FAILED", item
        assert item["errorCode"] == "cookieProfileMissing" and item["retryable"] is True, item
        assert "was deleted after the download was queued" in item["errorDetail"], item
    assert list((stack.folder / "cookies" / ".in-use").glob("*")) == []
