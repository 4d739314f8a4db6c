"""
Does training together help each target?
========================================

Training several targets in one network helps a target when the others carry
information about it, and can hurt it when they pull the shared layers
elsewhere (*negative transfer*).
:func:`tabmtl.evaluation.cross_validate_transfer` measures it: on the same
folds it fits the multi-task model and one single-task model per target, and
reports each target's gain. A loss is flagged only when the folds support it (a
paired test across folds); otherwise it is "within noise".
"""

# %%
# The penguins table: species (three classes), sex (binary) and body mass (a
# value), from bill and flipper measurements and the island.
import sys
from pathlib import Path

# sphinx_gallery_start_ignore
try:  # ``datasets`` lives at the root of tabmtl's repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
except NameError:  # run by sphinx-gallery, from the examples folder
    sys.path.insert(0, str(Path.cwd().parent))
# sphinx_gallery_end_ignore

import matplotlib.pyplot as plt

import datasets
from tabmtl import MultiTaskEstimator
from tabmtl.evaluation import cross_validate_transfer

X, Y = datasets.load("penguins")
print(datasets.target_kinds("penguins"))

# %%
# Three folds, a small network and few epochs (at a higher learning rate) keep
# this quick; ``baseline=False`` skips the gradient-boosting reference.
model = MultiTaskEstimator(
    hidden_layer_sizes=(32,), lr=1e-2, max_epochs=30, random_state=0
)
result = cross_validate_transfer(X, Y, model, cv=3, baseline=False)
print(result.to_markdown())
print("negative transfer on:", result.negative_transfer or "none")

# %%
# The gain of each target (multi-task score minus single-task score, fold by
# fold): bars are the mean, whiskers the spread over folds.
summary = result.summary
colors = [
    "#2e7d32" if gain >= 0 else "#c62828" for gain in summary["gain_mean"]
]
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.barh(
    summary.index, summary["gain_mean"], xerr=summary["gain_std"], color=colors
)
ax.axvline(0, color="grey", linewidth=1)
ax.set(
    xlabel="multi-task - single-task score",
    title="Gain from training together",
)
plt.show()
