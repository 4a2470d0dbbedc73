"""Output in a Jupyter notebook: whether we run in one, and one cell output rewritten in place.

IPython is never imported here: a notebook's kernel has it loaded already, and scripts do
not pay for it.
"""

from __future__ import annotations

import sys


def in_notebook() -> bool:
    """True inside a Jupyter kernel, where a cell's output shows HTML and images and one
    display can be rewritten in place."""
    if "IPython" not in sys.modules:
        return False
    shell = sys.modules["IPython"].get_ipython()
    return getattr(shell, "kernel", None) is not None


class NotebookText:
    """One output of the running notebook cell, rewritten in place (IPython's ``display_id``):
    finished ``lines`` and an optional line in progress below them."""

    def __init__(self) -> None:
        from IPython.display import display

        self.lines: list[str] = []
        self.handle = display({"text/plain": ""}, raw=True, display_id=True)

    def show(self, current: str = "") -> None:
        text = "\n".join(self.lines + ([current] if current else []))
        self.handle.update({"text/plain": text}, raw=True)
