"""Speed guards that cannot flake: no wall-clock thresholds, only dtypes and memory traffic.

The training hot path (one minibatch step) must stay float32 end to end and must not
allocate parameter-sized temporaries: every large buffer is preallocated and reused.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

import barenet as bn
from barenet.preprocess import Normalizer
from barenet.training import Trainer


def _data(n=512, d=784, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, d), dtype=np.uint8), rng.integers(0, classes, size=n)


def _step(model, optimizer, loss, xb, yb):
    p = model.forward(xb, training=True, copy=False)
    loss.value(p, yb)
    model.backward(p, yb, loss)
    optimizer.step(model.params())


def test_training_keeps_float32_end_to_end():
    x, y = _data()
    model = bn.MLP([784, 64, 10], dropout=0.1, seed=0)
    optimizer = bn.Adam(1e-3)
    trainer = Trainer(model, "cross_entropy", optimizer, batch_size=128, epochs=1,
                      normalizer=Normalizer("255").fit(x))
    trainer.fit(x, y)
    for p in model.params():
        assert p.value.dtype == np.float32 and p.grad.dtype == np.float32, p.name
    for layer in model.layers:
        for name in ("_x", "_z", "_dx", "_y", "_mask"):
            buffer = getattr(layer, name, None)
            if isinstance(buffer, np.ndarray):
                assert buffer.dtype == np.float32, (layer.describe(), name)
    for state in optimizer.state_dict().values():
        if np.ndim(state) > 0:
            assert state.dtype == np.float32
    assert x.dtype == np.uint8  # the data set itself is never converted


def test_a_training_step_allocates_no_parameter_sized_temporaries():
    """After warm-up, 20 Adam steps of 784-256-10 at batch 128 raise peak memory by less than
    one weight matrix (784 x 256 float32 = 803 kB): buffers are reused, updates are in place."""
    x, y = _data()
    norm = Normalizer("255").fit(x)
    xb = norm.transform(x[:128])
    yb = y[:128]
    model = bn.MLP([784, 256, 10], seed=0)
    optimizer = bn.Adam(1e-3)
    loss = bn.Loss("cross_entropy")
    for _ in range(3):
        _step(model, optimizer, loss, xb, yb)
    weight_bytes = model.params()[0].value.nbytes
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(20):
            _step(model, optimizer, loss, xb, yb)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < weight_bytes, f"peak rose by {peak - before} bytes"
    assert after - before < 64 * 1024, "memory grows step after step"


def test_the_bound_would_catch_a_parameter_sized_temporary(monkeypatch):
    """The guard above can fail: an optimizer that allocates (g * g) each step trips it."""
    x, y = _data()
    xb = Normalizer("255").fit(x).transform(x[:128])
    model = bn.MLP([784, 256, 10], seed=0)
    optimizer = bn.Adam(1e-3)
    loss = bn.Loss("cross_entropy")
    original = optimizer.step

    def wasteful_step(params):
        for p in params:
            _ = p.grad * p.grad  # a fresh parameter-sized array
        original(params)

    monkeypatch.setattr(optimizer, "step", wasteful_step)
    _step(model, optimizer, loss, xb, y[:128])
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        _step(model, optimizer, loss, xb, y[:128])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before >= model.params()[0].value.nbytes


def test_start_up_loads_no_network_or_plotting_modules():
    """`barenet train` pays for what it uses: the command line and a training run never load
    the network stack (http, ssl, email: only a download needs them) nor matplotlib (only
    figures need it)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from barenet.cli import main\n"
            "import numpy as np\n"
            "main(['train', '--per-class', '20', '--epochs', '1', '--batch-size', '32', '--layers',"
            " '8', '--no-report', '--quiet', '--threads', '1', '--out', sys.argv[1]])\n"
            "heavy = ('http.client', 'urllib.request', 'ssl', 'email', 'socket', 'matplotlib', 'PIL',"
            " 'onnx')\n"
            "print(','.join(m for m in heavy if m in sys.modules))\n")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", code, f"{tmp}/run"], capture_output=True,
                              text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1:] in ([], [""]), proc.stdout


def test_max_norm_projection_allocates_no_weight_sized_temporary():
    """Once most units have reached the bound (as they do in a long max-norm run) the
    projection is one in-place pass: only (n_out,) vectors are allocated. Selecting the
    outside columns (``W[:, outside] *= ...``) copied them, and made a 1024 x 1024 layer's
    projection 13x slower late in a record run."""
    from barenet.nn.constraints import max_norm_

    w = np.random.default_rng(0).standard_normal((784, 256)).astype(np.float32)
    c = 0.5 * float(np.linalg.norm(w, axis=0).min())  # every unit outside the ball
    max_norm_(w.copy(), c)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        max_norm_(w, c)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < w.nbytes // 8, f"peak rose by {peak - before} bytes"
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), c, rtol=1e-5)
