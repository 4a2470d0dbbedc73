"""The report's grid of augmented training samples (issue 20): drawn for runs that augment,
absent for runs that do not, and what it shows is what the run's augmentation makes."""

from __future__ import annotations

import numpy as np
import pytest

from barenet.config import TrainConfig
from barenet.data.augment_spec import augmentation_for, run_augment_spec
from barenet.inspect.plots import plot_augmented
from barenet.run.report import write_figures_and_report
from barenet.run.runner import train_run


def _run(tmp_path, **options):
    out = tmp_path / "run"
    result = train_run(TrainConfig(per_class=10, layers=[8], epochs=1, batch_size=20, threads=1,
                                   **options), out=out)
    write_figures_and_report(out, result)
    return out


@pytest.mark.slow  # each trains a run and writes its whole report
@pytest.mark.parametrize("options, spec", [
    ({"augment": "rotate(15)+elastic(34,4)"}, "rotate(15)+elastic(34,4)"),
    ({"shift": 2}, "shift(2)"),
    ({"shift": 1, "augment": "scale(0.1)"}, "shift(1)+scale(0.1)"),
])
def test_an_augmented_run_shows_its_augmented_samples(tmp_path, options, spec):
    out = _run(tmp_path, **options)
    assert (out / "figures" / "augmented.png").stat().st_size > 2000
    html = (out / "report.html").read_text()
    assert 'id="fig-augmented"' in html and "Augmented training samples" in html
    assert run_augment_spec(options.get("augment", "none"), options.get("shift", 0)) == spec


@pytest.mark.slow
def test_a_run_without_augmentation_has_no_such_figure(tmp_path):
    out = _run(tmp_path)
    assert not (out / "figures" / "augmented.png").exists()
    assert 'id="fig-augmented"' not in (out / "report.html").read_text()


def test_the_grid_holds_the_originals_and_the_augmented_copies():
    x = np.zeros((4, 28, 28), dtype=np.uint8)
    x[:, 10:18, 12:16] = 255
    augment = augmentation_for("rotate(30)", (28, 28))
    fig = plot_augmented(x, augment, n=4, copies=2, seed=3)
    canvas = np.ma.getdata(fig.axes[0].images[0].get_array())
    drawn = canvas[~np.isnan(canvas)]
    # the originals are binary; the rotated copies (bilinear) add grey levels in between
    assert np.any((drawn > 1) & (drawn < 254))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["original", "copy 1", "copy 2"]
    same = plot_augmented(x, augment, n=4, copies=2, seed=3)  # seeded: the same picture
    np.testing.assert_array_equal(np.ma.getdata(same.axes[0].images[0].get_array()), canvas)


def test_run_augment_spec_reads_shift_as_a_leading_term():
    assert run_augment_spec("none") == "none"
    assert run_augment_spec("none", 3) == "shift(3)"
    assert run_augment_spec(" rotate(5) ", 1) == "shift(1)+rotate(5)"
