"""End-to-end tests of the ``tabmtl`` command line (``tabmtl/_cli/``).

Each command runs once in a subprocess (``python -m tabmtl``) on the bundled penguins
table with tiny settings: fit (CSV in, a config file under command-line flags, stopped
with Ctrl-C after a few epochs: the best epoch is saved), predict (parquet in, parquet
out, probabilities, an id column kept), evaluate (the table, its negative-transfer flags
against the fold scores it also writes, the exit code of --fail-on-negative) and report
(the PNGs and a self-contained HTML page); evaluate and report run in the background
beside the other tests. Importing torch costs seconds per process, so the rest runs
in-process through ``main()``, which returns the exit code: a fit that runs
to the end, and bad input, where each case must give exit code 2 and a one-line message
naming the problem, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import datasets
from tabmtl._cli import EXIT_ERROR, EXIT_NEGATIVE_TRANSFER, EXIT_OK, EXIT_USAGE, main
from tabmtl.errors import InputError
from tabmtl.evaluation._results import supported_loss
from tabmtl.io._persistence import load_model

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["species", "sex_male", "body_mass_g"]
TINY = ["--max-epochs", "2", "--hidden", "8", "--batch-size", "128"]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def start(*args, cwd: Path) -> subprocess.Popen:
    """Start ``python -m tabmtl ARGS`` in ``cwd`` (output small enough for the pipes)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tabmtl", *map(str, args)],
        cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> subprocess.CompletedProcess:
    """Wait for a started command; its exit code and output."""
    stdout, stderr = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _target_flags(targets=TARGETS) -> list[str]:
    return [flag for t in targets for flag in ("--target", t)]


def _run(capsys, monkeypatch, cwd: Path, *args) -> tuple[int, str, str]:
    """``main(ARGS)`` in-process in ``cwd``: exit code, stdout, stderr."""
    monkeypatch.chdir(cwd)
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """penguins as CSV and parquet (with an id column), plus a parquet of bad targets."""
    path = tmp_path_factory.mktemp("cli")
    X, Y = datasets.load("penguins")
    table = X.join(Y)
    table.insert(0, "id", [f"p{i:03d}" for i in range(len(table))])
    table.to_csv(path / "penguins.csv", index=False)
    table.to_parquet(path / "penguins.parquet")
    bad = table.head(60).copy()
    bad["measured"] = pd.date_range("2024-01-01", periods=len(bad), freq="D")
    bad["constant"] = "same"
    bad.to_parquet(path / "bad.parquet")
    return path


def _epochs_logged(text: str) -> int:
    """Highest epoch number in skorch's epoch table (rows may follow a progress bar's \\r)."""
    numbers = [
        int(m.group(1))
        for part in re.split(r"[\r\n]", text)
        if (m := re.match(r"\s*(\d+)\s+\S*\d\.\d{4}", part))
    ]
    return max(numbers, default=0)


@pytest.fixture(scope="module")
def background(workdir):
    """evaluate and report, started together and left to run beside the other tests:
    every process spends seconds importing torch, and two cores can share that."""
    procs = {
        "evaluate": start(
            "evaluate", "penguins.csv", "--target", "sex_male", "--target", "body_mass_g",
            "--drop", "id", "--cv", "2", *TINY, "--stratify", "species", "--metric",
            "binary=roc_auc", "--grouping", "--scores-csv", "scores.csv",
            "--fail-on-negative", cwd=workdir,
        ),
        "report": start(
            "report", "penguins.parquet", *_target_flags(), "--drop", "id", "--cv", "2",
            *TINY, "--no-baseline", "--out", "report", cwd=workdir,
        ),
    }
    yield procs
    for proc in procs.values():  # a test that failed early leaves no process behind
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _default_sigint() -> None:
    # a shell without job control starts background jobs with SIGINT ignored, and Python
    # started so never raises KeyboardInterrupt: give the child the default handling back
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def fitted(workdir, background):
    """One fit in a subprocess: the CSV, a config file and flags that override part of it,
    an epoch budget it would never finish (no early stopping either), and Ctrl-C once
    three epochs are logged."""
    (workdir / "config.json").write_text(
        json.dumps({"hidden_layer_sizes": [8], "lr": 0.02, "max_epochs": 50})
    )
    log = workdir / "fit.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tabmtl", "fit", "penguins.csv", *_target_flags(),
             "--drop", "id", "--config", "config.json", "--max-epochs", "1000000",
             "--no-early-stopping", "--out", "penguins.tabmtl"],
            cwd=workdir, env=_env(), stdout=subprocess.PIPE, stderr=stderr, text=True,
            preexec_fn=None if sys.platform == "win32" else _default_sigint,
        )
        deadline = time.monotonic() + 150
        while _epochs_logged(log.read_text()) < 3:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no epoch logged in time"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        try:
            stdout, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()  # a fit that ignored Ctrl-C must not outlive the test run
            raise
    return proc.returncode, stdout, log.read_text(), workdir / "penguins.tabmtl"


# -- the commands, end to end --------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX-only")
def test_fit_stopped_with_ctrl_c_saves_the_best_epoch(fitted, workdir):
    code, stdout, stderr, model_path = fitted
    assert code == EXIT_OK, stderr
    assert "Traceback" not in stderr
    assert re.search(r"interrupted after \d+ epoch\(s\): restored epoch \d+", stderr)
    assert re.search(rf"saved {model_path.name} \(interrupted: best epoch \d+ of \d+\)", stdout)
    assert "species (multiclass), sex_male (binary), body_mass_g (regression)" in stdout
    # progress went to stderr: the epoch table with a loss column per task
    assert "train_loss_species" in stderr and "train_loss_body_mass_g" in stderr
    model = load_model(model_path)
    assert model.max_epochs == 1_000_000  # the flag beat the config's 50
    assert tuple(model.hidden_layer_sizes) == (8,) and model.lr == 0.02  # from the config
    assert 3 <= model.n_epochs_ < 1_000_000
    assert all("train_loss" in row for row in model.history_)  # no half-finished epoch
    assert list(model.feature_names_in_) == [
        "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "year"
    ]  # id dropped, targets removed


def test_fit_to_the_end(capsys, monkeypatch, workdir):
    code, out, err = _run(
        capsys, monkeypatch, workdir, "fit", "penguins.parquet", "--target", "species",
        "--target", "body_mass_g", "--target-kind", "body_mass_g=regression", "--drop", "id",
        "--max-epochs", "2", "--hidden", "8", "--quiet", "--out", "full.tabmtl",
    )
    assert code == EXIT_OK, err
    assert out.splitlines()[0] == "saved full.tabmtl"
    assert "2 epochs" in out and "interrupted" not in out + err
    assert re.search(r"kept epoch [12] of 2 \((training|validation) objective", out)
    model = load_model(workdir / "full.tabmtl")
    assert model.n_epochs_ == 2 and model.targets == {"body_mass_g": "regression"}


def test_fit_summary_names_the_kept_epoch_and_its_validation_scores(
    capsys, monkeypatch, workdir
):
    # early stopping keeps an earlier epoch than the last: the summary must report that
    # epoch and its validation losses, not the last epoch's training loss
    code, out, err = _run(
        capsys, monkeypatch, workdir, "fit", "penguins.parquet", "--target", "species",
        "--target", "body_mass_g", "--drop", "id", "--max-epochs", "60", "--hidden", "8",
        "--early-stopping", "--patience", "2", "--lr", "0.05", "--quiet",
        "--out", "stopped.tabmtl",
    )
    assert code == EXIT_OK, err
    model = load_model(workdir / "stopped.tabmtl")
    kept, n = model.best_epoch_, model.n_epochs_
    assert kept is not None and kept < n
    assert "last epoch" not in out
    row = model.history_[kept - 1]
    assert row["epoch"] == kept
    expected = ", ".join(
        f"{t} {row[f'valid_loss_{t}']:.4f}" for t in ("species", "body_mass_g")
    )
    assert f"kept epoch {kept} of {n} " in out
    assert f"validation loss per task: {expected}" in out


def test_fit_stream_trains_from_parquet_batches(capsys, monkeypatch, workdir):
    code, out, err = _run(
        capsys, monkeypatch, workdir, "fit", "penguins.parquet", "--stream", "--target",
        "species", "--target", "body_mass_g", "--drop", "id", "--max-epochs", "2", "--hidden",
        "8", "--quiet", "--out", "streamed.tabmtl",
    )
    assert code == EXIT_OK, err
    assert "streamed rows" in err and out.splitlines()[0] == "saved streamed.tabmtl"
    model = load_model(workdir / "streamed.tabmtl")
    assert model.n_epochs_ == 2 and list(model.target_spec_.target_names_) == [
        "species", "body_mass_g"
    ]
    table = pd.read_parquet(workdir / "penguins.parquet")
    pred = model.predict(table.drop(columns=["id", "species", "body_mass_g"]))
    assert set(pred["species"].unique()) <= {"Adelie", "Chinstrap", "Gentoo"}
    # a CSV cannot be streamed: one line, exit code 2
    code, _, err = _run(
        capsys, monkeypatch, workdir, "fit", "penguins.csv", "--stream", "--target",
        "species", "--out", "x.tabmtl",
    )
    assert code == 2 and "--stream needs parquet" in err


def test_predict_writes_predictions_and_probabilities(fitted, workdir):
    model_path = fitted[-1]
    proc = finish(start(
        "predict", model_path.name, "penguins.parquet", "--out", "pred.parquet", "--proba",
        "--keep", "id", cwd=workdir,
    ))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "wrote 344 rows" in proc.stdout
    pred = pd.read_parquet(workdir / "pred.parquet")
    model = load_model(model_path)
    species = [str(c) for c in model.target_spec_.tasks_[0].classes_]
    assert list(pred.columns) == [
        "id", *TARGETS, *[f"species_proba_{c}" for c in species],
        "sex_male_proba_False", "sex_male_proba_True",
    ]
    table = pd.read_parquet(workdir / "penguins.parquet")
    assert pred["id"].tolist() == table["id"].tolist()
    probas = pred[[c for c in pred.columns if c.startswith("species_proba_")]]
    np.testing.assert_allclose(probas.sum(axis=1), 1.0, rtol=1e-6)
    # the same numbers as the library's predict on the same rows
    expected = model.predict(table[list(model.feature_names_in_)])
    np.testing.assert_allclose(pred["body_mass_g"], expected["body_mass_g"], rtol=1e-6)
    assert pred["species"].astype(str).tolist() == expected["species"].astype(str).tolist()


def _table_rows(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in TARGETS and len(cells) > 5:
            rows.setdefault(cells[0], cells)  # the first table is the score table
    return rows


def test_evaluate_prints_scores_gains_and_flags_negative_transfer(workdir, background):
    targets = ["sex_male", "body_mass_g"]  # species is a feature here, and the strata
    proc = finish(background["evaluate"])
    assert proc.returncode in (EXIT_OK, EXIT_NEGATIVE_TRANSFER), proc.stderr
    out = proc.stdout
    assert "StratifiedKFold(2) on species" in out
    header = next(line for line in out.splitlines() if line.startswith("| task"))
    for column in ("multi-task", "single-task", "HistGB", "gain (MT - ST)", "flag"):
        assert column in header
    rows = _table_rows(out)
    assert set(rows) == set(targets)
    assert rows["sex_male"][2] == "roc_auc" and rows["body_mass_g"][2] == "r2"
    scores = pd.read_csv(workdir / "scores.csv")
    assert len(scores) == 2 * 3 * 2  # tasks x models x folds
    any_negative = False
    for task, cells in rows.items():  # noqa: B007 - `task` is read by the queries
        # the printed multi-task mean is the mean of its fold scores in the CSV
        mt = scores.query("task == @task and model == 'multi-task'")["value"].mean()
        assert cells[3].startswith(f"{mt:.3f} ±")
        st = scores.query("task == @task and model == 'single-task'")["value"].mean()
        gain = float(cells[6].split("±")[0])
        assert gain == pytest.approx(mt - st, abs=1e-3)
        negative = "negative transfer" in cells[-1]
        # flagged exactly when the folds support the loss (one rule, results.supported_loss)
        paired = scores.query("task == @task").pivot(index="fold", columns="model",
                                                      values="value")
        gains = paired["multi-task"] - paired["single-task"]
        assert negative == supported_loss(gains.to_numpy())
        assert ("within noise" in cells[-1]) == (mt - st < 0 and not negative)
        any_negative |= negative
    assert proc.returncode == (EXIT_NEGATIVE_TRANSFER if any_negative else EXIT_OK)
    assert "Pairwise affinity" in out and "Recommended groups" in out
    assert "fold 2/2 multi-task" in proc.stderr  # progress on stderr


def test_report_writes_plots_and_a_self_contained_page(workdir, background):
    proc = finish(background["report"])
    assert proc.returncode == EXIT_OK, proc.stderr
    folder = workdir / "report"
    pngs = ["gain", "scores", "learning_curves", "task_weights", "predicted_vs_actual",
            "calibration", "overview"]
    for name in pngs:
        data = (folder / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    assert not (folder / "affinity.png").exists()  # no --grouping, no heat map
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == len(pngs) - 1  # all but overview
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing outside the file
    for task in TARGETS:
        assert f"<td>{task}</td>" in page
    assert "HistGB" not in page.split("<h2>Scores per task</h2>")[1].split("</table>")[0]
    assert "report: report/report.html" in proc.stdout
    summary = pd.read_csv(folder / "summary.csv", index_col=0)
    assert list(summary.index) == TARGETS


def test_python_dash_m_returns_the_exit_code(monkeypatch, capsys, workdir):
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(sys, "argv", ["tabmtl", "evaluate", "nowhere.csv", "-t", "a", "-t", "b"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("tabmtl", run_name="__main__")
    assert exc.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.strip() == "tabmtl evaluate: error: file not found: 'nowhere.csv'"


# -- bad input, in-process -----------------------------------------------------------------


BAD_INPUT = [
    (["fit", "penguins.csv", "--target", "specie", "--out", "m.tabmtl"],
     "unknown column 'specie' given to --target. Did you mean 'species'?"),
    (["fit", "bad.parquet", "--target", "measured", "--out", "m.tabmtl"],
     "column 'measured' cannot be a target: Target column 'measured' has dtype"),
    (["fit", "bad.parquet", "--target", "constant", "--out", "m.tabmtl"],
     "column 'constant' cannot be a target: Target column 'constant' has only one class"),
    (["fit", "penguins.csv", "--target", "id", "--out", "m.tabmtl"],
     "column 'id' cannot be a target: Target column 'id' has 344 distinct labels in 344 "
     "labelled rows"),
    (["fit", "penguins.csv", "--target", "species", "--target-kind", "species=ordinal",
      "--out", "m.tabmtl"], "--target-kind species=ordinal: unknown kind"),
    (["fit", "penguins.csv", "--target", "species", "--target-kind", "island=binary",
      "--out", "m.tabmtl"], "--target-kind names 'island', which is not a --target"),
    (["fit", "penguins.csv", "--target", "species", "--drop", "species", "--out", "m.tabmtl"],
     "are both a --target and dropped"),
    (["fit", "penguins.csv", "--target", "species", "--target", "species", "--out", "m.tabmtl"],
     "given more than once to --target"),
    (["fit", "penguins.csv", "--target", "species", "--config", "bad_key.json", "--out",
      "m.tabmtl"], "unknown parameter(s) ['hidden_layers']"),
    (["fit", "penguins.csv", "--target", "species", "--config", "broken.json", "--out",
      "m.tabmtl"], "config file 'broken.json' is not valid"),
    (["fit", "penguins.csv", "--target", "species", "--dropout", "1.5", "--max-epochs", "1",
      "--out", "m.tabmtl"], "dropout must be in [0, 1)"),
    (["fit", "penguins.csv", "--target", "species", "--out", "no/such/dir/m.tabmtl"],
     "folder 'no/such/dir' does not exist"),
    (["fit", "missing.csv", "--target", "species", "--out", "m.tabmtl"],
     "file not found"),
    (["fit", "config_ok.json", "--target", "species", "--out", "m.tabmtl"],
     "cannot tell the format of 'config_ok.json'"),
    (["evaluate", "penguins.csv", "--target", "species"], "give 2+ targets"),
    (["evaluate", "penguins.csv", "--target", "species", "--target", "sex_male",
      "--metric", "sex_male=r2"], "Metric 'r2' does not apply to binary target 'sex_male'"),
    (["evaluate", "penguins.csv", "--target", "species", "--target", "sex_male",
      "--metric", "auc"], "unknown metric 'auc'"),
    (["evaluate", "penguins.csv", "--target", "species", "--target", "sex_male",
      "--groups", "colony"], "unknown column 'colony' given to --groups"),
    (["predict", "absent.tabmtl", "penguins.csv", "--out", "p.csv"],
     "model file not found: 'absent.tabmtl'"),
    (["predict", "broken.json", "penguins.csv", "--out", "p.csv"],
     "cannot load model 'broken.json'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[m[:40] for _, m in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_code_2(capsys, monkeypatch, workdir, args, message):
    (workdir / "bad_key.json").write_text('{"hidden_layers": [8]}')
    (workdir / "broken.json").write_text('{"lr": 0.01,,}')
    (workdir / "config_ok.json").write_text('{"lr": 0.01}')
    code, out, err = _run(capsys, monkeypatch, workdir, *args)
    assert code == EXIT_USAGE, err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert out == ""


def test_predict_needs_the_models_feature_columns(capsys, monkeypatch, fitted, workdir):
    model_path = fitted[-1]
    pd.read_csv(workdir / "penguins.csv").drop(columns=["island", "year"]).to_csv(
        workdir / "partial.csv", index=False
    )
    code, _, err = _run(capsys, monkeypatch, workdir, "predict", model_path.name,
                        "partial.csv", "--out", "p.csv")
    assert code == EXIT_USAGE
    assert "lacks feature column(s) the model needs: ['island', 'year']" in err
    code, _, err = _run(capsys, monkeypatch, workdir, "predict", model_path.name,
                        "penguins.csv", "--out", "p.xlsx")
    assert code == EXIT_USAGE and "cannot tell the format of 'p.xlsx'" in err


def test_usage_errors_and_help(capsys, monkeypatch, workdir):
    code, _, err = _run(capsys, monkeypatch, workdir, "fit", "penguins.csv")
    assert code == EXIT_USAGE and "--out" in err  # argparse: a required option is missing
    code, _, err = _run(capsys, monkeypatch, workdir)
    assert code == EXIT_USAGE and "fit" in err and "evaluate" in err
    code, out, _ = _run(capsys, monkeypatch, workdir, "evaluate", "--help")
    assert code == EXIT_OK and "T(T-1)/2 x K" in out


# -- a defect is no bad input (issue 15, item 6) ---------------------------------------------


def _fit_raising(monkeypatch, exc: Exception) -> None:
    from tabmtl._estimators import MultiTaskEstimator

    def fit(self, X, Y=None, **fit_params):
        raise exc

    monkeypatch.setattr(MultiTaskEstimator, "fit", fit)


def test_a_plain_value_error_inside_fit_is_a_bug_with_its_traceback(
    capsys, monkeypatch, workdir
):
    _fit_raising(monkeypatch, ValueError("operands could not be broadcast together"))
    code, _, err = _run(capsys, monkeypatch, workdir, "fit", "penguins.csv", "--target",
                          "species", *TINY, "--out", "bug.tabmtl")
    assert code == EXIT_ERROR
    assert "Traceback" in err and "operands could not be broadcast together" in err
    assert "unexpected error" in err and not (workdir / "bug.tabmtl").exists()


def test_tabmtls_own_input_error_inside_fit_is_one_line_and_exit_code_2(
    capsys, monkeypatch, workdir
):
    _fit_raising(monkeypatch, InputError("Target column 'species' has only one class"))
    code, out, err = _run(capsys, monkeypatch, workdir, "fit", "penguins.csv", "--target",
                          "species", *TINY, "--out", "bad.tabmtl")
    assert code == EXIT_USAGE and out == ""
    assert err.strip().splitlines()[-1] == (
        "tabmtl fit: error: Target column 'species' has only one class"
    )
    assert "Traceback" not in err


def test_fit_stream_reads_its_first_rows_without_reading_the_file_ahead(tmp_path):
    # issue 15, item 10: `fit --stream` checked its columns on pyarrow's Dataset.head,
    # which reads row groups ahead, so its memory grew with the file
    path = tmp_path / "groups.parquet"
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.normal(size=(320_000, 8)), columns=[f"f{i}" for i in range(8)]).to_parquet(
        path, row_group_size=20_000  # 16 row groups of 1.25 MiB
    )
    script = (
        "import pyarrow as pa; from tabmtl._cli.tables import read_parquet_head; "
        f"head = read_parquet_head({str(path)!r}, rows=100); "
        "print(len(head), pa.default_memory_pool().max_memory())"
    )
    proc = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows, peak_bytes = map(int, proc.stdout.split())
    assert rows == 100
    assert peak_bytes < 4 * 20_000 * 8 * 8  # a row group or so, not the 16 of the file
