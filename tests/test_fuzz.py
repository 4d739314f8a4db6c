"""Property-based fuzzing of the estimator, the target transformer and the preprocessor.

Generated (X, Y) frames mix float64 / float32 / int64 / Int64 / bool / boolean / category
/ object / string / str columns (and, rarely, Float64 and datetime64) with NaN, None,
pd.NA, +-inf, huge magnitudes, empty strings, all-missing and constant columns, one-class
targets, missing labels at random, odd indexes and (occasionally) duplicated or
non-string column names, row-count mismatches and empty frames; some cases also force
target kinds (``targets=``) or pass ``sample_weight`` / ``class_weight``. Every case must
end in either

* a fitted model whose predictions have Y's index, columns and dtypes (float64 for a
  regression target read from an integer column), no missing or infinite value, and
  probabilities that are finite and sum to one; or
* a ValueError / TypeError raised by tabmtl itself whose message names the offending
  column (or the frame-level problem), for a problem the data really has.

A fitted model is also fuzzed at predict time (dropped, extra, duplicated, reordered,
retyped or unseen-category columns, row subsets, no rows). Bugs whose fix belongs
outside this module's reach are tolerated as ``known issue`` events (see KNOWN_ISSUES)
so the suite stays green; the bugs the fuzzing found and fixed have regression tests at
the end.

Profiles: ``ci`` (the default here: 40 examples per test, derandomized, no example
database, so CI is deterministic and quick; it replaces hypothesis's built-in ``ci``
profile, which it otherwise matches) and ``long`` (2000 random examples per test, with
the example database, for bug hunting)::

    pytest tests/test_fuzz.py --hypothesis-profile=long --hypothesis-show-statistics

(``HYPOTHESIS_PROFILE=long`` works too.) The profiles are registered in ``conftest.py``,
which pytest reads before it applies ``--hypothesis-profile``.
"""

from __future__ import annotations

import re
import traceback
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, event, given, note
from hypothesis import strategies as st

from tabmtl import MultiTaskEstimator
from tabmtl._data.features import FeaturePreprocessor
from tabmtl._data.targets import MAX_INT_CLASSES, TargetSpec

# -- profiles --------------------------------------------------------------------------

# Profiles (ci, long) are registered in conftest.py, before pytest reads its options.

# -- strategies ------------------------------------------------------------------------

DTYPES = (
    "float64", "float32", "int64", "Int64", "bool", "boolean",
    "category", "object", "string", "str",
)
#: rarer extras beyond the issue's list: a nullable float and datetimes (a feature kind of
#: its own; as a target a TypeError that names the column)
EXTRA_DTYPES = ("Float64", "datetime64[ns]")
NUMERIC = {"float64", "float32", "int64", "Int64", "Float64"}
LABELS = ("a", "b", "c", "", " ", "é", "nan", "None", "0", "x y")
NAMES = ("a", "b", "y", "eta", "", " ", "x0", "0", "é", "a.b", "t-1")
#: out-of-the-ordinary floats: ("huge" columns hold no inf, "inf" columns do)
WILD_FLOATS = {
    ("float64", "huge"): (1e300, -1e300, 1e-300, -0.0, np.finfo(np.float64).max),
    ("float32", "huge"): (3e38, -3e38, 1e-38, -0.0, np.finfo(np.float32).max),
    ("float64", "inf"): (np.inf, -np.inf, 1e300),
    ("float32", "inf"): (np.inf, -np.inf, 3e38),
}
INT_RANGES = ((0, 1), (0, 3), (-1000, 1000), (-(2**62), 2**62))
#: column shapes: features get the odd ones more often than targets (a target that is
#: constant or all-missing ends the case early, so the fitted path needs the others)
SHAPES = {
    "feature": ("random",) * 4 + ("few", "constant", "all_missing"),
    "target": ("random",) * 8 + ("few", "constant", "all_missing"),
}
INDEXES = ("range", "range", "shuffled", "offset", "strings", "duplicated")
MISSING = {
    "float64": (np.nan, None), "float32": (np.nan, None), "Float64": (pd.NA, np.nan),
    "Int64": (pd.NA,), "boolean": (pd.NA,), "object": (None, np.nan), "string": (pd.NA,),
    "str": (np.nan, None), "category": (np.nan,), "datetime64[ns]": (pd.NaT,),
}


@st.composite
def column(draw, n: int, level: str = "chaos", role: str = "feature") -> pd.Series:
    """One column of ``n`` values of a random dtype and shape.

    ``level``: "clean" (finite values, no odd shape), "tame" (adds huge magnitudes and
    one- or two-valued columns), "wild" and "chaos" (add +-inf, constant and all-missing
    columns, mixed-type object labels).
    """
    extras = EXTRA_DTYPES if not (level == "clean" and role == "target") else ("Float64",)
    dtype = draw(st.sampled_from(DTYPES + extras if draw(st.integers(0, 9)) == 0 else DTYPES))
    shape = {
        "clean": "random",
        "tame": draw(st.sampled_from(("random", "random", "random", "few"))),
    }.get(level) or draw(st.sampled_from(SHAPES[role]))
    wild = {"clean": "none", "tame": draw(st.sampled_from(("none", "none", "huge")))}.get(
        level
    ) or draw(st.sampled_from(("none", "none", "huge", "inf")))
    # how a value goes missing: never, about one row in ten, or one in two
    is_missing = draw(st.sampled_from((None, None, st.integers(0, 9).map(lambda i: i == 0),
                                       st.booleans())))
    if dtype in ("int64", "bool"):
        is_missing = None  # no missing value fits these dtypes
        shape = "random" if shape == "all_missing" else shape

    if dtype in ("float64", "float32", "Float64"):
        finite = st.floats(-1e6, 1e6, allow_nan=False, width=32 if dtype == "float32" else 64)
        pool = finite
        if wild != "none":  # about one value in four is wild
            key = ("float32" if dtype == "float32" else "float64", wild)
            pool = st.one_of(finite, finite, finite, st.sampled_from(WILD_FLOATS[key]))
    elif dtype in ("int64", "Int64"):
        lo, hi = draw(st.sampled_from(INT_RANGES))
        pool = st.integers(lo, hi)
    elif dtype in ("bool", "boolean"):
        pool = st.booleans()
    elif dtype == "datetime64[ns]":
        pool = st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1))
    else:
        pool = st.sampled_from(LABELS)
        if dtype == "category" and draw(st.integers(0, 4)) == 0:
            pool = st.integers(-3, 3)  # integer categories
        elif dtype == "object" and level in ("wild", "chaos") and draw(st.booleans()):
            pool = st.one_of(pool, st.integers(-3, 3))  # mixed-type object labels
    if shape == "few":
        pool = st.sampled_from(draw(st.lists(pool, min_size=1, max_size=2)))
    elif shape == "constant":
        pool = st.just(draw(pool))
    missing = st.sampled_from(MISSING.get(dtype, (None,)))

    values = [
        draw(missing)
        if shape == "all_missing" or (is_missing is not None and draw(is_missing))
        else draw(pool)
        for _ in range(n)
    ]
    if dtype == "category":
        extra = draw(st.lists(pool, max_size=2))  # declared but never observed
        present = {v for v in values if not pd.isna(v)}
        return pd.Series(pd.Categorical(values, categories=sorted(present | set(extra))))
    return pd.Series(values, dtype=dtype)


@st.composite
def names(draw, k: int, allow_odd: bool) -> list:
    out = draw(st.lists(st.sampled_from(NAMES), min_size=k, max_size=k, unique=True))
    if allow_odd and k > 1 and draw(st.integers(0, 4)) == 0:
        out[-1] = out[0]  # duplicated name
    if allow_odd and draw(st.integers(0, 4)) == 0:
        out[0] = draw(st.integers(0, 2))  # a non-string name among strings
    return out


def _index(kind: str, n: int) -> pd.Index:
    if kind == "shuffled":
        return pd.Index(np.random.default_rng(n).permutation(n))
    if kind == "offset":
        return pd.RangeIndex(1000, 1000 + n, name="row")
    if kind == "strings":
        return pd.Index([f"r{i}" for i in range(n)])
    if kind == "duplicated":
        return pd.Index([i // 2 for i in range(n)])
    return pd.RangeIndex(n)


@st.composite
def tables(draw, clean: bool = False, min_rows: int = 1):
    """(X, Y) frames; with ``clean`` no wild values, odd names or frame-level faults.

    Otherwise half the tables are "tame" (so that fit succeeds often enough to check
    predictions), a quarter "wild", and a quarter "chaos": odd column names (duplicated,
    non-string) and frame-level faults (row-count mismatch, no rows) on top.
    """
    level = "clean" if clean else draw(st.sampled_from(("tame", "tame", "wild", "chaos")))
    n = draw(st.integers(min_rows, 40))
    nx, ny = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    X = pd.concat([draw(column(n, level, "feature")) for _ in range(nx)], axis=1)
    Y = pd.concat([draw(column(n, level, "target")) for _ in range(ny)], axis=1)
    X.columns = draw(names(nx, allow_odd=level == "chaos"))
    Y.columns = draw(names(ny, allow_odd=level == "chaos"))
    index = _index(draw(st.sampled_from(INDEXES)), n)
    X.index, Y.index = index, index
    fault = None
    if level == "chaos":
        fault = draw(st.sampled_from((None,) * 6 + ("rows", "empty")))
    if fault == "rows":
        X = X.iloc[:-1]
    elif fault == "empty":
        X, Y = X.iloc[:0], Y.iloc[:0]
    note(f"X dtypes: {X.dtypes.to_dict()}\nX:\n{X!r}\nY dtypes: {Y.dtypes.to_dict()}\nY:\n{Y!r}")
    return X, Y


# -- the oracle: what the data allows -------------------------------------------------


def expected_kind(y: pd.Series, override: str | None = None) -> str:
    dtype = y.dtype
    n_labels = y.nunique(dropna=True)
    if override == "classification":
        return "binary" if n_labels == 2 else "multiclass"
    if override is not None:
        return override
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "unreadable"
    if pd.api.types.is_float_dtype(dtype):
        return "regression"
    if pd.api.types.is_integer_dtype(dtype) and n_labels > MAX_INT_CLASSES:
        return "regression"
    return "binary" if pd.api.types.is_bool_dtype(dtype) or n_labels == 2 else "multiclass"


def _numeric_values(col: pd.Series) -> np.ndarray:
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def _label_values(y: pd.Series, kind: str) -> np.ndarray:
    """Numbers for a regression target (text read as numbers), else 0 / NaN = present / missing."""
    if kind == "regression":
        return pd.to_numeric(y).to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(y.notna().to_numpy(), 0.0, np.nan)


def problems(
    X: pd.DataFrame, Y: pd.DataFrame, targets: dict | None = None, sample_weight=None
) -> set[tuple[str, object]]:
    """Every reason fit may refuse this data: (problem, column or None)."""
    targets = targets or {}
    found: set[tuple[str, object]] = set()
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64)
        if len(sw) != len(Y):
            found.add(("weights length", None))
        elif not np.isfinite(sw).all() or (sw < 0).any():
            found.add(("weights", None))
    if len(X) != len(Y):
        found.add(("rows", None))
    if len(X) == 0 or len(Y) == 0:
        found.add(("empty", None))
    for frame in (X, Y):
        if frame.columns.duplicated().any():
            found.add(("duplicated", None))
    if len({isinstance(c, str) for c in X.columns}) > 1:
        found.add(("names", None))
    if Y.columns.duplicated().any():
        return found  # no column-level check of Y can run
    if len({str(c) for c in Y.columns}) < Y.shape[1]:
        found.add(("text names", None))
    for name in Y.columns:
        y = Y[name]
        kind = expected_kind(y, targets.get(name))
        if y.notna().sum() == 0:
            found.add(("missing", name))
        elif kind == "unreadable":
            found.add(("dtype", name))
        elif kind == "regression":
            try:
                if pd.api.types.is_datetime64_any_dtype(y.dtype):
                    raise TypeError("times are not numbers")
                values = pd.to_numeric(y).to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                found.add(("numeric", name))
                continue
            if np.isnan(values).all():  # e.g. "" and "nan" labels read as numbers
                found.add(("missing", name))
            elif np.isinf(values).any():
                found.add(("infinite", name))
            elif np.nanmax(np.abs(values)) > 1e307:
                found.add(("huge", name))
        elif y.nunique(dropna=True) < 2:
            found.add(("one class", name))
        elif kind == "binary" and y.nunique(dropna=True) != 2:
            found.add(("binary", name))
    if X.columns.duplicated().any():
        return found
    for name in X.columns:
        if str(X[name].dtype) in NUMERIC:
            values = _numeric_values(X[name])
            if np.isinf(values).any():
                found.add(("infinite", name))
            if np.nanmax(np.abs(values), initial=0.0) > 1e307:
                found.add(("huge", name))
    return found


#: message pattern -> problem it reports; column-level problems must name the column.
MESSAGES = {
    r"X has \d+ rows but Y has \d+": "rows",
    r"empty \(0 rows\)": "empty",
    r"duplicated column names": "duplicated",
    r"Feature names are only supported if all input features have string names": "names",
    r"is entirely missing": "missing",
    r"has only one class": "one class",
    r"contains infinite values": "infinite",
    r"too large": "huge",
    r"cannot read as a target": "dtype",
    r"must be numeric": "numeric",
    r"was declared binary": "binary",
    r"sample_weight has \d+ values but Y has \d+ rows": "weights length",
    r"sample_weight must be finite and >= 0": "weights",
    r"read the same as text": "text names",
}
COLUMN_LEVEL = {"missing", "one class", "infinite", "huge", "dtype", "numeric", "binary"}
#: the only messages that may come from outside tabmtl (they name the problem clearly)
FOREIGN_OK = {"names"}
#: reported bugs whose fix belongs outside this test's files: pattern -> (problem, note).
#: Each is tolerated (and counted as an event) so that the suite stays green meanwhile.
#: Bugs found by fuzzing whose fix is still open (pattern -> (problem, event label)).
#: Fixed since: duplicated X names reaching sklearn's check first; the preprocessor being
#: fitted on labelled rows only (predict on fit's own X could fail to scale); targets 0
#: and "0" sharing history keys (now refused: names must be distinct as text).
KNOWN_ISSUES: dict[str, tuple[str, str]] = {}
TABMTL = str(Path(__file__).resolve().parents[1] / "tabmtl")


def check_error(
    exc: BaseException, X: pd.DataFrame, Y: pd.DataFrame, targets=None, sample_weight=None
) -> None:
    """The error names a problem this data really has, and the column when it is one's."""
    msg = str(exc)
    origin = traceback.extract_tb(exc.__traceback__)[-1].filename
    note(f"{type(exc).__name__} from {origin}: {msg}")
    assert isinstance(exc, (ValueError, TypeError)), f"unexpected {type(exc).__name__}"
    known = [k for pattern, k in KNOWN_ISSUES.items() if re.search(pattern, msg)]
    matched = [p for pattern, p in MESSAGES.items() if re.search(pattern, msg)]
    matched += [problem for problem, _ in known]
    assert matched, f"unexplained error: {msg}"
    problem = matched[0]
    event(f"known issue: {known[0][1]}" if known else f"error: {problem}")
    if problem not in FOREIGN_OK and not known:
        assert origin.startswith(TABMTL), f"{problem!r} raised outside tabmtl: {origin}"
    allowed = problems(X, Y, targets, sample_weight)
    if problem in COLUMN_LEVEL:
        named = [c for p, c in allowed if p == problem and repr(c) in msg]
        assert named, f"{msg!r} does not name a column with that problem ({allowed!r})"
    else:
        assert (problem, None) in allowed, f"{msg!r} but the data has only {allowed!r}"


#: The network options of issue 14, switched on in some fitted cases.
OPTIONS = (
    {},
    {"numeric_embedding": "piecewise_linear", "numeric_scaling": "robust"},
    {"numeric_embedding": "periodic", "ensemble_size": 2, "label_smoothing": 0.1},
)


def new_model(targets: dict | None = None, class_weight=None, **options) -> MultiTaskEstimator:
    return MultiTaskEstimator(
        targets, class_weight=class_weight, max_epochs=2, hidden_layer_sizes=(8,),
        random_state=0, **options,
    )


@st.composite
def overrides(draw, Y: pd.DataFrame) -> dict | None:
    """Kinds forced through ``targets=`` for some columns, in about one case in four."""
    if Y.columns.duplicated().any() or draw(st.integers(0, 3)):
        return None
    kinds = st.sampled_from((None, None, "regression", "binary", "multiclass", "classification"))
    chosen = {name: draw(kinds) for name in Y.columns}
    return {name: kind for name, kind in chosen.items() if kind is not None} or None


@st.composite
def weights(draw, n: int) -> tuple[list | None, str | None]:
    """(sample_weight, class_weight), each given in about one case in five."""
    sample_weight = None
    if draw(st.integers(0, 4)) == 0:
        size = n if draw(st.integers(0, 9)) else n + 1
        value = st.sampled_from((0.0, 0.5, 1.0, 3.0))
        if draw(st.booleans()):
            value = st.one_of(value, st.sampled_from((np.nan, -1.0, np.inf)))
        sample_weight = draw(st.lists(value, min_size=size, max_size=size))
    class_weight = "balanced" if draw(st.integers(0, 4)) == 0 else None
    return sample_weight, class_weight


def fit_or_explain(
    X: pd.DataFrame, Y: pd.DataFrame, targets=None, sample_weight=None, class_weight=None,
    options: dict | None = None,
) -> MultiTaskEstimator | None:
    """The fitted model, or None after checking that the refusal is well explained."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Dropping N rows that have no label" and such
        try:
            model = new_model(targets, class_weight, **(options or {}))
            return model.fit(X, Y, sample_weight=sample_weight)
        except (ValueError, TypeError) as exc:
            check_error(exc, X, Y, targets, sample_weight)
            return None


def check_predictions(
    model: MultiTaskEstimator, X: pd.DataFrame, Y: pd.DataFrame, targets: dict | None = None
) -> bool:
    """Check predict and predict_proba on X; False if a known issue stopped predict."""
    pred = model.predict(X)
    assert pred.index.equals(X.index)
    assert list(pred.columns) == list(Y.columns)
    kinds = model.target_spec_.kinds_
    for name in Y.columns:
        y, p = Y[name], pred[name]
        assert kinds[name] == expected_kind(y, (targets or {}).get(name)), name
        if kinds[name] == "regression":
            float_dtype = pd.api.types.is_float_dtype(y.dtype)
            assert p.dtype == (y.dtype if float_dtype else np.float64), name
            assert np.isfinite(p.to_numpy(dtype=np.float64, na_value=np.nan)).all(), name
        else:
            assert p.dtype == y.dtype, name
            assert p.notna().all(), name
            assert set(p.unique()) <= set(y.dropna().unique()), name
    proba = model.predict_proba(X)
    assert set(proba) == {c for c in Y.columns if kinds[c] != "regression"}
    for name, frame in proba.items():
        assert frame.index.equals(X.index)
        assert list(frame.columns) == list(model.target_spec_.tasks_[
            list(Y.columns).index(name)].classes_)
        values = frame.to_numpy(dtype=np.float64)
        assert np.isfinite(values).all() and (values >= 0).all(), name
        assert np.allclose(values.sum(axis=1), 1.0), name
    return True


# -- properties ------------------------------------------------------------------------


@given(tables(), st.data())
def test_fit_predicts_well_formed_frames_or_names_the_problem(data, draw):
    X, Y = data
    targets = draw.draw(overrides(Y), label="targets")
    sample_weight, class_weight = draw.draw(weights(len(Y)), label="weights")
    options = draw.draw(st.sampled_from(OPTIONS), label="options")
    model = fit_or_explain(X, Y, targets, sample_weight, class_weight, options)
    if model is None:
        return
    event("fitted" + (" with overrides" if targets else ""))
    if options:
        event("fitted with embeddings / robust scaling / ensemble")
    if sample_weight is not None or class_weight is not None:
        event("fitted with sample/class weights")
    allowed = problems(X, Y, targets, sample_weight)
    # everything that must stop fit did; "huge" (near float max) may also be handled
    assert {p for p, _ in allowed} <= {"huge"}, f"fit accepted data with {allowed!r}"
    if not check_predictions(model, X, Y, targets):
        return
    last = model.history_[-1]
    assert all(f"train_loss_{name}" in last for name in Y.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # R² of a single label is undefined (NaN)
        scores = model.score_tasks(X, Y)
    assert list(scores.index) == list(Y.columns) and scores.dtype == np.float64


MUTATIONS = (
    "drop", "extra", "duplicated", "reorder", "unseen", "rows", "empty", "as_strings", "retype",
)


@given(tables(clean=True, min_rows=2), st.sampled_from(MUTATIONS), st.data())
def test_predict_time_schema_changes(data, mutation, draw):
    X, Y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = new_model().fit(X, Y)
        except (ValueError, TypeError) as exc:  # clean data can hold a one-class target
            check_error(exc, X, Y)
            assume(False)
    event(f"mutation: {mutation}")
    full = model.predict(X)
    col = draw.draw(st.sampled_from(list(X.columns)))
    if mutation == "drop":
        with pytest.raises(ValueError, match=re.escape(f"missing columns [{col!r}]")):
            model.predict(X.drop(columns=col))
    elif mutation == "extra":
        new = "never-seen" if draw.draw(st.booleans()) else 99
        with pytest.raises(ValueError, match=re.escape(f"unexpected columns [{new!r}]")):
            model.predict(X.assign(**{str(new): 1.0}) if isinstance(new, str) else
                          pd.concat([X, pd.Series(1.0, index=X.index, name=new)], axis=1))
    elif mutation == "duplicated":
        with pytest.raises(ValueError, match=re.escape(f"duplicated column names [{col!r}]")):
            model.predict(pd.concat([X, X[[col]]], axis=1))
    elif mutation == "reorder":
        order = draw.draw(st.permutations(list(X.columns)))
        pd.testing.assert_frame_equal(model.predict(X[order]), full)
    elif mutation == "unseen":
        Xu = X.copy()
        dtype = Xu[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            Xu[col] = pd.Categorical(["never-seen"] * len(Xu))
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            Xu[col] = pd.Series(pd.Timestamp("2200-02-29"), index=Xu.index, dtype=dtype)
        elif str(dtype) in NUMERIC:
            Xu[col] = pd.Series(np.full(len(Xu), 123.0), index=Xu.index).astype(
                dtype if "float" in str(dtype) else "int64")
        elif pd.api.types.is_bool_dtype(dtype):
            Xu[col] = pd.Series([pd.NA] * len(Xu), dtype="boolean", index=Xu.index)
        else:
            Xu[col] = pd.Series(["never-seen"] * len(Xu), dtype=dtype, index=Xu.index)
        check_predictions(model, Xu, Y)
    elif mutation == "rows":  # any subset of rows predicts as in the full frame
        rows = draw.draw(st.lists(st.integers(0, len(X) - 1), min_size=1, max_size=len(X)))
        part, whole = model.predict(X.iloc[rows]), full.iloc[rows]
        assert part.index.equals(whole.index) and part.dtypes.equals(whole.dtypes)
        # float32 sums round differently with the batch size: compare in the network's
        # own units, and labels only where the winning probability is not a near tie
        proba, proba_whole = model.predict_proba(X.iloc[rows]), model.predict_proba(X)
        for task in model.target_spec_.tasks_:
            name = task.name
            if task.kind == "regression":
                got, want = _numeric_values(part[name]), _numeric_values(whole[name])
                assert np.allclose(got, want, rtol=1e-5, atol=1e-4 * task.scale_), name
                continue
            p, q = proba[name].to_numpy(), proba_whole[name].iloc[rows].to_numpy()
            assert np.allclose(p, q, atol=1e-5), name
            top2 = np.sort(q, axis=1)[:, -2:]
            clear = top2[:, 1] - top2[:, 0] > 1e-4
            assert (part[name][clear].astype(object) == whole[name][clear].astype(object)).all()
    elif mutation == "empty":
        pred = model.predict(X.iloc[:0])
        assert pred.shape == (0, Y.shape[1])
        assert list(pred.columns) == list(Y.columns)
    elif mutation == "retype":  # same values in another dtype of the same kind: same output
        kind = model.preprocessor_.column_kinds_[col]
        new_dtype = {"numeric": "Float64", "categorical": object}.get(kind)
        if new_dtype is not None:
            pd.testing.assert_frame_equal(model.predict(X.astype({col: new_dtype})), full)
    elif mutation == "as_strings":  # a column arrives as text: a kind change is named
        Xs = X.assign(**{col: X[col].astype(str)})
        kind = model.preprocessor_.column_kinds_[col]
        if kind != "categorical":
            with pytest.raises(ValueError, match=re.escape(f"{col!r} was {kind} in fit")):
                model.predict(Xs)
        else:
            check_predictions(model, Xs, Y)


@given(tables(), st.data())
def test_target_spec_roundtrip_or_named_error(data, draw):
    """Perfect network outputs decode back to Y's present labels, in Y's dtypes."""
    _, Y = data
    targets = draw.draw(overrides(Y), label="targets")
    try:
        spec = TargetSpec(targets).fit(Y)
        enc = spec.transform(Y)
    except (ValueError, TypeError) as exc:
        check_error(exc, Y.iloc[:, :0], Y, targets)
        return
    assert enc.shape == (len(Y), Y.shape[1]) and enc.dtype == np.float32
    raw = np.zeros((len(Y), spec.n_outputs_), dtype=np.float32)
    for j, (task, sl) in enumerate(zip(spec.tasks_, spec.slices_)):
        y = Y.iloc[:, j]
        assert task.kind == expected_kind(y, (targets or {}).get(task.name)), task
        present = ~np.isnan(_label_values(y, task.kind))
        assert np.array_equal(np.isnan(enc[:, j]), ~present), task
        col = np.nan_to_num(enc[:, j])
        if task.kind == "regression":
            assert np.isfinite(enc[present, j]).all(), task
            raw[:, sl.start] = col
        elif task.kind == "binary":
            raw[:, sl.start] = np.where(col > 0.5, 5.0, -5.0)
        else:
            raw[np.arange(len(Y)), sl.start + col.astype(int)] = 5.0
    out = spec.inverse_transform(raw, index=Y.index)
    assert out.index.equals(Y.index) and list(out.columns) == list(Y.columns)
    for j, task in enumerate(spec.tasks_):
        y, o = Y.iloc[:, j], out.iloc[:, j]
        want = _label_values(y, task.kind)
        present = ~np.isnan(want)
        if task.kind == "regression":
            got = _numeric_values(o)
            assert np.isfinite(got).all(), task
            assert np.allclose(got[present], want[present], rtol=1e-4, atol=1e-6 * task.scale_)
        else:
            assert o.dtype == y.dtype, task
            assert (o[present].astype(object) == y[present].astype(object)).all(), task


@given(tables())
def test_preprocessor_output_is_finite_and_well_laid_out(data):
    X, _ = data
    try:
        pre = FeaturePreprocessor().fit(X)
        out = pre.transform(X)
    except (ValueError, TypeError) as exc:
        check_error(exc, X, X.iloc[:, :0].assign(_=np.ones(len(X))))
        return
    assert out.dtype == np.float32
    assert out.shape == (len(X), pre.n_numeric_ + len(pre.categories_))
    assert np.isfinite(out).all()
    codes = out[:, pre.n_numeric_ :]
    assert (codes >= 0).all() and (codes < np.asarray(pre.cardinalities_)).all()
    assert np.array_equal(codes, np.round(codes))


# -- regressions: minimal cases of the bugs the fuzzing found (fixed) ------------------


def test_huge_regression_target_is_standardised_not_nan():
    """Values near 1e300: the variance overflowed, scale became 1, labels became inf."""
    X = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    Y = pd.DataFrame({"y": [1e300, -1e300, 1e300]})
    spec = TargetSpec().fit(Y)
    assert np.isfinite(spec.transform(Y)).all()
    assert spec.tasks_[0].scale_ == pytest.approx(np.sqrt(8 / 9) * 1e300)
    pred = new_model().fit(X, Y).predict(X)["y"]
    assert np.isfinite(pred).all() and pred.abs().max() > 1e299


def test_regression_target_at_float_max_fits():
    """The mean of values near 1.8e308 used to overflow (an error); now it is computed."""
    Y = pd.DataFrame({"y": [1.7e308, 1.7e308, 1.0]})
    assert np.isfinite(TargetSpec().fit(Y).transform(Y)).all()


def test_float32_regression_prediction_is_clipped_to_the_dtype():
    """A prediction past float32's range decoded to inf."""
    Y = pd.DataFrame({"y": np.array([3e38, -3e38, 3e38], dtype=np.float32)})
    out = TargetSpec().fit(Y).inverse_transform(np.array([[5.0], [-5.0]], dtype=np.float32))
    assert out["y"].dtype == np.float32 and np.isfinite(out["y"]).all()
    assert out["y"].iloc[0] == np.finfo(np.float32).max


def test_datetime_regression_target_is_refused_not_read_as_nanoseconds():
    """NaT (a missing label) became -9.2e18 through pd.to_numeric, silently."""
    Y = pd.DataFrame({"when": pd.to_datetime(["2020-01-01", None, "2021-01-01"])})
    with pytest.raises(ValueError, match="'when' must be numeric; it has dtype datetime64"):
        TargetSpec(targets={"when": "regression"}).fit(Y)


def test_huge_feature_is_standardised_not_inf():
    """1e300 and -1e300: the scaler's variance overflowed (scale 1), float32 gave +-inf."""
    X = pd.DataFrame({"x": [1e300, -1e300, 1.0]})
    out = FeaturePreprocessor().fit(X).transform(X)
    assert np.isfinite(out).all()
    assert out[:, 0].mean() == pytest.approx(0.0, abs=1e-6)
    assert out[:, 0].std() == pytest.approx(1.0, abs=1e-6)


def test_feature_overflowing_float32_at_predict_is_named():
    pre = FeaturePreprocessor().fit(pd.DataFrame({"x": [0.0, 1.0]}))
    with pytest.raises(ValueError, match=r"\['x'\] have values too large to scale"):
        pre.transform(pd.DataFrame({"x": [1e300]}))


def test_duplicated_feature_names_at_predict_are_named():
    """A duplicated column shifted the layout: IndexError in torch or AttributeError."""
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["u", "v", "u"]})
    pre = FeaturePreprocessor().fit(X)
    for col in ("a", "b"):
        with pytest.raises(ValueError, match=rf"duplicated column names \['{col}'\]"):
            pre.transform(pd.concat([X, X[[col]]], axis=1))


def test_preprocessor_fit_on_no_rows_is_named():
    """Was SimpleImputer's "Found array with 0 sample(s)" from inside scikit-learn."""
    with pytest.raises(ValueError, match=r"X is empty \(0 rows\)"):
        FeaturePreprocessor().fit(pd.DataFrame({"a": pd.Series([], dtype=float)}))


def test_names_equal_as_strings_do_not_collide():
    """Columns 0 and "0" both became "0" for the scaler: narwhals' DuplicateError."""
    X = pd.DataFrame([[1.0, 2.0], [3.0, 5.0]], columns=[0, "0"])
    out = FeaturePreprocessor().fit(X).transform(X)
    assert out.shape == (2, 2) and np.isfinite(out).all()
