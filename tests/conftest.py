from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.media import MediaServer, generate_media
from tests.stack import Stack

MEDIA_CACHE = Path("/tmp/prt-videodownloader-test-media-v2")


@pytest.fixture(scope="session")
def media_folder() -> Path:
    return generate_media(MEDIA_CACHE)


@pytest.fixture(scope="session")
def media(media_folder):
    server = MediaServer(media_folder)
    yield server
    server.close()


@pytest.fixture(scope="module")
def stack():
    """The whole local stack with default settings, shared by the tests of a module."""
    with Stack() as running:
        yield running
    shutil.rmtree(running.folder, ignore_errors=True)
