"""The run report: figures, a self-contained report.html that a real browser renders with no
broken image, and the report / inspect / diagnose commands."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest

from barenet.cli import main
from barenet.config import TrainConfig
from barenet.report import write_figures_and_report
from barenet.runner import train_run
from browser import headless_command

pytestmark = pytest.mark.slow  # the module's run fixture trains and writes a report

# Counts the images that failed to decode once the page has loaded; read back from the dumped DOM.
PROBE = """<script>window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  document.body.dataset.images = images.length;
  document.body.dataset.broken = images.filter(function (i) {
    return !i.complete || i.naturalWidth === 0; }).length;
  document.body.dataset.loaded = 'yes';
});</script>"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    result = train_run(TrainConfig(per_class=50, layers=[16], epochs=2), out=out)
    path = write_figures_and_report(out, result)
    assert path == out / "report.html"
    return out


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pair") / "run"
    train_run(TrainConfig(per_class=50, layers=[8], epochs=1, digits=[1, 5], batch_size=32), out=out)
    return out


def _images(html: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]+)"', html)


@pytest.mark.slow
def test_report_is_self_contained(run_dir):
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    sources = _images(html)
    assert len(sources) >= 8
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html and "<script" not in html
    for needle in ("Results", "Diagnosis", "Per class (test split)", "Confusion matrix", "Configuration",
                   "Dense(784 -&gt; 16)", "Most-confused pairs (test split)"):
        assert needle in html
    for name in ("curves", "batch_loss", "learning_rate", "norms", "confusion", "samples", "correct",
                 "incorrect", "worst", "first_layer_weights", "activations"):
        assert (run_dir / "figures" / f"{name}.png").stat().st_size > 1000


def test_report_tells_the_story_in_order(run_dir):
    from barenet.run.report_html import FIGURES

    html = (run_dir / "report.html").read_text(encoding="utf-8")
    summary = re.search(r'<p class="summary">([^<]*)</p>', html).group(1)
    assert summary == "784-16-10 ReLU/softmax, cross-entropy, he_normal, Adam lr 0.005 cosine, 2 epochs"
    order = [html.index(s) for s in ('class="summary"', 'id="diagnosis"', "<nav>", 'id="results"',
                                     'id="figures"', 'id="configuration"')]
    assert order == sorted(order)
    config = html[html.index('id="configuration"'):]
    assert ">auto<" not in config and ">he_normal<" in config and ">cross_entropy<" in config
    for name in ("curves", "worst", "confusion"):
        assert FIGURES[name][1] in html.replace("&#x27;", "'")  # the caption says what to look for
    assert 'href="playground.html"' in html and (run_dir / "playground.html").exists()  # 28 x 28 input


def test_report_links_companion_files(run_dir, tmp_path):
    from barenet.run.report_html import report_links

    assert report_links(tmp_path) == []
    (tmp_path / "playground.html").write_text("<html></html>")
    assert report_links(tmp_path) == [("Interactive playground", "playground.html")]


@pytest.mark.slow
def test_report_opens_in_headless_chromium(run_dir, tmp_path, chromium):
    page = tmp_path / "report_probe.html"
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    page.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    base = headless_command(chromium, tmp_path / "profile")
    dom = subprocess.run([*base, "--dump-dom", "--virtual-time-budget=10000", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stdout[:500]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(0)))
    assert attrs.get("loaded") == "yes"
    assert int(attrs["images"]) >= 8
    assert attrs["broken"] == "0"
    shot = tmp_path / "report.png"
    done = subprocess.run([*base, f"--screenshot={shot}", "--window-size=1200,3000",
                           (run_dir / "report.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.stat().st_size > 10000


@pytest.mark.slow
def test_report_command_rebuilds_from_the_directory(pair_dir, capsys):
    assert not (pair_dir / "report.html").exists()
    assert main(["report", str(pair_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"].endswith("report.html")
    html = (pair_dir / "report.html").read_text(encoding="utf-8")
    assert "Binary outcomes" in html and "true 5 predicted 5" in html
    for name in ("outcomes", "roc_pr", "probabilities"):
        assert (pair_dir / "figures" / f"{name}.png").exists()
    assert "digits 1 vs 5" in html


@pytest.mark.slow
def test_inspect_command(run_dir, capsys):
    assert main(["inspect", str(run_dir), "--top", "3", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["split"] == "test" and len(found["worst"]) == 3
    losses = [w["loss"] for w in found["worst"]]
    assert losses == sorted(losses, reverse=True)
    for path in found["figures"].values():
        assert Path(path).exists()
    assert main(["inspect", str(run_dir), "-k", "2"]) == 0
    assert "worst predictions" in capsys.readouterr().out


@pytest.mark.slow
def test_diagnose_command(run_dir, capsys):
    assert main(["diagnose", str(run_dir), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["findings"] == [] and found["healthy"] is True
    assert {c["name"] for c in found["checks"]} >= {"loss", "accuracy", "gradients", "units"}
    assert main(["diagnose", str(run_dir)]) == 0
    assert "No problem found: every check" in capsys.readouterr().out


def test_diagnose_command_names_e3_failure(tmp_path, capsys):
    out = tmp_path / "e3"
    train_run(TrainConfig(per_class=30, layers=[100, 100], hidden="relu", init="normal(0.0001)",
                          output="softmax", loss="cross_entropy", reduction="sum", optimizer="sgd",
                          batch_size=100, lr=0.05, epochs=2), out=out)
    assert main(["diagnose", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Dead or near-zero ReLU" in text and "fix:" in text and "measured:" in text


@pytest.mark.slow
def test_diagnose_output_keeps_a_hanging_indent(tmp_path, capsys, monkeypatch):
    out = tmp_path / "tanh"
    train_run(TrainConfig(per_class=20, layers=[16], epochs=1, hidden="tanh", optimizer="sgd", lr=10.0),
              out=out)
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["diagnose", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  why:"))
    indent = lines[start].index("a ")  # where the text after the label starts
    assert lines[start + 1].startswith(" " * indent) and lines[start + 1].strip()
    assert all(len(line) <= 60 for line in lines)


@pytest.mark.slow
def test_gradcheck_fits_80_columns_and_checks_a_run(run_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["gradcheck"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80 and not any("…" in line for line in lines)
    assert main(["gradcheck", str(run_dir), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["passed"] and {(r["hidden"], r["output"], r["loss"]) for r in found["rows"]} == {
        ("relu", "softmax", "cross_entropy")}
    assert main(["gradcheck", str(tmp_path_missing := run_dir / "nope")]) == 2
    assert str(tmp_path_missing) in capsys.readouterr().err


def test_commands_report_user_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "run directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["diagnose", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.startswith("barenet: error:")
