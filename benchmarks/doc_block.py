"""Replace one generated block of a Markdown page, between its markers, keeping the rest."""

from __future__ import annotations

from pathlib import Path


def replace_block(path: Path, start_marker: str, end_marker: str, block: str) -> None:
    """Put ``block`` (which starts with ``start_marker`` and ends with ``end_marker``) in place
    of the page's current block, or append it when the page has none."""
    text = path.read_text() if path.exists() else "# Performance\n"
    start, end = text.find(start_marker), text.find(end_marker)
    if start == -1 or end == -1:
        text = text.rstrip() + "\n\n" + block + "\n"
    else:
        text = text[:start] + block + text[end + len(end_marker):]
    path.write_text(text)
