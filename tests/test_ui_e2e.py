"""The built Angular UI in Debian's Chromium (Playwright), through nginx over HTTPS, against the real stack."""
from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from tests.stack import APP_DIR, wait_for

SCREENSHOTS = APP_DIR / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
BUILD = APP_DIR / "web" / "dist" / "prt-videodownloader-web" / "browser" / "index.html"


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


def open_page(browser, stack, width=1280, height=900):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(stack.https + "/")
    return context, page


def test_start_a_download_follow_it_and_fetch_its_link(browser, stack, media):
    context, page = open_page(browser, stack)
    expect(page.get_by_test_id("video-url")).to_be_visible()
    page.get_by_test_id("video-url").fill(f"{media.url}/clip.mp4")
    page.get_by_test_id("submit-download").click()
    created = page.get_by_test_id("created-uuid")
    expect(created).to_contain_text("-", timeout=15000)
    uuid = created.inner_text().strip().split()[-1]
    row = page.locator(f'[data-testid="download-row"][data-uuid="{uuid}"]')

    def completed_after_refresh():
        page.get_by_test_id("refresh").click()
        return "COMPLETED" in row.get_by_test_id("status").inner_text(timeout=5000)

    wait_for(completed_after_refresh, timeout=60, interval=0.5, message="the row to say COMPLETED")
    expect(page.get_by_test_id("last-refresh")).not_to_be_empty()
    page.screenshot(path=str(SCREENSHOTS / "completed.png"), full_page=True)
    row.get_by_test_id("https-link-button").click()
    link_field = page.get_by_test_id("public-url")
    expect(link_field).to_have_value(f"{stack.https}/videodownloader/{uuid}.mp4", timeout=10000)
    fetched = requests.get(link_field.input_value(), verify=stack.ca, timeout=10)
    assert fetched.content == (stack.data / f"{uuid}.mp4").read_bytes()
    row.get_by_test_id("s3-link-button").click()
    expect(page.get_by_test_id("link-error").first).to_contain_text("not configured", timeout=10000)
    page.screenshot(path=str(SCREENSHOTS / "links.png"), full_page=True)
    context.close()


def test_refused_parameter_shows_its_message_next_to_the_field(browser, stack, media):
    context, page = open_page(browser, stack)
    rows_before = stack.row_count()
    page.get_by_test_id("video-url").fill(f"{media.url}/clip.mp4")
    page.get_by_test_id("ytdlp-params").fill("-f best --exec-befo 'touch /tmp/x'")
    page.get_by_test_id("submit-download").click()
    expect(page.get_by_test_id("ytdlp-params-error")).to_contain_text("--exec-before-download", timeout=10000)
    page.screenshot(path=str(SCREENSHOTS / "refused-parameter.png"), full_page=True)
    assert stack.row_count() == rows_before
    context.close()


def test_phone_width_layout_has_no_horizontal_scroll(browser, stack):
    context, page = open_page(browser, stack, width=375, height=800)
    expect(page.get_by_test_id("refresh")).to_be_visible()
    page.get_by_test_id("refresh").click()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    page.screenshot(path=str(SCREENSHOTS / "phone.png"), full_page=True)
    assert overflow <= 0
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
    row = page.locator(f'[data-testid="download-row"][data-uuid="{uuid}"]')
    row.get_by_test_id("cancel-button").click()
    expect(row.get_by_test_id("status")).to_contain_text("CANCELLED", timeout=10000)
    assert stack.download(uuid)["downloadStatus"] == "CANCELLED"
    row.get_by_test_id("retry-button").click()
    wait_for(lambda: stack.download(uuid)["downloadStatus"] in ("PENDING", "DOWNLOADING"), message="the retry")
    page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_test_id("delete-button").click()
    expect(row).to_have_count(0, timeout=10000)
    assert stack.download(uuid) is None
    page.screenshot(path=str(SCREENSHOTS / "after-delete.png"), full_page=True)
    context.close()
