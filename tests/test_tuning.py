"""tabmtl.tuning: search, determinism, resumed and shared studies, pruning, bad input."""

from __future__ import annotations

import multiprocessing

import numpy as np
import optuna
import pandas as pd
import pytest
from skorch.callbacks import Callback

from tabmtl import MultiTaskEstimator
from tabmtl.errors import InputError
from tabmtl.tuning import SearchSpace, tune
from tabmtl.tuning._objective import combine, objective_weights

SPACE = {"lr": [1e-3, 3e-2], "dropout": optuna.distributions.FloatDistribution(0.0, 0.3)}


def _table(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = 2 * X.a + 0.1 * rng.normal(size=n)
    y[::7] = np.nan  # missing labels leave only their own task's score
    Y = pd.DataFrame({"y": y, "c": X.b > 0})
    return X, Y


def _est(**params):
    base = dict(max_epochs=3, hidden_layer_sizes=(8,), batch_size=32, numeric_embedding=None,
                random_state=0)
    return MultiTaskEstimator(**{**base, **params})


def _tune(X, Y, **kwargs):
    kwargs = {"cv": 2, "n_trials": 2, "search_space": SPACE, "replace_space": True,
              "progress": False, **kwargs}
    return tune(_est(), X, Y, **kwargs)


def test_search_finishes_with_best_params_scores_and_refit():
    X, Y = _table()
    result = _tune(X, Y, refit=True)
    assert len(result.study.trials) == 2
    assert set(result.best_params) == {"lr", "dropout"}
    assert set(result.best_task_scores) == {"y", "c"}
    assert result.best_value == pytest.approx(np.mean(list(result.best_task_scores.values())))
    assert result.best_estimator_.predict(X).shape == Y.shape
    assert result.best_estimator_.lr == result.best_params["lr"]
    assert result.best_config["lr"] == result.best_params["lr"]
    assert result.best_config["hidden_layer_sizes"] == [8]  # the base's non-defaults too


def test_same_seed_gives_same_trials():
    X, Y = _table()
    runs = [_tune(X, Y, seed=3) for _ in range(2)]
    first, second = ([(t.params, t.value) for t in r.study.trials] for r in runs)
    assert first == second


def test_named_task_and_weights_are_the_objective():
    X, Y = _table()
    only_c = _tune(X, Y, scoring="c", n_trials=1)
    assert only_c.best_value == pytest.approx(only_c.best_task_scores["c"])
    assert objective_weights({"y": 3}, ["y", "c"]) == {"y": 3.0}
    assert combine({"y": 1.0, "c": 0.0}, {"y": 3.0, "c": 1.0}) == pytest.approx(0.75)


def test_study_continues_from_sqlite(tmp_path):
    X, Y = _table()
    url = f"sqlite:///{tmp_path / 'study.db'}"
    _tune(X, Y, storage=url, study_name="s", n_trials=1)
    again = _tune(X, Y, storage=url, study_name="s", n_trials=2)
    assert [t.number for t in again.study.trials] == [0, 1, 2]
    assert again.study.user_attrs["targets"] == ["y", "c"]


def test_clearly_worse_trial_is_pruned(tmp_path):
    # lr=0 never learns: at the first epoch of the first fold its validation loss is
    # above the trained trial's, so the median pruner stops it there
    X, Y = _table(n=80)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    study = optuna.create_study(storage=url, study_name="p", direction="maximize")
    study.enqueue_trial({"lr": 0.05})
    study.enqueue_trial({"lr": 0.0})
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    result = tune(_est(early_stopping=True, validation_fraction=0.25), X, Y, cv=2,
                  n_trials=2, search_space={"lr": [0.05, 0.0]}, replace_space=True,
                  storage=url, study_name="p", pruner=pruner, progress=False)
    states = [t.state for t in result.study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    assert result.best_params == {"lr": 0.05}
    assert len(result.study.trials[1].intermediate_values) == 1  # stopped at its 1st epoch
    assert len(result.study.trials[0].intermediate_values) == 6  # 3 epochs x 2 folds


class _InterruptAtEpoch(Callback):
    """Ctrl-C at the n-th epoch counted over every fit (the count is shared by clones)."""

    epochs = [0]

    def __init__(self, at: int = 8):
        self.at = at

    def on_epoch_end(self, net, **kwargs):
        self.epochs[0] += 1
        if self.epochs[0] == self.at:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_the_finished_trials(tmp_path):
    # 3 epochs x 2 folds finish trial 0; the 8th epoch is in trial 1
    X, Y = _table()
    _InterruptAtEpoch.epochs[0] = 0
    url = f"sqlite:///{tmp_path / 'c.db'}"
    result = tune(_est(callbacks=[_InterruptAtEpoch(8)]), X, Y, cv=2, n_trials=5,
                  search_space=SPACE, replace_space=True, storage=url, progress=False)
    assert result.interrupted
    states = [t.state for t in optuna.load_study(study_name="tabmtl", storage=url).trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert result.best_params == result.study.trials[0].params


def test_early_stopping_does_not_end_the_search():
    # skorch stops early with a KeyboardInterrupt as well: only a real Ctrl-C ends tune
    X, Y = _table(n=60)
    result = tune(_est(early_stopping=True, patience=1, max_epochs=40), X, Y, cv=2,
                  n_trials=2, search_space=SPACE, replace_space=True, progress=False)
    assert not result.interrupted
    assert len(result.study.trials) == 2
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in result.study.trials)


def _worker(url: str, seed: int) -> None:
    """One tuning worker: two trials of the shared study (run in a forked process)."""
    X, Y = _table(n=40)
    tune(_est(max_epochs=1), X, Y[["y"]], cv=2, n_trials=2, storage=url, study_name="shared",
         search_space={"lr": optuna.distributions.FloatDistribution(1e-3, 3e-2, log=True)},
         replace_space=True, seed=seed, progress=False)


def test_two_workers_share_one_sqlite_study(tmp_path):
    # forked, so the workers start with tabmtl already imported (seconds saved per worker);
    # the same seed in both, as `tabmtl tune` on two machines: still distinct trials
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    optuna.create_study(storage=url, study_name="shared", direction="maximize")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_worker, args=(url, 0)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        if w.is_alive():  # a hung worker fails the test instead of outliving it
            w.kill()
    assert [w.exitcode for w in workers] == [0, 0]
    study = optuna.load_study(study_name="shared", storage=url)
    assert sorted(t.number for t in study.trials) == list(range(4))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert len(set(_configs(study.trials))) == 4


def test_bad_input_is_one_clear_line(tmp_path):
    X, Y = _table()
    with pytest.raises(InputError, match=r"Unknown parameter\(s\) \['lrate'\]"):
        SearchSpace(_est(), {"lrate": [1e-3]})
    with pytest.raises(InputError, match="expected an optuna"):
        SearchSpace(_est(), {"lr": 0.1})
    for url in ("nosuchdb://nowhere/x", f"sqlite:///{tmp_path / 'no' / 'dir' / 'x.db'}"):
        with pytest.raises(InputError, match="cannot open the study storage"):
            _tune(X, Y, storage=url)
    with pytest.raises(InputError, match="neither 'mean' nor a target"):
        _tune(X, Y, scoring="z")
    url = f"sqlite:///{tmp_path / 't.db'}"
    _tune(X, Y, storage=url, study_name="t", n_trials=1)
    with pytest.raises(InputError, match=r"created for targets \['y', 'c'\], not \['y'\]"):
        _tune(X, Y[["y"]], storage=url, study_name="t", n_trials=1)


def test_embedding_size_only_with_an_embedding():
    space = SearchSpace(_est(), {"numeric_embedding": ["periodic", None],
                                 "numeric_embedding__d_embedding": [4]}, replace=True)
    on = space.decode({"numeric_embedding": "periodic", "numeric_embedding__d_embedding": 4})
    assert on["numeric_embedding"].d_embedding == 4
    assert space.decode({"numeric_embedding": None}) == {"numeric_embedding": None}


def test_component_settings_reach_the_estimators_own_component():
    # only the size is searched: it goes into the base's piecewise-linear embedding, and
    # the config names that embedding beside it
    X, Y = _table(n=30)
    result = tune(_est(numeric_embedding="piecewise_linear"), X, Y, cv=2, n_trials=1,
                  search_space={"numeric_embedding__d_embedding": [3]}, replace_space=True,
                  progress=False)
    assert result.best_params["numeric_embedding"].get_params()["d_embedding"] == 3
    assert result.best_config["numeric_embedding"] == "piecewise_linear"
    assert result.best_config["numeric_embedding__d_embedding"] == 3


# -- a continued or shared study explores new points; one seeded run is reproducible -----

FLOAT_SPACE = {"lr": optuna.distributions.FloatDistribution(1e-3, 3e-2, log=True),
               "dropout": optuna.distributions.FloatDistribution(0.0, 0.3)}


def _configs(trials) -> list[tuple]:
    return [tuple(sorted(t.params.items())) for t in trials]


def test_continued_study_samples_new_configurations(tmp_path):
    X, Y = _table(n=30)
    url = f"sqlite:///{tmp_path / 'again.db'}"
    for _ in range(2):  # the same call twice, as `tabmtl tune` run twice
        _tune(X, Y, storage=url, study_name="s", n_trials=3, search_space=FLOAT_SPACE)
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert len(trials) == 6
    assert len(set(_configs(trials))) == 6  # trials 3-5 do not replay trials 0-2


def test_seeded_run_is_reproducible_on_fresh_storages(tmp_path):
    X, Y = _table(n=30)
    runs = []
    for name in ("one", "two"):
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        result = _tune(X, Y, storage=url, n_trials=3, search_space=FLOAT_SPACE, seed=5)
        runs.append(_configs(result.study.trials))
    assert runs[0] == runs[1]
    other = _tune(X, Y, n_trials=3, search_space=FLOAT_SPACE, seed=6)
    assert _configs(other.study.trials) != runs[0]  # the seed matters


# -- search space: a component's settings in any key order -------------------------------


def test_component_setting_listed_before_its_component_is_sampled():
    space = SearchSpace(_est(), {"numeric_embedding__d_embedding": [4, 8],
                                 "numeric_embedding": ["periodic"]}, replace=True)
    trial = optuna.trial.FixedTrial({"numeric_embedding": "periodic",
                                     "numeric_embedding__d_embedding": 8})
    params = space.sample(trial)
    assert params["numeric_embedding"].get_params()["d_embedding"] == 8
    assert "numeric_embedding__d_embedding" in trial.params


# -- the config keeps the base's component instances -------------------------------------


def _same_params(a, b) -> None:
    """Assert two estimators have equal parameters (components: same class and settings)."""
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    assert set(pa) == set(pb)
    for name, value in pa.items():
        if name in ("callbacks", "verbose"):
            continue
        if hasattr(value, "get_params"):
            assert type(value) is type(pb[name]), name
            assert value.get_params() == pb[name].get_params(), name
        else:
            assert value == pb[name], name


@pytest.mark.parametrize("searched", [
    {"lr": [0.01]},
    {"numeric_embedding__d_embedding": [6]},  # tuned into the base's own instance
])
def test_config_round_trip_keeps_component_instances(tmp_path, searched):
    import argparse

    from sklearn.base import clone

    from tabmtl._cli.options import build_estimator
    from tabmtl._nn.architectures import MMoE
    from tabmtl._nn.numeric_embedding import PeriodicEmbedding

    X, Y = _table(n=30)
    est = _est(architecture=MMoE(n_experts=2, tower_layer_sizes=(4,)),
               numeric_embedding=PeriodicEmbedding(d_embedding=4, n_frequencies=8),
               max_epochs=1)
    result = tune(est, X, Y, cv=2, n_trials=1, search_space=searched, replace_space=True,
                  progress=False)
    path = result.write_config(tmp_path / "best.json")
    loaded = build_estimator(argparse.Namespace(config=str(path)), {})
    _same_params(loaded, clone(est).set_params(**result.best_params))


# -- an invalid sampled combination fails its trial, not the search ------------------------


def test_invalid_combination_fails_only_its_trial(tmp_path, capsys):
    X, Y = _table(n=30)
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    study = optuna.create_study(storage=url, study_name="tabmtl", direction="maximize")
    study.enqueue_trial({"architecture__n_subspaces": 3})  # does not divide 8
    study.enqueue_trial({"architecture__n_subspaces": 2})
    result = tune(_est(architecture="sluice"), X, Y, cv=2, n_trials=2, storage=url,
                  search_space={"architecture__n_subspaces": [2, 3]}, replace_space=True)
    failed, done = result.study.trials
    assert failed.state == optuna.trial.TrialState.FAIL
    assert "must divide every hidden layer size" in failed.user_attrs["fail_reason"]
    assert done.state == optuna.trial.TrialState.COMPLETE
    assert result.best_params["architecture"].n_subspaces == 2
    assert "trial 0 fail (ValueError: n_subspaces=3 must divide" in capsys.readouterr().err


def test_every_trial_failing_is_one_clear_error():
    # a problem of every configuration (here: of the space itself) is an error, not a
    # search that silently finds nothing
    X, Y = _table(n=30)
    with pytest.raises(InputError, match=r"every trial failed.*must divide"):
        tune(_est(architecture="sluice"), X, Y, cv=2, n_trials=2,
             search_space={"architecture__n_subspaces": [3, 5]}, replace_space=True,
             progress=False)


def test_pruning_steps_stay_aligned_when_max_epochs_is_searched(tmp_path):
    # fold 1 starts at step 3 (the largest max_epochs searched) in every trial, also in
    # one that trains 2 epochs per fold
    X, Y = _table(n=40)
    url = f"sqlite:///{tmp_path / 'steps.db'}"
    study = optuna.create_study(storage=url, study_name="tabmtl", direction="maximize")
    study.enqueue_trial({"max_epochs": 2})
    result = tune(_est(early_stopping=True, validation_fraction=0.25), X, Y, cv=2,
                  n_trials=1, storage=url, search_space={"max_epochs": [2, 3]},
                  replace_space=True, progress=False)
    assert sorted(result.study.trials[0].intermediate_values) == [0, 1, 3, 4]


def test_config_names_what_it_cannot_hold():
    from tabmtl._nn.architectures import MMoE

    class MyMMoE(MMoE):  # not registered: a config file cannot name it
        pass

    X, Y = _table(n=30)
    with pytest.warns(UserWarning, match=r"best_config leaves out architecture=MyMMoE"):
        result = tune(_est(architecture=MyMMoE(n_experts=2), max_epochs=1), X, Y, cv=2,
                      n_trials=1, search_space={"lr": [0.01]}, replace_space=True,
                      progress=False)
    assert "architecture" not in result.best_config
