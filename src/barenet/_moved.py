"""Old import paths keep working: ``barenet.preprocess`` is ``barenet.data.preprocess``, etc.

Round one had a flat package; its module names are aliases of the modules in their new
folders (the same module object, so monkeypatching either name patches both).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

MOVED = {
    "activations": "nn.activations", "losses": "nn.losses", "layers": "nn.layers", "init": "nn.init",
    "model": "nn.model", "optim": "nn.optim", "schedules": "nn.schedules",
    "datasets": "data", "preprocess": "data.preprocess", "augment": "data.augment", "images": "data.images",
    "fileio": "files.atomic", "training": "train.trainer", "checkpoint": "train.checkpoint",
    "history": "train.history", "progress": "train.progress", "threads": "train.threads",
    "metrics": "inspect.metrics", "plots": "inspect.plots", "diagnose": "inspect.diagnose",
    "config": "run.config", "runner": "run.runner", "search": "run.search", "report": "run.report",
    "io": "export.native",
    **{f"datasets.{name}": f"data.{name}" for name in
       ("base", "digits8", "download", "idx", "idxdir", "loader", "mnist", "npz", "sources")},
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``barenet.<old name>`` and loads it as the module at its new path."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        package, _, name = fullname.partition(".")
        if package == "barenet" and name in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        # The import system takes whatever sys.modules holds after this as the module.
        new = "barenet." + MOVED[module.__name__.partition(".")[2]]
        sys.modules[module.__name__] = importlib.import_module(new)


def install() -> None:
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Alias())  # before the path finder, which would load a copy
