"""The training loop: batching modes, reproducibility, history, callbacks, divergence."""

from __future__ import annotations

import numpy as np
import pytest

import barenet as bn
from barenet.errors import BarenetError, DivergenceError
from barenet.training import EarlyStopping, Trainer, count_correct, evaluate, fit


def blobs(n=300, d=8, classes=3, seed=0, spread=0.6):
    """Gaussian blobs: an easy, seeded classification problem."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(classes, d))
    y = rng.integers(0, classes, size=n)
    x = centers[y] + spread * rng.normal(size=(n, d))
    return x.astype(np.float32), y


@pytest.mark.parametrize("batch_size, drop_last, expected_batches", [
    (1, False, 300), (64, False, 5), (64, True, 4), ("full", False, 1), (300, True, 1),
])
def test_batching_modes(batch_size, drop_last, expected_batches):
    x, y = blobs()
    model = bn.MLP([8, 16, 3], seed=1)
    history = fit(model, x, y, optimizer=bn.SGD(0.05), batch_size=batch_size,
                  drop_last=drop_last, epochs=2)
    assert len(history.batch_loss) == 2 * expected_batches
    assert len(history) == 2


def test_learns_an_easy_problem_with_every_batching_mode():
    x, y = blobs()
    for batch_size, opt in ((1, bn.SGD(0.01)), (32, bn.Adam(0.01)), ("full", bn.SGD(0.5))):
        model = bn.MLP([8, 16, 3], seed=2)
        history = fit(model, x, y, optimizer=opt, batch_size=batch_size, epochs=15)
        assert history.last["train_accuracy"] > 0.95, batch_size
        assert np.mean(model.predict(x) == y) > 0.95


def test_same_seed_is_bit_identical():
    x, y = blobs()
    runs = []
    for _ in range(2):
        model = bn.MLP([8, 16, 3], dropout=0.2, seed=5)
        history = fit(model, x, y, optimizer=bn.Adam(0.01), batch_size=32, epochs=3, seed=7)
        runs.append((model.get_weights(), history.batch_loss))
    for a, b in zip(runs[0][0], runs[1][0], strict=True):
        assert np.array_equal(a, b)
    assert runs[0][1] == runs[1][1]
    model = bn.MLP([8, 16, 3], dropout=0.2, seed=5)
    fit(model, x, y, optimizer=bn.Adam(0.01), batch_size=32, epochs=3, seed=8)
    assert not np.array_equal(model.get_weights()[0], runs[0][0][0])


def test_history_records_everything():
    x, y = blobs()
    model = bn.MLP([8, 16, 12, 3], seed=1)
    history = fit(model, x, y, optimizer=bn.SGD(0.1), batch_size=50, epochs=4,
                  schedule="step(2,0.5)", validation=(x[:60], y[:60]))
    assert [r["epoch"] for r in history.epochs] == [1, 2, 3, 4]
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05])  # halved every 2 epochs
    for record in history.epochs:
        assert len(record["weight_change"]) == 3 and len(record["grad_norm"]) == 3
        assert all(v > 0 for v in record["weight_change"] + record["grad_norm"])
        assert 0 <= record["val_accuracy"] <= 1 and record["val_loss"] > 0
        assert record["seconds"] > 0 and record["cpu_seconds"] >= 0
    # the recorded weight change of the first epoch is the real one
    model2 = bn.MLP([8, 16, 12, 3], seed=1)
    w0 = model2.dense_layers[0].W.copy()
    fit(model2, x, y, optimizer=bn.SGD(0.1), batch_size=50, epochs=1, schedule="step(2,0.5)")
    assert history.epochs[0]["weight_change"][0] == pytest.approx(
        float(np.linalg.norm(model2.dense_layers[0].W - w0)), rel=1e-6)
    csv = history.to_csv().splitlines()
    assert csv[0].startswith("epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr")
    assert "weight_change_3" in csv[0] and len(csv) == 5


def test_history_csv_has_every_column_of_any_epoch():
    """A run resumed from an older version's history has fewer columns in its first epochs;
    the CSV keeps them all, leaving the missing values empty."""
    history = bn.History(epochs=[{"epoch": 1, "seconds": 0.5},
                                 {"epoch": 2, "seconds": 0.4, "cpu_seconds": 0.39}])
    rows = history.to_csv().splitlines()
    assert rows == ["epoch,seconds,cpu_seconds", "1,0.5,", "2,0.4,0.39"]


def test_train_loss_matches_a_separate_evaluation_for_full_batch():
    x, y = blobs()
    model = bn.MLP([8, 16, 3], seed=3)
    before = evaluate(model, x, y, "cross_entropy")[0]
    history = fit(model, x, y, optimizer=bn.SGD(0.1), batch_size="full", epochs=1)
    assert history.epochs[0]["train_loss"] == pytest.approx(before, rel=1e-5)


def test_early_stopping_restores_the_best_weights():
    x, y = blobs(n=200)
    rng = np.random.default_rng(0)
    x_val, y_val = x[:100], rng.integers(0, 3, size=100)  # unlearnable: val loss soon rises
    model = bn.MLP([8, 64, 3], seed=1)
    stopper = EarlyStopping(patience=2, monitor="val_loss")
    snapshots = []

    class Snapshot:
        def on_epoch_end(self, trainer, record):
            snapshots.append(trainer.model.get_weights())

    trainer = Trainer(model, "cross_entropy", bn.Adam(0.05), batch_size=20, epochs=50,
                      callbacks=[Snapshot(), stopper])
    history = trainer.fit(x, y, validation=(x_val, y_val))
    assert len(history) < 50
    assert stopper.stopped_epoch == len(history)
    best = int(np.argmin(history["val_loss"])) + 1
    assert trainer.restored_epoch == best
    for restored, kept in zip(model.get_weights(), snapshots[best - 1], strict=True):
        assert np.array_equal(restored, kept)


def test_divergence_stops_and_keeps_the_last_good_model():
    x, y = blobs()
    model = bn.MLP([8, 16, 3], hidden="identity", output="identity", seed=1)
    with pytest.raises(DivergenceError, match="diverged"):
        fit(model, x * 1e3, y, loss=bn.Loss("squared_error", "sum"), optimizer=bn.SGD(10.0),
            batch_size="full", epochs=50)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_user_errors():
    x, y = blobs(n=40)
    model = bn.MLP([8, 4, 3])
    with pytest.raises(BarenetError, match="larger than the 40 training samples"):
        fit(model, x, y, batch_size=41)
    with pytest.raises(BarenetError, match="features per sample"):
        fit(bn.MLP([5, 4, 3]), x, y)
    with pytest.raises(BarenetError, match="labels"):
        fit(model, x, y[:10])
    with pytest.raises(BarenetError, match="empty"):
        fit(model, x[:0], y[:0])


def test_count_correct_binary_and_multiclass():
    p = np.array([[0.2], [0.7], [0.9]])
    assert count_correct(p, np.array([0, 0, 1])) == 2
    p = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert count_correct(p, np.array([1, 1])) == 1
    assert count_correct(p, np.array([[0, 1], [0, 1]])) == 1


def test_uint8_images_train_through_a_normalizer():
    from barenet.preprocess import Normalizer

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=200)
    x = np.zeros((200, 4, 4), dtype=np.uint8)
    x[y == 1, :2] = 200  # class 1: bright top half
    x[y == 0, 2:] = 200
    normalizer = Normalizer("255").fit(x.reshape(200, -1))
    model = bn.MLP([16, 8, 1], output="sigmoid", seed=0)
    fit(model, x, y, loss="binary_cross_entropy", optimizer=bn.Adam(0.05), batch_size=20,
        epochs=5, normalizer=normalizer)
    assert x.dtype == np.uint8
    assert evaluate(model, x, y, "binary_cross_entropy", normalizer)[1] == 1.0


# --------------------------------------------------------------------------- contracts
@pytest.mark.parametrize("output, loss", [("softmax", "cross_entropy"), ("softmax", "squared_error")])
def test_dense_one_hot_targets_train_exactly_like_labels(output, loss):
    """The Trainer's docstring promises dense targets (N, C): fit, validation and evaluate
    accept one-hot rows and give the very results of the integer labels."""
    x, y = blobs(n=120)
    one_hot = np.eye(3, dtype=np.float32)[y]
    runs = []
    for target in (y, one_hot):
        model = bn.MLP([8, 6, 3], output=output, seed=4)
        history = fit(model, x, target, loss=loss, optimizer="adam", batch_size=32, epochs=2,
                      validation=(x[:40], target[:40]), seed=1)
        runs.append((model, history, evaluate(model, x, target, loss)))
    (m1, h1, e1), (m2, h2, e2) = runs
    for a, b in zip(m1.get_weights(), m2.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert h1.batch_loss == h2.batch_loss
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert h1.last[key] == h2.last[key], key
    assert e1 == e2


def test_dense_targets_of_the_wrong_width_are_refused():
    x, y = blobs(n=60)
    with pytest.raises(BarenetError, match=r"\(N, 3\)"):
        fit(bn.MLP([8, 4, 3], seed=0), x, np.eye(4)[y % 4], batch_size=20, epochs=1)


def test_one_default_learning_rate_whether_or_not_the_optimizer_is_named():
    model = bn.MLP([8, 4, 3], seed=0)
    default = bn.Adam().lr
    assert Trainer(model).optimizer.lr == default
    assert Trainer(model, optimizer="adam").optimizer.lr == default
    assert Trainer(model, optimizer="sgd").optimizer.lr == bn.SGD().lr
    assert Trainer(model, optimizer="sgd", lr=0.3).optimizer.lr == 0.3


def test_library_messages_name_library_arguments_not_cli_flags():
    x, y = blobs(n=20)
    with pytest.raises(BarenetError, match="batch_size") as info:
        fit(bn.MLP([8, 4, 3], seed=0), x, y, batch_size=50, epochs=1)
    assert "--" not in str(info.value)
    with pytest.raises(DivergenceError) as info:
        fit(bn.MLP([8, 16, 3], hidden="identity", output="identity", seed=1), x * 1e3, y,
            loss=bn.Loss("squared_error", "sum"), optimizer=bn.SGD(10.0), batch_size="full",
            epochs=50)
    assert "--" not in str(info.value) and "lr" in str(info.value)
    with pytest.raises(BarenetError) as info:
        bn.SGD(0.1, nesterov=True)
    assert "--" not in str(info.value)
