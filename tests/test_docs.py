"""The README documents every setting with its default, and every allowed yt-dlp option."""
from common.config import settings_table
from common.ytdlp import ALLOWED_OPTIONS
from tests.stack import APP_DIR

README = (APP_DIR / "README.md").read_text()


def test_readme_settings_table_is_current():
    assert settings_table() in README, "regenerate the table with: .venv/bin/python -m common.config table"


def test_readme_lists_every_allowed_ytdlp_option():
    missing = [option for option in ALLOWED_OPTIONS if f"`{option}`" not in README]
    assert not missing, missing
