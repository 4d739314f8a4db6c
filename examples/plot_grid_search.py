"""
A pipeline in a grid search, scored task by task
================================================

:class:`~tabmtl.MultiTaskEstimator` is a scikit-learn estimator: it goes in a
``Pipeline`` and a ``GridSearchCV`` like any other.
:func:`tabmtl.metrics.task_scorer` predicts once per fold and returns one score
per target plus their ``mean``, which the search refits on.
"""

# %%
import sys
from pathlib import Path

# sphinx_gallery_start_ignore
try:  # ``datasets`` lives at the root of tabmtl's repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
except NameError:  # run by sphinx-gallery, from the examples folder
    sys.path.insert(0, str(Path.cwd().parent))
# sphinx_gallery_end_ignore

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import datasets
from tabmtl import MultiTaskEstimator
from tabmtl.metrics import task_scorer

X, Y = datasets.load("penguins")


# %%
# A feature step before the network: the bill's shape as one more column.
def add_bill_ratio(X: pd.DataFrame) -> pd.DataFrame:
    return X.assign(bill_ratio=X.bill_length_mm / X.bill_depth_mm)


pipeline = make_pipeline(
    FunctionTransformer(add_bill_ratio),
    MultiTaskEstimator(
        hidden_layer_sizes=(32,), lr=1e-2, max_epochs=30, random_state=0
    ),
)

# %%
# Search two loss weightings; every target gets its own score (accuracy for the
# classes, R² for body mass) and the search refits on their mean.
search = GridSearchCV(
    pipeline,
    {"multitaskestimator__weighting": ["equal", "uncertainty"]},
    scoring=task_scorer(),
    refit="mean",
    cv=KFold(
        3, shuffle=True, random_state=0
    ),  # the table is sorted by species
)
search.fit(X, Y)
columns = [f"mean_test_{name}" for name in [*Y.columns, "mean"]]
table = pd.DataFrame(search.cv_results_)[
    ["param_multitaskestimator__weighting", *columns]
]
print(table.round(3).to_string(index=False))
print("best:", search.best_params_)

# %%
# Each target's cross-validated score under each weighting.
scores = table.set_index("param_multitaskestimator__weighting")[columns[:-1]]
scores.columns = list(Y.columns)
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
scores.T.plot.bar(ax=ax, rot=0, ylim=(0, 1))
ax.set(ylabel="cross-validated score", title="Score per target and weighting")
ax.legend(title="weighting", loc="upper left", bbox_to_anchor=(1, 1))
plt.show()
