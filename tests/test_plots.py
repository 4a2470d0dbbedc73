"""Every plotting function returns a Figure and, given a path, saves a valid PNG atomically."""

from __future__ import annotations

import math

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
    assert {"83%\n5", "20%\n2", "100%\n9"} <= texts  # share of the true class (row) and count
    errors = fig.axes[0].images[0].get_array()
    assert errors.mask[0, 0] and errors.mask[2, 2] and not errors.mask[1, 0]  # diagonal masked
    assert errors[1, 0] == pytest.approx(0.2)
    assert "test split" in fig.axes[0].get_title()
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
    assert len(fig.axes) == 6 and "3 highest-loss" in fig._suptitle.get_text()
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
    fig = plots.plot_first_layer_weights(model, path=tmp_path / "w.png")
    assert len(fig.axes) == 2  # the mosaic and its colour bar
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


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig


def _stuck_history() -> History:
    """A run stuck at log(10): the loss moves in the fourth decimal."""
    return History([{"epoch": e, "train_loss": 2.3026 - 0.0001 * e, "train_accuracy": 0.1,
                     "val_loss": 2.3027 - 0.0001 * e, "val_accuracy": 0.1, "lr": 0.001 * 0.9 ** e,
                     "weight_change": [1e-6, 1e-6], "grad_norm": [1.0, 0.5]} for e in range(1, 6)],
                   [2.3026 + 1e-4 * np.sin(i) for i in range(50)])


def test_a_flat_run_looks_flat_and_no_axis_uses_an_offset():
    from barenet.inspect.signals import baselines

    base = baselines(10)
    h = _stuck_history()
    for fig in (plots.plot_curves(h, baselines=base), plots.plot_batch_loss(h, baselines=base),
                plots.plot_learning_rate(h), plots.plot_norms(h)):
        _drawn(fig)
        for ax in fig.axes:
            assert ax.yaxis.get_offset_text().get_text() == "", ax.get_title()
            assert ax.xaxis.get_offset_text().get_text() == "", ax.get_title()
            assert "split" in ax.get_title()
    curves = plots.plot_curves(h, baselines=base)
    low, high = curves.axes[0].get_ylim()
    assert high - low >= 0.1 * math.log(10) - 1e-9
    low, high = curves.axes[1].get_ylim()
    assert high - low >= 20 - 1e-9


def test_curves_have_reference_lines():
    from barenet.inspect.signals import baselines

    y = np.array([0] * 60 + [1] * 20 + [2] * 20)
    base = baselines(3, y)
    fig = plots.plot_curves(_stuck_history(), baselines=base)
    labels = {line.get_label(): line.get_ydata()[0] for ax in fig.axes for line in ax.lines}
    uniform = next(v for k, v in labels.items() if k.startswith("uniform guess"))
    prior = next(v for k, v in labels.items() if k.startswith("class prior"))
    chance = next(v for k, v in labels.items() if k.startswith("chance"))
    assert uniform == pytest.approx(math.log(3)) and prior < uniform and chance == pytest.approx(60.0)


def test_norms_explain_zero_changes_and_name_the_output_layer(history):
    fig = plots.plot_norms(history)
    notes = " ".join(t.get_text() for t in fig.texts)
    assert "layer 2 (output)" in notes and "did not move" in notes
    assert all(ax.get_ylabel() for ax in fig.axes)
    assert "layer 2 (output)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_worst_marks_the_true_class_of_a_one_unit_model_and_says_how_many(tmp_path, monkeypatch):
    monkeypatch.setattr("barenet.inspect.figures_predictions.MAX_WORST_ROWS", 3)
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(40, 784), dtype=np.uint8)
    y = np.arange(40) % 2
    p = rng.random((40, 1)).astype(np.float32)
    fig = _drawn(plots.plot_worst(x, p, y, ["1", "5"], k=30, path=tmp_path / "w.png"))
    assert "3 highest-loss predictions of the 30 asked for" in fig._suptitle.get_text()
    bars = fig.axes[1].patches
    assert len(bars) == 2
    true = int(y[int(fig.axes[0].get_title().split()[0][1:])])
    assert bars[true].get_edgecolor()[:3] == (0.0, 0.0, 0.0)
    renderer = fig.canvas.get_renderer()
    top = fig._suptitle.get_window_extent(renderer)
    first = fig.axes[0].title.get_window_extent(renderer)
    assert top.y0 >= first.y1 - 1  # the title does not overprint the first caption


def test_weight_mosaic_marks_dead_units_and_shares_a_scale():
    model = MLP([784, 9, 3], hidden="relu", seed=0)
    model.dense_layers[0].b[:4] = -1000.0  # units 0-3 never fire
    x = np.random.default_rng(0).random((20, 784))
    fig = plots.plot_first_layer_weights(model, x=x)
    layer = model.dense_layers[0]
    dead = np.all(x @ layer.W + layer.b <= 0, axis=0)
    assert dead[:4].all()
    assert [t.get_text() for t in fig.axes[0].texts].count("dead") == int(dead.sum())
    shared = plots.plot_first_layer_weights(model, shared_scale=True)
    limit = float(np.max(np.abs(model.dense_layers[0].W)))
    assert shared.axes[0].images[0].get_clim() == pytest.approx((-limit, limit))
    assert "one scale" in shared._suptitle.get_text()


def test_digit_pair_figures(tmp_path):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 * y + rng.random(200) * 0.7, 0, 1)[:, None]
    fig = plots.plot_roc_pr(y, p, (1, 5), tmp_path / "r.png")
    assert "AUC" in fig.axes[0].get_legend().get_texts()[0].get_text()
    assert all("test split" in ax.get_title() for ax in fig.axes)
    fig = plots.plot_probability_histogram(y, p, (1, 5), tmp_path / "h.png")
    assert "test split" in fig.axes[0].get_title()
    _check_png(tmp_path / "r.png")
    _check_png(tmp_path / "h.png")
