"""The package's shape (docs/architecture.md): imports point down the folder ranks, nn/ imports
only errors, and no private name crosses a module boundary."""

from __future__ import annotations

import ast
from pathlib import Path

import barenet

ROOT = Path(barenet.__file__).parent

#: Each folder's rank: a module may import from folders of a lower rank (or its own folder).
RANK = {"errors": -1, "files": 0, "nn": 1, "data": 2, "train": 3, "inspect": 3, "export": 3,
        "sklearn": 4, "run": 4, "cli": 5}

#: Imports between folders of one rank, each with its reason (docs/architecture.md).
SIDEWAYS = {
    ("inspect", "train.history"): "the diagnosis and the curves read a run's History",
    ("inspect", "train.notebook"): "the live plot redraws one notebook output, as the progress bar does",
    ("train", "inspect.plots"): "History's notebook picture (_repr_png_) is the loss curve, imported lazily",
}


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module under barenet, imported names, line) for each relative import."""
    rel = path.relative_to(ROOT)
    package = list(rel.parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)]
            target = ".".join(base + (node.module.split(".") if node.module else []))
            found.append((target, [a.name for a in node.names], node.lineno))
    return found


def _modules() -> list[Path]:
    return [p for p in ROOT.rglob("*.py") if len(p.relative_to(ROOT).parts) > 1]


def test_imports_point_down_the_folder_ranks():
    wrong = []
    for path in _modules():
        folder = path.relative_to(ROOT).parts[0]
        for target, names, line in _imports(path):
            if not target:  # from .. import __version__ (the package itself)
                assert names == ["__version__"], (path, names)
                continue
            other = target.split(".")[0]
            if other == folder:
                continue
            if RANK[other] > RANK[folder] or (RANK[other] == RANK[folder]
                                              and (folder, target) not in SIDEWAYS):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert wrong == []


def test_nn_imports_only_errors():
    for path in (ROOT / "nn").glob("*.py"):
        for target, _, line in _imports(path):
            assert target == "errors" or target.startswith("nn"), f"nn/{path.name}:{line} imports {target}"


def test_no_private_name_crosses_a_module():
    crossing = [f"{path.relative_to(ROOT)}:{line} imports {name} from {target}"
                for path in _modules() for target, names, line in _imports(path)
                for name in names if name.startswith("_") and name != "__version__"]
    assert crossing == []


def test_the_rule_can_fail(tmp_path, monkeypatch):
    # a module of nn/ importing from run/ is caught
    fake = tmp_path / "barenet"
    (fake / "nn").mkdir(parents=True)
    (fake / "nn" / "bad.py").write_text("from ..run.config import TrainConfig\nfrom .x import _hidden\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", fake)
    (path,) = _modules()
    assert _imports(path) == [("run.config", ["TrainConfig"], 1), ("nn.x", ["_hidden"], 2)]
