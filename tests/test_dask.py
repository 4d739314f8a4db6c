"""Cross-validation and search on a Dask cluster: the same results as the sequential run.

A 2-worker ``LocalCluster`` of separate processes bound to 127.0.0.1 (no dashboard);
scikit-learn's searches reach it through ``joblib.parallel_backend("dask")``, so every
fit runs on a worker from a pickled estimator and comes back pickled.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_mixed
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from tabmtl import MultiTaskEstimator
from tabmtl.evaluation._metrics import task_scorer

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

PARAMS = dict(max_epochs=4, batch_size=64, lr=1e-2, random_state=0)
GRID = {"weighting": ["equal", "uncertainty"], "hidden_layer_sizes": [(16,), (32, 16)]}


def _import_tabmtl() -> bool:
    import tabmtl  # noqa: F401 - warms a worker up (torch and tabmtl imported once)

    return True


@pytest.fixture(scope="module")
def client():
    # processes: the workers unpickle the estimators like remote machines would; dask
    # starts them with OMP_NUM_THREADS=1, so torch uses one thread per worker
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, worker_dashboard_address=None,
    ) as cluster, distributed.Client(cluster) as client:
        assert all(client.run(_import_tabmtl).values())
        yield client


def test_cross_validate_on_dask_equals_sequential(client):
    X, Y = make_mixed(240)
    cv = KFold(2, shuffle=True, random_state=0)
    scoring = task_scorer()
    sequential = cross_validate(MultiTaskEstimator(**PARAMS), X, Y, cv=cv, scoring=scoring)
    with joblib.parallel_backend("dask"):
        on_dask = cross_validate(
            MultiTaskEstimator(**PARAMS), X, Y, cv=cv, scoring=scoring, n_jobs=-1
        )
    keys = [k for k in sequential if k.startswith("test_")]
    assert set(keys) == {"test_eta", "test_late", "test_band", "test_mean"}
    for key in keys:
        np.testing.assert_allclose(on_dask[key], sequential[key], rtol=1e-6, atol=1e-9)
    # the folds really ran on the two workers
    assert len(client.scheduler_info()["workers"]) == 2


def test_grid_search_on_dask_equals_sequential(client):
    X, Y = make_mixed(200)
    cv = KFold(2, shuffle=True, random_state=0)
    search = dict(cv=cv, scoring=task_scorer(), refit="mean")
    sequential = GridSearchCV(MultiTaskEstimator(**PARAMS), GRID, **search).fit(X, Y)
    with joblib.parallel_backend("dask"):
        on_dask = GridSearchCV(MultiTaskEstimator(**PARAMS), GRID, n_jobs=-1, **search).fit(X, Y)
    np.testing.assert_allclose(
        on_dask.cv_results_["mean_test_mean"], sequential.cv_results_["mean_test_mean"],
        rtol=1e-6, atol=1e-9,
    )
    assert on_dask.best_params_ == sequential.best_params_
    assert on_dask.predict(X).equals(sequential.predict(X))
