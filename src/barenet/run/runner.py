"""One training run from a :class:`~barenet.config.TrainConfig`: data, model, fit, evaluate,
and the run directory (model.npz, config.toml, history.csv, metrics.json).

This is what ``barenet train`` calls; it is a plain function so that scripts, the search and
the examples can run the same recipe.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..data import Dataset, load_dataset
from ..data.augment_spec import augmentation_for
from ..data.preprocess import Normalizer, first_per_class, flatten, select_digits, stratified_split
from ..errors import BarenetError, DivergenceError, ModelFileError
from ..export.native import save_model
from ..files.atomic import write_text
from ..files.jsonsafe import json_text
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
from .outdir import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    HISTORY_CSV,
    HISTORY_JSON,
    METRICS_NAME,
    MODEL_NAME,
    RUNS_ROOT,
    claim_run_dir,
    hold_run_dir,
    release_run_dir,
)


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
    _check_split_sizes(config, x_train, x_val, x_test)
    _check_test_classes_trained(y_train, y_test, class_names)
    normalizer = Normalizer(config.normalize).fit(x_train, pixel_max=ds.pixel_max)
    return PreparedData(x_train, y_train, x_val, y_val, x_test, y_test, normalizer,
                        class_names, input_shape, ds.name)


def check_fits(config: TrainConfig, data: PreparedData) -> None:
    """What the config asks of these data, before anything is written: the output/loss pairing
    for the real class count, a batch no larger than the training split, and the memory."""
    _, loss_name, _ = resolve_head(config, data.n_classes)
    Loss(loss_name, config.reduction, config.label_smoothing)  # label smoothing needs cross-entropy
    n_train = len(data.x_train)
    if config.batch_size != "full" and int(config.batch_size) > n_train:
        raise BarenetError(f"--batch-size {config.batch_size} is larger than the {n_train} training "
                           "samples; use a smaller --batch-size or --batch-size full")
    check_memory(config, data.x_train.shape[1], data.n_classes, n_train)


def _check_test_classes_trained(y_train: np.ndarray, y_test: np.ndarray | None,
                                class_names: list[str]) -> None:
    """Refuse a test split holding a class that has no training sample: its test score would
    count classes the network never trained on (``barenet evaluate`` refuses such data too).
    Training labels that leave classes out (labels 200..209) are accepted: their outputs are
    only pushed down."""
    if y_test is None:
        return
    trained = np.unique(y_train)
    unseen = np.setdiff1d(np.unique(y_test), trained)
    if unseen.size == 0:
        return
    shown = ", ".join(class_names[i] for i in unseen[:8]) + (", ..." if unseen.size > 8 else "")
    what = f"class {shown}" if unseen.size == 1 else f"{unseen.size} classes ({shown})"
    raise BarenetError(f"the test split holds {what} with no training sample (the training "
                       f"split has labels {trained.min()}..{trained.max()}): a test score on "
                       "classes never trained means nothing; give test data labelled like the "
                       "training data")


def _check_split_sizes(config: TrainConfig, x_train: np.ndarray, x_val: np.ndarray | None,
                      x_test: np.ndarray | None) -> None:
    """Refuse, before training, a split that a later step would find empty."""
    if len(x_train) == 0:
        raise BarenetError("no training samples are left after selection; check --digits, "
                           "--per-class and --val-fraction")
    if x_val is not None and len(x_val) == 0:
        raise BarenetError(f"--val-fraction {config.val_fraction} of {len(x_train)} training "
                           "samples leaves no validation sample (each class sends round(fraction "
                           "x its count) to validation); raise --val-fraction or --per-class, or "
                           "train without validation: --val-fraction 0")
    if x_test is not None and len(x_test) == 0:
        raise BarenetError("the test split holds no samples of the selected classes; check "
                           "--digits against the test data")


def build_model(config: TrainConfig, n_inputs: int, n_classes: int) -> tuple[MLP, Loss]:
    output, loss_name, units = resolve_head(config, n_classes)
    model = MLP([n_inputs, *config.layers, units], hidden=config.hidden, output=output,
                init=config.init, bias_init=config.bias_init, dropout=config.dropout,
                input_dropout=config.input_dropout, batch_norm=config.batch_norm,
                noise=config.noise, input_noise=config.input_noise, dtype=config.dtype,
                seed=config.seed)
    return model, Loss(loss_name, config.reduction, config.label_smoothing)


@dataclass
class RunResult:
    model: MLP
    loss: Loss
    history: History
    metrics: dict[str, Any]
    data: PreparedData
    run_dir: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The caller's ``run_options`` (on resume: those the run was started with).
    run_options: dict[str, Any] = field(default_factory=dict)


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
        "loss": {"name": loss.name, "reduction": loss.reduction, "label_smoothing": loss.label_smoothing},
        "preprocessing": {"normalizer": data.normalizer.to_dict(), "input_shape": data.input_shape},
        "classes": data.class_names,
        "digits": config.digits,
        "dataset": data.dataset,
        "train_labels": np.unique(data.y_train).tolist(),  # evaluate refuses labels never seen
        "training": config.to_dict(),
    }


def train_run(config: TrainConfig, *, out: str | Path | None = None, callbacks: list[Any] | None = None,
              write: bool = True, dataset: Dataset | None = None, resume: bool = False,
              overwrite: bool = False, on_run_dir: Callable[[Path], None] | None = None,
              run_options: Mapping[str, Any] | None = None) -> RunResult:
    """Run a full training job; with ``write`` save everything into the run directory.

    The directory is ``out`` or a new ``runs/<timestamp>``, claimed for this run alone
    (:func:`barenet.run.outdir.claim_run_dir`): an existing non-empty ``out`` is refused unless
    ``overwrite``, which first clears the files an earlier run left there. ``on_run_dir`` is
    called with the directory once it is known (``barenet train`` prints it).
    ``run_options`` (JSON) is kept in the checkpoint beside the resolved configuration;
    ``resume`` refuses a run whose config.toml no longer matches that configuration, and
    returns the options it was started with in :attr:`RunResult.run_options`.

    With ``write`` a checkpoint is kept in ``out/checkpoint.npz`` (every
    ``config.checkpoint_every`` epochs, at the end, and on Ctrl-C); ``resume`` continues from
    it, bit-identical to a run that was never interrupted. If training diverges, the model of
    the last completed epoch is still written (model.npz, history, and metrics.json with
    ``"diverged": true``) before the :class:`DivergenceError` propagates, naming the file.
    """
    config.validate()
    started = time.perf_counter()
    data = prepare_data(config, dataset)
    augment = augmentation_for(config.augment, data.input_shape, config.shift)
    check_fits(config, data)  # everything is checked before anything is written
    prepared = time.perf_counter()
    model, loss = build_model(config, data.x_train.shape[1], data.n_classes)
    optimizer = make_optimizer(config.optimizer, config.lr, config.momentum, config.nesterov,
                               config.weight_decay)
    all_callbacks = list(callbacks or [])
    if config.early_stopping is not None:
        all_callbacks.append(EarlyStopping(config.early_stopping, config.early_stopping_metric))
    checkpoint = Checkpoint(None, config.checkpoint_every)  # its path once the directory is claimed
    if write:
        all_callbacks.append(checkpoint)
    trainer = Trainer(model, loss, optimizer, batch_size=config.batch_size, epochs=config.epochs,
                      schedule=config.schedule, drop_last=config.drop_last, shuffle=config.shuffle,
                      seed=config.seed, normalizer=data.normalizer, callbacks=all_callbacks,
                      augment=augment, max_norm=config.max_norm)
    # Everything is checked by now: only from here on is anything written.
    run_dir = _run_dir_for(out, write=write, resume=resume, overwrite=overwrite)
    try:  # the directory is held from its claim to here (barenet.run.outdir.hold_run_dir)
        checkpoint.path = run_dir / CHECKPOINT_NAME
        if on_run_dir is not None:
            on_run_dir(run_dir)
        if write and not resume:
            config.save(run_dir / CONFIG_NAME)  # first, so an interrupted run can be resumed
        recorded = dict(run_options or {})
        if resume:
            recorded = _resume(trainer, run_dir / CHECKPOINT_NAME, config)
        batch = data.x_train.shape[0] if config.batch_size == "full" else int(config.batch_size)
        first_layer = (min(batch, len(data.x_train)), model.n_inputs, model.sizes[1])
        config = replace(config, threads=resolve_threads(config.threads, first_layer))
        if write and not resume:
            config.save(run_dir / CONFIG_NAME)  # again, with the thread count "auto" chose
        checkpoint.run = {"config": config.to_dict(), "options": recorded}
        with blas_threads(config.threads):
            validation = (data.x_val, data.y_val) if data.x_val is not None else None
            try:
                history = trainer.fit(data.x_train, data.y_train, validation)
            except DivergenceError as exc:
                if not write:
                    raise
                raise _keep_last_good(exc, trainer, config, data, loss, run_dir) from None
            trained = time.perf_counter()
            metadata = model_metadata(config, data, loss)
            if write:  # first: a failure while evaluating must not lose the trained model
                save_model(run_dir / MODEL_NAME, model, metadata)
            metrics = _kept_if_failing(lambda: _all_metrics(model, loss, data, config.digits),
                                       run_dir / MODEL_NAME if write else None)
        metrics["epochs_run"] = len(history)
        metrics["restored_best_epoch"] = trainer.restored_epoch
        metrics["blas_threads"] = config.threads
        metrics["timings"] = {"data_seconds": prepared - started, "train_seconds": trained - prepared,
                              "evaluate_seconds": time.perf_counter() - trained}
        result = RunResult(model, loss, history, metrics, data, None, metadata, recorded)
        if write:
            result.run_dir = write_run(result, config, run_dir, with_model=False)
        return result
    finally:
        release_run_dir(run_dir)


def _run_dir_for(out: str | Path | None, *, write: bool, resume: bool, overwrite: bool) -> Path:
    """The run's directory: claimed for a new run that writes, as given otherwise."""
    if resume:
        if out is None or not Path(out).is_dir():
            raise BarenetError(f"the run directory {out} does not exist; give the directory of "
                               "an interrupted run to --resume")
        return hold_run_dir(out)
    if write:
        return claim_run_dir(out, overwrite)
    return Path(out) if out else RUNS_ROOT / "unsaved"


def _all_metrics(model: MLP, loss: Loss, data: PreparedData, digits: list[int] | None) -> dict[str, Any]:
    """Loss, accuracy and the classification report on every split the run has."""
    metrics: dict[str, Any] = {"barenet_version": __version__}
    splits = {"train": (data.x_train, data.y_train), "validation": (data.x_val, data.y_val),
              "test": (data.x_test, data.y_test)}
    for name, (x, y) in splits.items():
        if x is not None and y is not None:
            metrics[name] = _split_metrics(model, loss, x, y, data, digits)
    return metrics


def _kept_if_failing(step: Callable[[], Any], model_file: Path | None) -> Any:
    """``step()``; if it fails with a BarenetError, say that the trained model is kept."""
    try:
        return step()
    except BarenetError as exc:
        if model_file is None:
            raise
        raise type(exc)(f"{exc} (the trained model is saved in {model_file})") from None


def _changed_options(recorded: dict[str, Any], config: TrainConfig) -> list[str]:
    """``"name: old -> new"`` for each option of ``config`` that differs from ``recorded``."""
    now = json.loads(json_text(config.to_dict()))
    before = json.loads(json_text(recorded))
    return [f"{key}: {before.get(key)!r} -> {now.get(key)!r}"
            for key in sorted(set(now) | set(before)) if now.get(key) != before.get(key)]


def _resume(trainer: Trainer, path: Path, config: TrainConfig) -> dict[str, Any]:
    """Load the checkpoint at ``path`` into ``trainer``; return the run options it records.

    A damaged checkpoint is a ModelFileError; a config.toml edited since the checkpoint was
    written (``config`` differs from the configuration it records) is a BarenetError naming
    each changed option.
    """
    from ..train.checkpoint import load_checkpoint, load_trainer_state

    state, arrays = load_checkpoint(path)
    run = state.get("run") if isinstance(state.get("run"), dict) else {}
    if isinstance(run.get("config"), dict):
        changed = _changed_options(run["config"], config)
        if changed:
            raise BarenetError(f"{path.parent / 'config.toml'} was changed after the run started "
                               f"({'; '.join(changed)}); --resume continues a run as it was "
                               "started: put the old values back, or train a new run")
    try:
        load_trainer_state(trainer, state, arrays)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        # ValueError includes a BarenetError of a part, e.g. a history of the wrong shape
        raise ModelFileError(f"{path}: the checkpoint is damaged ({summary(exc)}) and cannot be "
                             "resumed; train the run again without --resume") from None
    options = run.get("options")
    return dict(options) if isinstance(options, dict) else {}


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
        save_model(run_dir / MODEL_NAME, trainer.model, model_metadata(config, data, loss))
        trainer.history.save_csv(run_dir / HISTORY_CSV)
        trainer.history.save_json(run_dir / HISTORY_JSON)
        kept = f" The model after the last good epoch ({epoch}) is saved in {run_dir / 'model.npz'}."
    else:
        kept = " No epoch finished before that, so there is no model to keep."
    write_text(run_dir / METRICS_NAME, json_text(metrics, indent=2))
    return DivergenceError(f"{exc}.{kept}" if not str(exc).endswith(".") else f"{exc}{kept}")


def _make_run_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BarenetError(f"cannot create the run directory {run_dir}: {exc.strerror}; "
                           "choose a writable location with --out") from None


def write_run(result: RunResult, config: TrainConfig, run_dir: Path, *, with_model: bool = True) -> Path:
    """model.npz (unless not ``with_model``: saved already), config.toml, history.csv,
    history.json and metrics.json into ``run_dir``."""
    _make_run_dir(run_dir)
    if with_model:
        save_model(run_dir / MODEL_NAME, result.model, result.metadata)
    config.save(run_dir / CONFIG_NAME)
    result.history.save_csv(run_dir / HISTORY_CSV)
    result.history.save_json(run_dir / HISTORY_JSON)
    write_text(run_dir / METRICS_NAME, json_text(result.metrics, indent=2))
    return run_dir
