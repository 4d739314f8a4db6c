"""Distributed tuning on a real database server: workers sharing one PostgreSQL study.

The test starts a throw-away PostgreSQL cluster (``initdb`` into a temporary directory,
``pg_ctl start`` on a free local port, trust authentication on 127.0.0.1 only; as the
``postgres`` user when run as root, which PostgreSQL refuses) and stops it afterwards.
It is skipped only where the server binaries cannot be found (Debian: ``apt-get install
postgresql``; ``.ci/setup`` installs it). The Python driver, ``psycopg2-binary``, is part
of the ``tune`` extra.

Three forked workers run ``tune`` on one study with the same seed (as ``tabmtl tune`` on
three machines); one is killed (SIGKILL) in the middle of a trial. The others fail its
trial once its heartbeat is stale and run its configuration again; a worker restarted
later (as a cluster manager would) finds the study as the others left it. Nothing is
lost (every finished trial stays, the killed trial's configuration is finished once) and
no configuration is run twice to the end.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from skorch.callbacks import Callback

from tabmtl import MultiTaskEstimator
from tabmtl.tuning import tune

HEARTBEAT = 1  # seconds; Optuna's grace period is twice that
SPACE = {"lr": optuna.distributions.FloatDistribution(1e-3, 3e-2, log=True),
         "dropout": optuna.distributions.FloatDistribution(0.0, 0.3)}


def _server_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None."""
    found = shutil.which("initdb")
    candidates = ([Path(found).resolve().parent] if found else []) + [
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    ]
    return next((d for d in candidates if (d / "initdb").is_file()
                 and (d / "pg_ctl").is_file()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    bindir = _server_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; install "
                    "Debian's 'postgresql' package to run the distributed tuning test")
    import psycopg2  # noqa: F401 - the driver is in the tune extra: its absence fails

    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="tabmtl-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=60)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--no-sync")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
            "-t", "30", "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off", "start")
    except subprocess.CalledProcessError as exc:
        log = root / "log"
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start a PostgreSQL cluster: {exc.stderr.decode()[-500:]} "
                    f"{log.read_text()[-500:] if log.exists() else ''}")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


class _SlowEpochs(Callback):
    """Makes a trial last long enough (about a second) to be killed in its middle."""

    def on_epoch_end(self, net, **kwargs):
        time.sleep(0.15)


def _worker(url: str, n_trials: int) -> None:
    """One `tabmtl tune` worker: the same seed and study as every other."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    Y = pd.DataFrame({"y": 2 * X.a + 0.1 * rng.normal(size=40)})
    est = MultiTaskEstimator(max_epochs=3, hidden_layer_sizes=(8,), batch_size=32,
                             numeric_embedding=None, random_state=0,
                             callbacks=[_SlowEpochs()])
    tune(est, X, Y, cv=2, n_trials=n_trials, storage=url, study_name="pg",
         search_space=SPACE, replace_space=True, seed=0, heartbeat_interval=HEARTBEAT,
         progress=False)


def _running_trial_of(study, pid: int):
    """The trial worker ``pid`` runs, once its whole configuration is sampled (every
    parameter of ``SPACE``: a trial killed between two draws would be retried with the
    first one only); else None."""
    return next((t for t in study.get_trials(deepcopy=False)
                 if t.state == optuna.trial.TrialState.RUNNING and set(t.params) == set(SPACE)
                 and str(t.user_attrs.get("worker", "")).endswith(f":{pid}")), None)


def test_three_workers_one_killed_mid_trial(postgres_url):
    optuna.create_study(storage=postgres_url, study_name="pg", direction="maximize")
    study = optuna.load_study(study_name="pg", storage=postgres_url)
    context = multiprocessing.get_context("fork")  # tabmtl already imported: fast starts
    workers = [context.Process(target=_worker, args=(postgres_url, 3)) for _ in range(3)]
    for w in workers:
        w.start()
    victim = workers[0]
    try:
        deadline = time.monotonic() + 30
        while (killed := _running_trial_of(study, victim.pid)) is None:
            assert victim.is_alive(), f"the first worker ended (exit code {victim.exitcode})"
            assert time.monotonic() < deadline, "the first worker never started a trial"
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        done_before = {t.number for t in study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))}
        for w in workers:
            w.join(timeout=60)
        # a worker restarted once the killed trial's heartbeat is stale
        time.sleep(max(0.0, killed_at + 2 * HEARTBEAT + 1.5 - time.monotonic()))
        restarted = context.Process(target=_worker, args=(postgres_url, 1))
        restarted.start()
        restarted.join(timeout=60)
        workers.append(restarted)
    finally:
        for w in workers:
            if w.is_alive():  # a hung worker fails the test instead of outliving it
                w.kill()
    assert [w.exitcode for w in workers] == [-signal.SIGKILL, 0, 0, 0]

    trials = study.get_trials(deepcopy=False)
    states = {t.number: t.state for t in trials}
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert states[killed.number] == optuna.trial.TrialState.FAIL  # not left running
    assert all(s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
               for s in states.values())
    assert done_before <= {t.number for t in complete}  # nothing finished is lost
    # every worker's trials finished: 3 + 3 + the restarted one's, plus what the killed
    # worker finished before it was killed
    assert len(complete) == 3 + 3 + 1 + len(done_before)
    configs = [tuple(sorted(t.params.items())) for t in complete]
    assert len(set(configs)) == len(configs)  # no configuration run twice
    retried = [t for t in complete if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retried) == 1 and retried[0].params == killed.params  # finished once
