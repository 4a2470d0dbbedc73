"""Nothing lost (issue 17): a run never writes into another run's directory, a trained model
survives a later failure, resume refuses an edited config, and an interrupted report says how
to finish it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

import barenet
from barenet.cli import main
from barenet.errors import BarenetError
from barenet.export.native import load_model
from barenet.run import runner
from barenet.run.config import make_config, read_toml
from barenet.run.outdir import claim_run_dir, new_run_dir
from barenet.train.checkpoint import load_checkpoint
from training_helpers import InterruptAt

FAST = ["--per-class", "5", "--layers", "8", "--epochs", "1", "--batch-size", "10",
        "--val-fraction", "0", "--threads", "1", "--quiet"]


#: Subprocesses run in other directories: they find this barenet by an absolute path.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(barenet.__file__).parents[1]),
                                                    os.environ.get("PYTHONPATH", "")])}


def one_line(code: int, err: str, fragment: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("barenet: error: "), err
    assert fragment in lines[0], lines[0]
    return lines[0]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file()}


# ============================================================================ unique directories
def test_runs_started_in_the_same_second_get_their_own_directories(tmp_path):
    now = datetime(2026, 1, 2, 3, 4, 5)
    made: list[Path] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        made.append(new_run_dir(tmp_path / "runs", now=now))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(
        ["20260102-030405"] + [f"20260102-030405-{n}" for n in range(2, 9)])


def test_processes_racing_for_one_timestamp_get_their_own_directories(tmp_path):
    code = ("from datetime import datetime; from pathlib import Path; "
            "from barenet.run.outdir import new_run_dir; "
            "print(new_run_dir(Path('runs'), now=datetime(2026, 1, 2, 3, 4, 5)))")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE,
                              text=True, env=ENV) for _ in range(4)]
    made = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(made)) == 4 and len(list((tmp_path / "runs").iterdir())) == 4


def test_racing_for_one_empty_out_only_one_run_wins(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        try:
            claim_run_dir(out)
            outcomes.append("won")
        except BarenetError:
            outcomes.append("refused")

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * 5 + ["won"]


@pytest.mark.slow
def test_concurrent_trainings_without_out_all_survive(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "barenet", "train", *FAST, "--no-report"],
                              cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=ENV) for _ in range(3)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 3
    for run in runs:
        load_model(run / "model.npz")
        assert read_toml(run / "config.toml")["per_class"] == 5


@pytest.mark.slow
def test_an_existing_out_is_refused_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *FAST, "--epochs", "2", "--out", str(out)]) == 0  # with a report
    before = snapshot(out)
    assert "report.html" in before and any(k.startswith("figures/") for k in before)
    capsys.readouterr()
    assert main(["train", *FAST, "--no-report", "--out", str(out)]) == 2
    one_line(2, capsys.readouterr().err, "already holds a run")
    assert snapshot(out) == before  # untouched
    assert main(["train", *FAST, "--no-report", "--overwrite", "--out", str(out)]) == 0
    left = sorted(snapshot(out))
    assert left == ["checkpoint.npz", "config.toml", "history.csv", "history.json", "metrics.json",
                    "model.npz"]  # no report or figures of the old run beside the new model
    assert not (out / "figures").exists()
    assert read_toml(out / "config.toml")["epochs"] == 1


def test_overwrite_never_clears_a_directory_that_is_not_a_run(tmp_path, capsys):
    out = tmp_path / "thesis"
    (out / "figures").mkdir(parents=True)
    (out / "chapter1.tex").write_text("years of work")
    (out / "figures" / "plot.pdf").write_text("pdf")
    (out / "model.npz").write_text("not barenet's")
    code = main(["train", *FAST, "--overwrite", "--out", str(out)])
    line = one_line(code, capsys.readouterr().err, "holds files barenet did not write")
    assert "chapter1.tex" in line and "figures/plot.pdf" in line
    assert (out / "chapter1.tex").read_text() == "years of work"
    assert (out / "model.npz").read_text() == "not barenet's"


def test_an_empty_out_directory_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert main(["train", *FAST, "--no-report", "--out", str(out)]) == 0
    load_model(out / "model.npz")


# ============================================================================ nothing thrown away
def test_split_sizes_are_checked_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--per-class", "2", "--layers", "8", "--epochs", "1", "--batch-size", "5",
                 "--quiet", "--out", str(out)])
    one_line(code, capsys.readouterr().err, "leaves no validation sample")
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize("train_labels, test_labels, fragment", [
    # trained on 0..2, tested on 0..9: a test score on seven classes never trained
    (np.arange(3), np.arange(10), "holds 7 classes (3, 4, 5, 6, 7, 8, 9) with no training sample"),
    # labelled 5..14 in training, 0..9 in the test split
    (np.arange(5, 15), np.arange(10), "holds 5 classes (0, 1, 2, 3, 4) with no training sample"),
    (np.array([0, 1, 3]), np.arange(4), "holds class 2 with no training sample"),
])
def test_a_test_class_with_no_training_sample_is_refused(tmp_path, capsys, train_labels,
                                                         test_labels, fragment):
    rng = np.random.default_rng(0)
    y_train = np.repeat(train_labels, 8)
    np.savez(tmp_path / "data.npz", x_train=rng.integers(0, 256, (len(y_train), 8, 8), dtype=np.uint8),
             y_train=y_train, x_test=rng.integers(0, 256, (len(test_labels), 8, 8), dtype=np.uint8),
             y_test=test_labels)
    out = tmp_path / "run"
    code = main(["train", "--data", str(tmp_path / "data.npz"), "--layers", "4", "--epochs", "1",
                 "--batch-size", "4", "--val-fraction", "0", "--quiet", "--out", str(out)])
    one_line(code, capsys.readouterr().err, fragment)
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize("test_labels", [np.arange(3), np.array([1, 1]), None])
def test_test_classes_within_the_trained_ones_are_accepted(tmp_path, test_labels):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 8)
    arrays = {"x_train": rng.integers(0, 256, (24, 8, 8), dtype=np.uint8), "y_train": y}
    if test_labels is not None:
        arrays.update(x_test=rng.integers(0, 256, (len(test_labels), 8, 8), dtype=np.uint8),
                      y_test=test_labels)
    np.savez(tmp_path / "data.npz", **arrays)
    assert main(["train", "--data", str(tmp_path / "data.npz"), "--layers", "4", "--epochs", "1",
                 "--batch-size", "4", "--val-fraction", "0", "--quiet", "--no-report",
                 "--out", str(tmp_path / "run")]) == 0


def test_a_failure_after_training_keeps_the_trained_model(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise BarenetError("cannot evaluate on an empty data set")

    monkeypatch.setattr(runner, "_all_metrics", broken)
    out = tmp_path / "run"
    config = make_config({}, per_class=5, layers=[8], epochs=1, batch_size=10, val_fraction=0.0,
                         threads=1)
    with pytest.raises(BarenetError, match="the trained model is saved in .*model.npz"):
        runner.train_run(config, out=out)
    model, meta = load_model(out / "model.npz")
    assert meta["training"]["epochs"] == 1 and model.sizes == [784, 8, 10]


# ============================================================================ resume
def _interrupted(tmp_path: Path, report: bool) -> Path:
    run = tmp_path / "run"
    config = make_config({}, per_class=5, layers=[8], epochs=3, batch_size=10, val_fraction=0.0,
                         checkpoint_every=1, threads=1)
    with pytest.raises(KeyboardInterrupt):
        runner.train_run(config, out=run, callbacks=[InterruptAt(2, 1)],
                         run_options={"report": report})
    assert load_checkpoint(run / "checkpoint.npz")[0]["epoch"] == 1
    return run


def test_resume_refuses_an_edited_config(tmp_path, capsys):
    run = _interrupted(tmp_path, report=False)
    toml = run / "config.toml"
    toml.write_text(toml.read_text().replace('optimizer = "adam"', 'optimizer = "sgd"')
                    .replace("lr = 0.005", "lr = 0.1"))
    code = main(["train", "--resume", str(run), "--quiet"])
    line = one_line(code, capsys.readouterr().err, "was changed after the run started")
    assert "optimizer: 'adam' -> 'sgd'" in line and "lr: 0.005 -> 0.1" in line
    assert load_checkpoint(run / "checkpoint.npz")[0]["epoch"] == 1  # nothing trained


@pytest.mark.slow
@pytest.mark.parametrize("report", [False, True], ids=["no-report", "report"])
def test_resume_keeps_the_original_report_choice(report, tmp_path):
    run = _interrupted(tmp_path, report=report)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert load_checkpoint(run / "checkpoint.npz")[0]["epoch"] == 3
    assert (run / "report.html").exists() == report


# ============================================================================ interrupted report
SLOW_FIGURE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from barenet.files.atomic import atomic_write
    from barenet.inspect import figure_tools

    def slow_save(fig, path, dpi=100):
        with atomic_write(path, "wb") as handle:
            handle.write(b"half a figure")
            Path(sys.argv[1]).write_text("saving")  # the parent sends the signal now
            time.sleep(60)

    figure_tools.save_figure = slow_save  # what every figure function saves through
    from barenet.cli import main
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_the_report_keeps_the_model_and_says_how_to_finish(signum, tmp_path):
    run, ready = tmp_path / "run", tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_FIGURE, str(ready), "train", *FAST,
                             "--out", str(run)], stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 300
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    os.kill(proc.pid, signum)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "the model is saved in" in lines[0] and f"barenet report {run}" in lines[0]
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
    load_model(run / "model.npz")
    assert main(["report", str(run), "--quiet"]) == 0  # finishes the job
    assert (run / "report.html").exists()
    assert np.all([p.stat().st_size > 100 for p in (run / "figures").glob("*.png")])


# ============================================================================ searches
def test_a_search_never_writes_into_an_earlier_search(tmp_path, monkeypatch, capsys):
    from barenet.run import search as search_module

    trials: list[dict] = []
    monkeypatch.setattr(search_module, "run_trial", lambda cfg: trials.append(cfg) or {"error": "x"})
    out = tmp_path / "s"
    out.mkdir()
    (out / "search.csv").write_text("trial,lr\n1,0.01\n")
    args = ["search", "--per-class", "5", "--layers", "8", "--epochs", "1", "--lr", "0.01", "0.001",
            "--quiet", "--out", str(out)]
    one_line(main(args), capsys.readouterr().err, "already holds files (an earlier search?)")
    assert trials == [] and (out / "search.csv").read_text() == "trial,lr\n1,0.01\n"
    monkeypatch.chdir(tmp_path)
    made = {search_module.claim_search_dir(None, "search.csv") for _ in range(3)}  # same second
    assert len(made) == 3 and all(p.name.startswith("search-") for p in made)


# ------------------------------------------------------------- a run still going is held
HOLDER = textwrap.dedent("""
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("held", flush=True)
    sys.stdin.readline()
""")


@pytest.fixture
def held_run(tmp_path):
    """A finished run directory, then held by another process (as a run still going holds it);
    yields (directory, its files' bytes before), and lets go at the end."""
    run = tmp_path / "run"
    assert main(["train", *FAST, "--out", str(run), "--no-report"]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    yield run, before
    holder.communicate("\n", timeout=30)


@pytest.mark.parametrize("command", [
    ["train", *FAST, "--overwrite", "--no-report", "--out"],
    ["train", "--quiet", "--resume"],
    ["report"],
])
def test_a_run_held_by_another_process_is_never_written_over(held_run, command, capsys):
    run, before = held_run
    code = main([*command, str(run)])
    message = one_line(code, capsys.readouterr().err, "in use by a barenet run that is still going")
    assert str(run) in message
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # not a byte changed


def test_overwrite_works_once_the_other_run_has_ended(held_run, tmp_path):
    run, before = held_run
    assert main(["train", *FAST, "--overwrite", "--no-report", "--out", str(run)]) == 2
    # the fixture's holder is still there; a run that ended (its process gone) holds nothing:
    other = tmp_path / "other"
    assert main(["train", *FAST, "--out", str(other), "--no-report"]) == 0
    assert main(["train", *FAST, "--seed", "3", "--overwrite", "--no-report", "--out", str(other)]) == 0
    assert make_config(read_toml(other / "config.toml")).seed == 3


def test_a_run_holds_its_directory_while_it_trains_and_lets_go_after(tmp_path):
    import fcntl

    out = tmp_path / "run"
    seen: list[bool] = []

    class TryToTakeIt:
        def on_epoch_end(self, trainer, record):
            fd = os.open(out, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                seen.append(False)
            except OSError:
                seen.append(True)  # held by the run
            finally:
                os.close(fd)

    config = make_config(per_class=5, layers=[8], epochs=2, batch_size=10, val_fraction=0.0,
                         threads=1)
    runner.train_run(config, out=out, callbacks=[TryToTakeIt()])
    assert seen == [True, True]
    fd = os.open(out, os.O_RDONLY)  # and free once train_run returns
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_a_file_system_without_locks_does_not_block_runs(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    out = tmp_path / "run"
    assert main(["train", *FAST, "--out", str(out), "--no-report"]) == 0
    assert main(["train", *FAST, "--out", str(out), "--no-report", "--overwrite"]) == 0
