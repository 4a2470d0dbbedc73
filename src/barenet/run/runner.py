"""One training run from a :class:`~barenet.config.TrainConfig`: data, model, fit, evaluate,
and the run directory (model.npz, config.toml, history.csv, metrics.json).

This is what ``barenet train`` calls; it is a plain function so that scripts, the search and
the examples can run the same recipe.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..data import Dataset, load_dataset
from ..data.augment import random_shift_for
from ..data.preprocess import Normalizer, first_per_class, flatten, select_digits, stratified_split
from ..errors import BarenetError, DivergenceError, ModelFileError
from ..export.native import save_model
from ..files.atomic import write_text
from ..files.jsonsafe import finite_json
from ..files.safe_read import summary
from ..inspect.metrics import binary_outcomes, classification_report
from ..nn.losses import Loss
from ..nn.model import MLP
from ..nn.optim import make_optimizer
from ..train.history import History
from ..train.threads import blas_threads, resolve_threads
from ..train.trainer import Checkpoint, EarlyStopping, Trainer, evaluate, predicted_labels
from .config import TrainConfig, resolve_head
from .memory import check_memory


@dataclass
class PreparedData:
    """Flattened uint8 splits, the fitted normalizer and the class names."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    normalizer: Normalizer
    class_names: list[str]
    input_shape: list[int]
    dataset: str

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def prepare_data(config: TrainConfig, dataset: Dataset | None = None) -> PreparedData:
    """Load and prepare the data exactly as ``config`` says (selection, split, scaling)."""
    ds = dataset if dataset is not None else load_dataset(config.dataset, data=config.data)
    x_train, y_train = ds.x_train, ds.y_train
    x_test, y_test = ds.x_test, ds.y_test
    class_names = list(ds.class_names)
    if config.digits is not None:
        d1, d2 = config.digits
        x_train, y_train = select_digits(x_train, y_train, d1, d2)
        if x_test is not None:
            x_test, y_test = select_digits(x_test, y_test, d1, d2)
        class_names = [class_names[d1], class_names[d2]]
    if config.per_class is not None:
        x_train, y_train = first_per_class(x_train, y_train, config.per_class)
    input_shape = list(x_train.shape[1:])
    x_train = flatten(x_train)
    x_test = flatten(x_test) if x_test is not None else None
    x_val = y_val = None
    if config.val_fraction > 0:
        x_train, y_train, x_val, y_val = stratified_split(
            x_train, y_train, config.val_fraction, config.seed)
    if len(x_train) == 0:
        raise BarenetError("no training samples are left after selection; check --digits, "
                           "--per-class and --val-fraction")
    normalizer = Normalizer(config.normalize).fit(x_train, pixel_max=ds.pixel_max)
    return PreparedData(x_train, y_train, x_val, y_val, x_test, y_test, normalizer,
                        class_names, input_shape, ds.name)


def check_fits(config: TrainConfig, data: PreparedData) -> None:
    """What the config asks of these data, before anything is written: the output/loss pairing
    for the real class count, a batch no larger than the training split, and the memory."""
    resolve_head(config, data.n_classes)
    n_train = len(data.x_train)
    if config.batch_size != "full" and int(config.batch_size) > n_train:
        raise BarenetError(f"--batch-size {config.batch_size} is larger than the {n_train} training "
                           "samples; use a smaller --batch-size or --batch-size full")
    check_memory(config, data.x_train.shape[1], data.n_classes, n_train)


def build_model(config: TrainConfig, n_inputs: int, n_classes: int) -> tuple[MLP, Loss]:
    output, loss_name, units = resolve_head(config, n_classes)
    model = MLP([n_inputs, *config.layers, units], hidden=config.hidden, output=output,
                init=config.init, bias_init=config.bias_init, dropout=config.dropout,
                dtype=config.dtype, seed=config.seed)
    return model, Loss(loss_name, config.reduction)


@dataclass
class RunResult:
    model: MLP
    loss: Loss
    history: History
    metrics: dict[str, Any]
    data: PreparedData
    run_dir: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def default_run_dir() -> Path:
    return Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")


def _split_metrics(model: MLP, loss: Loss, x: np.ndarray, y: np.ndarray,
                   data: PreparedData, digits: list[int] | None) -> dict[str, Any]:
    value, accuracy, proba = evaluate(model, x, y, loss, data.normalizer, return_proba=True)
    predicted = predicted_labels(proba)
    entry: dict[str, Any] = {"loss": value, "accuracy": accuracy, "samples": int(len(y))}
    entry["report"] = classification_report(y, predicted, data.class_names)
    if digits is not None:
        entry["outcomes"] = binary_outcomes(y, predicted, tuple(digits))
    return entry


def model_metadata(config: TrainConfig, data: PreparedData, loss: Loss) -> dict[str, Any]:
    """What a saved model needs besides its weights: how to prepare inputs, what classes mean."""
    return {
        "loss": {"name": loss.name, "reduction": loss.reduction},
        "preprocessing": {"normalizer": data.normalizer.to_dict(), "input_shape": data.input_shape},
        "classes": data.class_names,
        "digits": config.digits,
        "dataset": data.dataset,
        "training": config.to_dict(),
    }


CHECKPOINT_NAME = "checkpoint.npz"


def train_run(config: TrainConfig, *, out: str | Path | None = None, callbacks: list[Any] | None = None,
              write: bool = True, dataset: Dataset | None = None, resume: bool = False) -> RunResult:
    """Run a full training job; with ``write`` save everything into the run directory.

    With ``write`` a checkpoint is kept in ``out/checkpoint.npz`` (every
    ``config.checkpoint_every`` epochs, at the end, and on Ctrl-C); ``resume`` continues from
    it, bit-identical to a run that was never interrupted. If training diverges, the model of
    the last completed epoch is still written (model.npz, history, and metrics.json with
    ``"diverged": true``) before the :class:`DivergenceError` propagates, naming the file.
    """
    config.validate()
    started = time.perf_counter()
    data = prepare_data(config, dataset)
    augment = random_shift_for(config.shift, data.input_shape)
    check_fits(config, data)  # everything is checked before anything is written
    prepared = time.perf_counter()
    run_dir = Path(out) if out else default_run_dir()
    if write and not resume:
        _make_run_dir(run_dir)
        config.save(run_dir / "config.toml")  # first, so an interrupted run can be resumed
    model, loss = build_model(config, data.x_train.shape[1], data.n_classes)
    optimizer = make_optimizer(config.optimizer, config.lr, config.momentum, config.nesterov,
                               config.weight_decay)
    all_callbacks = list(callbacks or [])
    if config.early_stopping is not None:
        all_callbacks.append(EarlyStopping(config.early_stopping, config.early_stopping_metric))
    if write:
        all_callbacks.append(Checkpoint(run_dir / CHECKPOINT_NAME, config.checkpoint_every))
    trainer = Trainer(model, loss, optimizer, batch_size=config.batch_size, epochs=config.epochs,
                      schedule=config.schedule, drop_last=config.drop_last, shuffle=config.shuffle,
                      seed=config.seed, normalizer=data.normalizer, callbacks=all_callbacks,
                      augment=augment)
    if resume:
        _resume(trainer, run_dir / CHECKPOINT_NAME)
    batch = data.x_train.shape[0] if config.batch_size == "full" else int(config.batch_size)
    first_layer = (min(batch, len(data.x_train)), model.n_inputs, model.sizes[1])
    config = replace(config, threads=resolve_threads(config.threads, first_layer))
    if write and not resume:
        config.save(run_dir / "config.toml")  # again, with the thread count "auto" chose
    with blas_threads(config.threads):
        validation = (data.x_val, data.y_val) if data.x_val is not None else None
        try:
            history = trainer.fit(data.x_train, data.y_train, validation)
        except DivergenceError as exc:
            if not write:
                raise
            raise _keep_last_good(exc, trainer, config, data, loss, run_dir) from None
        trained = time.perf_counter()
        metrics: dict[str, Any] = {"barenet_version": __version__}
        metrics["train"] = _split_metrics(model, loss, data.x_train, data.y_train, data, config.digits)
        if data.x_val is not None and data.y_val is not None:
            metrics["validation"] = _split_metrics(model, loss, data.x_val, data.y_val, data, config.digits)
        if data.x_test is not None and data.y_test is not None:
            metrics["test"] = _split_metrics(model, loss, data.x_test, data.y_test, data, config.digits)
    metrics["epochs_run"] = len(history)
    metrics["restored_best_epoch"] = trainer.restored_epoch
    metrics["blas_threads"] = config.threads
    metrics["timings"] = {"data_seconds": prepared - started, "train_seconds": trained - prepared,
                          "evaluate_seconds": time.perf_counter() - trained}
    metadata = model_metadata(config, data, loss)
    result = RunResult(model, loss, history, metrics, data, None, metadata)
    if write:
        result.run_dir = write_run(result, config, run_dir)
    return result


def _resume(trainer: Trainer, path: Path) -> None:
    """Load the checkpoint at ``path`` into ``trainer``; a damaged one is a ModelFileError."""
    from ..train.checkpoint import load_checkpoint, load_trainer_state

    try:
        load_trainer_state(trainer, *load_checkpoint(path))
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        # ValueError includes a BarenetError of a part, e.g. a history of the wrong shape
        raise ModelFileError(f"{path}: the checkpoint is damaged ({summary(exc)}) and cannot be "
                             "resumed; train the run again without --resume") from None


def _keep_last_good(exc: DivergenceError, trainer: Trainer, config: TrainConfig,
                    data: PreparedData, loss: Loss, run_dir: Path) -> DivergenceError:
    """After a divergence, write what the last completed epoch reached into ``run_dir``.

    The trainer has already put back the state from before the diverging epoch. That model
    (when at least one epoch finished) goes to model.npz, its history to history.csv/json,
    and metrics.json records the divergence. Returns the error to raise, saying where the
    model is.
    """
    epoch = trainer.epoch
    metrics: dict[str, Any] = {"barenet_version": __version__, "diverged": True,
                               "divergence": str(exc), "epochs_run": len(trainer.history),
                               "last_good_epoch": epoch, "model_saved": epoch > 0}
    _make_run_dir(run_dir)
    if epoch > 0:
        save_model(run_dir / "model.npz", trainer.model, model_metadata(config, data, loss))
        trainer.history.save_csv(run_dir / "history.csv")
        trainer.history.save_json(run_dir / "history.json")
        kept = f" The model after the last good epoch ({epoch}) is saved in {run_dir / 'model.npz'}."
    else:
        kept = " No epoch finished before that, so there is no model to keep."
    write_text(run_dir / "metrics.json", json.dumps(finite_json(metrics), indent=2))
    return DivergenceError(f"{exc}.{kept}" if not str(exc).endswith(".") else f"{exc}{kept}")


def _make_run_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BarenetError(f"cannot create the run directory {run_dir}: {exc.strerror}; "
                           "choose a writable location with --out") from None


def write_run(result: RunResult, config: TrainConfig, run_dir: Path) -> Path:
    """model.npz, config.toml, history.csv, history.json and metrics.json into ``run_dir``."""
    _make_run_dir(run_dir)
    save_model(run_dir / "model.npz", result.model, result.metadata)
    config.save(run_dir / "config.toml")
    result.history.save_csv(run_dir / "history.csv")
    result.history.save_json(run_dir / "history.json")
    write_text(run_dir / "metrics.json", json.dumps(finite_json(result.metrics), indent=2))
    return run_dir
