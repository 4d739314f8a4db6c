"""Plots and a self-contained HTML page for a transfer analysis.

:func:`write_report` turns a :class:`tabmtl.evaluation._transfer.TransferResult` into PNG files a
person would rather look at than a table — per-task learning curves (multi-task against
single-task, on the held-out fold), task weights over epochs, per-task gain bars, the
models' scores, predicted against actual values for regression targets, reliability
curves for classification targets, the pairwise affinity heat map when grouping ran —
plus ``overview.png`` (all of them on one canvas) and ``report.html``, one file with
every image embedded (base64), so it can be mailed or attached as is.

Needs matplotlib (drawn with the non-interactive Agg backend).

The figures are drawn by :mod:`tabmtl.evaluation._figures` (from the axis-level pictures
of :mod:`tabmtl.evaluation._drawing`); this module writes them with the tables and the page.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from tabmtl.evaluation._blending import blend_weights, plot_blend_weights
from tabmtl.evaluation._figures import (
    plot_affinity,
    plot_calibration,
    plot_gains,
    plot_learning_curves,
    plot_overview,
    plot_predicted_vs_actual,
    plot_scores,
    plot_task_weights,
)
from tabmtl.evaluation._results import CONFIDENCE, NEGATIVE_FLAG, TransferResult

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; color: #212121; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; white-space: nowrap; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.neg td { background: #ffebee; } td.flag { color: #c62828; font-weight: bold; }
pre { background: #f5f5f5; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
img { max-width: 100%; border: 1px solid #eee; } .verdict { font-size: 1.1em; font-weight: bold; }
.neg-text { color: #c62828; } figcaption { color: #555; font-size: 0.9em; margin-bottom: 1.4em; }
"""


#: How the page decides negative transfer, in words (the rule of ``supported_loss``).
NOISE_RULE = (
    "How conclusions are drawn: a task is flagged for negative transfer only when its "
    "per-fold gains (multi-task minus single-task, paired by fold) support a loss - Nadeau "
    f"& Bengio's corrected paired t test, {int(CONFIDENCE * 100)}% one-sided; a negative "
    "mean gain they do not support is marked 'within noise'."
)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                negative_rows: Sequence[bool] = ()) -> str:
    neg = list(negative_rows) + [False] * (len(rows) - len(negative_rows))
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>"]
    for row, is_neg in zip(rows, neg):
        cells = []
        for value in row:
            cls = ' class="flag"' if value == NEGATIVE_FLAG else (
                ' class="num"' if value and value[0] in "+-0123456789" else "")
            cells.append(f"<td{cls}>{html.escape(value)}</td>")
        out.append(f'<tr{" class=neg" if is_neg else ""}>' + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


_CAPTIONS = {
    "gain": "Multi-task score minus single-task score per task, paired by fold (bars, "
    "± std); green: a gain, red: negative transfer the folds support, pale red: a loss "
    "within the folds' noise. Diamonds: multi-task minus HistGB.",
    "scores": "Each model's score per task, mean ± std over folds; bars start at 0, so "
    "their lengths compare (values written on the bars, the best in bold).",
    "learning_curves": "Loss per epoch per task. Solid: the multi-task model; dashed: the "
    "single-task model of the same architecture. Thick: held-out fold (or the early-stopping "
    "split); thin: training. Means and shading (min to max over folds) cover the epochs "
    "every fold reached, so no curve jumps where a fold stopped early; dotted: a fold that "
    "trained longer, on its own.",
    "task_weights": "The weight of each task's loss in the multi-task objective per epoch "
    "(a table when no weight ever moved).",
    "predicted_vs_actual": "Out-of-fold predictions of the multi-task model against the "
    "truth; the dashed line is a perfect prediction.",
    "calibration": "Reliability of the predicted probabilities (out of fold, equal-count "
    "bins): on the diagonal, a predicted 30% happens 30% of the time.",
    "affinity": "Pairwise affinity: the row task's score when trained with the column task, "
    "minus its score alone.",
    "sluice_sharing": "Sharing learned by the sluice network: per hidden layer, the share of "
    "the row task's mixed activations taken from each column task (rows sum to 1).",
    "blend": "Per task, the weights of a blend of the multi-task net and HistGB, chosen "
    "by greedy ensemble selection (Caruana et al. 2004; tabmtl._ensemble.weights."
    "greedy_weights, as MultiTaskBlend fits task_blend_weights_) on both models' "
    "out-of-fold predictions; HistGB's share is how much the task needs boosting. Scores: "
    "mean over the same folds; the blend's is measured on the rows its weights were chosen "
    "on, so it is slightly optimistic.",
    "efficiency": "Multi-task gain by training size: the comparison repeated on nested "
    "subsamples of each training fold (same folds, same seeds); mean ± std over folds, "
    "points are single folds.",
}


def write_report(
    result: TransferResult,
    out_dir: str | Path,
    *,
    title: str = "tabmtl transfer report",
    command: str | None = None,
    details: Sequence[str] = (),
    importance: str | Path | None = None,
    efficiency=None,
    sharing=None,
) -> dict[str, Path]:
    """Write the plots, ``overview.png``, ``report.html`` and the tables to ``out_dir``.

    Parameters
    ----------
    result : TransferResult
        From :func:`~tabmtl.evaluation.cross_validate_transfer`.
    out_dir : str or Path
        Folder (created if missing).
    title : str
        Page and overview title.
    command : str, optional
        The command that produced the result, shown on the page for reproducibility.
    details : sequence of str
        Lines describing the data, folds and models.
    importance : str or Path, optional
        A folder written by ``tabmtl explain``: its heat map, bar charts and feature
        roles become a "Feature importance per task" section of the page.
    efficiency : EfficiencyResult, optional
        From :func:`~tabmtl.evaluation.data_efficiency`: adds the gain by
        training size (``efficiency``).
    sharing : pandas.DataFrame, optional
        A sluice network's learned sharing
        (``tabmtl.evaluation._sluice_figures.learned_sharing``): adds its heat map
        (``sluice_sharing``), shown beside the affinity matrix.

    Returns
    -------
    dict
        Name -> written path, one entry per file written: ``html``, ``overview``, one
        per plot (``scores`` is scores.png), ``summary`` (summary.csv), ``scores_csv``
        (scores.csv, every fold), ``table`` (table.md), with the HistGB baseline
        ``blend`` (blend_weights.png: how much each task needs boosting) and
        ``blend_summary`` (blend_weights.csv), and with ``efficiency``
        ``efficiency_summary`` (efficiency.csv).

    Examples
    --------
    >>> import datasets
    >>> from tabmtl import MultiTaskEstimator
    >>> from tabmtl.evaluation._transfer import cross_validate_transfer
    >>> X, Y = datasets.load("penguins")
    >>> result = cross_validate_transfer(X, Y, MultiTaskEstimator(max_epochs=5), cv=2)
    >>> files = write_report(result, "penguins-report")  # doctest: +SKIP
    >>> files["html"]  # doctest: +SKIP
    PosixPath('penguins-report/report.html')
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = {
        "gain": plot_gains(result, out / "gain.png"),
        "scores": plot_scores(result, out / "scores.png"),
        "learning_curves": plot_learning_curves(result, out / "learning_curves.png"),
        "task_weights": plot_task_weights(result, out / "task_weights.png"),
        "predicted_vs_actual": plot_predicted_vs_actual(result, out / "predicted_vs_actual.png"),
        "calibration": plot_calibration(result, out / "calibration.png"),
        "affinity": plot_affinity(result, out / "affinity.png"),
    }
    plots = {k: v for k, v in plots.items() if v is not None}
    blend = blend_weights(result)  # None without the HistGB baseline
    if blend is not None:
        plots["blend"] = plot_blend_weights(blend, out / "blend_weights.png")
        blend.to_csv(out / "blend_weights.csv", index_label="task")
    # -- learned sluice sharing and data efficiency, when given (drawn on demand) -----------
    if sharing is not None:
        from tabmtl.evaluation._sluice_figures import plot_sluice_sharing

        plots["sluice_sharing"] = plot_sluice_sharing(sharing, out / "sluice_sharing.png")
    if efficiency is not None:
        from tabmtl.evaluation._efficiency_figures import plot_efficiency

        plots["efficiency"] = plot_efficiency(efficiency, out / "efficiency.png")
        efficiency.summary.to_csv(out / "efficiency.csv", index=False)
    files: dict[str, Path] = dict(plots)
    if efficiency is not None:
        files["efficiency_summary"] = out / "efficiency.csv"
    if blend is not None:
        files["blend_summary"] = out / "blend_weights.csv"
    files["overview"] = plot_overview(result, out / "overview.png", title)
    files["summary"] = out / "summary.csv"
    result.summary.to_csv(files["summary"])
    files["scores_csv"] = out / "scores.csv"
    result.scores.to_csv(files["scores_csv"], index=False)
    files["table"] = out / "table.md"
    files["table"].write_text(result.to_markdown() + "\n", encoding="utf-8")
    files["html"] = out / "report.html"
    page = _page(result, plots, title, command, details, importance, blend)
    files["html"].write_text(page, encoding="utf-8")
    return files


def _blend_section(blend, image: Path) -> list[str]:
    """The page's "how much each task needs boosting" section: the figure and a table."""
    headers = ["task", "metric", "HistGB weight", "multi-task", "HistGB", "blend"]
    rows = [[str(task), r["metric"], f"{r['boosting_weight']:.2f}", f"{r['net_score']:.3f}",
             f"{r['boosting_score']:.3f}", f"{r['blend_score']:.3f}"]
            for task, r in blend.iterrows()]
    return ["<h2>How much each task needs boosting</h2>", "<figure>", _img(image),
            f"<figcaption>{html.escape(_CAPTIONS['blend'])}</figcaption></figure>",
            _html_table(headers, rows)]


def _page(result, plots, title, command, details, importance=None, blend=None) -> str:
    headers, rows = result.table_rows()
    verdict_class = "verdict neg-text" if result.negative_transfer else "verdict"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p>{html.escape(line)}</p>" for line in details]
    if command:
        parts.append(f"<pre>{html.escape(command)}</pre>")
    parts += [
        f'<p class="{verdict_class}">{html.escape(result.verdict())}</p>',
        f"<p>{html.escape(NOISE_RULE)}</p>",
        "<h2>Scores per task</h2>",
        _html_table(headers, rows, list(result.summary["negative_transfer"])),
    ]
    if result.fit_seconds:
        times = ", ".join(f"{m} {s:.1f}s" for m, s in result.fit_seconds.items())
        parts.append(f"<p>Total fit time over all folds: {html.escape(times)}.</p>")
    order = ["gain", "scores", "learning_curves", "task_weights", "predicted_vs_actual",
             "calibration"]
    names = {"gain": "Multi-task gain", "scores": "Scores", "learning_curves":
             "Learning curves", "task_weights": "Task weights", "predicted_vs_actual":
             "Predicted vs actual", "calibration": "Calibration"}
    for key in order:
        if key in plots:
            parts += [f"<h2>{names[key]}</h2>", "<figure>", _img(plots[key]),
                      f"<figcaption>{html.escape(_CAPTIONS[key])}</figcaption></figure>"]
    if blend is not None and "blend" in plots:
        parts += _blend_section(blend, plots["blend"])
    if result.grouping is not None:
        g = result.grouping
        parts.append("<h2>Which tasks to train together</h2>")
        # what the folds measured leads; the pairwise prediction follows it
        measured, predicted, rule = g.conclusion_parts()
        parts += [f'<p class="verdict">{html.escape(measured)}</p>',
                  f"<p>{html.escape(predicted)} {html.escape(rule)}</p>"]
        groups = "  ".join("{" + ", ".join(grp) + "}" for grp in g.groups)
        parts.append(f"<p>Predicted from pairwise gains: {html.escape(groups)}</p>")
        if "affinity" in plots:
            parts += ["<figure>", _img(plots["affinity"]),
                      f"<figcaption>{html.escape(_CAPTIONS['affinity'])}</figcaption>",
                      "</figure>"]
        parts.append(f"<pre>{html.escape(g.describe())}</pre>")
    for key, heading in (("sluice_sharing", "Sharing learned by sluice"),
                         ("efficiency", "Multi-task gain by training size")):
        if key in plots:
            parts += [f"<h2>{heading}</h2>", "<figure>", _img(plots[key]),
                      f"<figcaption>{html.escape(_CAPTIONS[key])}</figcaption></figure>"]
    if importance is not None:
        parts += _importance_section(Path(importance))
    parts.append("<p>Produced by tabmtl; every image is embedded in this file.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _importance_section(folder: Path) -> list[str]:
    """The page's feature-importance section from a ``tabmtl explain`` folder."""
    import pandas as pd

    from tabmtl.inspection._output import IMPORTANCE_FILES

    drivers = pd.read_csv(folder / IMPORTANCE_FILES["drivers"], index_col=0)
    shared = drivers.index[drivers["role"] == "shared"].astype(str).tolist()
    parts = ["<h2>Feature importance per task</h2>",
             f"<p>Shared drivers: {html.escape(', '.join(shared) or 'none')}.</p>"]
    captions = {
        "heatmap": "The drop of each task's score when one feature column is shuffled "
        "(before preprocessing, so derived inputs move with it); colour: share of the task's "
        "top importance; bold: the feature drives the task.",
        "bars": "Colour: the feature's role in that task's panel. A feature drives a task "
        "when it is in the task's top k and reaches 10% of its top importance; a shared "
        "driver drives two tasks or more (bars: ± std over the shuffles).",
    }
    for key, caption in captions.items():
        if (folder / IMPORTANCE_FILES[key]).exists():
            parts += ["<figure>", _img(folder / IMPORTANCE_FILES[key]),
                      f"<figcaption>{html.escape(caption)}</figcaption></figure>"]
    rows = [[str(f), r["role"], r["tasks"] if isinstance(r["tasks"], str) else ""]
            for f, r in drivers.iterrows() if r["role"] != "minor"]
    parts.append(_html_table(["feature", "role", "drives"], rows))
    return parts
