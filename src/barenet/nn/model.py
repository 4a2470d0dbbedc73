"""The multilayer perceptron: an ordered list of layers with forward, backward and predict.

``MLP([784, 256, 10], hidden="relu", output="softmax")`` builds
``Dense(784->256) -> relu -> Dense(256->10) -> softmax``, with a Dropout after each hidden
activation when ``dropout > 0``, and one before the first Dense when ``input_dropout > 0``.
``batch_norm=True`` puts a BatchNorm between each hidden Dense and its activation, ``noise > 0``
a GaussianNoise after it (after the Dense when there is no BatchNorm), and ``input_noise > 0``
one on the inputs. A hidden layer in full: ``Dense -> BatchNorm -> GaussianNoise -> activation
-> Dropout``.

One training step, written out (this is what :func:`barenet.fit` does per batch)::

    p = model.forward(x, training=True)     # (N, C) output probabilities
    value = loss.value(p, y)                # scalar
    model.backward(p, y, loss)              # fills every layer's dW, db (p is kept)
    optimizer.step(model.params())          # updates W, b in place

(:meth:`MLP.backward` with ``overwrite_p=True`` writes the output gradient over ``p``
instead of allocating it: the training loop's fast path.)
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np

from ..errors import BarenetError
from .activations import ACTIVATIONS
from .layers import ActivationLayer, Dense, Dropout, GaussianNoise, Layer, Param, pack
from .losses import Loss, get_loss
from .normalization import BatchNorm

Array = np.ndarray
DTYPES = ("float32", "float64")


def _check_dtype(dtype: object) -> np.dtype:
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise BarenetError(f"unsupported dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    return dt


def _check_activation(name: str, role: str) -> str:
    if name not in ACTIVATIONS:
        raise BarenetError(f"unknown {role} activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}")
    return name


class MLP:
    """A multilayer perceptron built from layer sizes and activation names.

    Parameters
    ----------
    sizes : [n_input, hidden..., n_output], e.g. ``[784, 500, 250, 1]``.
    hidden : the hidden activation name, or one name per hidden layer.
    output : the output activation (``softmax`` for classes, ``sigmoid`` for one binary unit).
    init : weight initializer spec (see :mod:`barenet.init`), e.g. ``"uniform(-1,1)"``, or one
        spec per Dense layer. ``"auto"``: He for ReLU-family layers, Xavier otherwise.
    bias_init : initial value of every bias (0 by default), or an initializer spec such as
        ``"uniform(-1,1)"`` to draw the biases like the weights (the exercises' folded bias).
    dropout : drop probability after each hidden activation (0 disables), or one per layer.
    input_dropout : drop probability of each input feature in training (0 disables), the
        input layer's dropout of Srivastava et al. 2014 (they used 0.2 on MNIST).
    batch_norm : normalize each hidden layer's pre-activations over the batch
        (:class:`barenet.nn.normalization.BatchNorm`); the hidden Dense layers then have no bias.
    noise, input_noise : standard deviation of the Gaussian noise added in training to each
        hidden layer's (normalized) pre-activation, and to each input (0 disables).
    dtype : ``"float32"`` (default, fast) or ``"float64"``.
    seed : seeds the one ``numpy.random.Generator`` behind initialization, dropout and noise.
    """

    def __init__(
        self, sizes: Sequence[int], hidden: str | Sequence[str] = "relu",
        output: str = "softmax", init: str | Sequence[str] = "auto", bias_init: float | str = 0.0,
        dropout: float | Sequence[float] = 0.0, dtype: str | np.dtype | type = "float32",
        seed: int | None = 0, input_dropout: float = 0.0, batch_norm: bool = False,
        noise: float = 0.0, input_noise: float = 0.0,
    ) -> None:
        given_sizes = list(sizes)
        try:
            sizes = [int(s) for s in given_sizes]
        except (TypeError, ValueError):
            sizes = []
        if (len(sizes) < 2 or min(sizes) < 1
                or any(s != g for s, g in zip(sizes, given_sizes, strict=True))):
            raise BarenetError(
                "sizes must list at least an input and an output size, all positive whole "
                f"numbers, e.g. [784, 100, 10]; got {given_sizes}"
            )
        n_hidden = len(sizes) - 2
        hiddens = [hidden] * n_hidden if isinstance(hidden, str) else list(hidden)
        inits = [init] * (n_hidden + 1) if isinstance(init, str) else list(init)
        drops = [dropout] * n_hidden if np.isscalar(dropout) else list(dropout)  # type: ignore[arg-type]
        for what, given, want in (("hidden activations", hiddens, n_hidden),
                                  ("initializers", inits, n_hidden + 1),
                                  ("dropout rates", drops, n_hidden)):
            if len(given) != want:
                raise BarenetError(f"expected {want} {what} for sizes {sizes}; got {len(given)}")
        for h in hiddens if not isinstance(hidden, str) else [hidden]:
            _check_activation(h, "hidden")
        for rate in [*drops, input_dropout]:
            if not 0.0 <= float(rate) < 1.0:
                raise BarenetError(f"dropout rate must be in [0, 1); got {rate}")
        for sigma in (noise, input_noise):
            if not (np.isfinite(float(sigma)) and float(sigma) >= 0.0):
                raise BarenetError(f"noise must be a finite standard deviation >= 0; got {sigma}")
        _check_activation(output, "output")
        if output == "softmax" and sizes[-1] < 2:
            raise BarenetError("a softmax output needs at least 2 units; use sigmoid for one unit")
        self.sizes = sizes
        self.hidden = hiddens
        self.output = output
        self.inits = inits
        self.bias_init = bias_init if isinstance(bias_init, str) else float(bias_init)
        self.dropout = [float(d) for d in drops]
        self.input_dropout = float(input_dropout)
        self.batch_norm = bool(batch_norm)
        self.noise = float(noise)
        self.input_noise = float(input_noise)
        self.dtype = _check_dtype(dtype)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        activations = hiddens + [output]
        self.layers: list[Layer | BatchNorm] = []
        if self.input_noise > 0:
            self.layers.append(GaussianNoise(self.input_noise, rng=self.rng))
        if self.input_dropout > 0:
            self.layers.append(Dropout(self.input_dropout, rng=self.rng))
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            hidden_layer = i < n_hidden
            normalized = hidden_layer and self.batch_norm
            self.layers.append(Dense(n_in, n_out, init=inits[i], activation=activations[i],
                                     bias_init=bias_init, rng=self.rng, dtype=self.dtype,
                                     use_bias=not normalized))
            if normalized:
                self.layers.append(BatchNorm(n_out, dtype=self.dtype))
            if hidden_layer and self.noise > 0:
                self.layers.append(GaussianNoise(self.noise, rng=self.rng))
            self.layers.append(ActivationLayer(activations[i]))
            if hidden_layer and self.dropout[i] > 0:
                self.layers.append(Dropout(self.dropout[i], rng=self.rng))
        self._pack_parameters()

    def __setstate__(self, state: dict) -> None:
        """After unpickling (or copy.deepcopy) pack the parameters again: pickle restores each
        view as a separate array. A model pickled before input dropout, batch normalization or
        noise existed has none."""
        for key, default in (("input_dropout", 0.0), ("batch_norm", False), ("noise", 0.0),
                             ("input_noise", 0.0)):
            state.setdefault(key, default)
        self.__dict__.update(state)
        self._pack_parameters()

    def _pack_parameters(self) -> None:
        """Move every parameter (W, b; BatchNorm's gamma, beta) into one contiguous vector, and
        every gradient into another (:func:`barenet.layers.pack`), in :meth:`params` order. The
        layers keep views, so nothing else changes, and an optimizer updates all parameters
        with one NumPy call per operation."""
        slots = [(layer, value, grad) for layer in self.layers
                 for value, grad in getattr(layer, "PARAMS", ())]
        _, values = pack([getattr(layer, value) for layer, value, _ in slots])
        _, grads = pack([getattr(layer, grad) for layer, _, grad in slots])
        for (layer, value, grad), v, g in zip(slots, values, grads, strict=True):
            setattr(layer, value, v)
            setattr(layer, grad, g)

    # ----------------------------------------------------------------- structure
    @property
    def dense_layers(self) -> list[Dense]:
        return [layer for layer in self.layers if isinstance(layer, Dense)]

    @property
    def n_inputs(self) -> int:
        return self.sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.sizes[-1]

    def _numbered_layers(self) -> list[tuple[int, Layer | BatchNorm]]:
        """(k, layer) for every layer, k the number of the Dense layer it belongs to (1 for
        the first Dense and what follows it): names like ``layer2.gamma`` come from k."""
        numbered, k = [], 0
        for layer in self.layers:
            k += isinstance(layer, Dense)
            numbered.append((max(k, 1), layer))
        return numbered

    def params(self) -> list[Param]:
        """Every trainable array with its gradient, in layer order (W1, b1, W2, b2, ...; with
        batch normalization W1, b1, gamma1, beta1, W2, ...)."""
        return [Param(f"layer{k}.{p.name}", p.value, p.grad, p.decay)
                for k, layer in self._numbered_layers() for p in layer.params()]

    def statistics(self) -> dict[str, Array]:
        """The arrays that are state but not trained by gradients, by name
        (``layer1.running_mean``, ``layer1.running_var``, ... of batch normalization); the
        arrays themselves, not copies. Empty without batch normalization."""
        return {f"layer{k}.{name}": array for k, layer in self._numbered_layers()
                if isinstance(layer, BatchNorm) for name, array in layer.statistics().items()}

    def inference_affines(self) -> list[tuple[Array, Array]]:
        """(W, b) of each Dense layer as inference computes it, batch normalization folded in:
        a Dense layer followed by a BatchNorm with ``scale``, ``shift`` (its
        :meth:`~barenet.nn.normalization.BatchNorm.affine`) acts as ``W * scale`` (each column
        scaled) and ``b * scale + shift``. New arrays, in the model's dtype; what the exports
        write, so that an exported network is plain Dense layers and activations."""
        affines: list[tuple[Array, Array]] = []
        for layer in self.layers:
            if isinstance(layer, Dense):
                affines.append((layer.W.copy(), layer.b.copy()))
            elif isinstance(layer, BatchNorm):
                w, b = affines[-1]
                scale, shift = layer.affine()
                affines[-1] = (w * scale, b * scale + shift)
        return affines

    def n_params(self) -> int:
        return sum(p.value.size for p in self.params())

    def config(self) -> dict:
        """The constructor arguments, enough to rebuild this architecture."""
        return {"sizes": list(self.sizes), "hidden": list(self.hidden), "output": self.output,
                "init": list(self.inits), "bias_init": self.bias_init,
                "dropout": list(self.dropout), "input_dropout": self.input_dropout,
                "batch_norm": self.batch_norm, "noise": self.noise, "input_noise": self.input_noise,
                "dtype": self.dtype.name, "seed": self.seed}

    def summary(self) -> str:
        """A table of layers, shapes and parameter counts."""
        rows = [("layer", "output shape", "parameters")]
        for layer in self.layers:
            size = sum(p.value.size for p in layer.params())
            if isinstance(layer, Dense):
                rows.append((layer.describe(), f"(N, {layer.n_out})", f"{size:,}"))
            else:
                rows.append((layer.describe(), "", f"{size:,}"))
        width = [max(len(r[c]) for r in rows) for c in range(3)]
        lines = [f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]:>{width[2]}}" for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append("-" * len(lines[0]))
        lines.append(f"total parameters: {self.n_params():,}   dtype: {self.dtype.name}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Jupyter shows a bare ``model`` as its :meth:`summary` table."""
        return f"<pre>{escape(repr(self))}\n\n{escape(self.summary())}</pre>"

    def __repr__(self) -> str:
        return (f"MLP({self.sizes}, hidden={self.hidden}, output={self.output!r}, "
                f"dtype={self.dtype.name!r})")

    # ----------------------------------------------------------------- passes
    def _as_input(self, x: Array) -> Array:
        x = np.asarray(x)
        if x.ndim == 0:
            raise BarenetError(
                f"input must be an array of samples (N, {self.n_inputs}) or one sample "
                f"({self.n_inputs},); got a scalar"
            )
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim > 2:
            x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.n_inputs:
            raise BarenetError(
                f"input has {x.shape[1]} features per sample but the model expects "
                f"{self.n_inputs}"
            )
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def forward(self, x: Array, training: bool = False, copy: bool = True) -> Array:
        """Output of the network for x (N, n_inputs) -> (N, n_outputs).

        ``training=True`` applies dropout and keeps what :meth:`backward` needs. With
        ``copy=False`` the returned array is the model's own buffer (valid until the next
        forward): the training loop uses this to avoid a copy per batch. Inference with
        ``copy=True`` computes into new arrays and keeps no state (safe from several threads).
        """
        out = self._as_input(x)
        if copy and not training:
            return self.layers[-1].infer(self.logits(out))
        for layer in self.layers:
            out = layer.forward(out, training)
        return out.copy() if copy else out

    def logits(self, x: Array) -> Array:
        """The output layer's pre-activation z (N, n_outputs) in inference mode, a new array."""
        out = self._as_input(x)
        for layer in self.layers[:-1]:
            out = layer.infer(out)
        return out

    def backward(self, p: Array, y: Array, loss: Loss | str, sample_weight: Array | None = None,
                 overwrite_p: bool = False) -> None:
        """Backpropagate loss(p, y) through every layer, filling each ``dW`` and ``db``.

        ``p`` is the output of the latest ``forward(..., training=True)``; ``sample_weight``
        (N,) weights each sample's loss (see :mod:`barenet.nn.losses`). For the fused pairs
        (sigmoid + binary cross-entropy, softmax + cross-entropy) the gradient at the output
        pre-activation is ``p - y`` directly and the output activation's backward is skipped.
        ``p`` is left as it is, unless ``overwrite_p=True``: then the fused gradient is written
        over it (no (N, C) allocation; the training loop's fast path, for a ``p`` it owns).
        """
        loss = get_loss(loss)
        if loss.is_fused_with(self.output):
            g = loss.fused_gradient(p, y, out=p if overwrite_p else None,
                                    sample_weight=sample_weight)
        else:
            g = self.layers[-1].backward(loss.gradient(p, y, sample_weight))
        layers = self.layers[:-1]
        first = self.layers.index(self.dense_layers[0])  # nothing before it needs a gradient
        for i in range(len(layers) - 1, first - 1, -1):
            g = layers[i].backward(g, need_input_grad=i > first)

    def loss_and_gradients(self, x: Array, y: Array, loss: Loss | str) -> float:
        """Forward in training mode, the loss value, then backward. Returns the loss."""
        loss = get_loss(loss)
        p = self.forward(x, training=True, copy=False)
        value = loss.value(p, y)
        self.backward(p, y, loss, overwrite_p=True)
        return value

    def predict_proba(self, x: Array, batch_size: int = 8192) -> Array:
        """Output probabilities (N, n_outputs), computed in inference mode, in batches."""
        x = np.asarray(x)
        x = x.reshape(1, -1) if x.ndim == 1 else x  # each batch is converted on its own
        parts = [self.forward(x[i:i + batch_size]) for i in range(0, max(len(x), 1), batch_size)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def predict(self, x: Array, threshold: float = 0.5) -> Array:
        """Class indices (N,): argmax for several outputs, ``p > threshold`` for one unit."""
        p = self.predict_proba(x)
        if self.n_outputs == 1:
            return (p[:, 0] > threshold).astype(np.int64)
        return np.argmax(p, axis=1)

    # ----------------------------------------------------------------- copies
    def astype(self, dtype: str | np.dtype | type) -> MLP:
        """A copy of this model with parameters in ``dtype`` (e.g. float64 for gradient checks)."""
        clone = MLP(self.sizes, self.hidden, self.output, ["zeros"] * len(self.dense_layers),
                    0.0, self.dropout, dtype, self.seed, self.input_dropout, self.batch_norm,
                    self.noise, self.input_noise)
        for mine, theirs in zip(self.params(), clone.params(), strict=True):
            theirs.value[...] = mine.value
        theirs_stats = clone.statistics()
        for name, array in self.statistics().items():
            theirs_stats[name][...] = array
        clone.inits, clone.bias_init = list(self.inits), self.bias_init
        return clone

    def copy(self) -> MLP:
        return self.astype(self.dtype)

    def get_weights(self) -> list[Array]:
        """Copies of every parameter array, in :meth:`params` order."""
        return [p.value.copy() for p in self.params()]

    def get_state(self) -> list[Array]:
        """Copies of everything inference reads: every parameter (:meth:`get_weights`), then
        the running statistics of batch normalization (:meth:`statistics`). What a training loop
        keeps to go back to an earlier epoch: the weights alone would leave the statistics of
        a later one beside them."""
        return self.get_weights() + [a.copy() for a in self.statistics().values()]

    def set_state(self, state: Sequence[Array]) -> None:
        """Put back a :meth:`get_state` of this architecture, in place."""
        n = len(self.params())
        statistics = list(self.statistics().values())
        if len(state) != n + len(statistics):
            raise BarenetError(f"expected {n + len(statistics)} arrays, got {len(state)}")
        self.set_weights(state[:n])
        for array, saved in zip(statistics, state[n:], strict=True):
            array[...] = saved

    def set_weights(self, weights: Sequence[Array]) -> None:
        """Overwrite every parameter in place from arrays in :meth:`params` order."""
        params = self.params()
        if len(weights) != len(params):
            raise BarenetError(f"expected {len(params)} arrays, got {len(weights)}")
        for p, w in zip(params, weights, strict=True):
            w = np.asarray(w)
            if w.shape != p.value.shape:
                raise BarenetError(f"{p.name}: expected shape {p.value.shape}, got {w.shape}")
            p.value[...] = w
