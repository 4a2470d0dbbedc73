"""Every plotting function returns a Figure and, given a path, saves a valid PNG atomically."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from barenet import plots
from barenet.history import History
from barenet.model import MLP

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def history() -> History:
    return History([{"epoch": e, "train_loss": 2.0 / e, "train_accuracy": 0.3 + 0.1 * e,
                     "val_loss": 2.1 / e, "val_accuracy": 0.25 + 0.1 * e, "lr": 0.001, "seconds": 0.1,
                     "weight_change": [0.5 / e, 0.0], "grad_norm": [1.0 / e, 0.2]} for e in range(1, 5)])


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(60, 784), dtype=np.uint8)
    y = np.arange(60) % 3
    proba = rng.dirichlet(np.ones(3), size=60).astype(np.float32)
    return x, y, proba, np.argmax(proba, axis=1)


def _check_png(path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        image.load()
        assert image.width > 100 and image.height > 50
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.slow
def test_curves_and_norms(tmp_path, history):
    for name, fn in (("curves", plots.plot_curves), ("norms", plots.plot_norms)):
        fig = fn(history, tmp_path / f"{name}.png")
        assert isinstance(fig, Figure)
        _check_png(tmp_path / f"{name}.png")
    assert isinstance(plots.plot_curves(history.to_dict()), Figure)  # dict input, no file
    assert not (tmp_path / "x.png").exists()


def test_norms_without_records(tmp_path):
    history = History([{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5}])
    plots.plot_norms(history, tmp_path / "n.png")
    _check_png(tmp_path / "n.png")


def test_confusion(tmp_path):
    cm = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    fig = plots.plot_confusion(cm, ["a", "b", "c"], tmp_path / "cm.png")
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"5", "7", "9", "2"} <= texts
    _check_png(tmp_path / "cm.png")


@pytest.mark.slow
def test_image_grids(tmp_path, data):
    x, y, proba, pred = data
    names = ["zero", "one", "two"]
    plots.plot_samples(x, y, names, n=9, path=tmp_path / "s.png")
    for correct in (True, False):
        fig = plots.plot_class_grid(x, y, pred, proba, names, correct=correct, per_class=4,
                                    path=tmp_path / f"g{correct}.png")
        titles = [t.get_text() for t in fig.axes[0].texts]
        assert any("→" in t and "%" in t for t in titles)
        _check_png(tmp_path / f"g{correct}.png")
    fig = plots.plot_worst(x, proba, y, names, k=3, path=tmp_path / "w.png")
    assert len(fig.axes) == 6
    _check_png(tmp_path / "s.png")
    _check_png(tmp_path / "w.png")


def test_binary_outcomes_in_original_digits(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    y = np.arange(40) % 2
    p = rng.random((40, 1)).astype(np.float32)
    pred = (p[:, 0] > 0.5).astype(int)
    fig = plots.plot_binary_outcomes(x, y, pred, p, (1, 5), per_outcome=3, path=tmp_path / "o.png")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0].startswith("TP: true 5, predicted 5") and labels[1].startswith("FP: true 1, predicted 5")
    _check_png(tmp_path / "o.png")


def test_model_figures(tmp_path, data):
    x, *_ = data
    model = MLP([784, 16, 8, 3], hidden="relu", seed=0)
    plots.plot_first_layer_weights(model, path=tmp_path / "w.png")
    fig = plots.plot_activation_histograms(model, x / 255.0, tmp_path / "a.png")
    assert len(fig.axes) == 2 and "dead units" in fig.axes[0].get_title()
    _check_png(tmp_path / "w.png")
    _check_png(tmp_path / "a.png")


def test_save_failure_leaves_nothing(tmp_path, history):
    from barenet.errors import BarenetError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BarenetError):
        plots.plot_curves(history, blocker / "sub" / "c.png")
