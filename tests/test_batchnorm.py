"""Batch normalization and Gaussian noise: MLP(batch_norm=True, noise=s, input_noise=s), checked
against PyTorch in float64 and numerically, saved, loaded, checkpointed, exported and refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

import barenet as bn
from barenet.errors import BarenetError
from barenet.export.native import load_model, save_model
from barenet.nn.gradcheck import gradcheck
from barenet.nn.layers import Dense, GaussianNoise
from barenet.nn.normalization import EPS, MOMENTUM, BatchNorm

torch = pytest.importorskip("torch")


def _net(dtype="float64", seed=0, **kwargs):
    options = {"batch_norm": True, **kwargs}
    return bn.MLP([12, 9, 7, 4], hidden="relu", output="softmax", dtype=dtype, seed=seed, **options)


def _data(n=16, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 12)), rng.integers(0, 4, size=n)


def test_layer_order_and_no_hidden_bias():
    net = _net(noise=0.3, input_noise=0.1, dropout=0.2)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["GaussianNoise", "Dense", "BatchNorm", "GaussianNoise", "ActivationLayer", "Dropout",
                     "Dense", "BatchNorm", "GaussianNoise", "ActivationLayer", "Dropout",
                     "Dense", "ActivationLayer"]
    assert [d.use_bias for d in net.dense_layers] == [False, False, True]
    assert [p.name for p in net.params()][:6] == ["layer1.W", "layer1.b", "layer1.gamma", "layer1.beta",
                                                  "layer2.W", "layer2.b"]
    assert list(net.statistics()) == ["layer1.running_mean", "layer1.running_var",
                                      "layer2.running_mean", "layer2.running_var"]
    assert net.n_params() == 12 * 9 + 9 + 18 + 9 * 7 + 7 + 14 + 7 * 4 + 4


def _torch_twin(net):
    """The same network in PyTorch (float64): Linear -> BatchNorm1d -> ReLU per hidden layer."""
    modules = []
    for layer in net.layers:
        if isinstance(layer, Dense):
            linear = torch.nn.Linear(layer.n_in, layer.n_out, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.W.T.copy()))
                linear.bias.copy_(torch.from_numpy(layer.b.copy()))
            modules.append(linear)
        elif isinstance(layer, BatchNorm):
            norm = torch.nn.BatchNorm1d(layer.n, eps=EPS, momentum=MOMENTUM, dtype=torch.float64)
            with torch.no_grad():
                norm.weight.copy_(torch.from_numpy(layer.gamma.copy()))
                norm.bias.copy_(torch.from_numpy(layer.beta.copy()))
            modules.append(norm)
        elif getattr(layer, "name", None) == "relu":
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)


def test_training_pass_agrees_with_pytorch_in_float64():
    net = _net()
    rng = np.random.default_rng(5)
    for layer in net.layers:  # gamma and beta away from their initial 1 and 0
        if isinstance(layer, BatchNorm):
            layer.gamma[...] = rng.uniform(0.5, 2.0, layer.n)
            layer.beta[...] = rng.normal(size=layer.n)
    twin = _torch_twin(net)
    twin.train()
    loss = bn.Loss("cross_entropy")
    for step in range(3):  # the running statistics follow PyTorch's over several batches
        x, y = _data(16, seed=10 + step)
        p = net.forward(x, training=True, copy=False)
        value = loss.value(p, y)
        net.backward(p, y, loss, overwrite_p=True)
        twin.zero_grad()
        logits = twin(torch.from_numpy(x))
        expected = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y))
        expected.backward()
        assert value == pytest.approx(expected.item(), rel=1e-12)
        torch_grads = []
        for module in twin:
            if isinstance(module, torch.nn.Linear):
                torch_grads += [module.weight.grad.T, module.bias.grad]
            elif isinstance(module, torch.nn.BatchNorm1d):
                torch_grads += [module.weight.grad, module.bias.grad]
        params = net.params()
        assert len(params) == len(torch_grads)
        for p, g in zip(params, torch_grads, strict=True):
            np.testing.assert_allclose(p.grad, g.numpy(), rtol=1e-9, atol=1e-12, err_msg=p.name)
    norms = [m for m in twin if isinstance(m, torch.nn.BatchNorm1d)]
    mine = [layer for layer in net.layers if isinstance(layer, BatchNorm)]
    for layer, norm in zip(mine, norms, strict=True):
        np.testing.assert_allclose(layer.running_mean, norm.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(layer.running_var, norm.running_var.numpy(), rtol=1e-12)
    twin.eval()  # inference with the running statistics
    x, _ = _data(5, seed=99)
    expected = torch.softmax(twin(torch.from_numpy(x)), dim=1).detach().numpy()
    np.testing.assert_allclose(net.predict_proba(x), expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("hidden", ["relu", "tanh", "sigmoid", "leaky_relu"])
@pytest.mark.parametrize("extra", [{}, {"noise": 0.3, "input_noise": 0.2, "dropout": 0.25}])
def test_gradients_are_checked_numerically(hidden, extra):
    net = bn.MLP([6, 5, 4, 3], hidden=hidden, batch_norm=True, dtype="float64", seed=2, **extra)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 6)), rng.integers(0, 3, size=10)
    result = gradcheck(net, "cross_entropy", x, y, max_entries=None)
    assert result.max_error < 1e-6, result.errors
    assert {"layer1.gamma", "layer1.beta", "layer2.gamma", "layer2.beta"} <= set(result.errors)


def test_a_wrong_gradient_would_be_caught(monkeypatch):
    """The check can fail: drop the mean term of BatchNorm's backward and it does."""
    net = bn.MLP([6, 5, 3], hidden="tanh", batch_norm=True, dtype="float64", seed=2)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 6)), rng.integers(0, 3, size=10)

    def wrong_backward(self, g, need_input_grad=True):
        g *= self.gamma * self._inv_std  # the plain scale: ignores how mu and var depend on z
        return g

    monkeypatch.setattr(BatchNorm, "backward", wrong_backward)
    assert gradcheck(net, "cross_entropy", x, y, max_entries=None).max_error > 1e-3


def test_inference_is_per_sample_and_folds_into_plain_dense_layers():
    net = _net(noise=0.3)
    x, y = _data(64)
    for _ in range(5):
        net.loss_and_gradients(x, y, "cross_entropy")  # moves the running statistics
    stats = net.statistics()
    assert not np.allclose(stats["layer1.running_mean"], 0)
    batch = net.predict_proba(x)
    alone = np.vstack([net.predict_proba(row) for row in x[:4]])
    np.testing.assert_allclose(alone, batch[:4], rtol=1e-12)
    h = x
    affines = net.inference_affines()
    for k, (w, b) in enumerate(affines):
        h = h @ w + b
        if k < len(affines) - 1:
            h = np.maximum(h, 0)
    np.testing.assert_allclose(h, net.logits(x), rtol=1e-10, atol=1e-12)


def test_hidden_bias_stays_zero_while_training():
    net = _net(dtype="float32")
    x, y = _data(200)
    bn.fit(net, x.astype(np.float32), y, epochs=2, batch_size=32, seed=0)
    for dense in net.dense_layers[:-1]:
        assert not dense.b.any()
    assert net.dense_layers[-1].b.any()


def test_a_batch_of_one_leaves_the_running_statistics_alone():
    layer = BatchNorm(3, dtype=np.float64)
    z = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(layer.forward(z.copy(), training=True), layer.beta[None, :])
    np.testing.assert_array_equal(layer.running_mean, 0)
    np.testing.assert_array_equal(layer.running_var, 1)


def test_noise_is_seeded_centred_and_off_in_inference():
    x = np.full((4000, 25), 0.5)
    a = bn.MLP([25, 3], input_noise=0.3, seed=7, dtype="float64")
    b = bn.MLP([25, 3], input_noise=0.3, seed=7, dtype="float64")
    noisy = a.layers[0].forward(x, training=True)
    np.testing.assert_array_equal(noisy, b.layers[0].forward(x, training=True))
    assert np.all(x == 0.5)  # the caller's array is not written
    assert abs(noisy.mean() - 0.5) < 0.01 and abs(noisy.std() - 0.3) < 0.01
    np.testing.assert_array_equal(a.predict_proba(x[:3]), bn.MLP([25, 3], seed=7, dtype="float64")
                                  .predict_proba(x[:3]))
    layer = GaussianNoise(0.5)
    g = np.ones((2, 3))
    assert layer.backward(g) is g


@pytest.mark.parametrize("kwargs", [{"noise": -0.1}, {"input_noise": float("nan")}])
def test_bad_noise_is_refused(kwargs):
    with pytest.raises(BarenetError, match="noise must be a finite standard deviation"):
        _net(**kwargs)


def test_save_load_round_trip_keeps_the_statistics(tmp_path):
    net = _net(dtype="float32", noise=0.2, input_noise=0.1)
    x, y = _data(64)
    x = x.astype(np.float32)
    bn.fit(net, x, y, epochs=2, batch_size=16, seed=0)
    path = save_model(tmp_path / "m.npz", net)
    loaded, _ = load_model(path)
    assert loaded.config() == net.config()
    for name, array in net.statistics().items():
        np.testing.assert_array_equal(loaded.statistics()[name], array)
    np.testing.assert_array_equal(loaded.predict_proba(x), net.predict_proba(x))
    copy = net.copy()
    np.testing.assert_array_equal(copy.predict_proba(x), net.predict_proba(x))
    # a file whose header promises batch normalization must carry its arrays
    with np.load(path) as archive:
        arrays = dict(archive)
    del arrays["layer1.running_var"]
    np.savez(tmp_path / "short.npz", **arrays)
    with pytest.raises(BarenetError, match="layer1.running_var"):
        load_model(tmp_path / "short.npz")
    arrays = dict(np.load(path))
    header = json.loads(arrays["header"].tobytes())
    header["model"]["batch_norm"] = "yes"
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(BarenetError, match="batch_norm"):
        load_model(tmp_path / "bad.npz")


def test_a_file_saved_before_the_options_existed_loads_without_them(tmp_path):
    net = bn.MLP([12, 5, 3], seed=0)
    path = save_model(tmp_path / "m.npz", net)
    arrays = dict(np.load(path))
    header = json.loads(arrays["header"].tobytes())
    for key in ("batch_norm", "noise", "input_noise"):
        del header["model"][key]
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    old, _ = load_model(tmp_path / "old.npz")
    assert (old.batch_norm, old.noise, old.input_noise) == (False, 0.0, 0.0)


def test_an_interrupted_run_resumes_bit_identically(tmp_path):
    from barenet.checkpoint import load_checkpoint, load_trainer_state
    from barenet.training import Checkpoint, Trainer
    from training_helpers import InterruptAt

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 12)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int)

    def trainer(callbacks):
        model = bn.MLP([12, 8, 2], batch_norm=True, noise=0.3, input_noise=0.1, seed=3)
        return Trainer(model, "cross_entropy", bn.Adam(0.01), batch_size=16, epochs=4, seed=4,
                       callbacks=callbacks)

    straight = trainer([])
    straight.fit(x, y, validation=(x[:50], y[:50]))
    path = tmp_path / "ck.npz"
    first = trainer([InterruptAt(3, 5), Checkpoint(path)])
    with pytest.raises(KeyboardInterrupt):
        first.fit(x, y, validation=(x[:50], y[:50]))
    resumed = trainer([Checkpoint(path)])
    load_trainer_state(resumed, *load_checkpoint(path))
    resumed.fit(x, y, validation=(x[:50], y[:50]))
    for a, b in zip(straight.model.get_weights(), resumed.model.get_weights(), strict=True):
        assert np.array_equal(a, b)
    for name, array in straight.model.statistics().items():
        assert np.array_equal(array, resumed.model.statistics()[name]), name
    assert straight.history["val_loss"] == resumed.history["val_loss"]


def test_config_refuses_batch_norm_with_one_sample_per_batch(tmp_path, capsys):
    from barenet.cli import main

    assert main(["train", "--batch-norm", "--batch-size", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--batch-norm needs at least 2 samples" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
    assert main(["train", "--noise", "-1", "--out", str(tmp_path / "r")]) == 2
    assert "--noise" in capsys.readouterr().err


def test_cli_trains_records_and_reports_the_options(tmp_path):
    from barenet.cli import main
    from barenet.config import make_config, read_toml

    out = tmp_path / "run"
    assert main(["train", "--per-class", "20", "--epochs", "2", "--layers", "16", "--threads", "1",
                 "--batch-norm", "--noise", "0.3", "--input-noise", "0.2", "--out", str(out),
                 "--quiet", "--no-report"]) == 0
    config = make_config(read_toml(out / "config.toml"))
    assert (config.batch_norm, config.noise, config.input_noise) == (True, 0.3, 0.2)
    model, _ = load_model(out / "model.npz")
    assert model.batch_norm and model.noise == 0.3 and model.input_noise == 0.2
    assert main(["gradcheck", str(out), "--quiet"]) == 0


def test_the_memory_check_counts_their_buffers(monkeypatch):
    from barenet.config import make_config
    from barenet.run import memory

    sizes, batch = [784, 1000, 500, 10], 4096
    plain = memory.training_bytes(sizes, batch, 4, "adam")
    # four more (B, n) float32 buffers per unit (batch norm, noise; the count includes the output
    # layer), two more per input
    extra = 4 * batch * (4 * sum(sizes[1:]) + 2 * 784)
    monkeypatch.setattr(memory, "available_memory", lambda: int((plain + extra / 2) / memory.MEMORY_SHARE))
    options = {"layers": [1000, 500], "batch_size": batch}
    memory.check_memory(make_config(None, **options), 784, 10, 60000)  # fits
    with pytest.raises(BarenetError, match="needs about"):
        memory.check_memory(make_config(None, batch_norm=True, noise=0.3, input_noise=0.3, **options),
                            784, 10, 60000)


def test_early_stopping_restores_the_statistics_with_the_weights():
    """The best epoch's weights beside a later epoch's running statistics would be a model
    nobody trained: restore_best puts back both."""
    from types import SimpleNamespace

    from barenet.training import EarlyStopping

    net = _net(dtype="float32")
    trainer = SimpleNamespace(model=net, stop_training=False)
    stopping = EarlyStopping(patience=5)
    stopping.on_train_begin(trainer)
    stopping.on_epoch_end(trainer, {"epoch": 1, "val_loss": 0.5})  # the best epoch
    best = net.get_state()
    x, y = _data(64)
    net.loss_and_gradients(x.astype(np.float32), y, "cross_entropy")  # statistics move on
    for p in net.params():
        p.value += 1.0
    stopping.on_epoch_end(trainer, {"epoch": 2, "val_loss": 0.9})
    stopping.on_train_end(trainer)
    for saved, now in zip(best, net.get_state(), strict=True):
        np.testing.assert_array_equal(saved, now)
    assert len(best) == len(net.params()) + len(net.statistics())
    with pytest.raises(BarenetError, match="expected"):
        net.set_state(best[:-1])
