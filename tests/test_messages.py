"""Bad input that used to end in a traceback, a stray warning or a misleading message: each
ends with one line naming the problem (issue 17), and ``| head`` ends quietly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import barenet
from barenet.cli import main
from barenet.data.idx import encode_idx
from barenet.data.images import load_inputs
from barenet.errors import BarenetError, DataError
from barenet.export.native import save_model
from barenet.files.safe_read import summary
from barenet.run.config import make_config
from barenet.run.runner import train_run
from barenet.train.history import History
from test_reliability import assert_one_line_error, png_claiming, run_cli


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("messages") / "run"
    train_run(make_config({}, per_class=10, layers=[8], epochs=1, val_fraction=0.0, batch_size=10),
              out=out)
    return out


# ----------------------------------------------------------------------------- summaries
def test_summary_cuts_at_a_word_boundary():
    text = "could be decompression bomb DOS attack " * 6
    line = summary(ValueError(text), limit=50)
    assert line.startswith("ValueError: could be decompression")
    assert line.endswith(" ...")
    words = line[len("ValueError: "):-len(" ...")].split()
    assert all(word in text.split() for word in words)
    assert summary(KeyError()) == "KeyError"


def test_decompression_bomb_message_is_whole(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(10000, 10000))
    with pytest.raises(DataError) as info:
        load_inputs([path])
    message = str(info.value)
    assert "DecompressionBomb" in message
    assert "100000000 pixels" in message and f"{Image.MAX_IMAGE_PIXELS} pixels" in message
    assert message.endswith("give a smaller image of one digit")


# ----------------------------------------------------------------------------- IDX vs images
@pytest.mark.parametrize("data, fragment", [
    (b"\0\0\x0a\x03" + bytes(12), "unsupported IDX dtype code 0x0A"),
    (b"\0\0\x08", "too short to be an IDX file"),
    (encode_idx(np.array(5, np.uint8)), "IDX"),
    (encode_idx(np.zeros((2, 28, 28), np.uint8))[:-5], "truncated"),
], ids=["unknown-dtype", "three-bytes", "scalar", "truncated"])
def test_a_broken_idx_file_is_reported_as_idx(tmp_path, data, fragment):
    path = tmp_path / "digits.idx"
    path.write_bytes(data)
    with pytest.raises(DataError, match=fragment) as info:
        load_inputs([path])
    assert "Pillow" not in str(info.value)


@pytest.mark.parametrize("suffix", [".tga", ".ico"])
def test_images_starting_with_two_zero_bytes_still_load(tmp_path, suffix):
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    path = tmp_path / f"digit{suffix}"
    Image.fromarray(digit).save(path)
    assert path.read_bytes()[:2] == b"\0\0"
    x, _ = load_inputs([path])
    assert x.shape == (1, 28, 28) and x.max() == 255


def test_predict_on_a_broken_idx_file_says_idx(small_run, tmp_path, capsys):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(b"\0\0\x0a\x03" + bytes(12))
    code, _, err = run_cli(["predict", small_run, path], capsys)
    assert "Pillow" not in assert_one_line_error(code, err, "IDX")


# ----------------------------------------------------------------------------- tampered files
@pytest.mark.parametrize("metadata, key", [
    ({"training": "lr=0.1"}, "training"),
    ({"classes": "0123456789"}, "classes"),
    ({"loss": "cross_entropy"}, "loss"),
], ids=["training-string", "classes-string", "loss-string"])
def test_info_on_a_tampered_metadata_section(tmp_path, capsys, metadata, key):
    path = save_model(tmp_path / "model.npz", barenet.MLP([4, 3, 2], seed=0), metadata)
    code, _, err = run_cli(["info", path], capsys)
    assert_one_line_error(code, err, f"'{key}'")


@pytest.mark.parametrize("payload", [[], [1, 2], {"epochs": "many"}, {"epochs": [1]},
                                     {"batch_loss": ["x"]}, {"batch_loss": [True]}])
def test_history_from_dict_refuses_other_shapes(payload):
    with pytest.raises(BarenetError, match="history"):
        History.from_dict(payload)


def test_history_from_dict_keeps_nulls_as_nan():
    history = History.from_dict({"epochs": [{"epoch": 1}], "batch_loss": [0.5, None]})
    assert history.batch_loss[0] == 0.5 and np.isnan(history.batch_loss[1])


@pytest.mark.parametrize("command", ["report", "inspect", "diagnose"])
def test_run_commands_on_a_history_that_is_a_list(small_run, tmp_path, capsys, command):
    run = tmp_path / "run"
    run.mkdir()
    for item in small_run.iterdir():
        if item.is_file():
            (run / item.name).write_bytes(item.read_bytes())
    (run / "history.json").write_text(json.dumps([{"epoch": 1}]))
    code, _, err = run_cli([command, run], capsys)
    assert_one_line_error(code, err, "history.json")


# ----------------------------------------------------------------------------- stray warnings
def test_no_numpy_warning_precedes_the_divergence_message(tmp_path, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["train", "--per-class", "10", "--batch-size", "10", "--layers", "8",
                     "--epochs", "2", "--optimizer", "sgd", "--lr", "1e30", "--no-report",
                     "--quiet", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
    assert err.strip().splitlines()[0].startswith("barenet: training diverged")


def test_a_diverging_fit_raises_without_numpy_warnings():
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 6)), np.arange(40) % 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(barenet.DivergenceError):
            barenet.fit(barenet.MLP([6, 8, 3], seed=0), x, y, optimizer="sgd", lr=1e30,
                        batch_size=10, epochs=3, seed=0)
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []


def test_warnings_of_a_successful_command_are_kept(capsys, monkeypatch):
    from barenet.cli import models

    def warn_and_succeed(args):
        np.float32(3e38) * np.float32(10)  # overflow: a RuntimeWarning
        return 0

    monkeypatch.setattr(models, "cmd_info", warn_and_succeed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["info", "whatever"]) == 0
    assert any(issubclass(w.category, RuntimeWarning) for w in caught)


# ----------------------------------------------------------------------------- pipes
@pytest.mark.slow
def test_output_into_a_closed_pipe_ends_quietly(small_run, tmp_path):
    many = tmp_path / "many.npy"
    np.save(many, np.tile(np.eye(28, dtype=np.uint8) * 255, (3000, 1, 1)))
    env = {**os.environ, "PYTHONPATH": str(Path(barenet.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "barenet", "predict", str(small_run), str(many)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert first.startswith(str(many).encode())
    assert err == ""
