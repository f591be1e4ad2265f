"""listDownloads paging, status filter and search; bulkDownloadAction; listPresets and presets; serverInfo
(issue 17, on the real stack)."""
from __future__ import annotations

import base64
import json

import pytest
import requests

from tests.stack import wait_for

ALL = {"overLastPeriodDurationInMinutes": 5256000}


def get(stack, operation, **params):
    return requests.get(f"{stack.api}/api/{operation}", params=params, timeout=30)


def post(stack, operation, body):
    return requests.post(f"{stack.api}/api/{operation}", json=body, timeout=60)


def refused(response, code):
    assert response.status_code == 418, response.text
    assert response.json()["errorCode"] == code, response.text


def failed_downloads(stack, media, tag, count):
    uuids = [stack.start_download(f"{media.url}/missing-{tag}-{n}.mp4") for n in range(count)]
    for uuid in uuids:
        stack.wait_until_final(uuid)
    return uuids


def uuids_of(response):
    assert response.status_code == 200, response.text
    return [item["downloadUUID"] for item in response.json()["downloads"]]


def test_pages_follow_each_other_without_gaps_or_repeats_while_downloads_are_added(stack, media):
    failed_downloads(stack, media, "paging", 7)
    everything = uuids_of(get(stack, "listDownloads", search="missing-paging", **ALL))
    assert len(everything) == 7
    first = get(stack, "listDownloads", search="missing-paging", maxResults=3, **ALL)
    token = first.json()["nextPageToken"]
    newcomer = failed_downloads(stack, media, "paging", 1)[0]  # a new download does not shift the next pages
    seen = uuids_of(first)
    while token:
        page = get(stack, "listDownloads", search="missing-paging", maxResults=3, pageToken=token, **ALL)
        seen += uuids_of(page)
        token = page.json().get("nextPageToken")
    assert seen == everything
    assert newcomer not in seen
    assert uuids_of(get(stack, "listDownloads", search="missing-paging", maxResults=3, **ALL))[0] == newcomer
    last = get(stack, "listDownloads", search="missing-paging", maxResults=8, **ALL)
    assert "nextPageToken" not in last.json()


def test_search_is_case_insensitive_on_the_url_and_takes_text_literally(stack, media):
    wanted = failed_downloads(stack, media, "Zebra_Crossing", 2)
    failed_downloads(stack, media, "zebraXcrossing", 1)
    assert sorted(uuids_of(get(stack, "listDownloads", search="zebra_cross", **ALL))) == sorted(wanted)
    assert set(wanted) <= set(uuids_of(get(stack, "listDownloads", search="a_", **ALL)))  # short: no index
    assert uuids_of(get(stack, "listDownloads", search="zebra%crossing", **ALL)) == []
    assert uuids_of(get(stack, "listDownloads", search='"zebra', **ALL)) == []


def test_status_filter(stack, media):
    failed = failed_downloads(stack, media, "status-filter", 1)[0]
    running = stack.start_download(f"{media.url}/stall/long.mp4?status-filter")
    wait_for(lambda: stack.download(running)["downloadStatus"] == "DOWNLOADING", message="the download to start")
    downloading = uuids_of(get(stack, "listDownloads", downloadStatus="DOWNLOADING", **ALL))
    assert running in downloading and failed not in downloading
    assert failed in uuids_of(get(stack, "listDownloads", downloadStatus="FAILED", search="status-filter", **ALL))
    refused(get(stack, "listDownloads", downloadStatus="PAUSED"), "invalidParameters")
    post(stack, "cancelDownload", {"videoDownloadUUID": running})


def test_a_page_token_that_listDownloads_did_not_give_is_refused(stack):
    forged = [base64.urlsafe_b64encode(json.dumps(value).encode()).decode()
              for value in (["2026-01-01T00:00:00", 2 ** 70], ["2026-01-01T00:00:00", 1.5], [1, 2], {"a": 1})]
    forged.append(base64.urlsafe_b64encode(b'["2026-01-01T00:00:00", Infinity]').decode())
    for token in ("nonsense", "W10", "WyJ4IiwgMV0", "%%%", "\u00ff\u00fe", *forged):
        refused(get(stack, "listDownloads", pageToken=token), "invalidPageToken")


def test_bulk_retry_by_filter_then_delete_a_list_reports_each_download(stack, media):
    failed = failed_downloads(stack, media, "bulk", 3)
    answer = post(stack, "bulkDownloadAction", {"action": "retry", "filter": {"downloadStatus": "FAILED"}})
    assert answer.status_code == 200, answer.text
    outcomes = {result["downloadUUID"]: result for result in answer.json()["results"]}
    assert all(outcomes[uuid] == {"downloadUUID": uuid, "ok": True, "downloadStatus": "PENDING"} for uuid in failed)
    for uuid in failed:
        wait_for(lambda: stack.download(uuid)["attempts"] == 2 and stack.download(uuid)["downloadStatus"] == "FAILED",
                 message="the retried download to fail again")
    before = stack.row_count()
    answer = post(stack, "bulkDownloadAction",
                  {"action": "delete", "videoDownloadUUIDs": [*failed, "no-such-download", failed[0]]}).json()
    assert (answer["succeeded"], answer["failed"]) == (3, 1)
    assert [result["downloadUUID"] for result in answer["results"]] == [*failed, "no-such-download"]
    assert answer["results"][-1]["errorCode"] == "downloadNotFound"
    assert stack.row_count() == before - 3
    assert all(stack.download(uuid) is None for uuid in failed)


def test_bulk_cancel_refuses_finished_downloads_one_by_one(stack, media):
    failed = failed_downloads(stack, media, "bulk-cancel", 1)[0]
    running = stack.start_download(f"{media.url}/stall/long.mp4?bulk-cancel")
    answer = post(stack, "bulkDownloadAction", {"action": "cancel", "videoDownloadUUIDs": [running, failed]}).json()
    assert [result["ok"] for result in answer["results"]] == [True, False]
    assert answer["results"][1]["errorCode"] and stack.download(failed)["downloadStatus"] == "FAILED"
    assert stack.download(running)["downloadStatus"] == "CANCELLED"


def test_bulk_needs_exactly_one_selection_and_a_known_action(stack):
    rows = stack.row_count()
    for body in ({"action": "retry"},
                 {"action": "retry", "videoDownloadUUIDs": ["x"], "filter": {"downloadStatus": "FAILED"}},
                 {"action": "retry", "videoDownloadUUIDs": []},
                 {"action": "explode", "videoDownloadUUIDs": ["x"]},
                 {"action": "delete", "filter": {"downloadStatus": "GONE"}}):
        refused(post(stack, "bulkDownloadAction", body), "invalidParameters")
    assert stack.row_count() == rows


def test_presets_are_listed_and_expand_before_the_users_own_options(stack, media):
    presets = get(stack, "listPresets").json()["presets"]
    by_id = {preset["id"]: preset for preset in presets}
    assert {"best", "1080p", "720p", "audio-m4a", "audio-mp3"} <= set(by_id)
    answer = post(stack, "initiateDownload", {"videoURL": f"{media.url}/missing-preset.mp4", "preset": "720p",
                                              "ytdlpCLIParameters": "--embed-metadata"})
    assert answer.status_code == 200, answer.text
    item = stack.download(answer.json()["downloadUUID"])
    assert item["ytdlpCLIParameters"] == [*by_id["720p"]["ytdlpCLIParameters"], "--embed-metadata"]


def test_an_unknown_preset_or_a_forbidden_option_next_to_a_preset_changes_nothing(stack, media):
    rows = stack.row_count()
    refused(post(stack, "initiateDownload", {"videoURL": f"{media.url}/clip.mp4", "preset": "8k"}), "presetNotFound")
    refused(post(stack, "initiateDownload", {"videoURL": f"{media.url}/clip.mp4", "preset": "best",
                                             "ytdlpCLIParameters": "--exec 'touch /tmp/x'"}),
            "forbiddenYtdlpParameter")
    assert stack.row_count() == rows


def test_a_preset_download_really_uses_the_presets_options(stack, media):
    uuid = post(stack, "initiateDownload", {"videoURL": f"{media.url}/clip.mp4", "preset": "audio-m4a"}).json()[
        "downloadUUID"]
    item = stack.wait_until_final(uuid, timeout=90)
    assert item["downloadStatus"] == "COMPLETED", item
    assert item["fileName"].endswith(".m4a")


def test_server_info_says_s3_is_not_configured(stack):
    info = get(stack, "serverInfo").json()
    assert info["s3Configured"] is False
    assert info["httpsBaseURL"].startswith("https://")


@pytest.mark.parametrize("few_matches", [2000, 3], ids=["from-the-index", "text-in-many-rows-scanned"])
def test_both_search_paths_find_the_same_rows_in_the_same_pages(tmp_path, monkeypatch, few_matches):
    """A search answered from the trigram index's ids and one answered by a scan (text in many rows) agree,
    page by page; rows written after the migration (through its triggers) and their updates are found."""
    from common.config import Settings
    from common.db import upgrade_schema, writer_engine
    from services.api import app as api_module

    settings = Settings.load(SQLITEFILEPATH=tmp_path / "db.sqlite", VIDEODATAPATH=tmp_path / "data",
                        RUNPATH=tmp_path / "run")
    engine = writer_engine(settings.SQLITEFILEPATH)
    upgrade_schema(engine)
    with engine.begin() as connection:
        for n in range(12):
            connection.exec_driver_sql(
                'INSERT INTO downloads (uuid, "videoURL", "ytdlpParameters", status, attempts, "s3UploadAttempts", '
                '"createdAt", "updatedAt") VALUES (?, ?, \'[]\', \'FAILED\', 1, 0, ?, ?)',
                (f"uuid-{n:02}", f"https://videos.example/{'Cat' if n % 2 else 'dog'}-{n}.mp4",
                 f"2026-01-01 00:00:{n % 3:02}.000000", f"2026-01-01 00:00:{n % 3:02}.000000"))
        connection.exec_driver_sql("""UPDATE downloads SET "videoURL" = 'https://videos.example/renamed.mp4'
                                      WHERE uuid = 'uuid-11'""")
    monkeypatch.setattr(api_module, "FEW_MATCHES", few_matches)
    client = api_module.create_app(settings).test_client()
    seen, token = [], None
    while True:
        answer = client.get("/api/listDownloads", query_string={
            **ALL, "search": "cAT-", "maxResults": 2, **({"pageToken": token} if token else {})}).get_json()
        seen += [item["downloadUUID"] for item in answer["downloads"]]
        token = answer.get("nextPageToken")
        if not token:
            break
    # newest first on (createdAt, id), ties by id; the renamed row is no cat any more
    assert seen == ["uuid-05", "uuid-07", "uuid-01", "uuid-09", "uuid-03"]
