"""Figures of a training run, for the report and for notebooks (one import for all).

Every function returns a :class:`matplotlib.figure.Figure` (Jupyter shows it inline) and, given
``path``, also saves it as a PNG, atomically (a crash never leaves half a file). The figures are
built without ``pyplot``, so they need no display, leave no global state behind, and work in
scripts, tests and servers alike. No axis uses offset notation; loss and accuracy axes have a
minimum range, so a flat line looks flat; every title names the split it shows.

Images are passed as they are stored: raw (N, 784) or (N, 28, 28) pixels (uint8 for MNIST);
``input_shape`` (default 28 x 28) reshapes flat rows for display. The figures live in
:mod:`~barenet.inspect.figures_training`, :mod:`~barenet.inspect.figures_predictions` and
:mod:`~barenet.inspect.figures_model`.
"""

from __future__ import annotations

from .figure_tools import figure_png, save_figure
from .figures_model import plot_activation_histograms, plot_first_layer_weights
from .figures_predictions import (
                                  plot_augmented,
                                  plot_binary_outcomes,
                                  plot_class_grid,
                                  plot_confusion,
                                  plot_probability_histogram,
                                  plot_roc_pr,
                                  plot_samples,
                                  plot_worst,
)
from .figures_training import plot_batch_loss, plot_curves, plot_learning_rate, plot_norms

__all__ = ["save_figure", "figure_png", "plot_curves", "plot_batch_loss", "plot_learning_rate", "plot_norms",
           "plot_confusion", "plot_samples", "plot_augmented", "plot_class_grid", "plot_binary_outcomes",
           "plot_worst",
           "plot_roc_pr", "plot_probability_histogram", "plot_first_layer_weights",
           "plot_activation_histograms"]
