import numpy as np
import pandas as pd
import pytest

from tabmtl._data.features import FeaturePreprocessor


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "km": [1.0, np.nan, 3.0, 5.0],
            "n": [1, 2, 3, 4],
            "zone": pd.Categorical(["a", "b", "a", None]),
            "name": pd.Series(["x", "y", "x", "z"], dtype="string"),
            "flag": [True, False, True, False],
        }
    )


def test_layout_numeric_block_then_codes(frame):
    pre = FeaturePreprocessor().fit(frame)
    out = pre.transform(frame)
    assert out.dtype == np.float32
    # km, n, km's missing indicator; then one code column per categorical
    assert pre.n_numeric_ == 3
    assert out.shape == (4, 6)
    assert list(pre.get_feature_names_out()[-3:]) == ["zone__code", "name__code", "flag__code"]
    assert pre.cardinalities_ == [3, 4, 3]
    assert np.isfinite(out).all()
    # numeric block is standardised
    assert np.allclose(out[:, :2].mean(axis=0), 0, atol=1e-6)


def test_unknown_and_missing_categories_get_code_zero(frame):
    pre = FeaturePreprocessor().fit(frame)
    new = frame.iloc[:2].copy()
    new["name"] = pd.Series(["never-seen", "x"], dtype="string")
    codes = pre.transform(new)[:, -2]
    assert codes[0] == 0.0 and codes[1] > 0
    assert pre.transform(frame)[3, 3] == 0.0  # the missing zone


def test_columns_are_matched_by_name(frame):
    pre = FeaturePreprocessor().fit(frame)
    shuffled = frame[["flag", "zone", "km", "name", "n"]]
    assert np.array_equal(pre.transform(shuffled), pre.transform(frame))


def test_missing_and_extra_columns_are_named(frame):
    pre = FeaturePreprocessor().fit(frame)
    with pytest.raises(ValueError, match=r"missing columns \['km'\]"):
        pre.transform(frame.drop(columns="km"))
    with pytest.raises(ValueError, match=r"unexpected columns \['surprise'\]"):
        pre.transform(frame.assign(surprise=1))


def test_changed_dtype_is_named(frame):
    pre = FeaturePreprocessor().fit(frame)
    with pytest.raises(ValueError, match="'km' was numeric in fit but is categorical"):
        pre.transform(frame.assign(km=["1", "2", "3", "4"]))


def test_infinite_feature_is_named(frame):
    with pytest.raises(ValueError, match="'km' contains infinite"):
        FeaturePreprocessor().fit(frame.assign(km=[1.0, np.inf, 2.0, 3.0]))


def test_datetime_is_expanded_to_numbers():
    X = pd.DataFrame({"when": pd.to_datetime(["2024-01-01 08:30", "2024-06-15 17:00"])})
    pre = FeaturePreprocessor().fit(X)
    names = list(pre.get_feature_names_out())
    assert "when__hour" in names and "when__day_of_week" in names
    assert np.isfinite(pre.transform(X)).all()


def test_array_input_gets_positional_names():
    pre = FeaturePreprocessor().fit(np.arange(6.0).reshape(3, 2))
    assert list(pre.feature_names_in_) == ["x0", "x1"]


def test_duplicated_names_rejected():
    X = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(ValueError, match=r"duplicated column names \['a'\]"):
        FeaturePreprocessor().fit(X)


# -- the category lookup cache (issue 15, item 11) -------------------------------------------


@pytest.fixture
def indexer_calls(monkeypatch):
    """Every ``pd.Index.get_indexer`` call from here on (a cache miss makes one)."""
    calls = []
    original = pd.Index.get_indexer

    def counted(self, target, *args, **kwargs):
        calls.append(len(target))
        return original(self, target, *args, **kwargs)

    monkeypatch.setattr(pd.Index, "get_indexer", counted)
    return calls


def test_repeated_target_encodes_reuse_the_category_lookup(indexer_calls):
    from tabmtl._data.targets import TargetSpec

    band = pd.Categorical(["short", "mid", "long", "mid", None] * 4)
    Y = pd.DataFrame({"band": band})
    spec = TargetSpec().fit(Y)
    first = spec.transform(Y)
    indexer_calls.clear()
    for _ in range(3):
        np.testing.assert_array_equal(spec.transform(Y), first)
    assert indexer_calls == []  # a new pd.Index of the classes per call used to miss


def test_live_lookups_survive_many_short_lived_indexes(indexer_calls):
    from tabmtl._data.columns import label_codes

    labels = pd.Index(["a", "b", "c"], dtype=object)
    column = pd.Series(pd.Categorical(["c", "a", None, "b"]))
    expected = label_codes(column, labels)
    for i in range(600):  # indexes that die at once must not evict the live pair
        label_codes(column, pd.Index([f"x{i}", "a"], dtype=object))
    indexer_calls.clear()
    np.testing.assert_array_equal(label_codes(column, labels), expected)
    assert indexer_calls == []
    assert expected.tolist() == [2, 0, -1, 1]


def test_a_new_index_never_gets_a_dead_ones_lookup():
    from tabmtl._data.columns import label_codes

    column = pd.Series(pd.Categorical(["p", "q", "r"]))
    for i in range(200):  # ids of dead indexes are reused at once by CPython
        labels = pd.Index(["r", "q", "p"] if i % 2 else ["q", "r", "p"], dtype=object)
        expected = [2, 1, 0] if i % 2 else [2, 0, 1]
        assert label_codes(column, labels).tolist() == expected
        del labels
