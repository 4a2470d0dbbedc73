"""The from-scratch math a learner reads: activations, losses, layers, initializers, the MLP,
optimizers, learning-rate schedules and the numerical gradient check.

Nothing here imports anything from barenet but :mod:`barenet.errors`. One training step, from
the top: :meth:`MLP.forward <barenet.nn.model.MLP.forward>` (``layers.Dense.forward``: ``x @ W
+ b``, the BLAS call), :meth:`Loss.value <barenet.nn.losses.Loss.value>`, :meth:`MLP.backward
<barenet.nn.model.MLP.backward>` and :meth:`Optimizer.step <barenet.nn.optim.Optimizer.step>`.
"""
