"""Jupyter display of barenet's objects, in-process (tests/test_notebooks.py runs a real kernel):
MLP's summary table, History's curves, barenet.Run's report summary, and LivePlot outside a
notebook and without IPython."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import barenet as bn
from barenet.run.config import make_config
from barenet.run.runner import train_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _tiny_data(n=200):
    rng = np.random.default_rng(0)
    x = rng.random((n, 4)).astype(np.float32)
    return x, (x[:, 0] > 0.5).astype(np.int64)


def test_mlp_shows_its_summary_table_in_html():
    model = bn.MLP([784, 64, 10], dropout=0.2)
    page = model._repr_html_()
    assert page.startswith("<pre>MLP([784, 64, 10]") and page.endswith("</pre>")
    assert model.summary().replace(">", "&gt;") in page and "Dense(784 -&gt; 64)" in page


def test_history_shows_its_curves_as_png_and_an_empty_one_falls_back_to_text():
    x, y = _tiny_data()
    history = bn.fit(bn.MLP([4, 8, 2]), x, y, epochs=2, batch_size=50, validation=(x, y))
    assert history._repr_png_().startswith(PNG_MAGIC)
    assert bn.History()._repr_png_() is None


def test_live_plot_outside_a_notebook_draws_nothing_but_still_diagnoses(capsys):
    x, y = _tiny_data()
    live = bn.LivePlot()
    bn.fit(bn.MLP([4, 16, 16, 2], init="normal(0.0001)"), x, y, epochs=2, batch_size=8, optimizer="sgd",
           lr=0.05, callbacks=[live])
    assert live.active is False
    assert capsys.readouterr().out == ""
    assert "dead_relu" in {f.code for f in live.findings}


def test_live_plot_needs_ipython_and_a_positive_interval(monkeypatch):
    for every in (0, 1.5, "2", True):
        with pytest.raises(bn.BarenetError, match="every"):
            bn.LivePlot(every=every)
    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    with pytest.raises(bn.BarenetError, match=r"barenet\[notebook\]"):
        bn.LivePlot()


def test_live_plot_in_a_notebook_updates_two_displays_in_place(monkeypatch):
    shown = []

    class Handle:
        def __init__(self, bundle):
            self.bundles = [bundle]

        def update(self, bundle, raw=True):
            self.bundles.append(bundle)

    def display(bundle, raw=True, display_id=True):
        shown.append(Handle(bundle))
        return shown[-1]

    import IPython.display

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr("barenet.inspect.liveplot.in_notebook", lambda: True)
    x, y = _tiny_data()
    live = bn.LivePlot(every=2)
    # lr 0.05: it learns (90 %); at the default 0.001 it reaches 62 %, which the diagnosis rightly
    # does not call healthy (a pair needs 65 %)
    bn.fit(bn.MLP([4, 8, 2]), x, y, epochs=3, batch_size=50, lr=0.05, validation=(x, y), callbacks=[live])
    warnings, curves = shown  # two outputs, whatever the number of epochs
    assert len(warnings.bundles) == 4 and "no problem detected" in warnings.bundles[-1]["text/html"]
    # epoch 2 (every=2), then epoch 3 at the end of training
    assert [b["text/plain"] for b in curves.bundles] == ["<training curves, epoch 2>",
                                                         "<training curves, epoch 3>"]


@pytest.mark.slow
def test_run_shows_results_diagnosis_and_figures(tmp_path, monkeypatch):
    config = make_config(dataset="digits8", layers=[8], epochs=1, batch_size=64, val_fraction=0.1)
    train_run(config, out=tmp_path / "run")
    run = bn.Run(tmp_path / "run")
    assert repr(run).startswith(f"Run({str(tmp_path / 'run')!r}: 1 epochs, test accuracy ")
    assert run.model.sizes == [64, 8, 10] and len(run.history) == 1
    page = run._repr_html_()
    for text in ("<td>train</td>", "<td>validation</td>", "<td>test</td>", "Diagnosis", "Loss and accuracy"):
        assert text in page
    assert page.count("<img ") == len(run.figures) >= 5  # written now: the run had no figures
    assert (tmp_path / "run" / "figures" / "curves.png").exists()
    assert list(bn.Run(tmp_path / "run").figures)[:2] == ["curves", "batch_loss"]  # in report order
    written = []  # run.report() is write_report (tests/test_report.py); the figures are read again after
    monkeypatch.setattr("barenet.run.report.write_report",
                        lambda path: written.append(path) or path / "r.html")
    assert run.report() == tmp_path / "run" / "r.html" and written == [tmp_path / "run"]
    assert "figures" not in run.__dict__


def test_run_of_a_missing_directory_is_one_clear_error(tmp_path):
    with pytest.raises(bn.BarenetError, match="not found"):
        bn.Run(tmp_path / "nothing")
