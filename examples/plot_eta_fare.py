"""
Joint ETA and fare modelling
============================

A ride-hailing table: each trip's duration (``duration_min``) and its ``fare``
depend on the same distance, zones, hour and weather. One
:class:`~tabmtl.MultiTaskEstimator` learns both from a shared trunk, predicts a
DataFrame with one column per target, and saves to a single safe file.
"""

# %%
# Load a small sample of the bundled ``eta_fare`` table (``datasets`` lives at
# the root of tabmtl's repository).
import os
import sys
import tempfile
from pathlib import Path

# sphinx_gallery_start_ignore
try:  # ``datasets`` lives at the root of tabmtl's repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
except NameError:  # run by sphinx-gallery, from the examples folder
    sys.path.insert(0, str(Path.cwd().parent))
# sphinx_gallery_end_ignore

import matplotlib.pyplot as plt
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

import datasets
from tabmtl import MultiTaskEstimator, load_model, save_model

X, Y = datasets.load("eta_fare", n_rows=2000, random_state=0)
X_train, X_test, Y_train, Y_test = train_test_split(
    X, Y, test_size=0.25, random_state=0
)
print(X.shape, list(X.columns), "->", list(Y.columns))

# %%
# Fit one network for both targets. Categorical columns are embedded, numeric
# ones go through piecewise-linear embeddings; a validation split stops
# training early.
model = MultiTaskEstimator(max_epochs=40, random_state=0).fit(X_train, Y_train)
pred = model.predict(X_test)
for target in Y.columns:
    print(f"{target}: R2 = {r2_score(Y_test[target], pred[target]):.3f}")

# %%
# Predicted against actual, one panel per target.
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6), layout="constrained")
for ax, target in zip(axes, Y.columns):
    ax.scatter(Y_test[target], pred[target], s=6, alpha=0.5)
    low, high = Y_test[target].min(), Y_test[target].max()
    ax.plot([low, high], [low, high], color="grey", linewidth=1)
    ax.set(title=target, xlabel="actual", ylabel="predicted")
fig.suptitle("One network, two targets (held-out trips)")
plt.show()

# %%
# Save and load: the file holds JSON and tensors, no pickle, and the loaded
# model predicts exactly the same values.
path = save_model(model, os.path.join(tempfile.mkdtemp(), "eta_fare.tabmtl"))
print(load_model(path).predict(X_test).equals(pred))
