"""The files of an importance run: the tables and the pictures, in one folder.

:func:`write_importance` is what ``tabmtl explain`` writes; ``tabmtl report
--importance DIR`` reads the folder back by the names in :data:`IMPORTANCE_FILES`.
"""

from __future__ import annotations

from pathlib import Path

from tabmtl.inspection._importance import TaskImportance

#: Key -> file name of every file :func:`write_importance` writes.
IMPORTANCE_FILES = {
    "table": "importance.csv",
    "matrix": "matrix.csv",
    "drivers": "drivers.csv",
    "heatmap": "heatmap.png",
    "bars": "bars.png",
}


def write_importance(
    result: TaskImportance,
    out_dir: str | Path,
    *,
    top_k: int = 3,
    min_share: float = 0.1,
    min_tasks: int = 2,
    figures: bool = True,
) -> dict[str, Path]:
    """Write ``result`` to ``out_dir`` (created if missing).

    Files: ``importance.csv`` (tidy: feature, task, metric, mean, std), ``matrix.csv``
    (features x tasks, mean), ``drivers.csv`` (each feature's role by the shared-driver
    rule of :meth:`TaskImportance.shared_drivers`) and, with ``figures`` (needs
    matplotlib), ``heatmap.png`` and ``bars.png``.

    Returns
    -------
    dict
        Key of :data:`IMPORTANCE_FILES` -> written path.

    Examples
    --------
    >>> files = write_importance(result, "explain-out")  # doctest: +SKIP
    >>> files["heatmap"]  # doctest: +SKIP
    PosixPath('explain-out/heatmap.png')
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rule = dict(top_k=top_k, min_share=min_share, min_tasks=min_tasks)
    files = {key: out / name for key, name in IMPORTANCE_FILES.items()}
    result.table.to_csv(files["table"], index=False)
    result.matrix.to_csv(files["matrix"])
    result.shared_drivers(**rule).to_csv(files["drivers"])
    if not figures:
        return {k: v for k, v in files.items() if v.suffix == ".csv"}
    from tabmtl.inspection._figures import plot_importance_bars, plot_importance_heatmap

    plot_importance_heatmap(result, files["heatmap"], **rule)
    plot_importance_bars(result, files["bars"], **rule)
    return files
