"""Agreement with PyTorch autograd and torch.optim in float64.

The same network is built in torch from barenet's weights (barenet's W is (n_in, n_out), a
torch Linear weight is (n_out, n_in)). Forward values, loss values and every parameter
gradient must agree to 1e-10 relative, for every activation, output/loss pair and reduction,
on random shapes. The optimizers must follow torch.optim's trajectories step for step.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import barenet as bn
from barenet.layers import ActivationLayer, Dense, Dropout, Param
from barenet.nn.losses import Loss
from core_helpers import HIDDEN, OUTPUT_LOSS_PAIRS, REDUCTIONS

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL, ATOL = 1e-10, 1e-12


def _torch_activation(name: str, z):
    return {
        "sigmoid": torch.sigmoid,
        "relu": F.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.01),
        "tanh": torch.tanh,
        "identity": lambda t: t,
        "softmax": lambda t: torch.softmax(t, dim=1),
    }[name](z)


def _torch_loss(loss_name: str, reduction: str, z, p, target):
    """barenet's loss, built from torch primitives. ``z`` is the output pre-activation.

    Per sample the loss is summed over outputs; ``mean`` then averages over samples.
    """
    if loss_name == "cross_entropy":  # softmax output: torch's own fused log-softmax + NLL
        return F.cross_entropy(z, target, reduction=reduction)
    if loss_name == "binary_cross_entropy":  # sigmoid output: from the logits
        per = F.binary_cross_entropy_with_logits(z, target, reduction="none").sum(dim=1)
    else:
        per = 0.5 * ((p - target) ** 2).sum(dim=1)
    return per.mean() if reduction == "mean" else per.sum()


def _torch_clipped_loss(loss_name: str, reduction: str, p, target, eps: float):
    """The same loss from probabilities clipped to [eps, 1 - eps] inside the logs, as barenet
    documents (there is no log(0)): equal to the logit form wherever nothing is clipped."""
    if loss_name == "squared_error":
        per = 0.5 * ((p - target) ** 2).sum(dim=1)
    elif loss_name == "cross_entropy":
        if target.ndim == 1:
            target = F.one_hot(target, p.shape[1]).to(p.dtype)
        per = -(target * torch.log(torch.clamp(p, min=eps))).sum(dim=1)
    else:
        q = torch.clamp(p, eps, 1 - eps)
        per = -(target * torch.log(q) + (1 - target) * torch.log(1 - q)).sum(dim=1)
    return per.mean() if reduction == "mean" else per.sum()


def _torch_target(loss_name: str, y: np.ndarray, n_out: int):
    if loss_name == "cross_entropy":
        if y.ndim == 1:
            return torch.from_numpy(y.astype(np.int64))
        return torch.from_numpy(y)  # class probabilities (one-hot rows)
    if y.ndim == 1:
        y = np.eye(n_out)[y] if n_out > 1 else y.reshape(-1, 1).astype(np.float64)
    return torch.from_numpy(y)


def _compare(model: bn.MLP, loss: bn.Loss, x: np.ndarray, y: np.ndarray) -> bool:
    """Run barenet (training mode) and the torch twin; assert forward, loss and gradients.

    Returns whether the loss value was also held to the exact (logit-form) torch loss.
    """
    p = model.forward(x, training=True)
    value = loss.value(p, y)
    model.backward(p.copy(), y, loss)

    h = torch.from_numpy(x)
    linears, z = [], None
    for layer in model.layers:
        if isinstance(layer, Dense):
            lin = torch.nn.Linear(layer.n_in, layer.n_out, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.W.T))
                lin.bias.copy_(torch.from_numpy(layer.b))
            linears.append((layer, lin))
            h = z = lin(h)
        elif isinstance(layer, ActivationLayer):
            h = _torch_activation(layer.name, h)
        elif isinstance(layer, Dropout) and layer._mask is not None:
            h = h * torch.from_numpy(layer._mask)  # the mask barenet drew, to compare backward
    target = _torch_target(loss.name, y, model.n_outputs)
    t_loss = _torch_loss(loss.name, loss.reduction, z, h, target)
    t_loss.backward()

    np.testing.assert_allclose(p, h.detach().numpy(), rtol=RTOL, atol=ATOL)
    eps = 1e-15
    clipped = _torch_clipped_loss(loss.name, loss.reduction, h.detach(), target, eps).item()
    assert value == pytest.approx(clipped, rel=RTOL, abs=ATOL)
    # Where nothing is clipped, the value is the exact (logit-form) loss too. A loss computed
    # from probabilities cannot know log(1 - p) better than p's rounding (~1e-16) allows, so
    # for BCE "exact" also needs 1 - p >= 1e-5 (p from a sigmoid of z < ~11.5).
    high = 1 - 1e-5 if loss.name == "binary_cross_entropy" else 1 - eps
    exact = loss.name == "squared_error" or bool(np.all((p > eps) & (p < high)))
    if exact:
        assert value == pytest.approx(t_loss.item(), rel=RTOL, abs=ATOL)
    # the gradients are exact either way (the fused p - y needs no clipping)
    for layer, lin in linears:
        np.testing.assert_allclose(layer.dW, lin.weight.grad.numpy().T, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(layer.db, lin.bias.grad.numpy(), rtol=RTOL, atol=ATOL)
    return exact


@st.composite
def networks(draw):
    output, loss_name = draw(st.sampled_from(OUTPUT_LOSS_PAIRS))
    n_hidden = draw(st.integers(0, 2))
    hidden = draw(st.lists(st.sampled_from(HIDDEN), min_size=n_hidden, max_size=n_hidden))
    n_out = draw(st.integers(2 if output == "softmax" else 1, 5))
    sizes = [draw(st.integers(1, 6)) for _ in range(n_hidden + 1)] + [n_out]
    return dict(
        sizes=sizes, hidden=hidden, output=output, loss_name=loss_name,
        reduction=draw(st.sampled_from(REDUCTIONS)), n=draw(st.integers(1, 8)),
        dropout=draw(st.sampled_from([0.0, 0.4])) if n_hidden else 0.0,
        dense_target=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)),
        scale=draw(st.sampled_from([0.1, 0.5, 1.0, 2.0])),
    )


def _build(case: dict):
    rng = np.random.default_rng(case["seed"])
    model = bn.MLP(case["sizes"], hidden=case["hidden"], output=case["output"],
                   dropout=case["dropout"], dtype="float64", seed=case["seed"])
    model.set_weights([rng.normal(scale=case["scale"], size=w.shape)
                       for w in model.get_weights()])
    x = rng.normal(size=(case["n"], case["sizes"][0]))
    n_out, loss_name = case["sizes"][-1], case["loss_name"]
    labels = rng.integers(0, max(n_out, 2), size=case["n"])
    if not case["dense_target"]:
        y = labels
    elif loss_name == "cross_entropy":
        y = np.eye(n_out)[labels]
    elif loss_name == "binary_cross_entropy":
        y = rng.integers(0, 2, size=(case["n"], n_out)).astype(np.float64)
    else:
        y = rng.normal(size=(case["n"], n_out))
    return model, bn.Loss(loss_name, case["reduction"]), x, y


@settings(max_examples=150, deadline=None, derandomize=True)
@given(networks())
def test_forward_and_gradients_agree_with_torch_on_random_networks(case):
    _compare(*_build(case))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("output,loss_name", OUTPUT_LOSS_PAIRS,
                         ids=[f"{o}+{lo}" for o, lo in OUTPUT_LOSS_PAIRS])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_activation_and_loss_agrees_with_torch(hidden, output, loss_name, reduction):
    """The full matrix on one fixed shape, with dropout on, so no combination is left out."""
    case = dict(sizes=[5, 6, 4, 3], hidden=[hidden, hidden], output=output, loss_name=loss_name,
                reduction=reduction, n=7, dropout=0.3, dense_target=False, seed=17, scale=0.5)
    assert _compare(*_build(case))  # moderate weights: the loss value is held to torch's too


# ------------------------------------------------------------------ optimizers
OPTIMIZERS = [
    ("sgd", dict(lr=0.1), dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.8, weight_decay=0.1),
     dict(lr=0.05, momentum=0.8, weight_decay=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
     dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam", dict(lr=0.01), dict(lr=0.01)),
    ("adam", dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1),
     dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adamw", dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, weight_decay=0.1)),
    ("adamw", dict(lr=0.03, beta1=0.5, beta2=0.9, weight_decay=0.5),
     dict(lr=0.03, betas=(0.5, 0.9), weight_decay=0.5)),
]


def _optimizer_pair(kind: str, ours: dict, theirs: dict, groups: list):
    if kind == "sgd":
        return bn.SGD(**ours), torch.optim.SGD(groups, **theirs)
    if kind == "adam":
        return bn.Adam(**ours), torch.optim.Adam(groups, **theirs)
    return bn.AdamW(**ours), torch.optim.AdamW(groups, **theirs)


@pytest.mark.parametrize("kind,ours,theirs", OPTIMIZERS,
                         ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(OPTIMIZERS)])
def test_optimizer_trajectories_match_torch(kind, ours, theirs):
    rng = np.random.default_rng(1)
    w0, b0 = rng.normal(size=(3, 4)), rng.normal(size=4)
    params = [Param("W", w0.copy(), np.zeros_like(w0), True),
              Param("b", b0.copy(), np.zeros_like(b0), False)]
    tw = torch.tensor(w0, requires_grad=True)
    tb = torch.tensor(b0, requires_grad=True)
    wd = theirs.get("weight_decay", 0.0)
    groups = [{"params": [tw], "weight_decay": wd}, {"params": [tb], "weight_decay": 0.0}]
    opt, t_opt = _optimizer_pair(kind, ours, theirs, groups)
    for step in range(6):
        if step == 3:  # a schedule changing the learning rate mid-run
            opt.lr = ours["lr"] / 2
            for group in t_opt.param_groups:
                group["lr"] = ours["lr"] / 2
        gw, gb = rng.normal(size=(3, 4)), rng.normal(size=4)
        params[0].grad[...] = gw
        params[1].grad[...] = gb
        tw.grad, tb.grad = torch.tensor(gw), torch.tensor(gb)
        opt.step(params)
        t_opt.step()
        np.testing.assert_allclose(params[0].value, tw.detach().numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(params[1].value, tb.detach().numpy(), rtol=RTOL, atol=ATOL)
    assert not np.allclose(params[0].value, w0)


def test_a_whole_training_run_matches_torch():
    """MLP + loss + AdamW for a few minibatch steps, against the torch twin."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 5))
    y = rng.integers(0, 3, size=40)
    model = bn.MLP([5, 8, 6, 3], hidden=["relu", "tanh"], bias_init=0.1, dtype="float64",
                   seed=2)
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 8, dtype=torch.float64), torch.nn.ReLU(),
        torch.nn.Linear(8, 6, dtype=torch.float64), torch.nn.Tanh(),
        torch.nn.Linear(6, 3, dtype=torch.float64))
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for dense, lin in zip(model.dense_layers, linears, strict=True):
            lin.weight.copy_(torch.from_numpy(dense.W.T))
            lin.bias.copy_(torch.from_numpy(dense.b))
    opt = bn.AdamW(lr=0.01, weight_decay=0.05)
    t_opt = torch.optim.AdamW([{"params": [m.weight for m in linears], "weight_decay": 0.05},
                               {"params": [m.bias for m in linears], "weight_decay": 0.0}],
                              lr=0.01)
    loss = bn.Loss("cross_entropy", "mean")
    for start in range(0, 40, 10):
        xb, yb = x[start:start + 10], y[start:start + 10]
        value = model.loss_and_gradients(xb, yb, loss)
        opt.step(model.params())
        t_opt.zero_grad()
        t_value = F.cross_entropy(net(torch.from_numpy(xb)), torch.from_numpy(yb))
        t_value.backward()
        t_opt.step()
        assert value == pytest.approx(t_value.item(), rel=RTOL)
    for dense, lin in zip(model.dense_layers, linears, strict=True):
        np.testing.assert_allclose(dense.W, lin.weight.detach().numpy().T, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(dense.b, lin.bias.detach().numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("output, loss_name", OUTPUT_LOSS_PAIRS)
def test_sample_weighted_loss_and_gradients_agree_with_torch(output, loss_name, reduction):
    """L = sum_i s_i l_i / sum_i s_i (mean) or sum_i s_i l_i (sum): value and every parameter
    gradient of MLP.backward(..., sample_weight=s) against torch autograd, in float64."""
    rng = np.random.default_rng(11)
    n, n_out = 9, 1 if output == "sigmoid" and loss_name == "binary_cross_entropy" else 3
    model = bn.MLP([4, 5, n_out], hidden="tanh", output=output, dtype="float64", seed=3)
    x = rng.normal(size=(n, 4))
    y = rng.integers(0, n_out if n_out > 1 else 2, size=n)
    w = rng.uniform(0, 3, size=n)
    w[2] = 0.0  # a sample that weighs nothing
    loss = bn.Loss(loss_name, reduction)
    p = model.forward(x, training=True)
    value = loss.value(p, y, sample_weight=w)
    model.backward(p, y, loss, sample_weight=w)

    lins = [torch.nn.Linear(d.n_in, d.n_out, dtype=torch.float64) for d in model.dense_layers]
    with torch.no_grad():
        for d, lin in zip(model.dense_layers, lins, strict=True):
            lin.weight.copy_(torch.from_numpy(d.W.T))
            lin.bias.copy_(torch.from_numpy(d.b))
    z = lins[1](torch.tanh(lins[0](torch.from_numpy(x))))
    out = _torch_activation(output, z)
    target = _torch_target(loss_name, y, n_out)
    if loss_name == "cross_entropy":
        per = F.cross_entropy(z, target, reduction="none")
    elif loss_name == "binary_cross_entropy":
        per = F.binary_cross_entropy_with_logits(z, target, reduction="none").sum(dim=1)
    else:
        per = 0.5 * ((out - target) ** 2).sum(dim=1)
    tw = torch.from_numpy(w)
    t_loss = (tw * per).sum() / (tw.sum() if reduction == "mean" else 1.0)
    t_loss.backward()
    assert value == pytest.approx(t_loss.item(), rel=RTOL, abs=ATOL)
    for d, lin in zip(model.dense_layers, lins, strict=True):
        np.testing.assert_allclose(d.dW, lin.weight.grad.numpy().T, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(d.db, lin.bias.grad.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.35])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_label_smoothing_matches_torch_cross_entropy(smoothing, reduction):
    """softmax + cross-entropy with label smoothing e: the value and dL/dz = (p - y') * scale
    against F.cross_entropy(z, labels, label_smoothing=e) and autograd, float64."""
    rng = np.random.default_rng(7)
    z = rng.normal(size=(9, 5)) * 3
    labels = rng.integers(0, 5, 9)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = Loss("cross_entropy", reduction, smoothing)
    zt = torch.tensor(z, requires_grad=True)
    expected = F.cross_entropy(zt, torch.tensor(labels), reduction=reduction, label_smoothing=smoothing)
    expected.backward()
    np.testing.assert_allclose(loss.value(p, labels), expected.item(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(loss.fused_gradient(p, labels), zt.grad.numpy(), rtol=1e-9, atol=ATOL)
