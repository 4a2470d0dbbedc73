"""End-to-end tests of the ``barenet`` command line on small MNIST subsets."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from barenet.cli import main
from barenet.io import load_model


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One small 10-class run shared by the read-only tests below."""
    out = tmp_path_factory.mktemp("run") / "r"
    code = main(["train", "--per-class", "100", "--layers", "32", "--epochs", "5", "--lr", "0.003",
                 "--val-fraction", "0.1", "--out", str(out), "--quiet"])
    assert code == 0
    return out


@pytest.mark.slow
def test_train_writes_the_run_directory(trained_run):
    for name in ("model.npz", "config.toml", "history.csv", "history.json", "metrics.json"):
        assert (trained_run / name).is_file(), name
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["test"]["samples"] == 10000
    assert metrics["test"]["accuracy"] > 0.75  # 900 training images, 5 epochs: it learns
    assert len(metrics["test"]["report"]["confusion_matrix"]) == 10
    history = (trained_run / "history.csv").read_text().splitlines()
    assert len(history) == 6  # header + 5 epochs


@pytest.mark.slow
def test_config_reproduces_the_run_bit_for_bit(trained_run, tmp_path, capsys):
    again = tmp_path / "again"
    code, _, _ = run_cli(["train", "--config", trained_run / "config.toml", "--out", again,
                          "--quiet"], capsys)
    assert code == 0
    m1, _ = load_model(trained_run / "model.npz")
    m2, _ = load_model(again / "model.npz")
    for a, b in zip(m1.get_weights(), m2.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert (trained_run / "history.csv").read_text().split("\n")[0] == \
        (again / "history.csv").read_text().split("\n")[0]


@pytest.mark.slow
def test_evaluate_matches_the_training_metrics(trained_run, capsys):
    code, out, _ = run_cli(["evaluate", trained_run, "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert result["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    code, out, _ = run_cli(["evaluate", trained_run / "model.npz"], capsys)
    assert code == 0 and "confusion matrix" in out and "macro" in out


@pytest.mark.slow
def test_info(trained_run, capsys):
    code, out, _ = run_cli(["info", trained_run], capsys)
    assert code == 0
    assert "Dense(784 -> 32)" in out and "per_class = 100" in out
    code, out, _ = run_cli(["info", trained_run, "--json"], capsys)
    assert json.loads(out)["model"]["sizes"] == [784, 32, 10]


@pytest.mark.slow
def test_predict_images_npy_and_idx(trained_run, tmp_path, capsys):
    from PIL import Image

    from barenet.datasets import load_mnist
    from barenet.datasets.idx import write_idx

    ds = load_mnist()
    images = ds.x_test[:5]
    paths = []
    for i, image in enumerate(images):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    np.save(tmp_path / "batch.npy", images)
    write_idx(tmp_path / "batch-idx3-ubyte", images)
    code, out, _ = run_cli(["predict", trained_run, *paths, tmp_path / "batch.npy",
                            tmp_path / "batch-idx3-ubyte", "--json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 15
    labels = [r["label"] for r in rows]
    assert labels[:5] == labels[5:10] == labels[10:]  # the same images, the same answers
    model, meta = load_model(trained_run / "model.npz")
    from barenet.preprocess import Normalizer
    expected = model.predict(Normalizer.from_dict(meta["preprocessing"]["normalizer"])
                             .transform(images.reshape(5, -1)))
    assert labels[:5] == [meta["classes"][k] for k in expected]
    assert all(0 <= r["probability"] <= 1 for r in rows)
    code, out, _ = run_cli(["predict", trained_run, paths[0], "--top", "3"], capsys)
    assert code == 0 and "p=" in out


@pytest.mark.slow
def test_digit_pair_reports_outcomes_in_original_digits(tmp_path, capsys):
    out = tmp_path / "pair"
    code, _, _ = run_cli(["train", "--digits", "1", "5", "--per-class", "200", "--layers", "16",
                          "--epochs", "4", "--lr", "0.01", "--val-fraction", "0", "--out", out,
                          "--quiet"], capsys)
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    outcomes = metrics["test"]["outcomes"]
    assert outcomes["positive_digit"] == 5 and outcomes["negative_digit"] == 1
    assert outcomes["TP"] + outcomes["FN"] == 892  # every test 5
    assert outcomes["TN"] + outcomes["FP"] == 1135  # every test 1
    assert metrics["test"]["accuracy"] > 0.95
    model, meta = load_model(out / "model.npz")
    assert model.n_outputs == 1 and meta["classes"] == ["1", "5"]


@pytest.mark.parametrize("batch_size", ["1", "full"])
@pytest.mark.slow
def test_per_sample_and_full_batch(tmp_path, capsys, batch_size):
    out = tmp_path / batch_size
    code, _, _ = run_cli(["train", "--per-class", "10", "--layers", "8", "--epochs", "1",
                          "--batch-size", batch_size, "--optimizer", "sgd", "--lr", "0.01",
                          "--val-fraction", "0", "--out", out, "--json"], capsys)
    assert code == 0
    history = json.loads((out / "history.json").read_text())
    assert len(history["batch_loss"]) == (100 if batch_size == "1" else 1)


@pytest.mark.slow
def test_json_output_is_machine_readable(tmp_path, capsys):
    code, out, _ = run_cli(["train", "--per-class", "20", "--layers", "8", "--epochs", "1",
                            "--out", tmp_path / "j", "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert set(result) >= {"run_dir", "train", "test"}


@pytest.mark.parametrize("args, fragment", [
    (["train", "--digits", "3", "3"], "two different digits"),
    (["train", "--digits", "1", "12"], "between 0 and 9"),
    (["train", "--hidden", "swish"], "unknown hidden activation"),
    (["train", "--optimizer", "lbfgs"], "unknown optimizer"),
    (["train", "--init", "gaussian(2)"], "initializer"),
    (["train", "--per-class", "5", "--batch-size", "1000", "--val-fraction", "0"], "larger than"),
    (["train", "--data", "/nonexistent/dir"], "/nonexistent/dir"),
    (["train", "--config", "/nonexistent/c.toml"], "not found"),
    (["train", "--epochs", "many"], "--epochs must be an integer of at least 1"),
    (["train", "--shift", "-2"], "--shift must be 0 (off)"),
    (["train", "--no-such-flag"], "unrecognized arguments"),
    (["evaluate", "/nonexistent/model.npz"], "not found"),
    (["info", "/nonexistent"], "not found"),
])
def test_user_errors_exit_2_with_one_line(args, fragment, capsys):
    code, out, err = run_cli(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("barenet: error:")
    assert fragment in lines[0]
    assert "Traceback" not in err


@pytest.mark.slow
def test_nan_input_and_wrong_input_size_are_user_errors(trained_run, tmp_path, capsys):
    bad = np.zeros((2, 28, 28), dtype=np.float32)
    bad[0, 3, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    code, _, err = run_cli(["predict", trained_run, tmp_path / "nan.npy"], capsys)
    assert code == 2 and "NaN" in err and "Traceback" not in err
    np.save(tmp_path / "small.npy", np.zeros((2, 8, 8), dtype=np.uint8))
    code, _, err = run_cli(["predict", trained_run, tmp_path / "small.npy"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    (tmp_path / "notes.txt").write_text("not an image")
    code, _, err = run_cli(["predict", trained_run, tmp_path / "notes.txt"], capsys)
    assert code == 2 and "notes.txt" in err


@pytest.mark.slow
def test_a_real_process_exits_2_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "barenet", "train", "--digits", "4", "4"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "two different digits" in proc.stderr


@pytest.mark.slow
def test_gradcheck_command_passes(capsys):
    code, out, _ = run_cli(["gradcheck", "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["passed"] and len(result["rows"]) == 5 * 6 * 2 * 2
    assert result["max_error"] <= 1e-6


@pytest.mark.slow
def test_gradcheck_command_fails_when_the_tolerance_is_not_met(capsys):
    code, out, _ = run_cli(["gradcheck", "--tolerance", "1e-30"], capsys)
    assert code == 1 and "FAIL" in out


def test_a_model_saved_without_metadata_is_a_user_error(tmp_path, capsys):
    import barenet as bn

    bn.save_model(tmp_path / "bare.npz", bn.MLP([784, 8, 10], seed=0))
    np.save(tmp_path / "x.npy", np.zeros((1, 28, 28), dtype=np.uint8))
    for args in (["predict", tmp_path / "bare.npz", tmp_path / "x.npy"],
                 ["evaluate", tmp_path / "bare.npz"]):
        code, _, err = run_cli(args, capsys)
        assert code == 2 and "does not record how its inputs were scaled" in err
        assert len(err.strip().splitlines()) == 1
