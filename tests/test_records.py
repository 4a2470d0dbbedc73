"""The record configs (examples/record-*.toml) and examples/records.py's smoke mode."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from barenet.cli import main
from barenet.config import make_config, read_toml
from barenet.errors import BarenetError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

import records  # noqa: E402


@pytest.mark.parametrize("name", ["noaug", "noaug-dropout", "aug"])
def test_record_configs_are_valid_and_chosen_on_validation(name):
    config = make_config(read_toml(EXAMPLES / f"record-{name}.toml"))
    assert config.val_fraction > 0 and config.description.strip()
    assert config.dropout > 0 or config.noise > 0  # each record recipe is regularized
    augmented = config.augment != "none" or config.shift > 0
    assert augmented == (name == "aug")
    record = next((r for r in records.RECORDS if r.name == name), None)
    for overrides in record.candidates if record else ():  # every candidate is a valid config too
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
    # a second attempt keeps the first one's result, and the page names both
    first = json.loads((tmp_path / "records-noaug.json").read_text())
    assert records.main(["--smoke", "--only", "noaug", "--out", str(out), "--runs", str(runs)]) == 0
    assert json.loads((tmp_path / "records-noaug-attempt-1.json").read_text()) == first
    assert "other attempt: " in out.read_text()


def _result(val_errors: list[float], **config) -> dict:
    """A record result with the given validation error (%) per epoch."""
    toml = make_config(read_toml(EXAMPLES / "record-noaug.toml"), **config).to_toml()
    history = [{"val_accuracy": 1 - e / 100, "train_accuracy": 0.99, "train_loss": 0.1, "val_loss": 0.1}
               for e in val_errors]
    return {"record": "noaug", "config": toml, "history": history, "final_seconds": 600.0,
            "validation": history[-1]["val_accuracy"], "test_accuracy": 0.985, "test_loss": 0.5,
            "total_seconds": 600.0, "machine": "a CPU", "smoke": False,
            "command": "barenet train --config examples/record-noaug.toml", "chosen": {}, "scores": []}


def test_outlook_reads_the_curve_and_the_cost_of_width():
    r = _result([3.0, 2.0, 1.8, 1.6, 1.5, 1.45, 1.42, 1.4], layers=[100, 100])
    text = records._outlook(records.RECORD_BY_NAME["noaug"], r)
    # epoch 4 -> 8: 1.6 -> 1.4; epoch 6 -> 8: 1.45 -> 1.4
    assert "fell by 0.20 points over the second half" in text and "by 0.05 over the last quarter" in text
    assert "more epochs of this schedule are expected to give little" in text
    wide = (784 * 200 + 200 * 200 + 200 * 10) / (784 * 100 + 100 * 100 + 100 * 10)
    assert f"{wide:.1f}x the weights" in text and "[200, 200]" in text
    assert f"{wide * 10:.1f} min" in text


def test_outlook_says_when_the_curve_is_still_falling():
    r = _result([3.0, 2.0, 1.9, 1.8, 1.6, 1.5, 1.3, 1.2])  # 1.5 -> 1.2 over the last quarter
    text = records._outlook(records.RECORD_BY_NAME["noaug"], r)
    assert "by 0.30 over the last quarter; it was still falling" in text
    assert "twice the epochs: about 20.0 min here" in text


def test_the_page_shows_the_attempt_with_the_best_validation(tmp_path):
    out = tmp_path / "records.md"
    worse, better = _result([2.0, 1.5]), _result([2.0, 1.2], lr=0.002)
    better["command"] += " --lr 0.002"
    records.write_text(records.result_path(out, "noaug"), json.dumps(better))
    records.keep_earlier(out, "noaug")
    records.write_text(records.result_path(out, "noaug"), json.dumps(worse))
    kept = records.attempts(out, "noaug")
    assert kept[0] == better and kept[1] == worse
    text = records.page([kept[0]], None, {"noaug": kept})
    assert "validation 98.80%" in text and "adam lr 0.002" in text
    assert "other attempt: barenet train --config examples/record-noaug.toml: validation 98.50%" in text
    assert "what more would give: " in text  # the target is missed


def test_command_line_repeats_the_chosen_overrides():
    record = records.RECORD_BY_NAME["aug"]
    line = records.command_line(record, {"layers": [800], "dropout": 0.0, "augment": "shift(1)"}, 1)
    assert line == ('barenet train --config examples/record-aug.toml --layers 800 --dropout 0.0 '
                    '--augment "shift(1)" --threads 1')
    config = make_config(read_toml(record.path), layers=[800], dropout=0.0, augment="shift(1)")
    assert config.layers == [800]


def test_records_runs_are_kept_out_of_git():
    """The default --runs directory and any other attempt's (records-runs-250, ...)."""
    from fnmatch import fnmatch

    lines = (EXAMPLES.parent / ".gitignore").read_text().split()
    patterns = [p.rstrip("/") for p in lines if p.endswith("/")]
    for runs in ("records-runs", "records-runs-250"):
        assert any(fnmatch(runs, pattern) for pattern in patterns), runs


def test_only_a_single_candidate_record_can_be_resumed(tmp_path):
    """An interrupted selection's scores are not kept, so resuming it would hide them."""
    with pytest.raises(SystemExit, match="only a record with one candidate"):
        records.run_record(records.RECORD_BY_NAME["aug"], True, tmp_path, resume=True)


def test_set_overrides_every_candidate_and_names_itself_in_the_repeat_command():
    assert records.parse_overrides(["epochs=250", "lr = 0.001", 'augment="none"']) == {
        "epochs": 250, "lr": 0.001, "augment": "none"}
    for bad in (["epochs"], ["epochs=many"]):
        with pytest.raises(SystemExit, match="--set"):
            records.parse_overrides(bad)
    for bad, match in ((["no_such_option=1"], "no_such_option"), (["epochs=0"], "epochs")):
        with pytest.raises(BarenetError, match=match):  # refused before anything trains
            records.parse_overrides(bad)
    line = records.command_line(records.RECORD_BY_NAME["noaug"], {"epochs": 250}, 1)
    assert line == "barenet train --config examples/record-noaug.toml --epochs 250 --threads 1"


def test_the_repeat_command_trains_the_record_run_bit_for_bit():
    """records.py trains the final run on the data without its test split; `barenet train
    --config examples/record-noaug.toml` keeps the test split for its report. The split, the
    initialization, the batches and the noise must not depend on that."""
    from barenet.data.mnist import load_mnist
    from barenet.run.runner import train_run

    config = make_config(read_toml(EXAMPLES / "record-noaug.toml"), per_class=20, epochs=2,
                         layers=[16, 12], threads=1)
    full = load_mnist()
    record = train_run(config, write=False, dataset=records._without_test(full))
    repeat = train_run(config, write=False, dataset=full)
    assert config.batch_norm and config.noise > 0
    for a, b in zip(record.model.get_state(), repeat.model.get_state(), strict=True):
        assert np.array_equal(a, b)
    assert record.history["val_accuracy"] == repeat.history["val_accuracy"]
