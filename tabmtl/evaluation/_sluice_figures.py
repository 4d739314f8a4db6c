"""What a fitted sluice network learned to share: its alphas as a heat map per layer.

:func:`learned_sharing` reads a fitted ``architecture="sluice"`` estimator's sharing
weights under the target names; :func:`plot_sluice_sharing` draws them, one panel per
hidden layer (row: the task that takes, column: the task it takes from), for the report
beside the pairwise affinity matrix. Needs matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tabmtl.evaluation._figures import pyplot


def learned_sharing(estimator) -> pd.DataFrame:
    """The sharing weights of a fitted sluice estimator, by target name.

    Parameters
    ----------
    estimator : MultiTaskEstimator
        Fitted with ``architecture="sluice"`` (or a ``Sluice`` instance).

    Returns
    -------
    pandas.DataFrame
        ``layer``, ``from_task``, ``to_task``, ``weight``; see
        :meth:`tabmtl._nn.architectures.sluice.SluiceBody.sharing_weights`.

    Examples
    --------
    >>> est = MultiTaskEstimator(architecture="sluice").fit(X, Y)  # doctest: +SKIP
    >>> learned_sharing(est).head(2)  # doctest: +SKIP
       layer from_task  to_task  weight
    0      1   species  species   0.874
    1      1       sex  species   0.061
    """
    body = getattr(getattr(getattr(estimator, "net_", None), "module_", None), "body", None)
    if not hasattr(body, "sharing_weights"):
        raise ValueError(
            "learned_sharing needs an estimator fitted with architecture='sluice'."
        )
    return body.sharing_weights([t.name for t in estimator.target_spec_.tasks_])


def plot_sluice_sharing(sharing: pd.DataFrame, path: str | Path) -> Path:
    """Heat maps of a sluice network's learned sharing, one per hidden layer.

    Parameters
    ----------
    sharing : pandas.DataFrame
        From :func:`learned_sharing` (or ``SluiceBody.sharing_weights``).
    path : str or Path
        The PNG file to write.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> plot_sluice_sharing(learned_sharing(est), "sluice_sharing.png")  # doctest: +SKIP
    PosixPath('sluice_sharing.png')
    """
    if sharing.empty:
        raise ValueError("sharing is empty: a sluice network without hidden layers shares "
                         "nothing to draw.")
    plt = pyplot()
    tasks = list(dict.fromkeys(sharing["to_task"]))
    layers = sorted(sharing["layer"].unique())
    n = len(tasks)
    fig, axes = plt.subplots(1, len(layers), squeeze=False,
                             figsize=((0.8 * n + 1.8) * len(layers), 0.7 * n + 2.0))
    image = None
    for ax, layer in zip(axes.flat, layers):
        part = sharing[sharing["layer"] == layer]
        matrix = part.pivot(index="to_task", columns="from_task", values="weight")
        values = matrix.loc[tasks, tasks].to_numpy(dtype=float)
        image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0)
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center",
                        fontsize=7 if n < 7 else 6,
                        color="white" if values[i, j] > 0.6 else "black")
        ax.set_xticks(np.arange(n), tasks, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(np.arange(n), tasks, fontsize=7)
        ax.set_xlabel("takes from", fontsize=8)
        ax.set_title(f"hidden layer {layer}", fontsize=8)
    axes.flat[0].set_ylabel("task", fontsize=8)
    fig.colorbar(image, ax=list(axes.flat), shrink=0.8, label="share of the task's mixing")
    fig.suptitle("Sharing learned by the sluice network", fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
