"""The record configs (examples/record-*.toml) and examples/records.py's smoke mode."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from barenet.cli import main
from barenet.config import make_config, read_toml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

import records  # noqa: E402


@pytest.mark.parametrize("name", ["noaug", "aug"])
def test_record_configs_are_valid_and_chosen_on_validation(name):
    config = make_config(read_toml(EXAMPLES / f"record-{name}.toml"))
    assert config.val_fraction > 0 and config.description.strip()
    assert config.max_norm is not None
    assert (config.augment != "none") == (name == "aug")
    record = next(r for r in records.RECORDS if r.name == name)
    for overrides in record.candidates:  # every candidate is a valid config too
        make_config(read_toml(record.path), **overrides)


def test_train_config_record_aug_starts(tmp_path):
    out = tmp_path / "r"
    assert main(["train", "--config", str(EXAMPLES / "record-aug.toml"), "--per-class", "20",
                 "--epochs", "1", "--layers", "32", "--threads", "1", "--out", str(out),
                 "--quiet", "--no-report"]) == 0
    saved = make_config(read_toml(out / "config.toml"))
    assert saved.augment == "shift(1)+rotate(10)+scale(0.1)+shear(0.2)+elastic(34,4)"
    assert saved.max_norm == 4.0


@pytest.mark.slow
def test_records_smoke_mode_writes_the_page(tmp_path):
    out, runs = tmp_path / "records.md", tmp_path / "runs"
    assert records.main(["--smoke", "--out", str(out), "--runs", str(runs)]) == 0
    text = out.read_text()
    assert "Smoke run only" in text
    assert text.count("- test accuracy: **") == 2 and "98.94 %" in text and "99.3 %" in text
    assert (tmp_path / "records-aug-samples.png").stat().st_size > 1000
    assert (tmp_path / "records-curves.png").stat().st_size > 1000
    assert not (tmp_path / "records-noaug-samples.png").exists()
    for name in ("noaug", "aug"):  # each final run is a run directory, its result kept as JSON
        assert (runs / name / "model.npz").exists() and (runs / name / "config.toml").exists()
        result = json.loads((tmp_path / f"records-{name}.json").read_text())
        assert result["command"].startswith(f"barenet train --config examples/record-{name}.toml")
        assert f"`{result['command']}`" in text
    # the page can be written again from the saved results alone, training nothing
    out.unlink()
    assert records.main(["--page-only", "--out", str(out), "--runs", str(runs)]) == 0
    assert out.read_text() == text


def test_command_line_repeats_the_chosen_overrides():
    record = records.RECORD_BY_NAME["aug"]
    line = records.command_line(record, {"layers": [800], "dropout": 0.0, "augment": "shift(1)"}, 1)
    assert line == ('barenet train --config examples/record-aug.toml --layers 800 --dropout 0.0 '
                    '--augment "shift(1)" --threads 1')
    config = make_config(read_toml(record.path), layers=[800], dropout=0.0, augment="shift(1)")
    assert config.layers == [800]


def test_records_runs_are_kept_out_of_git():
    gitignore = (EXAMPLES.parent / ".gitignore").read_text().split()
    assert "records-runs/" in gitignore
