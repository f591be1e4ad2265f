"""nginx in front (real nginx, TLS): compressed UI assets and JSON, and ?download=<name> saving a video under a
name the client chose, sanitised (issue 17 §6, §7)."""
from __future__ import annotations

from urllib.parse import quote

import requests


def fetch(stack, path, **headers):
    return requests.get(f"{stack.https}{path}", verify=stack.ca, timeout=10, headers=headers)


def test_js_css_and_json_are_gzipped_for_clients_that_accept_it(stack):
    index = fetch(stack, "/").text
    assets = [part.split('"')[0] for marker in ('src="', 'href="') for part in index.split(marker)[1:]]
    script = next(a for a in assets if a.endswith(".js"))
    style = next(a for a in assets if a.endswith(".css"))
    for path in (f"/{script}", f"/{style}", "/api/listPresets"):
        zipped = fetch(stack, path, **{"Accept-Encoding": "gzip"})
        assert zipped.headers.get("Content-Encoding") == "gzip", (path, zipped.headers)
        assert "Accept-Encoding" in zipped.headers.get("Vary", "")
        plain = fetch(stack, path, **{"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers
        assert zipped.content == plain.content  # requests un-gzips: the same bytes reach the client


def test_a_video_link_with_download_saves_under_that_name_and_refuses_header_injection(stack, media):
    uuid = stack.start_download(f"{media.url}/clip.mp4")
    assert stack.wait_until_final(uuid)["downloadStatus"] == "COMPLETED"
    link = stack.public_url(uuid).json()["publicURL"]
    name = quote("Été à Zürich: «clip» 1/2.mp4", safe="")
    named = requests.get(f"{link}?download={name}", verify=stack.ca, timeout=10)
    assert named.status_code == 200
    assert named.headers["Content-Disposition"] == f"attachment; filename*=UTF-8''{name}"
    assert named.content == (stack.data / f"{uuid}.mp4").read_bytes()
    assert "Content-Disposition" not in requests.get(link, verify=stack.ca, timeout=10).headers
    for hostile in ("a%0D%0ASet-Cookie:%20x=1", 'x";%20filename=evil.exe', "%zz.mp4", "a b.mp4", "x" * 700):
        answer = requests.get(f"{link}?download={hostile}", verify=stack.ca, timeout=10)
        assert answer.status_code == 200
        disposition = answer.headers.get("Content-Disposition")
        assert disposition is None or (disposition.startswith("attachment; filename*=UTF-8''")
                                       and '"' not in disposition and "\r" not in disposition), disposition
        assert "Set-Cookie" not in answer.headers
