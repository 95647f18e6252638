"""The named-query loader."""

import pytest

from wheels_core import queries


def test_parse_splits_by_name_and_keeps_comments_inside():
    text = "-- header\n-- name: one\n-- why\nSELECT 1;\n\n-- name: two\nSELECT 2;\n"
    assert queries.parse(text) == {"one": "-- why\nSELECT 1;", "two": "SELECT 2;"}


def test_duplicate_names_are_an_error():
    with pytest.raises(ValueError, match="'one' is defined twice"):
        queries.parse("-- name: one\nSELECT 1;\n-- name: one\nSELECT 2;\n")


def test_shipped_query_files_load():
    assert "cron_jobs" in queries.load("wheels_jobs")
