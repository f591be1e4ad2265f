"""The built Angular UI in Debian's Chromium (Playwright), through nginx over HTTPS, against the real stack.

Each screen is checked at desktop (1280x800) and phone (390x844) width, with axe-core (0 violations)."""
from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Error as PlaywrightError, expect, sync_playwright

from tests.stack import APP_DIR, wait_for

SCREENSHOTS = APP_DIR / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
BUILD = APP_DIR / "web" / "dist" / "prt-videodownloader-web" / "browser" / "index.html"
AXE = APP_DIR / "web" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP, PHONE = (1280, 800), (390, 844)
WIDTHS = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])


@pytest.fixture(scope="module")
def browser():
    if not BUILD.exists():
        pytest.fail("the web UI is not built: run `make test` (it runs ops/build-web first)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        yield launched
        launched.close()


def open_page(browser, stack, size=DESKTOP, color_scheme="light"):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": size[0], "height": size[1]},
                                  color_scheme=color_scheme)
    page = context.new_page()
    for attempt in range(3):
        try:
            page.goto(stack.https + "/")
            break
        except PlaywrightError as error:
            # Chromium aborts a navigation when the machine's interfaces change (other tests on this machine
            # create and remove network namespaces and dummy interfaces); that is not the UI's doing.
            if "ERR_NETWORK_CHANGED" not in str(error) or attempt == 2:
                raise
    expect(page.get_by_test_id("last-refresh")).to_contain_text("Last refreshed", timeout=15000)
    return context, page


def assert_accessible(page, name):
    """axe-core's WCAG 2.x A/AA rules find nothing, and the page does not scroll sideways; a screenshot is kept."""
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("""async () => (await axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}}))
        .violations.map(v => `${v.id}: ${v.nodes.length} (${v.nodes[0].target})`)""")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    width = page.viewport_size["width"]
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    assert violations == [], violations
    assert overflow <= 0, f"{overflow} px of horizontal scroll at {width} px"


def row_of(page, uuid):
    return page.locator(f'[data-testid="download-row"][data-uuid="{uuid}"]')


def refresh_until(page, predicate, message, timeout=60):
    def check():
        page.get_by_test_id("refresh").click()
        expect(page.get_by_test_id("loading")).to_have_count(0, timeout=10000)
        return predicate()
    wait_for(check, timeout=timeout, interval=0.5, message=message)


@WIDTHS
def test_start_a_download_follow_it_and_save_it_under_its_name(browser, stack, media, size):
    context, page = open_page(browser, stack, size)
    url_field = page.get_by_test_id("video-url")
    url_field.fill(f"{media.url}/clip.mp4?start-{size[0]}")
    page.get_by_test_id("submit-download").click()
    created = page.get_by_test_id("created-uuid")
    expect(created).to_contain_text("-", timeout=15000)
    uuid = created.inner_text().strip()
    expect(url_field).to_have_value("")  # Enter pressed twice does not queue the same video twice
    row = row_of(page, uuid)
    title = row.get_by_test_id("title")
    expect(title).to_have_text(re.compile(r"^127\.0\.0\.1/clip\.mp4\?start-"))  # host and path, no 28-char cut
    expect(title).to_have_attribute("title", f"{media.url}/clip.mp4?start-{size[0]}")
    expect(row.get_by_test_id("short-id")).to_have_text(f"ID {uuid[:8]}")

    refresh_until(page, lambda: "COMPLETED" in row.get_by_test_id("status").inner_text(), "the row to say COMPLETED")
    # once yt-dlp has the file, the row and the announcements use the title it found (the file's name here)
    expect(title).to_have_text("clip")
    expect(page.get_by_test_id("announcement")).to_contain_text("Finished: clip")
    assert page.title().startswith("✓ clip")
    expect(created).to_have_count(0)  # the "started" note does not outlive its download
    expect(row.get_by_test_id("progress")).to_have_count(0)  # no redundant 100 % bar
    expect(row.get_by_test_id("size")).not_to_be_empty()
    assert not re.search(r":\d\d:\d\d|20\d\d", row.locator("time").inner_text())  # no seconds, no year this year

    row.get_by_test_id("links-button").click()
    link_field = row.get_by_test_id("public-url-HTTPS")
    expect(link_field).to_have_value(f"{stack.https}/videodownloader/{uuid}.mp4", timeout=10000)
    expect(row.get_by_test_id("link-S3")).to_have_count(0)  # S3 is not configured on this server: not offered
    download = row.get_by_test_id("download-link")
    href = download.get_attribute("href")
    assert href.startswith(f"{stack.https}/videodownloader/{uuid}.mp4?download=")
    saved = requests.get(href, verify=stack.ca, timeout=10)
    assert saved.headers["Content-Disposition"] == "attachment; filename*=UTF-8''clip.mp4"  # saved under its title
    assert saved.content == (stack.data / f"{uuid}.mp4").read_bytes()
    with page.expect_download() as started:
        download.click()
    assert started.value.suggested_filename.endswith(".mp4")
    assert_accessible(page, "completed-with-links")
    context.close()


def test_refused_parameter_shows_its_message_next_to_the_field(browser, stack, media):
    context, page = open_page(browser, stack)
    rows_before = stack.row_count()
    page.get_by_test_id("video-url").fill(f"{media.url}/clip.mp4")
    page.get_by_test_id("ytdlp-params").fill("-f best --exec-befo 'touch /tmp/x'")
    page.get_by_test_id("submit-download").click()
    expect(page.get_by_test_id("ytdlp-params-error")).to_contain_text("--exec-before-download", timeout=10000)
    expect(page.get_by_test_id("video-url")).to_have_value(f"{media.url}/clip.mp4")  # kept: nothing was started
    assert_accessible(page, "refused-parameter")
    assert stack.row_count() == rows_before
    context.close()


def test_a_preset_from_the_menu_is_used_for_the_download(browser, stack, media):
    context, page = open_page(browser, stack)
    page.get_by_test_id("video-url").fill(f"{media.url}/clip.mp4?preset")
    page.get_by_test_id("format-preset").select_option(label="Audio only (M4A)")
    expect(page.get_by_test_id("format-preset-hint")).to_contain_text("--audio-format m4a")
    page.get_by_test_id("submit-download").click()
    expect(page.get_by_test_id("created-uuid")).to_contain_text("-", timeout=15000)
    uuid = page.get_by_test_id("created-uuid").inner_text().strip()
    item = stack.wait_until_final(uuid, timeout=90)
    assert item["downloadStatus"] == "COMPLETED" and item["fileName"].endswith(".m4a"), item
    assert "--extract-audio" in item["ytdlpCLIParameters"]
    context.close()


def test_the_same_url_already_running_is_warned_about_once(browser, stack, media):
    url = f"{media.url}/stall/long.mp4?duplicate"
    first = stack.start_download(url)
    context, page = open_page(browser, stack)
    rows = stack.row_count()
    page.get_by_test_id("video-url").fill(url)
    page.get_by_test_id("submit-download").click()
    warning = page.get_by_test_id("duplicate-warning")
    expect(warning).to_contain_text(f"ID {first[:8]}", timeout=10000)
    assert stack.row_count() == rows
    assert_accessible(page, "duplicate-warning")
    page.get_by_test_id("submit-download").click()  # queue it anyway
    expect(page.get_by_test_id("created-uuid")).to_contain_text("-", timeout=15000)
    assert stack.row_count() == rows + 1
    second = page.get_by_test_id("created-uuid").inner_text().strip()
    for uuid in (first, second):
        requests.post(f"{stack.api}/api/cancelDownload", json={"videoDownloadUUID": uuid}, timeout=10)
    context.close()


@WIDTHS
def test_failed_and_cancelled_rows_stay_short_and_readable(browser, stack, media, size):
    failed = stack.start_download(f"{media.url}/missing-{size[0]}.mp4")
    cancelled = stack.start_download(f"{media.url}/stall/long.mp4?cancel-{size[0]}")
    wait_for(lambda: stack.download(cancelled)["downloadStatus"] == "DOWNLOADING", message="the download to start")
    requests.post(f"{stack.api}/api/cancelDownload", json={"videoDownloadUUID": cancelled}, timeout=10)
    stack.wait_until_final(failed)
    context, page = open_page(browser, stack, size)
    row = row_of(page, failed)
    error = row.get_by_test_id("row-error")
    expect(error).to_contain_text("404")
    assert "ERROR:" not in error.inner_text()
    assert error.bounding_box()["height"] < 30  # one line
    assert row.bounding_box()["height"] < 250
    details = row.get_by_test_id("error-detail")
    details.locator("summary").click()
    expect(row.get_by_test_id("error-detail-text")).to_contain_text("[generic]")
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    row.get_by_test_id("copy-error").click()
    expect(details.get_by_role("status")).to_have_text("Copied.")
    assert "HTTP Error 404" in page.evaluate("navigator.clipboard.readText()")
    cancelled_row = row_of(page, cancelled)
    expect(cancelled_row.get_by_test_id("status")).to_have_text("CANCELLED")
    expect(cancelled_row.get_by_test_id("progress")).to_have_count(0)
    expect(cancelled_row.get_by_test_id("size")).to_have_count(0)
    assert_accessible(page, "failed-and-cancelled")
    context.close()


@WIDTHS
def test_dark_theme_is_accessible_too(browser, stack, size):
    context, page = open_page(browser, stack, size, color_scheme="dark")
    expect(page.get_by_test_id("download-row").first).to_be_visible()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(20, 23, 28)", background  # the dark palette is in use
    assert_accessible(page, "dark")
    context.close()


def test_index_is_not_cached_and_hashed_assets_are(stack):
    index = requests.get(stack.https + "/", verify=stack.ca, timeout=10)
    assert index.headers["Cache-Control"] == "no-cache"
    scripts = [part.split('"')[0] for part in index.text.split('src="')[1:]]
    assert scripts, index.text[:300]
    asset = requests.get(f"{stack.https}/{scripts[0]}", verify=stack.ca, timeout=10)
    assert asset.status_code == 200 and "immutable" in asset.headers["Cache-Control"]
    deep = requests.get(stack.https + "/some/client/route", verify=stack.ca, timeout=10)
    assert deep.status_code == 200 and deep.text == index.text  # SPA fallback


def test_cancel_retry_and_delete_from_the_row(browser, stack, media):
    uuid = stack.start_download(f"{media.url}/stall/long.mp4?ui-actions")
    wait_for(lambda: stack.download(uuid)["downloadStatus"] == "DOWNLOADING", message="the download to start")
    context, page = open_page(browser, stack)
    row = row_of(page, uuid)
    cancel = row.get_by_role("button", name="Cancel 127.0.0.1/stall/long.mp4?ui-actions")
    cancel.click()
    expect(row.get_by_test_id("status")).to_contain_text("CANCELLED", timeout=10000)
    assert stack.download(uuid)["downloadStatus"] == "CANCELLED"
    row.get_by_test_id("retry-button").click()
    wait_for(lambda: stack.download(uuid)["downloadStatus"] in ("PENDING", "DOWNLOADING"), message="the retry")
    questions = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    row.get_by_test_id("delete-button").click()
    expect(row).to_have_count(0, timeout=10000)
    assert f"(ID {uuid[:8]})" in questions[0] and "ui-actions" in questions[0]
    assert stack.download(uuid) is None
    context.close()


def test_search_pages_and_bulk_actions_with_one_confirmation(browser, stack, media):
    uuids = [stack.start_download(f"{media.url}/stall/long.mp4?bulk-{n}") for n in range(55)]
    context, page = open_page(browser, stack)
    page.get_by_test_id("search").fill("stall/long.mp4?bulk-")
    page.get_by_test_id("search").press("Enter")
    rows = page.get_by_test_id("download-row")
    expect(rows).to_have_count(50, timeout=10000)
    page.get_by_test_id("show-more").click()
    expect(rows).to_have_count(55, timeout=10000)
    expect(page.get_by_test_id("show-more")).to_have_count(0)
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.uuid)")) == sorted(uuids)
    page.get_by_test_id("status-filter").select_option("PENDING")
    expect(rows.first).to_be_visible(timeout=10000)
    expect(page.get_by_test_id("download-row").get_by_test_id("status").filter(has_not_text="PENDING")).to_have_count(0)
    page.get_by_test_id("status-filter").select_option("")
    expect(rows).to_have_count(50, timeout=10000)
    page.get_by_test_id("show-more").click()
    expect(rows).to_have_count(55, timeout=10000)
    assert_accessible(page, "search-and-pages")

    questions = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_label("Select all shown downloads").check()
    expect(page.get_by_test_id("selection-count")).to_have_text("55 selected")
    page.get_by_test_id("bulk-cancel").click()
    expect(page.get_by_test_id("action-message")).to_contain_text("55 downloads cancelled", timeout=30000)
    assert len(questions) == 1 and questions[0].startswith("Cancel 55 downloads:") and "and 50 more" in questions[0]
    assert {stack.download(uuid)["downloadStatus"] for uuid in uuids} == {"CANCELLED"}
    page.get_by_label("Select 127.0.0.1/stall/long.mp4?bulk-7", exact=True).check()
    page.get_by_label("Select 127.0.0.1/stall/long.mp4?bulk-8", exact=True).check()
    page.get_by_test_id("bulk-delete").click()
    expect(page.get_by_test_id("action-message")).to_contain_text("2 downloads deleted", timeout=30000)
    assert len(questions) == 2 and "ID " + uuids[7][:8] in questions[1]
    assert stack.download(uuids[7]) is None and stack.download(uuids[8]) is None
    assert_accessible(page, "after-bulk")
    context.close()


def test_retry_all_failed_and_clear_completed(browser, stack, media):
    failed = [stack.start_download(f"{media.url}/missing-retry-all-{n}.mp4") for n in range(2)]
    for uuid in failed:
        stack.wait_until_final(uuid)
    completed = stack.start_download(f"{media.url}/clip.mp4?clear-completed")
    assert stack.wait_until_final(completed)["downloadStatus"] == "COMPLETED"
    context, page = open_page(browser, stack)
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("retry-all-failed").click()
    expect(page.get_by_test_id("action-message")).to_contain_text("queued again", timeout=30000)
    wait_for(lambda: all(stack.download(uuid)["attempts"] >= 2 for uuid in failed), message="the retries")
    page.get_by_test_id("clear-completed").click()
    expect(page.get_by_test_id("action-message")).to_contain_text("deleted", timeout=30000)
    assert stack.download(completed) is None
    assert stack.downloads(downloadStatus="COMPLETED", overLastPeriodDurationInMinutes=100000) == []
    assert_accessible(page, "after-clear-completed")
    context.close()


def test_links_show_https_and_s3_side_by_side_where_s3_is_configured(browser, media):
    """A second stack, publishing to moto's S3 server (the RustFS stand-in of tests/test_s3.py)."""
    from moto.server import ThreadedMotoServer

    from tests.stack import Stack, free_port
    from tests.test_s3 import s3_settings

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        with Stack(**s3_settings(port)) as s3_stack:
            uuid = s3_stack.start_download(f"{media.url}/clip.mp4?s3-links")
            assert s3_stack.wait_until_final(uuid)["downloadStatus"] == "COMPLETED"
            wait_for(lambda: s3_stack.download(uuid)["s3Available"], timeout=30, message="the S3 upload")
            for size in (DESKTOP, PHONE):
                context, page = open_page(browser, s3_stack, size)
                row = row_of(page, uuid)
                row.get_by_test_id("links-button").click()
                https, s3 = row.get_by_test_id("public-url-HTTPS"), row.get_by_test_id("public-url-S3")
                expect(https).to_have_value(f"{s3_stack.https}/videodownloader/{uuid}.mp4", timeout=10000)
                # the API worker's first presigned link loads boto3: allow for a slow, busy machine
                expect(s3).to_have_value(re.compile(r"X-Amz-Signature="), timeout=30000)
                assert requests.get(s3.input_value(), timeout=10).content == (s3_stack.data / f"{uuid}.mp4").read_bytes()
                if size == DESKTOP:  # side by side where there is room
                    assert abs(https.bounding_box()["y"] - s3.bounding_box()["y"]) < 2
                    assert s3.bounding_box()["x"] > https.bounding_box()["x"]
                assert_accessible(page, "links-https-and-s3")
                context.close()
    finally:
        server.stop()


def test_live_updates_follow_a_download_without_refresh(browser, stack, media):
    context, page = open_page(browser, stack)
    switch = page.get_by_role("switch", name="Live updates")
    expect(switch).not_to_be_checked()  # manual refresh stays the default
    switch.check()
    expect(page.get_by_test_id("live-state")).to_have_text("connected", timeout=15000)
    uuid = stack.start_download(f"{media.url}/slow/clip.mp4?live")  # started by a script, not this page
    row = row_of(page, uuid)
    expect(row).to_be_visible(timeout=15000)
    expect(row.get_by_test_id("status")).to_contain_text("COMPLETED", timeout=60000)
    expect(row.get_by_test_id("title")).to_have_text("clip")
    expect(page.get_by_test_id("announcement")).to_contain_text("Finished: clip")
    assert_accessible(page, "live-updates")
    context.close()


@WIDTHS
def test_a_playlist_is_one_row_that_expands_to_its_videos(browser, stack, media, size):
    context, page = open_page(browser, stack, size)
    page.get_by_test_id("video-url").fill(f"{media.url}/feed.rss?items=3&case=ui-{size[0]}")
    page.get_by_label("Playlist: at most N videos").fill("2")
    page.get_by_test_id("submit-download").click()
    created = page.get_by_test_id("created-uuid")
    expect(created).to_contain_text("-", timeout=15000)
    uuid = created.inner_text().strip()
    row = row_of(page, uuid)
    refresh_until(page, lambda: "COMPLETED" in row.get_by_test_id("status").inner_text(), "the playlist to complete",
                  timeout=90)
    expect(row.get_by_test_id("title")).to_have_text("Test feed")
    expect(row.get_by_test_id("playlist-counts")).to_have_text("2 videos, 2 completed")
    entries = stack.downloads(overLastPeriodDurationInMinutes=100000, parentDownloadUUID=uuid)
    assert len(entries) == 2
    for entry in entries:  # no top-level row of their own
        expect(row_of(page, entry["downloadUUID"])).to_have_count(0)

    expand = row.get_by_test_id("expand-playlist")
    expect(expand).to_have_accessible_name("Show the videos of the playlist Test feed")
    expect(expand).to_have_attribute("aria-expanded", "false")
    expand.click()
    expect(expand).to_have_attribute("aria-expanded", "true")
    expect(expand).to_have_accessible_name("Hide the videos of the playlist Test feed")
    children = page.locator(f'[data-testid="child-row"][data-parent="{uuid}"]')
    expect(children).to_have_count(2, timeout=10000)
    assert sorted(children.evaluate_all("rows => rows.map(r => r.dataset.uuid)")) == \
        sorted(entry["downloadUUID"] for entry in entries)
    first = children.first
    expect(first.get_by_test_id("status")).to_have_text("COMPLETED")
    first.get_by_test_id("links-button").click()
    child_uuid = first.get_attribute("data-uuid")
    expect(first.get_by_test_id("public-url-HTTPS")).to_have_value(
        f"{stack.https}/videodownloader/{child_uuid}.mp4", timeout=10000)
    assert_accessible(page, "playlist-expanded")
    expand.click()
    expect(children).to_have_count(0)
    context.close()


@WIDTHS
def test_subscriptions_are_added_checked_now_and_deleted(browser, stack, media, size):
    context, page = open_page(browser, stack, size)
    feed = f"{media.url}/feed.rss?items=2&case=sub-ui-{size[0]}"
    page.get_by_label("Playlist, channel or feed URL").fill(feed)
    page.get_by_label("Check every N minutes").fill("60")
    page.get_by_label("At most N videos per check").fill("5")
    page.get_by_test_id("add-subscription").click()
    expect(page.get_by_test_id("subscription-message")).to_contain_text(f"Subscribed to {feed}")
    expect(page.get_by_label("Playlist, channel or feed URL")).to_be_focused()
    row = page.get_by_test_id("subscription-row").filter(has_text=feed)
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("subscription-schedule")).to_have_text("every 60 minutes, at most 5 per check")

    def seen_both():  # the first check is queued at once
        page.get_by_test_id("refresh-subscriptions").click()
        return row.get_by_test_id("subscription-seen").inner_text().strip() == "2"
    wait_for(seen_both, timeout=90, interval=0.5, message="the first check to see both entries")
    expect(row.get_by_test_id("subscription-last-check").locator("time")).to_have_count(1)
    expect(row.get_by_test_id("subscription-next-check").locator("time")).to_have_count(1)
    before = row.get_by_test_id("subscription-last-check").locator("time").get_attribute("datetime")

    check = row.get_by_role("button", name=f"Check now {feed}")
    check.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("subscription-message")).to_have_text(f"Check of {feed} queued.")
    expect(row.get_by_test_id("subscription-last-check").locator("time")).not_to_have_attribute(
        "datetime", before, timeout=10000)
    expect(check).to_be_focused()
    assert_accessible(page, "subscriptions")

    questions = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    row.get_by_role("button", name=f"Delete the subscription to {feed}").click()
    expect(row).to_have_count(0, timeout=10000)
    assert feed in questions[0]
    listed = requests.get(f"{stack.api}/api/listSubscriptions", timeout=30).json()["subscriptions"]
    assert feed not in [subscription["url"] for subscription in listed]
    expect(page.locator("#subscriptions-heading")).to_be_focused()
    context.close()

    context, page = open_page(browser, stack, size, color_scheme="dark")
    assert_accessible(page, "subscriptions-dark")
    context.close()
