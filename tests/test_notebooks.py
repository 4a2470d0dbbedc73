"""The example notebooks run headless, and barenet's objects display well in Jupyter.

Every notebook in examples/notebooks/ is executed by nbclient in a real python3 kernel with
BARENET_NOTEBOOK_SMOKE=1 (tiny data, 1-2 epochs); any error in any cell fails the test.
A small notebook checks, in a kernel, that the progress bar and LivePlot each keep to one
output rewritten in place.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "examples" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
SMOKE_SECONDS = 60  # per notebook: kernel start plus a few seconds of tiny trainings


def _kernel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The kernel inherits os.environ: make barenet importable from this checkout (PYTHONPATH
    may be relative to the repository root, and the kernel runs in ``tmp_path``)."""
    paths = [str(ROOT / "src")] + [str((ROOT / p).resolve()) for p in
                                  os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    monkeypatch.setenv("BARENET_NOTEBOOK_SMOKE", "1")
    monkeypatch.chdir(tmp_path)


def _execute(nb: object, tmp_path: Path) -> object:
    client = nbclient.NotebookClient(nb, timeout=SMOKE_SECONDS, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    return client.execute()


def test_there_is_a_notebook_per_exercise_and_the_tutorial():
    names = [p.name for p in NOTEBOOKS]
    assert names[0] == "00-first-network.ipynb"
    for exercise in ("e1", "e2", "e3", "e4", "e5"):
        assert any(name.startswith(f"{exercise}-") for name in names), exercise


@pytest.mark.slow  # a subprocess
def test_notebooks_are_stored_without_outputs_and_match_their_generator():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name
        assert "parameters" in nb.cells[1].metadata.get("tags", []), path.name
        assert "BARENET_NOTEBOOK_SMOKE" in nb.cells[1].source
    generator = NOTEBOOKS_DIR / "make_notebooks.py"
    done = subprocess.run([sys.executable, str(generator), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_headless(path, tmp_path, monkeypatch):
    _kernel_env(monkeypatch, tmp_path)
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    _execute(nb, tmp_path)  # raises CellExecutionError on any failing cell
    assert time.perf_counter() - started < SMOKE_SECONDS
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, f"{path.name} shows no figure"
    last = nb.cells[-1].outputs
    assert last and "| recipe |" in last[0]["data"]["text/markdown"]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")]
    assert not errors, errors


KERNEL_CHECKS = [
    """
import numpy as np, barenet as bn
from barenet.train.progress import ProgressBar
rng = np.random.default_rng(0)
x = rng.random((600, 4)).astype("float32")
y = (x[:, 0] > 0.5).astype(int)
""",
    # 6 epochs of 150 batches: rich alone would print (or warn) once per refresh
    "bn.fit(bn.MLP([4, 8, 2]), x, y, epochs=6, batch_size=4, callbacks=[ProgressBar()], validation=(x, y));",
    # a ReLU net with a tiny initialization: the live diagnosis must warn above the curves
    "live = bn.LivePlot()\n"
    "bn.fit(bn.MLP([4, 16, 16, 2], init='normal(0.0001)'), x, y, epochs=3, batch_size=8, optimizer='sgd',"
    " lr=0.05, callbacks=[live]);",
    "bn.MLP([4, 8, 2])",
    "bn.fit(bn.MLP([4, 8, 2]), x, y, epochs=2)",
]


@pytest.mark.slow
def test_progress_bar_and_live_plot_rewrite_one_output_in_a_kernel(tmp_path, monkeypatch):
    _kernel_env(monkeypatch, tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in KERNEL_CHECKS]
    _execute(nb, tmp_path)
    _, progress, live, model, history = (cell.outputs for cell in nb.cells)

    assert len(progress) == 1, progress  # one display, updated in place
    lines = progress[0]["data"]["text/plain"].splitlines()
    assert [line.split()[1] for line in lines] == [f"{e}/6" for e in range(1, 7)]
    assert all("val_acc" in line for line in lines)

    assert [list(o["data"]) for o in live] == [["text/html"], ["image/png", "text/plain"]], live
    assert "Dead or near-zero ReLU" in live[0]["data"]["text/html"]
    assert live[1]["data"]["text/plain"] == "<training curves, epoch 3>"

    page = model[0]["data"]["text/html"]
    assert page.startswith("<pre>") and "Dense(4 -&gt; 8)" in page
    assert "image/png" in history[0]["data"]  # a History shows its curves
