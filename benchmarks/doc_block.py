"""Replace one generated block of a Markdown page, between its markers, keeping the rest."""

from __future__ import annotations

from pathlib import Path


def write_block(path: Path, name: str, script: str, lines: list[str]) -> None:
    """Put ``lines`` in place of the page's block ``name``, or append the block when the page
    has none. The block runs from ``<!-- name: written by script; do not edit by hand -->`` to
    ``<!-- end name -->``; the text around it is left as it is."""
    start_marker, end_marker = f"<!-- {name}:", f"<!-- end {name} -->"
    block = "\n".join([f"{start_marker} written by {script}; do not edit by hand -->", *lines,
                       end_marker])
    text = path.read_text() if path.exists() else "# Performance\n"
    start, end = text.find(start_marker), text.find(end_marker)
    if start == -1 or end == -1:
        text = text.rstrip() + "\n\n" + block + "\n"
    else:
        text = text[:start] + block + text[end + len(end_marker):]
    path.write_text(text)
