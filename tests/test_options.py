"""The one option table (barenet.run.options): every option declared once, the flags, help,
TOML and search space generated from it, and validation with one wording from the command
line, a TOML file and the Python API, before anything is loaded or written (issues 14, 17)."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest
import tomllib

import barenet as bn
from barenet.cli import build_parser, main
from barenet.config import TrainConfig, make_config, read_toml
from barenet.errors import BarenetError
from barenet.nn.losses import OUTPUTS_FOR_LOSS, check_pairing
from barenet.run import memory, runner
from barenet.run import search as search_module
from barenet.run.options import OPTIONS, SEARCHABLE, option
from barenet.search import parse_space, search

TINY = ["--per-class", "5", "--layers", "4", "--epochs", "1", "--batch-size", "5", "--quiet", "--no-report"]


def one_line_error(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("barenet: error: "), err
    assert "Traceback" not in err
    return lines[0].removeprefix("barenet: error: ")


@pytest.fixture
def no_data_loading(monkeypatch):
    """Fail the test if anything loads a data set (a bad option must be refused first)."""
    def refuse(*args, **kwargs):
        raise AssertionError("data were loaded before the options were checked")

    monkeypatch.setattr(runner, "load_dataset", refuse)
    monkeypatch.setattr(search_module, "_training_only", refuse)


# ----------------------------------------------------------------------------- one table
def test_the_config_fields_are_the_table():
    assert [f.name for f in dataclasses.fields(TrainConfig)] == list(OPTIONS)
    config = TrainConfig()
    assert all(getattr(config, name) == opt.default for name, opt in OPTIONS.items())
    assert TrainConfig().layers is not TrainConfig().layers  # no shared mutable default


def test_train_help_lists_every_default_and_accepted_value():
    text = " ".join(build_parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    for opt in OPTIONS.values():
        if not opt.flag:
            continue
        flag = opt.flag_name if opt.kind != "bool" or not opt.default else "--no-" + opt.flag_name[2:]
        assert flag in text
        for name in opt.choices:
            assert name in text, (opt.name, name)
    lr, width = option("lr").default, option("layers").default[0]
    for fragment in (f"(default: {lr:g})", f"(default: {width})", "(default: auto)", "(default: cosine)",
                     "a positive integer or 'full'", "a finite number > 0", "an integer of at least 0",
                     "softmax", "leaky_relu", "fashion-mnist", "adamw", "val_accuracy", "exponential(gamma)"):
        assert fragment in text, fragment


def test_search_has_a_flag_for_every_searchable_option():
    search_parser = build_parser()._subparsers._group_actions[0].choices["search"]
    flags = {a.dest for a in search_parser._actions}
    assert set(SEARCHABLE) <= flags
    assert {"description", "checkpoint_every"}.isdisjoint(SEARCHABLE)
    text = " ".join(search_parser.format_help().split())
    assert f"(default: {option('lr').default:g})" in text and "1,5" in text


def test_toml_round_trip_with_control_characters(tmp_path):
    config = make_config(None, description="tab\there, bell \x07, escape \x1b[0m, \"q\" \\ \u00e9",
                         digits=[1, 5], weight_decay=0.01)
    path = tmp_path / "c.toml"
    config.save(path)
    tomllib.loads(path.read_text())  # valid TOML
    assert make_config(read_toml(path)) == config


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize("name, bad, valid", [
    ("hidden", "swish", "leaky_relu"), ("output", "softplus", "softmax"), ("loss", "hinge", "cross_entropy"),
    ("optimizer", "lbfgs", "adamw"), ("dtype", "float16", "float64"), ("normalize", "unit", "standardize"),
    ("reduction", "avg", "sum"), ("dataset", "cifar", "kmnist"), ("early_stopping_metric", "acc", "val_loss"),
    ("init", "gauss(1)", "xavier_uniform"), ("schedule", "linear", "cosine"),
])
def test_unknown_names_are_refused_alike_from_api_toml_and_cli(name, bad, valid, tmp_path, capsys,
                                                               no_data_loading):
    with pytest.raises(BarenetError) as api:
        make_config(None, **{name: bad})
    assert valid in str(api.value) and repr(bad) in str(api.value)
    path = tmp_path / "c.toml"
    path.write_text(f'{name} = "{bad}"\n')
    with pytest.raises(BarenetError) as toml:
        make_config(read_toml(path))
    assert str(toml.value) == str(api.value)
    code = main(["train", OPTIONS[name].flag_name, bad, "--out", str(tmp_path / "r")])
    assert one_line_error(code, capsys.readouterr().err) == str(api.value)
    assert not (tmp_path / "r").exists()


# ----------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("name, value, fragment", [
    ("batch_size", 12.5, "--batch-size must be a positive integer or 'full'; got 12.5"),
    ("epochs", True, "--epochs must be an integer of at least 1; got True"),
    ("seed", -1, "--seed must be an integer of at least 0; got -1"),
    ("lr", math.inf, "--lr must be a finite number > 0; got inf"),
    ("lr", math.nan, "--lr must be a finite number > 0; got nan"),
    ("weight_decay", math.nan, "--weight-decay must be a finite number >= 0; got nan"),
    ("weight_decay", -0.1, "--weight-decay must be a finite number >= 0"),
    ("momentum", 1.0, "--momentum must be a number in [0, 1)"),
    ("dropout", math.nan, "--dropout must be a number in [0, 1)"),
    ("nesterov", 1, "--nesterov must be true or false"),
    ("per_class", 0, "--per-class must be an integer of at least 1"),
    ("layers", [10, True], "--layers must be a list of integers"),
    ("threads", 0, "--threads must be 'auto' or a positive whole number"),
    ("schedule", "cosine(-1)", "min_lr >= 0"),
    ("schedule", "exponential(nan)", "finite numbers"),
    ("schedule", "exponential(0)", "gamma > 0"),
    ("schedule", "step(2,-0.5)", "gamma > 0"),
    ("schedule", "warmup(inf)+cosine", "finite numbers"),
])
def test_numbers_are_checked_for_type_and_range(name, value, fragment, tmp_path, no_data_loading):
    with pytest.raises(BarenetError) as api:
        make_config(None, **{name: value})
    assert fragment in str(api.value)
    if isinstance(value, float) and not math.isfinite(value):
        return  # TOML writes these as inf/nan: the same check, tested below from the command line
    path = tmp_path / "c.toml"
    path.write_text(f"{name} = {value!r}\n".replace("True", "true"))
    with pytest.raises(BarenetError) as toml:
        make_config(read_toml(path))
    assert str(toml.value) == str(api.value)


@pytest.mark.parametrize("args, fragment", [
    (["--lr", "inf"], "--lr must be a finite number > 0; got inf"),
    (["--lr", "nan"], "--lr must be a finite number > 0; got nan"),
    (["--weight-decay", "nan"], "--weight-decay must be a finite number >= 0; got nan"),
    (["--seed", "-1"], "--seed must be an integer of at least 0; got -1"),
    (["--batch-size", "12.5"], "--batch-size must be a positive integer or 'full'; got '12.5'"),
    (["--schedule", "cosine(-1)"], "cosine(min_lr) needs min_lr >= 0"),
    (["--schedule", "exponential(nan)"], "arguments must be finite numbers"),
    (["--output", "tanh", "--loss", "binary_cross_entropy"], "use sigmoid + binary_cross_entropy"),
])
def test_train_refuses_bad_numbers_before_anything(args, fragment, tmp_path, capsys, no_data_loading):
    code = main(["train", *args, "--out", str(tmp_path / "r")])
    assert fragment in one_line_error(code, capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_negative_seed_in_search_and_gradcheck(tmp_path, capsys, no_data_loading):
    code = main(["search", "--seed", "0", "-1", "--out", str(tmp_path / "s")])
    assert "--seed must be an integer of at least 0; got -1" in one_line_error(code, capsys.readouterr().err)
    code = main(["gradcheck", "--seed", "-1"])
    assert "--seed must be an integer of at least 0; got -1" in one_line_error(code, capsys.readouterr().err)
    assert not (tmp_path / "s").exists()


def test_a_non_utf8_config_is_one_line(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes('description = "caf\u00e9"\n'.encode("latin-1"))
    code = main(["train", "--config", str(path), "--out", str(tmp_path / "r")])
    assert "is not UTF-8" in one_line_error(code, capsys.readouterr().err)


# ----------------------------------------------------------------------------- pairings
REFUSED = [("sigmoid", "cross_entropy", 10, "softmax + cross_entropy"),
           ("sigmoid", "cross_entropy", 1, "sigmoid + binary_cross_entropy"),
           ("identity", "cross_entropy", 10, "softmax + cross_entropy"),
           ("softmax", "binary_cross_entropy", 10, "sigmoid + binary_cross_entropy"),
           ("tanh", "binary_cross_entropy", 1, "sigmoid + binary_cross_entropy"),
           ("identity", "binary_cross_entropy", 1, "identity + squared_error"),
           ("softmax", "cross_entropy", 1, "sigmoid + binary_cross_entropy")]
ALLOWED = [("softmax", "cross_entropy", 10), ("sigmoid", "binary_cross_entropy", 1),
           ("sigmoid", "binary_cross_entropy", 10), ("identity", "squared_error", 1),
           ("sigmoid", "squared_error", 1), ("tanh", "squared_error", 1), ("softmax", "squared_error", 10)]


@pytest.mark.parametrize("output, loss, n, meant", REFUSED)
def test_pairings_that_cannot_train_are_refused_with_the_meant_one(output, loss, n, meant):
    with pytest.raises(BarenetError, match="use .*" + meant.replace("+", r"\+")):
        check_pairing(output, loss, n)
    model = bn.MLP([4, 3, n], output=output, seed=0) if not (output == "softmax" and n == 1) else None
    if model is not None:
        x, y = np.zeros((6, 4), np.float32), np.arange(6) % 2
        with pytest.raises(BarenetError, match="cannot train right"):
            bn.Trainer(model, loss)
        with pytest.raises(BarenetError, match="cannot train right"):
            bn.fit(model, x, y, loss=loss, epochs=1)


@pytest.mark.parametrize("output, loss, n", ALLOWED)
def test_pairings_that_train_are_allowed(output, loss, n):
    check_pairing(output, loss, n)
    assert output in OUTPUTS_FOR_LOSS[loss]


@pytest.mark.parametrize("options", [
    {"output": "sigmoid", "loss": "cross_entropy"}, {"output": "identity", "loss": "cross_entropy"},
    {"output": "softmax", "loss": "binary_cross_entropy"}, {"output": "sigmoid", "loss": "cross_entropy",
                                                            "digits": [1, 5]},
])
def test_config_refuses_wrong_pairings(options):
    with pytest.raises(BarenetError, match="cannot train right"):
        make_config(None, **options)


def test_auto_output_fits_an_explicit_loss():
    from barenet.run.config import resolve_head

    assert resolve_head(make_config(None, digits=[1, 5], loss="cross_entropy"), 2) == \
        ("softmax", "cross_entropy", 2)
    assert resolve_head(make_config(None, loss="binary_cross_entropy"), 10) == \
        ("sigmoid", "binary_cross_entropy", 10)
    assert resolve_head(make_config(None, digits=[1, 5], loss="squared_error"), 2) == \
        ("sigmoid", "squared_error", 1)
    assert resolve_head(make_config(None, digits=[1, 5], output="softmax"), 2) == \
        ("softmax", "cross_entropy", 2)


# ----------------------------------------------------------------------------- train_run
def test_train_run_checks_everything_before_the_run_directory(tmp_path):
    out = tmp_path / "r"
    with pytest.raises(BarenetError, match="--batch-size 100 is larger than the 40 training samples"):
        runner.train_run(TrainConfig(per_class=5, batch_size=100, layers=[4], epochs=1), out=out)
    assert not out.exists()


def test_huge_layers_are_refused_before_allocating(tmp_path, capsys, monkeypatch):
    allocated = []
    monkeypatch.setattr(runner, "build_model", lambda *a, **k: allocated.append(a))
    code = main(["train", "--layers", "10000000", "10000000", "--per-class", "5", "--batch-size", "5",
                 "--out", str(tmp_path / "r")])
    message = one_line_error(code, capsys.readouterr().err)
    assert "GiB to train" in message and "--layers" in message
    assert not allocated and not (tmp_path / "r").exists()
    code = main(["search", "--layers", "8", "10000000,10000000", "--per-class", "5", "--batch-size", "5",
                 "--out", str(tmp_path / "s")])
    assert "GiB to train" in one_line_error(code, capsys.readouterr().err)
    assert not (tmp_path / "s").exists()


def test_the_memory_estimate_uses_the_available_memory(monkeypatch, tmp_path, capsys):
    sizes = [784, 10_000_000, 10]
    need = memory.training_bytes(sizes, 128, 4, "adam")
    params = 785 * 10_000_000 + 10_000_001 * 10
    assert need >= 4 * params * 4  # weights, gradients, two Adam moments at least
    monkeypatch.setattr(memory, "available_memory", lambda: 2**30)
    code = main(["train", "--layers", "1000000", "--per-class", "5", "--batch-size", "5",
                 "--out", str(tmp_path / "r")])
    assert "1.0 GiB of memory is available" in one_line_error(code, capsys.readouterr().err)
    monkeypatch.setattr(memory, "available_memory", lambda: None)  # unknown: not refused
    memory.check_memory(make_config(None, layers=[10_000]), 784, 10, 100)


# ----------------------------------------------------------------------------- search
def test_parse_space_reads_every_kind_from_the_table():
    assert parse_space({"threads": ["auto", "2"]}) == {"threads": ["auto", 2]}
    assert parse_space({"digits": ["1", "5"]}) == {"digits": [[1, 5]]}
    assert parse_space({"digits": ["1,5", "3,8"]}) == {"digits": [[1, 5], [3, 8]]}
    assert parse_space({"shuffle": ["false"], "weight_decay": ["none", "0.1"]}) == \
        {"shuffle": [False], "weight_decay": [None, 0.1]}
    with pytest.raises(BarenetError, match="cannot be searched"):
        parse_space({"description": ["x"]})


@pytest.mark.parametrize("args, fragment", [
    (["--random", "0"], "--random takes a positive number of trials; got 0"),
    (["--val-fraction", "0"], "search judges every trial on a validation split"),
    (["--lr", "0.1", "0.01", "--val-fraction", "0.1", "0"], "--val-fraction must be > 0"),
])
def test_search_refuses_what_it_cannot_honour(args, fragment, tmp_path, capsys, no_data_loading):
    code = main(["search", "--per-class", "5", *args, "--out", str(tmp_path / "s")])
    assert fragment in one_line_error(code, capsys.readouterr().err)
    assert not (tmp_path / "s").exists()


def test_train_and_search_take_digits_the_same_way(tmp_path, capsys):
    from barenet.cli.options import train_values

    for words in (["1", "5"], ["1,5"]):
        args = build_parser().parse_args(["train", "--digits", *words])
        assert make_config(None, **train_values(args)).digits == [1, 5]
    code = main(["search", "--digits", "1", "5", "--per-class", "10", "--layers", "4", "--epochs", "1",
                 "--batch-size", "5", "--out", str(tmp_path / "s"), "--quiet", "--no-report"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "s" / "best" / "config.toml").read_text().count("digits = [") == 1


@pytest.mark.slow  # worker processes
def test_parallel_search_waits_without_polling(tmp_path, monkeypatch):
    def no_sleep(seconds):
        raise AssertionError("search polled its workers with time.sleep")

    monkeypatch.setattr(time, "sleep", no_sleep)
    result = search(TrainConfig(per_class=10, layers=[4], epochs=1, batch_size=16), {"lr": [0.01, 0.001]},
                    out=tmp_path, jobs=2, progress=False, report=False)
    assert [bool(r["error"]) for r in result.rows] == [False, False]
