"""The README's promises: its Python example runs, its commands exist, .ci/run runs its test command."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from barenet.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "train accuracy" in out


def test_quick_start_has_two_commands_and_ci_runs_the_test_one():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```\n(.*?)\n```", section, re.S)
    assert len(commands) == 2
    assert "barenet train" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_every_documented_command_parses():
    parser = build_parser()
    section = README.split("## The command line", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```\n(.*?)```", section, re.S)[0]
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line.split("#", 1)[0])
        if not words or words[0] != "barenet":
            continue
        command = words[1]
        if command == "report":  # "report RUN | inspect | diagnose": three commands, one run
            for name in ("report", "inspect", "diagnose"):
                parser.parse_args([name, "runs/RUN"])
            continue
        parser.parse_args(words[1:])
