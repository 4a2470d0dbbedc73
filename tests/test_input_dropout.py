"""Input dropout (Srivastava et al. 2014's dropout on the pixels): MLP(input_dropout=r),
the ``input_dropout`` option, saving and loading, gradient checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

import barenet as bn
from barenet.errors import BarenetError
from barenet.export.native import load_model, save_model
from barenet.nn.gradcheck import gradcheck
from barenet.nn.layers import Dense, Dropout


def _net(rate=0.25, dropout=0.0, dtype="float64", seed=0):
    return bn.MLP([12, 7, 3], hidden="tanh", output="softmax", input_dropout=rate,
                  dropout=dropout, dtype=dtype, seed=seed)


def test_input_dropout_layer_comes_first_and_scales_kept_pixels():
    net = _net(0.25)
    assert isinstance(net.layers[0], Dropout) and isinstance(net.layers[1], Dense)
    x = np.random.default_rng(1).uniform(0.5, 1.0, size=(400, 12))
    net.forward(x, training=True, copy=False)
    seen = net.layers[1]._x  # what the first Dense received
    kept = seen != 0
    assert 0.2 < 1 - kept.mean() < 0.3  # about a quarter of the pixels dropped
    np.testing.assert_allclose(seen[kept], x[kept] / 0.75)
    np.testing.assert_array_equal(net.forward(x), _net(0.0).forward(x))  # inference: no dropout


def test_input_dropout_zero_adds_no_layer():
    assert not any(isinstance(layer, Dropout) for layer in _net(0.0).layers)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_gradients_through_a_frozen_input_mask(dropout):
    net = _net(0.3, dropout=dropout)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(9, 12)), rng.integers(0, 3, size=9)
    result = gradcheck(net, "cross_entropy", x, y, max_entries=None)
    assert result.max_error < 1e-7, result.errors
    # and the input mask matters: the gradient differs from the one without input dropout
    plain = _net(0.0, dropout=dropout)
    net.loss_and_gradients(x, y, "cross_entropy")
    plain.loss_and_gradients(x, y, "cross_entropy")
    assert not np.allclose(net.dense_layers[0].dW, plain.dense_layers[0].dW)


def test_first_dense_computes_no_input_gradient():
    net = _net(0.3, dtype="float32")
    x = np.ones((5, 12), dtype=np.float32)
    net.loss_and_gradients(x, np.zeros(5, dtype=np.int64), "cross_entropy")
    assert net.dense_layers[0]._dx is None  # the (N, 784) product nobody uses is skipped


def test_rate_is_checked():
    with pytest.raises(BarenetError, match=r"dropout rate must be in \[0, 1\)"):
        _net(1.0)


def test_save_load_round_trip_and_old_files_without_the_key(tmp_path):
    net = _net(0.2, dtype="float32")
    path = save_model(tmp_path / "m.npz", net)
    loaded, _ = load_model(path)
    assert loaded.input_dropout == 0.2 and isinstance(loaded.layers[0], Dropout)
    assert loaded.config() == net.config()
    assert _net(0.0).astype("float32").config()["input_dropout"] == 0.0
    assert net.astype("float64").input_dropout == 0.2
    # a file saved before the option existed has no key: it loads with no input dropout
    with np.load(path) as archive:
        arrays = dict(archive)
    header = json.loads(arrays["header"].tobytes())
    del header["model"]["input_dropout"]
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    old, _ = load_model(tmp_path / "old.npz")
    assert old.input_dropout == 0.0 and not isinstance(old.layers[0], Dropout)
    header["model"]["input_dropout"] = 1.5
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(BarenetError, match="input_dropout"):
        load_model(tmp_path / "bad.npz")


def test_cli_option_trains_and_is_recorded(tmp_path):
    from barenet.cli import main
    from barenet.config import make_config, read_toml

    out = tmp_path / "run"
    assert main(["train", "--per-class", "20", "--epochs", "1", "--layers", "16", "--threads", "1",
                 "--input-dropout", "0.2", "--out", str(out), "--quiet", "--no-report"]) == 0
    assert make_config(read_toml(out / "config.toml")).input_dropout == 0.2
    model, _ = load_model(out / "model.npz")
    assert model.input_dropout == 0.2


def test_cli_refuses_a_rate_of_one(tmp_path, capsys):
    from barenet.cli import main

    assert main(["train", "--input-dropout", "1", "--out", str(tmp_path / "r")]) == 2
    assert "--input-dropout" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_model_pickled_before_input_dropout_existed_still_works():
    """scikit-learn pickles estimators; an MLP pickled by an older barenet has no
    ``input_dropout`` attribute and must come back as a model without it."""
    import pickle

    net = _net(0.0, dtype="float32")
    state = net.__dict__.copy()
    del state["input_dropout"]
    old = bn.MLP.__new__(bn.MLP)
    old.__setstate__(state)
    assert old.config()["input_dropout"] == 0.0 and old.astype("float64").input_dropout == 0.0
    again = pickle.loads(pickle.dumps(old))
    np.testing.assert_array_equal(again.forward(np.ones((2, 12))), net.forward(np.ones((2, 12))))
