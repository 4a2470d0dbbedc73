"""ONNX export: onnxruntime agrees with ``barenet predict`` on all 10000 MNIST test images, for
a 10-class run, a digit-pair run and a model with every activation; CLI and estimator exports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from barenet.cli import main
from barenet.data import load_dataset
from barenet.data.preprocess import Normalizer, first_per_class, flatten
from barenet.errors import BarenetError
from barenet.export.native import load_model, save_model
from barenet.export.onnx import to_onnx
from barenet.nn.model import MLP
from barenet.run.exports import inference_parts
from barenet.train.trainer import fit, predict_proba_batched

pytestmark = pytest.mark.slow  # each module fixture trains models and runs onnxruntime on 10000 images

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

FAST = ["--per-class", "30", "--layers", "24", "--epochs", "1", "--batch-size", "32", "--quiet"]


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist")


def _train(tmp_path_factory, name, extra):
    out = tmp_path_factory.mktemp(name) / "run"
    assert main(["train", *FAST, *extra, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def ten_class_run(tmp_path_factory):
    return _train(tmp_path_factory, "ten", ["--normalize", "standardize"])


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory):
    return _train(tmp_path_factory, "pair", ["--digits", "3", "8", "--normalize", "max"])


@pytest.fixture(scope="module")
def batch_norm_run(tmp_path_factory):
    """Batch normalization (folded into the Gemm layers on export) and noise (training only)."""
    return _train(tmp_path_factory, "bn", ["--layers", "24", "16", "--batch-norm", "--noise", "0.3",
                                           "--input-noise", "0.2", "--epochs", "2"])


@pytest.fixture(scope="module")
def every_activation_model(tmp_path_factory, mnist):
    """relu, leaky_relu, sigmoid, tanh and identity hidden layers, softmax out, /255 input."""
    x, y = first_per_class(flatten(mnist.x_train), mnist.y_train, 20)
    model = MLP([784, 16, 12, 10, 8, 8, 10], hidden=["relu", "leaky_relu", "sigmoid", "tanh", "identity"],
                seed=3)
    norm = Normalizer("255")
    fit(model, x, y, epochs=2, batch_size=50, normalizer=norm, seed=0, track_norms=False)
    path = tmp_path_factory.mktemp("every") / "model.npz"
    save_model(path, model, {"preprocessing": {"normalizer": norm.to_dict()}})
    return path


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _barenet_proba(model_path, images):
    """What `barenet predict` computes: load_model + the saved normalizer + predict_proba."""
    model, _, normalizer, _ = inference_parts(model_path)
    proba = predict_proba_batched(model, flatten(images), normalizer)
    return np.hstack([1 - proba, proba]) if proba.shape[1] == 1 else proba


@pytest.mark.slow
@pytest.mark.parametrize("which", ["ten_class_run", "pair_run", "every_activation_model",
                                   "batch_norm_run"])
def test_onnxruntime_agrees_with_predict_on_all_test_images(which, request, mnist, tmp_path):
    source = request.getfixturevalue(which)
    out = tmp_path / "m.onnx"
    assert main(["export", str(source), "--format", "onnx", "-o", str(out), "--quiet"]) == 0
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    images = mnist.x_test
    assert images.shape == (10000, 28, 28)
    want = _barenet_proba(source, images)
    probabilities, labels = _session(out).run(None, {"pixels": flatten(images).astype(np.float32)})
    assert probabilities.shape == want.shape
    np.testing.assert_allclose(probabilities, want, rtol=0, atol=1e-5)
    _, meta, _, classes = inference_parts(source)
    values = np.array([int(c) for c in classes])
    np.testing.assert_array_equal(labels, values[np.argmax(want, axis=1)])


def test_a_digit_pair_maps_back_to_its_two_digits(pair_run, mnist, tmp_path):
    out = tmp_path / "pair.onnx"
    assert main(["export", str(pair_run), "-o", str(out), "-q"]) == 0
    session = _session(out)
    _, labels = session.run(None, {"pixels": flatten(mnist.x_test[:500]).astype(np.float32)})
    assert labels.dtype == np.int64 and set(labels.tolist()) <= {3, 8}
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == ["3", "8"] and json.loads(meta["digits"]) == [3, 8]
    assert json.loads(meta["normalizer"])["method"] == "max"


@pytest.mark.parametrize("dtype", ["uint8", "float"])
@pytest.mark.parametrize("shape", ["flat", "image"])
def test_uint8_and_float_inputs_of_either_shape(ten_class_run, mnist, tmp_path, dtype, shape):
    out = tmp_path / "m.onnx"
    assert main(["export", str(ten_class_run), "-o", str(out), "-q", "--input-dtype", dtype,
                 "--input-shape", shape]) == 0
    images = mnist.x_test[:300]
    feed = images if dtype == "uint8" else images.astype(np.float32)
    feed = feed if shape == "image" else flatten(feed)
    probabilities, _ = _session(out).run(None, {"pixels": feed})
    np.testing.assert_allclose(probabilities, _barenet_proba(ten_class_run, images), atol=1e-5, rtol=0)
    declared = onnx.load(str(out)).graph.input[0].type.tensor_type
    assert len(declared.shape.dim) == (3 if shape == "image" else 2)


def test_named_classes_come_out_as_strings(tmp_path):
    model = MLP([784, 6, 3], seed=0)
    proto = to_onnx(model, Normalizer("255"), ["cat", "dog", "eel"])
    x = np.random.default_rng(0).integers(0, 256, (20, 784)).astype(np.float32)
    p, labels = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"pixels": x})
    names = np.array(["cat", "dog", "eel"], dtype=object)
    assert list(labels) == list(names[np.argmax(p, axis=1)])
    meta = {prop.key: prop.value for prop in proto.metadata_props}
    assert json.loads(meta["classes"]) == ["cat", "dog", "eel"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_scikit_learn_estimator_exports(mnist):
    from barenet.sklearn import MLPClassifier

    x, y = first_per_class(flatten(mnist.x_train), mnist.y_train, 20)
    labels = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                       "nine"])[y]
    X = x.astype(np.float32) / 255
    est = MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", max_iter=3, random_state=0,
                        dtype="float32").fit(X, labels)
    proto = to_onnx(est)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    test = flatten(mnist.x_test[:1000]).astype(np.float32) / 255
    p, predicted = session.run(None, {"pixels": test})
    np.testing.assert_allclose(p, est.predict_proba(test), atol=1e-5, rtol=0)
    assert list(predicted) == list(est.predict(test))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_binary_estimator_exports_two_columns():
    from barenet.sklearn import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 5)).astype(np.float32)
    y = np.where(X[:, 0] > 0, 7, 2)
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    p, labels = ort.InferenceSession(to_onnx(est).SerializeToString(),
                                     providers=["CPUExecutionProvider"]).run(None, {"pixels": X})
    np.testing.assert_allclose(p, est.predict_proba(X), atol=1e-5, rtol=0)
    assert list(labels) == list(est.predict(X))


def test_refusals_are_one_line_and_write_nothing(ten_class_run, tmp_path, capsys):
    for args, words in ((["-o", str(tmp_path / "x.html")], "suffix of another format"),
                        (["-o", str(tmp_path / "missing" / "m.onnx")], "does not exist"),
                        (["--input-shape", "bogus"], "invalid choice")):
        assert main(["export", str(ten_class_run), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("barenet: error:") and words in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())
    model, _ = load_model(ten_class_run / "model.npz")
    with pytest.raises(BarenetError, match="class names"):
        to_onnx(model, None, ["a", "b"])
    with pytest.raises(BarenetError, match="28 x 28"):
        to_onnx(MLP([64, 4, 10]), input_shape="image")


@pytest.mark.slow
def test_without_onnx_the_cli_says_how_to_install(ten_class_run, tmp_path):
    code = ("import sys; sys.modules['onnx'] = None\n"
            "from barenet.cli import main\n"
            f"sys.exit(main(['export', {str(ten_class_run)!r}, '-o', {str(tmp_path / 'm.onnx')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == 'barenet: error: ONNX export needs the onnx package: pip install "barenet[onnx]"\n'
    assert not (tmp_path / "m.onnx").exists()


def test_npz_is_a_copy_of_the_native_file(ten_class_run, tmp_path, capsys):
    out = tmp_path / "copy.npz"
    assert main(["export", str(ten_class_run), "--format", "npz", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["file"] == str(out) and report["bytes"] == out.stat().st_size
    assert out.read_bytes() == (ten_class_run / "model.npz").read_bytes()
    assert main(["export", str(ten_class_run), "--format", "npz"]) == 2
    assert "give -o FILE" in capsys.readouterr().err


@pytest.mark.slow
def test_the_documented_sizes_are_measured(monkeypatch):
    """docs/export.md's size table is what benchmarks/export_sizes.py measures (within 1 %: the
    header records the training options)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    monkeypatch.syspath_prepend(str(root / "benchmarks"))
    from export_sizes import measure

    text = (root / "docs" / "export.md").read_text()
    block = text[text.index("<!-- export sizes:"):text.index("<!-- end export sizes -->")]
    rows = re.findall(r"\| `(\w+)` \| \S+ \| ([\d,]+) \|", block)
    documented = {fmt: int(size.replace(",", "")) for fmt, size in rows}
    measured = measure()
    assert documented.keys() == measured.keys() == {"npz", "onnx", "html"}
    for fmt, size in measured.items():
        assert abs(documented[fmt] - size) <= 0.01 * size, (fmt, documented[fmt], size)


def test_a_float64_model_computes_in_float64():
    model = MLP([784, 8, 10], hidden="leaky_relu", dtype="float64", seed=1)
    x = np.random.default_rng(0).integers(0, 256, (30, 784)).astype(np.uint8)
    norm = Normalizer("standardize").fit(x)
    session = ort.InferenceSession(to_onnx(model, norm, input_dtype="uint8").SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    p, _ = session.run(None, {"pixels": x})
    assert p.dtype == np.float64
    want = model.predict_proba(norm.transform(x, dtype=np.float64))
    np.testing.assert_allclose(p, want, atol=1e-9, rtol=0)


def test_overwrite_clears_the_exports_of_the_old_run(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *FAST, "--out", str(out)]) == 0
    assert (out / "playground.html").exists()  # written with the report
    assert main(["export", str(out), "--quiet"]) == 0 and (out / "model.onnx").exists()
    assert main(["train", *FAST, "--no-report", "--overwrite", "--out", str(out)]) == 0
    assert not (out / "model.onnx").exists() and not (out / "playground.html").exists()
