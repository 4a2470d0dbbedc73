"""How much barenet's pre-scaled Adam moments save: one Adam step over the 203,530 parameters
of 784-256-10 in float32, textbook form versus barenet's, best of 5 x 200 steps. Then what
packing the parameters into one vector saves: the same barenet step on the model's packed
parameters versus on separate copies of each array (one NumPy call per array and pass).

    python benchmarks/adam_passes.py
"""

from __future__ import annotations

import math
import time

import numpy as np

import barenet as bn


def textbook_step(params, m, v, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; w -= lr m_hat / (sqrt(v_hat) + eps), in place."""
    for p, mi, vi in zip(params, m, v, strict=True):
        g = p.grad
        mi *= b1
        mi += (1 - b1) * g
        vi *= b2
        vi += (1 - b2) * g * g
        m_hat = mi / (1 - b1**t)
        v_hat = vi / (1 - b2**t)
        p.value -= lr * m_hat / (np.sqrt(v_hat) + eps)


def best_of(fn, repeat=5, number=200):
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def main() -> None:
    model = bn.MLP([784, 256, 10], seed=0)
    params = model.params()
    rng = np.random.default_rng(0)
    for p in params:
        p.grad[...] = rng.standard_normal(p.grad.shape, dtype=np.float32)
    m = [np.zeros_like(p.value) for p in params]
    v = [np.zeros_like(p.value) for p in params]
    adam = bn.Adam(1e-3)
    textbook = best_of(lambda: textbook_step(params, m, v, 10))
    barenet = best_of(lambda: adam.step(params))
    separate = [bn.layers.Param(p.name, p.value.copy(), p.grad.copy(), p.decay) for p in params]
    other = bn.Adam(1e-3)
    per_array = best_of(lambda: other.step(separate))
    steps = 469  # one epoch of MNIST at batch 128
    print(f"textbook Adam: {1e6 * textbook:.0f} us/step = {steps * textbook:.3f} s/epoch")
    print(f"barenet Adam:  {1e6 * barenet:.0f} us/step = {steps * barenet:.3f} s/epoch "
          f"({textbook / barenet:.2f}x faster)")
    print(f"barenet Adam, one array at a time (not packed): {1e6 * per_array:.0f} us/step "
          f"= {steps * per_array:.3f} s/epoch")


if __name__ == "__main__":
    main()
