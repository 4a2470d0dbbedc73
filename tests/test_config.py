"""TrainConfig: defaults, TOML round trip, flag overrides and validation messages."""

from __future__ import annotations

import pytest

from barenet.config import TrainConfig, make_config, read_toml
from barenet.errors import BarenetError


def test_toml_round_trip_keeps_every_option(tmp_path):
    config = make_config(None, digits=[1, 5], layers=[500, 250], init="uniform(-1,1)",
                         batch_size="full", lr=0.001, nesterov=True, momentum=0.9,
                         optimizer="sgd", shift=2, description='quote " and \\ backslash')
    path = tmp_path / "config.toml"
    config.save(path)
    again = make_config(read_toml(path))
    assert again == config


def test_flags_override_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("lr = 0.5\nepochs = 3\n")
    config = make_config(read_toml(path), lr=0.01)
    assert config.lr == 0.01 and config.epochs == 3


def test_train_table_is_accepted(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nlayers = [10]\nbatch-size = 1\n")
    config = make_config(read_toml(path))
    assert config.layers == [10] and config.batch_size == 1


@pytest.mark.parametrize("options, fragment", [
    ({"digits": [3, 3]}, "two different digits"),
    ({"digits": [1, 12]}, "between 0 and 9"),
    ({"digits": [1]}, "exactly two digits"),
    ({"batch_size": "many"}, "positive integer or 'full'"),
    ({"batch_size": 0}, "positive integer or 'full'"),
    ({"dataset": "cifar"}, "mnist, fashion-mnist"),
    ({"normalize": "unit"}, "255, max"),
    ({"val_fraction": 1.5}, "[0, 1)"),
    ({"epochs": 0}, "at least 1"),
    ({"lr": "fast"}, "--lr must be a finite number > 0"),
    ({"layers": [10, "x"]}, "list of integers"),
    ({"early_stopping": 3, "val_fraction": 0.0}, "validation split"),
    ({"shift": -1}, "--shift must be 0 (off) or a positive number"),
    ({"shift": 1.5}, "--shift must be 0 (off) or a positive number"),
])
def test_invalid_values_are_named(options, fragment):
    with pytest.raises(BarenetError, match=None) as info:
        make_config(None, **options)
    assert fragment in str(info.value)


def test_unknown_key_and_bad_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("learning_rate = 0.1\n")
    with pytest.raises(BarenetError, match="unknown option"):
        read_toml(path)
    path.write_text("lr = = 1\n")
    with pytest.raises(BarenetError, match="not valid TOML"):
        read_toml(path)
    with pytest.raises(BarenetError, match="not found"):
        read_toml(tmp_path / "missing.toml")


def test_a_byte_order_mark_is_read_past_and_other_encodings_refused(tmp_path):
    path = tmp_path / "notepad.toml"
    path.write_bytes("\ufeffepochs = 3\ndescription = \"été\"\n".encode("utf-8"))
    assert read_toml(path) == {"epochs": 3, "description": "été"}
    path.write_bytes("description = \"été\"\n".encode("latin-1"))
    with pytest.raises(BarenetError, match="not UTF-8 text"):
        read_toml(path)
    with pytest.raises(BarenetError, match="cannot read config file"):
        read_toml(tmp_path)


def test_defaults_are_valid():
    assert TrainConfig().validate().batch_size == 128
    assert TrainConfig().shift == 0  # augmentation is off unless asked for


def test_shift_from_toml_and_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("shift = 2\n")
    assert make_config(read_toml(path)).shift == 2
    assert make_config(read_toml(path), shift=1).shift == 1
    assert "shift = 2" in make_config(read_toml(path)).to_toml().splitlines()


def test_bias_init_spec_and_adamw_default(tmp_path):
    import numpy as np

    import barenet as bn
    from barenet.io import load_model, save_model

    with pytest.raises(BarenetError, match="initializer"):
        make_config(None, bias_init="gauss(1)")
    model = bn.MLP([6, 5, 2], bias_init="uniform(-1,1)", seed=0)
    b = model.params()[1].value
    assert b.min() >= -1 and b.max() <= 1 and len(np.unique(b)) == 5
    assert bn.MLP([6, 5, 2], bias_init="0.5").params()[1].value.tolist() == [0.5] * 5
    path = save_model(tmp_path / "m.npz", model)
    loaded, _ = load_model(path)
    assert loaded.bias_init == "uniform(-1,1)"
    assert np.array_equal(loaded.params()[1].value, b)
    assert bn.make_optimizer("adamw", 0.1).weight_decay == 0.01
    assert bn.make_optimizer("adamw", 0.1, weight_decay=0.0).weight_decay == 0.0
    assert bn.make_optimizer("adam", 0.1).weight_decay == 0.0


def test_shuffle_option_and_numeric_bias_init(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("shuffle = false\nbias_init = 0\n")
    config = make_config(read_toml(path))
    assert config.shuffle is False and config.bias_init == "0"
    from barenet.cli import build_parser

    assert build_parser().parse_args(["train", "--no-shuffle"]).shuffle is False
    assert build_parser().parse_args(["train"]).shuffle is None  # None: the config decides
