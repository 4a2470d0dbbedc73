"""The documentation's code runs: every ```python block of each page, in order, in one
namespace per page (later blocks use what earlier ones defined). Printed output is not
compared; a block that raises fails the test, naming the block and its first line. Every page
of docs/ with Python blocks is listed here, and a listed page that is missing or has no
Python block fails (it does not skip)."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ["tutorial.md", "data.md", "inspection.md", "sklearn.md", "export.md"]
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


def test_every_page_with_python_blocks_is_listed():
    with_code = sorted(p.name for p in DOCS.glob("*.md") if python_blocks(p.read_text()))
    assert sorted(PAGES) == with_code


def run_blocks(page: str) -> int:
    """Execute the page's blocks in order in one namespace; returns how many ran."""
    path = DOCS / page
    assert path.is_file(), f"docs/{page} is listed in PAGES but does not exist"
    blocks = python_blocks(path.read_text())
    assert blocks, f"docs/{page} is listed in PAGES but has no python block"
    namespace: dict = {"__name__": f"docs_{page.replace('.', '_')}"}
    for line, code in blocks:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile(code, f"docs/{page}:{line}", "exec"), namespace)
            except Exception as exc:
                first = code.strip().splitlines()[0]
                pytest.fail(f"docs/{page}, block at line {line} ({first!r}) raised "
                            f"{type(exc).__name__}: {exc}")
    return len(blocks)


def test_a_missing_or_empty_page_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "DOCS", tmp_path)
    with pytest.raises(AssertionError, match="does not exist"):
        run_blocks("gone.md")
    (tmp_path / "prose.md").write_text("no code here\n")
    with pytest.raises(AssertionError, match="no python block"):
        run_blocks("prose.md")
    (tmp_path / "broken.md").write_text("```python\nx = 1\n```\n```python\nraise KeyError(x)\n```\n")
    with pytest.raises(pytest.fail.Exception, match="block at line 5 .* raised KeyError"):
        run_blocks("broken.md")


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything a block writes lands in a temporary folder
    assert run_blocks(page) == len(python_blocks((DOCS / page).read_text()))
