"""The README's embedding example runs as written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_embedding_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 1
    shutil.copytree(ROOT / "config_examples", tmp_path / "config_examples")
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.split()
    assert printed[:3] == ["EU-000001", "approved", "partially_refunded"]
    assert (tmp_path / "orders.sqlite3").exists()


def test_readme_quick_start_matches_ci() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = "pip install -r requirements-dev.txt && pytest"
    assert test_command in readme
    assert test_command in ci


def test_every_oms_command_in_the_readme_exists() -> None:
    """The shell examples name real subcommands and options (checked against their --help)."""
    from typer.testing import CliRunner

    from oms_sdk.cli import app

    readme = (ROOT / "README.md").read_text()
    lines = [
        line.split("#")[0].strip()
        for block in re.findall(r"```bash\n(.*?)```", readme, re.S)
        for line in block.splitlines()
        if line.strip().startswith("oms ")
    ]
    assert any(line.startswith("oms reconcile") for line in lines)
    assert any(line.startswith("oms outbox relay") for line in lines)
    assert any(line.startswith("oms db upgrade") for line in lines)
    runner = CliRunner()
    for line in lines:
        words = line.split()[1:]
        command = [w for w in words if not w.startswith("-") and w.isidentifier()][:2]
        shown = runner.invoke(app, [*command, "--help"], terminal_width=200)
        assert shown.exit_code == 0, (line, shown.output)
        for option in (w for w in words if w.startswith("--")):
            assert option in shown.output, (line, option)
