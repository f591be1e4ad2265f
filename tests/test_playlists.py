"""Playlists (issue 19) on the real stack: yt-dlp's flat extraction lists what its generic extractor reads as a
playlist (an RSS feed, a page with several <video> elements) served by the tests' loopback media server."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid as uuidlib
from pathlib import Path

import requests

from tests.stack import Stack, wait_for, ytdlp_process_of

FINAL = ("COMPLETED", "FAILED", "CANCELLED")


def start_playlist(stack: Stack, url: str, max_items: int | None) -> str:
    body = {"videoURL": url} if max_items is None else {"videoURL": url, "playlistMaxItems": max_items}
    response = requests.post(f"{stack.api}/api/initiateDownload", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["downloadUUID"]


def children(stack: Stack, parent: str) -> list[dict]:
    items = stack.downloads(overLastPeriodDurationInMinutes=100000)
    return sorted((item for item in items if item.get("parentDownloadUUID") == parent),
                  key=lambda item: item["videoURL"])


def final(stack: Stack, uuid: str, timeout: float = 90) -> dict:
    return wait_for(lambda: (item := stack.download(uuid)) and item["downloadStatus"] in FINAL and item,
                    timeout=timeout, interval=0.2, message=f"download {uuid} to finish")


def post(stack: Stack, operation: str, uuid: str) -> requests.Response:
    return requests.post(f"{stack.api}/api/{operation}", json={"videoDownloadUUID": uuid}, timeout=30)


def test_an_rss_feed_with_a_limit_becomes_a_parent_and_that_many_children(stack, media):
    parent = start_playlist(stack, f"{media.url}/feed.rss?items=3&case=limit", 2)
    item = final(stack, parent)
    assert item["downloadStatus"] == "COMPLETED", item
    assert (item["downloadKind"], item["videoTitle"], item["playlistMaxItems"]) == ("PLAYLIST", "Test feed", 2)
    assert (item["childrenTotal"], item["childrenCompleted"], item["childrenFailed"]) == (2, 2, 0)
    entries = children(stack, parent)
    assert [entry["videoURL"] for entry in entries] == [f"{media.url}/clip.mp4?entry=1",
                                                        f"{media.url}/clip.mp4?entry=2"]
    for entry in entries:
        assert entry["downloadKind"] == "VIDEO" and entry["downloadStatus"] == "COMPLETED", entry
        assert (stack.data / entry["fileName"]).is_file()
        assert stack.public_url(entry["downloadUUID"]).status_code == 200
    assert stack.public_url(parent).json()["errorCode"] == "downloadIsPlaylist"  # no file of its own


def test_a_page_with_several_videos_is_a_playlist(stack, media):
    parent = start_playlist(stack, f"{media.url}/videos.html?n=3", 10)
    item = final(stack, parent)
    assert item["downloadStatus"] == "COMPLETED", item
    assert (item["videoTitle"], item["childrenTotal"]) == ("Several videos", 3)
    assert [entry["downloadStatus"] for entry in children(stack, parent)] == ["COMPLETED"] * 3


def test_list_downloads_filters_a_playlists_entries_and_the_top_level(stack, media):
    parent = start_playlist(stack, f"{media.url}/videos.html?n=2&case=filter", 5)
    single = start_playlist(stack, f"{media.url}/clip.mp4?case=filter-single", None)
    final(stack, parent), final(stack, single)
    entries = stack.downloads(overLastPeriodDurationInMinutes=100000, parentDownloadUUID=parent)
    assert sorted(entry["downloadUUID"] for entry in entries) == \
        sorted(entry["downloadUUID"] for entry in children(stack, parent)) and len(entries) == 2
    top = stack.downloads(overLastPeriodDurationInMinutes=100000, topLevelOnly="true")
    assert {parent, single} <= {item["downloadUUID"] for item in top}
    assert all(item.get("parentDownloadUUID") is None for item in top)
    assert stack.downloads(overLastPeriodDurationInMinutes=100000, parentDownloadUUID=single) == []
    too_long = requests.get(f"{stack.api}/api/listDownloads", params={"parentDownloadUUID": "x" * 65}, timeout=30)
    assert too_long.status_code == 418 and too_long.json()["errorCode"] == "invalidParameters"


def test_a_url_that_is_not_a_playlist_is_downloaded_as_one_video(stack, media):
    uuid = start_playlist(stack, f"{media.url}/clip.mp4?case=single", 5)
    item = final(stack, uuid)
    assert item["downloadStatus"] == "COMPLETED" and item["downloadKind"] == "VIDEO", item
    assert (stack.data / item["fileName"]).is_file() and "childrenTotal" not in item
    assert children(stack, uuid) == []


def test_without_a_limit_a_feed_is_not_expanded(stack, media):
    uuid = start_playlist(stack, f"{media.url}/feed.rss?items=2&case=nolimit", None)
    item = final(stack, uuid)
    assert item["downloadKind"] == "VIDEO" and children(stack, uuid) == [], item


def test_a_bad_entry_fails_the_parent_with_counts_and_retry_and_delete_act_on_children(stack, media):
    parent = start_playlist(stack, f"{media.url}/feed.rss?items=3&bad=2", 3)
    item = final(stack, parent)
    assert item["downloadStatus"] == "FAILED", item
    assert (item["childrenTotal"], item["childrenCompleted"], item["childrenFailed"]) == (3, 2, 1)
    assert item["errorCode"] == "playlistIncomplete" and item["retryable"] is True
    bad = [entry for entry in children(stack, parent) if entry["downloadStatus"] == "FAILED"]
    assert len(bad) == 1 and bad[0]["errorCode"] == "videoNotFound"
    retried = post(stack, "retryDownload", parent)
    assert retried.status_code == 200 and retried.json()["downloadStatus"] == "DOWNLOADING", retried.text
    wait_for(lambda: stack.download(bad[0]["downloadUUID"])["attempts"] == 2, timeout=60,
             message="the failed entry to run again")
    item = final(stack, parent)
    assert (item["downloadStatus"], item["childrenFailed"]) == ("FAILED", 1)
    files = [stack.data / entry["fileName"] for entry in children(stack, parent) if entry.get("fileName")]
    assert len(files) == 2 and all(path.is_file() for path in files)
    assert post(stack, "deleteDownload", parent).status_code == 200
    assert stack.download(parent) is None and children(stack, parent) == []
    wait_for(lambda: not any(path.exists() for path in files), timeout=30, message="the children's files to go")


def test_a_playlist_that_cannot_be_listed_fails_with_an_error_class(stack, media):
    uuid = start_playlist(stack, f"{media.url}/status/404/feed.rss", 2)
    item = final(stack, uuid)
    assert item["downloadStatus"] == "FAILED" and item["errorCode"] == "videoNotFound", item
    assert children(stack, uuid) == []


def test_cancel_of_a_playlist_cancels_its_children_and_stops_their_yt_dlp(stack, media):
    parent = start_playlist(stack, f"{media.url}/feed.rss?items=3&slow=1&case=cancel", 3)
    running = wait_for(lambda: [entry for entry in children(stack, parent) if entry["downloadStatus"] == "DOWNLOADING"
                                and (entry.get("progress") or 0) > 1], timeout=60, message="an entry running")
    response = post(stack, "cancelDownload", parent)
    assert response.status_code == 200 and response.json()["downloadStatus"] == "CANCELLED", response.text
    assert [entry["downloadStatus"] for entry in children(stack, parent)] == ["CANCELLED"] * 3
    assert stack.download(parent)["downloadStatus"] == "CANCELLED"
    wait_for(lambda: all(ytdlp_process_of(entry["downloadUUID"]) is None for entry in running), timeout=15,
             message="the entries' yt-dlp processes to stop")
    assert post(stack, "cancelDownload", parent).json()["errorCode"] == "downloadNotOngoing"
    assert post(stack, "deleteDownload", parent).status_code == 200


def test_playlist_max_items_must_be_a_positive_integer(stack, media):
    before = stack.row_count()
    for value in (0, -1, "two", 1.5):
        response = requests.post(f"{stack.api}/api/initiateDownload", timeout=30,
                                 json={"videoURL": f"{media.url}/feed.rss", "playlistMaxItems": value})
        assert response.status_code == 418 and response.json()["errorCode"], response.text
    assert stack.row_count() == before


def test_kill_9_of_the_runner_during_expansion_loses_and_duplicates_nothing(media):
    with Stack() as stack:
        marker = uuidlib.uuid4().hex
        parent = start_playlist(stack, f"{media.url}/feed.rss?items=3&delay=4&case={marker}", 2)
        wait_for(lambda: any(marker in path for path in media.requests), timeout=30,
                 message="the expansion to be under way")
        assert stack.download(parent)["downloadStatus"] == "DOWNLOADING"
        pid = stack.pid("runner")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: stack.status()["runner"][0] == "RUNNING" and stack.pid("runner") != pid, timeout=30,
                 message="the runner restarted")
        item = final(stack, parent, timeout=120)
        assert item["downloadStatus"] == "COMPLETED" and item["childrenTotal"] == 2, item
        assert item["attempts"] == 2  # listed again by the new runner
        assert len(children(stack, parent)) == 2
        with sqlite3.connect(f"file:{stack.db}?mode=ro", uri=True) as connection:
            assert connection.execute("SELECT count(*) FROM downloads WHERE parentDownloadUUID = ?",
                                      (parent,)).fetchone()[0] == 2


# --- subscriptions -----------------------------------------------------------------------------------------

def api_post(stack: Stack, operation: str, body: dict) -> requests.Response:
    return requests.post(f"{stack.api}/api/{operation}", json=body, timeout=30)


def subscription_downloads(stack: Stack, subscription: str) -> list[dict]:
    return [item for item in stack.downloads(overLastPeriodDurationInMinutes=100000)
            if item.get("subscriptionUUID") == subscription]


def test_a_subscription_downloads_each_entry_of_a_growing_feed_once(stack, media):
    media.feed_items = 2
    feed = f"{media.url}/feed.rss?case={uuidlib.uuid4().hex}"
    created = api_post(stack, "createSubscription", {"url": feed, "checkEveryMinutes": 60, "maxItemsPerCheck": 10})
    assert created.status_code == 200, created.text
    subscription = created.json()["subscriptionUUID"]

    def listed() -> dict:
        response = requests.get(f"{stack.api}/api/listSubscriptions", timeout=30)
        assert response.status_code == 200, response.text
        return next(s for s in response.json()["subscriptions"] if s["subscriptionUUID"] == subscription)

    first_check = wait_for(lambda: listed()["lastCheckDownloadUUID"], timeout=30, message="the first check")
    assert final(stack, first_check)["downloadStatus"] == "COMPLETED"
    entries = [i for i in subscription_downloads(stack, subscription) if i.get("parentDownloadUUID")]
    assert sorted(i["videoURL"] for i in entries) == [f"{media.url}/clip.mp4?entry={n}" for n in (1, 2)]
    assert all(i["downloadStatus"] == "COMPLETED" for i in entries)
    item = listed()
    assert item["entriesSeen"] == 2 and item["url"] == feed and item["nextCheckAt"] > item["lastCheckAt"]

    media.feed_items = 3  # the feed gains an item between two checks
    checked = api_post(stack, "checkSubscriptionNow", {"subscriptionUUID": subscription})
    assert checked.status_code == 200, checked.text
    second = final(stack, checked.json()["downloadUUID"])
    assert second["downloadStatus"] == "COMPLETED" and second["childrenTotal"] == 1, second
    assert [i["videoURL"] for i in children(stack, second["downloadUUID"])] == [f"{media.url}/clip.mp4?entry=3"]
    third = final(stack, api_post(stack, "checkSubscriptionNow", {"subscriptionUUID": subscription})
                  .json()["downloadUUID"])
    assert third["downloadStatus"] == "COMPLETED" and third["childrenTotal"] == 0, third
    entries = [i for i in subscription_downloads(stack, subscription) if i.get("parentDownloadUUID")]
    assert len(entries) == 3 and listed()["entriesSeen"] == 3

    assert api_post(stack, "deleteSubscription", {"subscriptionUUID": subscription}).status_code == 200
    response = requests.get(f"{stack.api}/api/listSubscriptions", timeout=30).json()
    assert subscription not in [s["subscriptionUUID"] for s in response["subscriptions"]]
    gone = api_post(stack, "checkSubscriptionNow", {"subscriptionUUID": subscription})
    assert gone.status_code == 418 and gone.json()["errorCode"] == "subscriptionNotFound"


def test_subscription_input_is_checked_and_refused_input_stores_nothing(stack, media):
    before = requests.get(f"{stack.api}/api/listSubscriptions", timeout=30).json()["subscriptions"]
    for body, code in (
            ({"url": "file:///etc/passwd", "checkEveryMinutes": 5, "maxItemsPerCheck": 1}, "invalidVideoURL"),
            ({"url": f"{media.url}/feed.rss", "checkEveryMinutes": 0, "maxItemsPerCheck": 1}, None),
            ({"url": f"{media.url}/feed.rss", "checkEveryMinutes": 5, "maxItemsPerCheck": 1,
              "ytdlpCLIParameters": "--exec rm"}, "forbiddenYtdlpParameter")):
        response = api_post(stack, "createSubscription", body)
        assert response.status_code == 418, response.text
        assert code is None or response.json()["errorCode"] == code, response.text
    assert requests.get(f"{stack.api}/api/listSubscriptions", timeout=30).json()["subscriptions"] == before


def test_entry_urls_lose_ytdlps_smuggled_data_as_ytdlp_removes_it_without_loading_ytdlp_in_the_runner():
    from yt_dlp.utils import smuggle_url, unsmuggle_url

    urls = ["https://example.com/watch?v=1", "https://example.com/a#fragment", "https://example.com/b?x=1#y=2"]
    smuggled = [smuggle_url(url, {"referer": "https://example.com/", "n": index}) for index, url in enumerate(urls)]
    listing = json.dumps({"entries": [{"url": url, "title": f"entry {n}"} for n, url in enumerate(urls + smuggled)]})
    program = ("import json, sys; from services.runner.service import playlist_entries; "
               f"entries = playlist_entries(json.loads({listing!r}), 100); "
               "print(json.dumps([entry.url for entry in entries])); print('yt_dlp' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    answer, loaded = result.stdout.splitlines()
    assert json.loads(answer) == [unsmuggle_url(url)[0] for url in urls + smuggled] == urls + urls
    assert loaded == "False"
