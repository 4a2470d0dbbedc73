"""Nothing silently wrong (issue 17): evaluate scores a model on its own data and refuses data
it cannot score, tampered model headers are refused, predict warns about inputs that are not
digit images, and messages point the right way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from barenet.cli import main
from barenet.errors import ModelFileError
from barenet.export.native import load_model, save_model
from barenet.nn.model import MLP

TINY = ["--layers", "8", "--epochs", "2", "--batch-size", "10", "--val-fraction", "0",
        "--threads", "1", "--quiet", "--no-report"]


def one_line(code: int, err: str, fragment: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("barenet: error: "), err
    assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def labels_200(tmp_path_factory) -> tuple[Path, Path]:
    """A run trained with --data on 28 x 28 images labelled 200..209 (200 train, 30 test)."""
    root = tmp_path_factory.mktemp("labels200")
    rng = np.random.default_rng(0)
    y_train, y_test = 200 + np.arange(200) % 10, 200 + np.arange(30) % 10
    x_train = (rng.random((200, 28, 28)) * 60 + 19 * (y_train - 200)[:, None, None]).astype(np.uint8)
    x_test = (rng.random((30, 28, 28)) * 60 + 19 * (y_test - 200)[:, None, None]).astype(np.uint8)
    data = root / "labels200.npz"
    np.savez(data, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    run = root / "run"
    assert main(["train", "--data", str(data), *TINY, "--out", str(run)]) == 0
    return run, data


# ============================================================================ evaluate
@pytest.mark.slow
def test_evaluate_defaults_to_the_data_the_run_used(labels_200, capsys):
    run, data = labels_200
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["samples"] == 30 and result["data"] == str(data)  # its own test split
    assert result["accuracy"] == json.loads((run / "metrics.json").read_text())["test"]["accuracy"]
    assert main(["evaluate", str(run)]) == 0
    assert capsys.readouterr().out.startswith(f"{data}: 30 samples")


def test_evaluate_refuses_labels_the_model_never_saw(labels_200, capsys):
    run, _ = labels_200
    capsys.readouterr()
    code = main(["evaluate", str(run), "--dataset", "mnist"])  # 0..9: in range, never trained on
    line = one_line(code, capsys.readouterr().err, "labels the model never saw in training")
    assert "trained on labels 200..209" in line


def test_evaluate_refuses_labels_beyond_the_model_naming_both(labels_200, tmp_path, capsys):
    run, _ = labels_200
    data = tmp_path / "big.npz"
    np.savez(data, x=np.zeros((4, 28, 28), np.uint8) + 50, y=np.array([0, 1, 250, 300]))
    code = main(["evaluate", str(run), "--data", str(data)])
    one_line(code, capsys.readouterr().err, f"model, but {data} has labels 0..300")


def test_evaluate_names_a_moved_training_data_path(labels_200, tmp_path, capsys):
    run, data = labels_200
    moved = tmp_path / "run"
    moved.mkdir()
    (moved / "model.npz").write_bytes((run / "model.npz").read_bytes())
    header_data = str(data)
    data.rename(tmp_path / "elsewhere.npz")
    try:
        code = main(["evaluate", str(moved)])
        one_line(code, capsys.readouterr().err, f"the model was trained on {header_data}, which "
                 "cannot be read now")
    finally:
        (tmp_path / "elsewhere.npz").rename(data)


def test_evaluate_on_an_unknown_dataset_blames_the_request_not_the_model(labels_200, capsys):
    run, _ = labels_200
    capsys.readouterr()
    line = one_line(main(["evaluate", str(run), "--dataset", "cifar"]), capsys.readouterr().err,
                    "unknown data set 'cifar'")
    assert "trained on cifar" not in line


# ============================================================================ model headers
def _save(tmp_path: Path, sizes: list[int], **metadata) -> Path:
    model = MLP(sizes, output="sigmoid" if sizes[-1] == 1 else "softmax", seed=0)
    return save_model(tmp_path / "m.npz", model, metadata)


@pytest.mark.parametrize("sizes, metadata, fragment", [
    ([4, 3, 1], {"classes": ["a", "b", "c"]}, "has 3 class names in its header but the network "
                                              "has 1 output unit(s), i.e. 2 classes"),
    ([4, 3, 10], {"classes": ["a", "b"]}, "has 2 class names"),
    ([4, 3, 2], {"classes": "ab"}, "has the header metadata 'classes' as a str, not a list"),
    ([784, 3, 10], {"preprocessing": {"input_shape": [5, 5]}},
     "input_shape [5, 5] (25 values) in its header but the network takes 784 inputs"),
    ([784, 3, 10], {"preprocessing": {"input_shape": [28, -28]}}, "invalid input_shape"),
    ([784, 3, 10], {"preprocessing": "255"}, "'preprocessing' header entry that is not a JSON object"),
], ids=["three-names-one-output", "two-names-ten-outputs", "names-not-a-list", "input-shape-product",
        "input-shape-negative", "preprocessing-not-an-object"])
def test_tampered_headers_are_refused(sizes, metadata, fragment, tmp_path, capsys):
    path = _save(tmp_path, sizes, **metadata)
    with pytest.raises(ModelFileError, match="tampered|invalid|not a JSON object"):
        load_model(path)
    for command in ("info", "evaluate"):
        one_line(main([command, str(path)]), capsys.readouterr().err, fragment)


def test_headers_that_fit_still_load(tmp_path):
    path = _save(tmp_path, [784, 3, 1], classes=["one", "five"],
                 preprocessing={"input_shape": [28, 28]})
    model, meta = load_model(path)
    assert model.n_outputs == 1 and meta["classes"] == ["one", "five"]


# ============================================================================ predict
@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("mnist") / "run"
    assert main(["train", "--per-class", "5", *TINY, "--out", str(run)]) == 0
    return run


def _png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


@pytest.mark.parametrize("shape, fragment", [
    ((1, 2), "is only 2 x 1 pixels, too small to show a digit"),
    ((5, 40), "is only 40 x 5 pixels, too small to show a digit"),
    ((20, 200), "is 200 x 20 pixels, far from square: not a single digit"),
], ids=["1x2", "5x40", "20x200"])
def test_predict_warns_about_images_that_cannot_be_digits(shape, fragment, mnist_run, tmp_path, capsys):
    image = np.zeros(shape)
    image[..., : max(1, shape[1] // 2)] = 255
    path = _png(tmp_path / "odd.png", image)
    assert main(["predict", str(mnist_run), str(path)]) == 0
    out, err = capsys.readouterr()
    assert err.strip() == f"barenet: warning: {path} {fragment}; its prediction means little"
    assert out.startswith(f"{path}: ")


def test_a_blank_tiny_image_gets_its_error_line_only(mnist_run, tmp_path, capsys):
    path = _png(tmp_path / "dot.png", np.zeros((1, 1)))  # too small to doubt, and blank: refused
    code = main(["predict", str(mnist_run), str(path)])
    one_line(code, capsys.readouterr().err, "has no ink")


def test_predict_reads_images_and_arrays_for_a_model_of_the_8x8_digits(tmp_path, capsys):
    run = tmp_path / "digits8"
    assert main(["train", "--dataset", "digits8", *TINY, "--out", str(run)]) == 0
    image = np.zeros((28, 28))
    image[6:22, 12:16] = 255  # a "1", moved onto the 8 x 8 grid
    arrays = tmp_path / "d8.npy"
    np.save(arrays, np.full((3, 8, 8), 16, np.uint8))
    capsys.readouterr()
    assert main(["predict", str(run), str(_png(tmp_path / "one.png", image)), str(arrays), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["file"] for row in rows] == [str(tmp_path / "one.png")] + [f"{arrays}[{i}]" for i in range(3)]
    np.save(arrays, np.zeros((2, 28, 28), np.uint8))  # MNIST-sized arrays are not on its grid
    code = main(["predict", str(run), str(arrays)])
    one_line(code, capsys.readouterr().err, "this model takes 8 x 8 images")


def test_predict_does_not_warn_about_a_digit(mnist_run, tmp_path, capsys):
    image = np.zeros((28, 28))
    image[6:22, 12:16] = 255  # a "1"
    assert main(["predict", str(mnist_run), str(_png(tmp_path / "one.png", image))]) == 0
    assert capsys.readouterr().err == ""


# ============================================================================ messages
@pytest.mark.parametrize("args, fragment", [
    (["predict", "RUN", "X", "--top", "0"], "argument --top: must be at least 1, got 0"),
    (["predict", "RUN", "X", "--top", "-1"], "argument --top: must be at least 1, got -1"),
    (["inspect", "RUN", "--top", "0"], "argument --top/-k: must be at least 1, got 0"),
    (["inspect", "RUN", "-k", "-3"], "argument --top/-k: must be at least 1, got -3"),
    (["gradcheck", "--tolerance", "-1"], "argument --tolerance: must be a finite number > 0, got -1"),
    (["gradcheck", "--tolerance", "0"], "must be a finite number > 0, got 0"),
    (["gradcheck", "--tolerance", "nan"], "must be a finite number > 0, got nan"),
], ids=["predict-top-0", "predict-top-minus-1", "inspect-top-0", "inspect-k-minus-3",
        "tolerance-minus-1", "tolerance-0", "tolerance-nan"])
def test_counts_and_tolerances_must_be_positive(args, fragment, mnist_run, tmp_path, capsys):
    image = _png(tmp_path / "x.png", np.pad(np.full((16, 4), 255), 6))
    args = [{"RUN": str(mnist_run), "X": str(image)}.get(a, a) for a in args]
    one_line(main(args), capsys.readouterr().err, fragment)


def test_training_on_data_names_the_data_path(tmp_path, capsys):
    data = tmp_path / "mine.npz"
    rng = np.random.default_rng(1)
    np.savez(data, x=rng.integers(0, 256, (40, 6, 6)), y=np.arange(40) % 4)
    out = tmp_path / "run"
    args = ["train", "--data", str(data), *[a for a in TINY if a != "--quiet"], "--out", str(out)]
    assert main(args) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"training on {data} -> {out}"
