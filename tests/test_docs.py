"""The documentation's code runs: every ```python block of each page, in order, in one
namespace per page (later blocks use what earlier ones defined). Printed output is not
compared; a block that raises fails the test, naming the block and its first line."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ["tutorial.md", "data.md"]
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of each ```python block."""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK.finditer(text)]


def test_block_extraction():
    text = "intro\n```python\nx = 1\n```\ntext\n```\nnot python\n```\n```python\ny = x + 1\n```\n"
    blocks = python_blocks(text)
    assert [code for _, code in blocks] == ["x = 1\n", "y = x + 1\n"]
    assert blocks[0][0] == 3


def test_the_tutorial_has_every_step():
    text = (DOCS / "tutorial.md").read_text()
    for step in ("Data", "Model", "Forward", "Loss", "Backward", "Update", "Evaluate", "Inspect"):
        assert re.search(rf"^## \d+\. {step}", text, re.MULTILINE), step
    assert len(python_blocks(text)) >= 10


@pytest.mark.parametrize("page", PAGES)
def test_code_blocks_run(page, tmp_path, monkeypatch):
    path = DOCS / page
    if not path.exists():
        pytest.skip(f"docs/{page} does not exist")
    blocks = python_blocks(path.read_text())
    if not blocks:
        pytest.skip(f"docs/{page} has no python blocks")
    monkeypatch.chdir(tmp_path)  # anything a block writes lands in a temporary folder
    namespace: dict = {"__name__": f"docs_{page.replace('.', '_')}"}
    for line, code in blocks:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile(code, f"docs/{page}:{line}", "exec"), namespace)
            except Exception as exc:
                first = code.strip().splitlines()[0]
                pytest.fail(f"docs/{page}, block at line {line} ({first!r}) raised "
                            f"{type(exc).__name__}: {exc}")
