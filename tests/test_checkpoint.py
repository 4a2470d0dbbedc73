"""Checkpoints and resume: an interrupted run finishes bit-identical to an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import barenet as bn
from barenet.checkpoint import load_checkpoint
from barenet.cli import main
from barenet.errors import ModelFileError
from barenet.io import load_model
from barenet.training import Checkpoint, EarlyStopping, Trainer
from training_helpers import InterruptAt

RECIPE = ["--per-class", "60", "--layers", "16", "--epochs", "4", "--batch-size", "32",
          "--dropout", "0.2", "--val-fraction", "0.2", "--quiet"]


def weights(run_dir):
    return load_model(run_dir / "model.npz")[0].get_weights()


def test_interrupted_trainer_resumes_bit_identically(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int)

    def trainer(callbacks):
        model = bn.MLP([6, 8, 2], dropout=0.3, seed=3)
        return Trainer(model, "cross_entropy", bn.Adam(0.01), batch_size=16, epochs=5,
                       schedule="cosine", seed=4, callbacks=callbacks)

    straight = trainer([EarlyStopping(patience=10)])
    straight.fit(x, y, validation=(x[:50], y[:50]))

    path = tmp_path / "ck.npz"
    first = trainer([InterruptAt(3, 5), EarlyStopping(patience=10), Checkpoint(path)])
    with pytest.raises(KeyboardInterrupt):
        first.fit(x, y, validation=(x[:50], y[:50]))
    assert first.epoch == 2 and len(first.history) == 2  # rolled back to the last whole epoch
    state, _ = load_checkpoint(path)
    assert state["epoch"] == 2

    from barenet.checkpoint import load_trainer_state

    resumed = trainer([EarlyStopping(patience=10), Checkpoint(path)])
    load_trainer_state(resumed, *load_checkpoint(path))
    resumed.fit(x, y, validation=(x[:50], y[:50]))
    for a, b in zip(straight.model.get_weights(), resumed.model.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert straight.history.batch_loss == resumed.history.batch_loss
    assert straight.history["val_loss"] == resumed.history["val_loss"]


@pytest.mark.slow
def test_cli_resume_matches_an_uninterrupted_run(tmp_path, monkeypatch, capsys):
    straight = tmp_path / "straight"
    assert main(["train", *RECIPE, "--out", str(straight)]) == 0

    import barenet.runner as runner

    original = runner.Trainer

    class InterruptingTrainer(original):
        def __init__(self, *args, **kwargs):
            kwargs["callbacks"] = [InterruptAt(3, 2), *kwargs.get("callbacks", [])]
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(runner, "Trainer", InterruptingTrainer)
    broken = tmp_path / "broken"
    assert main(["train", *RECIPE, "--out", str(broken)]) == 130
    assert "--resume" in capsys.readouterr().err
    assert not (broken / "model.npz").exists()
    monkeypatch.setattr(runner, "Trainer", original)
    assert main(["train", "--resume", str(broken), "--quiet"]) == 0
    for a, b in zip(weights(straight), weights(broken), strict=True):
        assert np.array_equal(a, b)
    m1 = json.loads((straight / "metrics.json").read_text())
    m2 = json.loads((broken / "metrics.json").read_text())
    assert m1["test"]["accuracy"] == m2["test"]["accuracy"]


@pytest.mark.slow
def test_checkpoint_every_n_epochs(tmp_path):
    out = tmp_path / "r"
    seen = []

    import barenet.checkpoint as ck

    original = ck.save_checkpoint

    def spy(path, state, arrays):
        seen.append(state["epoch"])
        return original(path, state, arrays)

    ck.save_checkpoint = spy
    try:
        assert main(["train", *RECIPE, "--epochs", "5", "--checkpoint-every", "2",
                     "--out", str(out)]) == 0
    finally:
        ck.save_checkpoint = original
    assert seen == [2, 4, 5]
    assert not list(out.glob("*.tmp"))


def test_resume_errors(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "the run directory does not exist" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "config.toml not found" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--lr", "0.1"]) == 2
    assert "--lr" in capsys.readouterr().err
    (tmp_path / "checkpoint.npz").write_bytes(b"garbage")
    with pytest.raises(ModelFileError):
        load_checkpoint(tmp_path / "checkpoint.npz")


def _wait_for(path, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the run never reached its first checkpoint"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.slow
def test_a_signalled_process_checkpoints_and_resumes(tmp_path, signum):
    """Signal a real `barenet train` mid-run; resuming finishes like an uninterrupted run."""
    recipe = ["--per-class", "300", "--layers", "32", "--epochs", "8", "--batch-size", "10",
              "--val-fraction", "0", "--checkpoint-every", "1", "--quiet"]
    straight = tmp_path / "straight"
    subprocess.run([sys.executable, "-m", "barenet", "train", *recipe, "--out", str(straight)],
                   check=True, timeout=300)
    run = tmp_path / "run"
    # a suite started in the background by a shell without job control inherits SIGINT ignored,
    # and so would the run (Python keeps an ignored SIGINT ignored): give it the default back
    proc = subprocess.Popen([sys.executable, "-m", "barenet", "train", *recipe, "--out", str(run)],
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for(run / "checkpoint.npz", proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:  # finished before the signal landed: nothing to test this time
        pytest.fail("the run finished before it could be interrupted; make it longer")
    assert proc.returncode == 130, err
    assert "Resume with: barenet train --resume" in err and "Traceback" not in err
    assert not list(run.glob("*.tmp"))
    subprocess.run([sys.executable, "-m", "barenet", "train", "--resume", str(run), "--quiet"],
                   check=True, timeout=300, env={**os.environ})
    for a, b in zip(weights(straight), weights(run), strict=True):
        assert np.array_equal(a, b)


def test_a_checkpoint_with_mismatched_optimizer_state_is_refused(tmp_path):
    from barenet.checkpoint import load_trainer_state, save_checkpoint, trainer_state

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)).astype(np.float32), rng.integers(0, 2, size=40)
    trainer = Trainer(bn.MLP([6, 8, 2], seed=0), "cross_entropy", bn.Adam(0.01), batch_size=8, epochs=1)
    trainer.fit(x, y)
    state, arrays = trainer_state(trainer)
    arrays["optim.u0"] = np.zeros((3, 3), dtype=np.float32)
    save_checkpoint(tmp_path / "ck.npz", state, arrays)
    fresh = Trainer(bn.MLP([6, 8, 2], seed=0), "cross_entropy", bn.Adam(0.01), batch_size=8, epochs=2)
    with pytest.raises(ModelFileError, match="optimizer state u0"):
        load_trainer_state(fresh, *load_checkpoint(tmp_path / "ck.npz"))
