"""The browser fixtures' rules: skip without Chromium locally, fail without it under CI."""

from __future__ import annotations

import pytest

from tests.explore import conftest


def test_missing_chromium_skips_locally_and_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium"):
        conftest._missing("no Chromium here")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        conftest._missing("no Chromium here")


def test_cnnlab_chromium_names_the_browser(monkeypatch, tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CNNLAB_CHROMIUM", str(fake))
    assert conftest.find_chromium() == str(fake)
