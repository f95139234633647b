"""Screenshots go to a temporary folder unless CRAFTMATCH_SCREENSHOTS_DIR asks for docs/screenshots."""

from __future__ import annotations

import os

from tests.e2e.conftest import REPO_ROOT, screenshots_target


def test_by_default_screenshots_stay_out_of_the_repository(tmp_path, screenshots_dir):
    target = screenshots_target({}, lambda: tmp_path / "scratch")
    assert target == tmp_path / "scratch" and target.is_dir()
    # the fixture the e2e tests use: outside the repository unless a run asked for docs/screenshots
    asked = os.environ.get("CRAFTMATCH_SCREENSHOTS_DIR")
    expected = screenshots_target(os.environ, lambda: None) if asked else None
    if expected is None:
        assert not screenshots_dir.resolve().is_relative_to(REPO_ROOT)
    else:
        assert screenshots_dir.resolve() == expected.resolve()


def test_the_environment_variable_chooses_docs_screenshots(tmp_path):
    def unused():
        raise AssertionError("no scratch folder when a folder is configured")

    target = screenshots_target({"CRAFTMATCH_SCREENSHOTS_DIR": "docs/screenshots"}, unused)
    assert target == REPO_ROOT / "docs" / "screenshots" and target.is_dir()
    assert screenshots_target({"CRAFTMATCH_SCREENSHOTS_DIR": str(tmp_path / "shots")}, unused) == tmp_path / "shots"
