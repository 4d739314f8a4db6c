"""Out-of-core training and prediction from parquet: record batches in, never the whole table.

:func:`fit_parquet` trains a :class:`~tabmtl.MultiTaskEstimator` on a parquet file, folder,
glob or list of files in two kinds of pass, each holding a bounded number of rows:

1. **One sampling pass** draws a uniform reservoir sample of ``sample_rows`` rows of the
   training row groups (never the held-out validation ones; bottom-k random keys, so the
   sample is the same for the same seed and files) and fits the
   :class:`~tabmtl._data.targets.TargetSpec` and :class:`~tabmtl._data.features.FeaturePreprocessor`
   on it, exactly as an in-memory ``fit`` would on those rows. A sample rather than
   streaming statistics because the preprocessor needs more than moments: median
   imputation needs a median, and exact streaming medians need memory that grows with the
   data (a mean and variance could be streamed exactly, but not a median); the category
   and class sets are also read off the sample, which keeps ID-like columns from growing
   the embedding tables without bound. A category the sample missed (rarer than about
   1 in ``sample_rows``) maps to the "unknown" code at training and predict time, like
   any category unseen in fit; a target label the sample missed counts as a missing label
   (that row drops out of that task's loss) and is reported in a warning.
2. **Training epochs** read the row groups ("fragments") in a new random order each epoch
   and pass the encoded rows through a bounded shuffle buffer (``shuffle_buffer_batches``
   record batches of ``batch_rows`` rows) from which mini-batches are drawn at random, so
   a file sorted by time or by a label still trains on mixed batches: each mini-batch
   mixes rows of every row group in the buffer. The mixing scale is a row group: write
   sorted files with row groups well below the buffer (e.g. ``row_group_size=65_536``).

Validation comes from a separate source (``validation="valid.parquet"``) or from held-out
row groups (``validation=0.1``; by default ``estimator.validation_fraction`` of them when
``early_stopping`` is on): skorch's own split needs ``len()`` and random access, which a
stream has not. Launched by ``torchrun`` (``WORLD_SIZE > 1``), the training is
data-parallel: each epoch's row groups are dealt out to the processes, and every process
runs the same number of batches (see ``tabmtl._training.distributed``).

The pieces live in their own modules and are re-exported here: :mod:`tabmtl.io._parquet`
(:class:`ParquetSource`, :func:`parquet_dataset`), :mod:`tabmtl.io._sampling`
(:func:`reservoir_sample`), :mod:`tabmtl.io._parquet_stream` (:class:`ParquetStream`),
:mod:`tabmtl.io._parquet_batches` (:class:`ParquetBatchIterator`,
:func:`deal_row_groups`) and :mod:`tabmtl.io._prefetch`.

Examples
--------
::

    from tabmtl import MultiTaskEstimator
    from tabmtl.io._streaming import fit_parquet, predict_parquet

    model = fit_parquet(MultiTaskEstimator(max_epochs=2), "trips/*.parquet",
                        targets=["eta", "fare", "payment"])
    predict_parquet(model, "new_trips.parquet", "predictions.parquet", keep_columns=["trip_id"])
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.helper import predefined_split

from tabmtl._data.features import FeaturePreprocessor
from tabmtl._data.targets import TargetSpec
from tabmtl._training.distributed import (
    finish_data_parallel,
    init_distributed,
    make_data_parallel,
)
from tabmtl._training.iterators import SliceIterator
from tabmtl.errors import InputError, InputTypeError
from tabmtl.io._parquet import ParquetSource, RowGroup, parquet_dataset, to_frame
from tabmtl.io._parquet_batches import ParquetBatchIterator, deal_row_groups
from tabmtl.io._parquet_stream import ParquetStream
from tabmtl.io._prediction_columns import probability_columns
from tabmtl.io._sampling import reservoir_sample

__all__ = [
    "ParquetBatchIterator",
    "ParquetSource",
    "ParquetStream",
    "RowGroup",
    "deal_row_groups",
    "fit_parquet",
    "parquet_dataset",
    "predict_parquet",
    "reservoir_sample",
]

def fit_parquet(
    estimator,
    source,
    targets: Sequence[str],
    *,
    features: Sequence[str] | None = None,
    validation=None,
    sample_rows: int = 100_000,
    batch_rows: int = 16_384,
    shuffle_buffer_batches: int = 16,
    prefetch: int = 2,
    use_threads: bool = True,
):
    """Fit ``estimator`` on parquet data too large for memory, reading record batches.

    See the module docstring for how the sample, the shuffling and the validation work.
    The fitted estimator is an ordinary one: ``predict`` on in-memory frames, pickling and
    searches work as after ``fit``; :func:`predict_parquet` predicts a parquet source
    batch by batch. Under ``torchrun`` (``WORLD_SIZE > 1``) the fit is data-parallel
    (``tabmtl._training.distributed``): rank 0 draws the sample and fits the preprocessing, the
    others receive it, and each epoch's row groups are dealt out to the processes.

    Parameters
    ----------
    estimator : MultiTaskEstimator
        Its parameters are used as in ``fit`` (``batch_size`` is per process under
        ``torchrun``); ``targets`` (kind overrides) too. ``class_weight`` and
        ``calibration_fraction`` are not supported on a stream (they need every label or
        held-out rows in memory) and raise, as does ``checkpoint_dir`` (a stream's
        row-group order and shuffle buffer are not saved, so it cannot resume).
    source : str, path, list or pyarrow.dataset.Dataset
        Parquet file, folder, glob pattern or list of files.
    targets : list of str
        Target columns.
    features : list of str, optional
        Feature columns; default every other column.
    validation : float, source or None
        A fraction of row groups held out (fixed for the whole fit), in (0, 1), or a
        separate parquet source; an integer (``0``, ``1``) raises. None: no validation,
        unless ``estimator.early_stopping`` is set, in which case
        ``estimator.validation_fraction`` of the row groups are held out.
    sample_rows : int, default=100_000
        Rows of the reservoir sample the preprocessing and targets are fitted on.
    batch_rows : int, default=16_384
        Rows per record batch read and encoded at a time.
    shuffle_buffer_batches : int, default=16
        Shuffle buffer size in record batches (``16 * 16_384`` rows by default).
    prefetch : int, default=2
        Record batches read ahead in a background thread (0 reads in the training thread).
    use_threads : bool, default=True
        pyarrow's multi-threaded column decoding (see the benchmark on thread pinning).

    Returns
    -------
    estimator
        Fitted, with ``preprocessor_``, ``target_spec_``, ``net_``, ``n_epochs_``,
        ``feature_names_in_`` and ``n_features_in_`` as after ``fit``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, os
    >>> from tabmtl import MultiTaskEstimator
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"km": rng.uniform(1, 20, 2000), "zone": rng.choice(["a", "b"], 2000)})
    >>> df["eta"], df["late"] = 3 * df.km + rng.normal(size=2000), df.km > 10
    >>> path = os.path.join(tempfile.mkdtemp(), "trips.parquet")
    >>> df.to_parquet(path, row_group_size=250)
    >>> model = fit_parquet(MultiTaskEstimator(max_epochs=3, random_state=0), path,
    ...                     targets=["eta", "late"])
    >>> model.predict(df.head(2)[["km", "zone"]]).dtypes.tolist()
    [dtype('float64'), dtype('bool')]
    """
    from tabmtl._estimators import MultiTaskEstimator

    if not isinstance(estimator, MultiTaskEstimator):
        raise InputTypeError(
            f"fit_parquet fits a MultiTaskEstimator (DataFrame targets), got "
            f"{type(estimator).__name__}."
        )
    seed = estimator._begin_fit()
    if estimator.class_weight:
        raise InputError(
            "class_weight needs the class counts of every row; it is not supported by "
            "fit_parquet. Leave it None."
        )
    if estimator.checkpoint_dir is not None:
        raise InputError(
            "fit_parquet does not support checkpoint_dir: a stream's row-group order and "
            "shuffle buffer are not saved, so it could not resume the same fit. Leave it "
            "None (or fit in memory to resume)."
        )
    if float(getattr(estimator, "calibration_fraction", 0.0) or 0.0) > 0:
        raise InputError(
            "calibration_fraction > 0 holds rows out in memory; it is not supported by "
            "fit_parquet. Leave it 0."
        )
    for name, value in (("batch_rows", batch_rows), ("sample_rows", sample_rows)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}.")

    ctx = init_distributed(device=estimator.device)
    src = ParquetSource(source)
    targets = list(targets)
    columns = src.column_names
    missing = [c for c in targets + list(features or []) if c not in columns]
    if missing:
        raise InputError(f"Columns {missing!r} are not in the parquet source {columns!r}.")
    features = [c for c in columns if c not in targets] if features is None else list(features)
    overlap = set(features) & set(targets)
    if overlap:
        raise InputError(f"Columns {sorted(overlap)!r} are both features and targets.")

    seed = ctx.broadcast(seed)  # one seed: the same deal of row groups
    train_groups, valid_source, valid_groups = _split_validation(
        src, validation, estimator, seed
    )

    fitted: tuple | Exception | None = None
    if ctx.rank == 0:
        try:
            sample = to_frame(
                reservoir_sample(  # training rows only: validation stays held out
                    src, features + targets, sample_rows, seed, max(batch_rows, 65_536),
                    row_groups=train_groups,
                )
            )
            spec = TargetSpec(targets=estimator.targets).fit(sample[targets])
            pre = FeaturePreprocessor().fit(sample[features])
            # the network's input statistics (scaling, embedding bins): the same sample
            numeric = pre.transform(sample[features])[:, : pre.n_numeric_]
            fitted = (spec, pre, sample[features].iloc[:0], numeric)
        except Exception as exc:  # every process raises it, rather than waiting for rank 0
            fitted = exc
    fitted = ctx.broadcast(fitted)
    if isinstance(fitted, Exception):
        raise fitted
    spec, pre, schema_frame, numeric = fitted
    validate_data(estimator, schema_frame, skip_check_array=True, reset=True)

    def stream(source_: ParquetSource, groups: Sequence[RowGroup]) -> ParquetStream:
        return ParquetStream(
            source_, groups, features, targets, pre, spec, batch_rows, use_threads,
            shuffle_buffer_batches, prefetch,
        )

    train = stream(src, train_groups)
    valid = None if valid_source is None else stream(valid_source, valid_groups)

    def configure(net) -> None:
        net.set_params(
            train_split=predefined_split(valid) if valid is not None else None,
            iterator_train=ParquetBatchIterator,
            iterator_valid=ParquetBatchIterator,
        )
        if ctx.world_size > 1:
            make_data_parallel(net, ctx)

    estimator._fit_encoded(
        train, pre, spec, seed, configure=configure, numeric_sample=numeric,
        # stopping early needs validation data: a held-out share or a separate source
        early_stopping=bool(estimator.early_stopping) and valid is not None,
    )
    # an ordinary fitted net again: in-memory iterators, no reference to the streams
    # (plain attributes: skorch's set_params refuses these on an initialised net)
    net = estimator.net_
    net.train_split, net.iterator_train, net.iterator_valid = None, SliceIterator, SliceIterator
    if ctx.world_size > 1:
        finish_data_parallel(estimator.net_, ctx)
    _warn_skipped(train)
    return estimator


def _split_validation(src: ParquetSource, validation, estimator, seed: int):
    """(training row groups, validation source or None, validation row groups)."""
    groups = src.row_groups
    fraction = None
    if validation is None:
        auto = isinstance(estimator.early_stopping, str)  # "auto": only where it can
        if estimator.early_stopping and not (auto and len(groups) < 2):
            fraction = float(estimator.validation_fraction)
    elif isinstance(validation, (float, np.floating)) and not isinstance(validation, bool):
        fraction = float(validation)
        if not 0.0 < fraction < 1.0:
            raise InputError(f"validation as a fraction must be in (0, 1), got {validation!r}.")
    elif isinstance(validation, (bool, int, np.integer)):
        # a number that is no fraction: 0 and 1 would hold out nothing or everything
        raise InputError(
            f"validation must be a fraction of the row groups in (0, 1) (e.g. 0.1), a "
            f"parquet source or None; got {validation!r}."
        )
    else:
        valid_src = ParquetSource(validation)
        return groups, valid_src, valid_src.row_groups
    if fraction is None:
        return groups, None, []
    if len(groups) < 2:
        raise InputError(
            f"Holding out {fraction:.0%} of the row groups for validation needs at least 2 "
            f"row groups; the source has {len(groups)}. Write it with smaller row groups "
            "or pass validation='valid.parquet'."
        )
    n_valid = min(max(1, round(fraction * len(groups))), len(groups) - 1)
    order = np.random.default_rng(seed).permutation(len(groups))
    held = set(order[:n_valid].tolist())
    train = [g for i, g in enumerate(groups) if i not in held]
    valid = [g for i, g in enumerate(groups) if i in held]
    return train, src, valid


def _warn_skipped(stream: ParquetStream) -> None:
    counts = stream.counts_
    if counts["rows_unlabelled"]:
        warnings.warn(
            f"Skipped {counts['rows_unlabelled']} of {counts['rows_read']} rows read in the "
            "last epoch that have no target label at all.",
            UserWarning,
            stacklevel=3,
        )
    if counts["unknown_labels"]:
        warnings.warn(
            f"Labels absent from the sample were treated as missing in the last epoch "
            f"(target: rows) {counts['unknown_labels']!r}; raise sample_rows to learn "
            "those classes.",
            UserWarning,
            stacklevel=3,
        )


def predict_parquet(
    estimator,
    source,
    out=None,
    *,
    method: str | Sequence[str] = "predict",
    keep_columns: Sequence[str] = (),
    batch_rows: int = 65_536,
):
    """Predict a parquet source batch by batch, writing the predictions to parquet.

    Parameters
    ----------
    estimator : fitted MultiTaskEstimator
    source : str, path, list or pyarrow.dataset.Dataset
        Parquet file, folder, glob or list of files holding the feature columns.
    out : str or path, optional
        The parquet file to write (one row per input row, in order). None returns one
        DataFrame instead, so only for outputs that fit in memory.
    method : str or sequence of str, default="predict"
        ``"predict"``, or ``"predict_proba"`` (columns ``<target>_proba_<class>``, as
        ``tabmtl predict --proba`` writes them: ``tabmtl.io._prediction_columns``), or
        both, ``("predict", "predict_proba")``: their columns side by side, in that order.
    keep_columns : list of str
        Input columns copied in front of the predictions (e.g. an ID). A name that is
        also a prediction column's (a target, or ``<target>_proba_<class>``) raises.
    batch_rows : int, default=65_536
        Rows read and predicted at a time.

    Returns
    -------
    str or pandas.DataFrame
        ``out`` (as a string), or the predictions.

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, os
    >>> from tabmtl import MultiTaskEstimator
    >>> folder = tempfile.mkdtemp()
    >>> df = pd.DataFrame({"id": range(300), "km": np.linspace(1, 20, 300)})
    >>> df["eta"] = 3 * df.km
    >>> df.to_parquet(os.path.join(folder, "trips.parquet"), row_group_size=100)
    >>> model = fit_parquet(MultiTaskEstimator(max_epochs=2, random_state=0),
    ...                     os.path.join(folder, "trips.parquet"), ["eta"], features=["km"])
    >>> out = predict_parquet(model, os.path.join(folder, "trips.parquet"),
    ...                       os.path.join(folder, "pred.parquet"), keep_columns=["id"])
    >>> pd.read_parquet(out).columns.tolist()
    ['id', 'eta']
    """
    check_is_fitted(estimator, "net_")
    methods = [method] if isinstance(method, str) else list(method)
    if not methods or any(m not in ("predict", "predict_proba") for m in methods):
        raise InputError(
            f"method must be 'predict', 'predict_proba' or both, got {method!r}."
        )
    src = ParquetSource(source)
    features = [str(c) for c in estimator.feature_names_in_]
    keep_columns = list(keep_columns)
    columns = list(dict.fromkeys(features + keep_columns))
    missing = [c for c in columns if c not in src.column_names]
    if missing:
        raise InputError(f"Columns {missing!r} are not in the parquet source.")
    writer = None
    frames = []
    try:
        for batch in src.read(src.row_groups, columns, batch_rows):
            frame = to_frame(batch)
            parts = []
            for name in methods:
                part = getattr(estimator, name)(frame[features])
                parts.append(probability_columns(part) if name == "predict_proba" else part)
            result = pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]
            clash = [c for c in keep_columns if c in set(map(str, result.columns))]
            if clash:  # checked on the first batch, before anything is written
                raise InputError(
                    f"keep_columns {clash!r} have the names of prediction columns, so the "
                    "output would hold two columns of each name; rename them in the input "
                    "or leave them out of keep_columns."
                )
            result = pd.concat(
                [frame[keep_columns].reset_index(drop=True), result.reset_index(drop=True)],
                axis=1,
            )
            if out is None:
                frames.append(result)
                continue
            table = pa.Table.from_pandas(result, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(os.fspath(out), table.schema)
            writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
    if out is None:
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if writer is None:
        raise InputError("The parquet source has no rows to predict.")
    return os.fspath(out)
