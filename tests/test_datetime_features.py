"""Datetime features (issue 29 item 7): time-zone-aware datetimes are converted to UTC,
naive/aware mixes are refused naming the column, and a record's datetime field takes a
string or a datetime but not a bare number."""

import numpy as np
import pandas as pd
import pytest

from tabmtl._data.features import FeaturePreprocessor
from tabmtl.errors import InputError

STAMPS = pd.date_range("2024-01-01 00:00", periods=30, freq="7h")


def _frame(when) -> pd.DataFrame:
    return pd.DataFrame({"km": np.arange(len(when), dtype=float), "when": when})


def test_the_same_instant_in_two_zones_gives_the_same_features():
    paris = STAMPS.tz_localize("Europe/Paris")
    mixed = pd.Series(
        [t.tz_convert("America/New_York") if i % 2 else t for i, t in enumerate(paris)],
        dtype=object,
    )
    pre = FeaturePreprocessor().fit(_frame(mixed))
    assert pre.column_kinds_["when"] == "datetime"
    utc = pre.transform(_frame(paris.tz_convert("UTC")))
    np.testing.assert_array_equal(pre.transform(_frame(mixed)), utc)


def test_an_aware_column_is_read_in_utc():
    paris = pd.Series(STAMPS.tz_localize("Europe/Paris"))
    pre = FeaturePreprocessor().fit(_frame(paris))
    out = pre.transform(_frame(paris.dt.tz_convert("Asia/Tokyo")))
    np.testing.assert_array_equal(out, pre.transform(_frame(paris)))
    # the hour part is the UTC hour: Paris midnight in January is 23:00 UTC
    naive_utc = FeaturePreprocessor().fit(_frame(paris.dt.tz_convert("UTC").dt.tz_localize(None)))
    np.testing.assert_array_equal(naive_utc.transform(_frame(
        paris.dt.tz_convert("UTC").dt.tz_localize(None))), out)


def test_a_naive_aware_mix_in_one_column_is_refused_by_name():
    mix = pd.Series([STAMPS[0], STAMPS[1].tz_localize("UTC")] * 5, dtype=object)
    with pytest.raises(InputError, match=r"'when'.*naive.*aware|'when'.*aware.*naive"):
        FeaturePreprocessor().fit(_frame(mix))


@pytest.mark.parametrize("fit_aware", [True, False])
def test_predicting_with_the_other_kind_of_datetime_is_refused_by_name(fit_aware):
    aware, naive = pd.Series(STAMPS.tz_localize("UTC")), pd.Series(STAMPS)
    pre = FeaturePreprocessor().fit(_frame(aware if fit_aware else naive))
    with pytest.raises(InputError, match=r"'when'.*(naive|aware)"):
        pre.transform(_frame(naive if fit_aware else aware))
    record = {"km": 1.0, "when": (STAMPS[0] if fit_aware else STAMPS[0].tz_localize("UTC"))}
    with pytest.raises(InputError, match=r"'when'.*(naive|aware)"):
        pre.transform_record(record)


def test_a_record_takes_a_string_or_a_datetime_like_the_column():
    pre = FeaturePreprocessor().fit(_frame(pd.Series(STAMPS)))
    expected = pre.transform(_frame(pd.Series(STAMPS[[3]])))
    for value in [STAMPS[3], STAMPS[3].to_pydatetime(), str(STAMPS[3]),
                  np.datetime64(STAMPS[3])]:
        np.testing.assert_array_equal(pre.transform_record({"km": 0.0, "when": value}), expected)
    missing = pre.transform(_frame(pd.Series([pd.NaT], dtype="datetime64[ns]")))
    for value in [None, pd.NaT, np.nan]:
        np.testing.assert_array_equal(pre.transform_record({"km": 0.0, "when": value}), missing)


@pytest.mark.parametrize("number", [1_700_000_000_000_000_000, 1.7e18, np.int64(5), True])
def test_a_record_refuses_a_bare_number_for_a_datetime(number):
    pre = FeaturePreprocessor().fit(_frame(pd.Series(STAMPS)))
    with pytest.raises(InputError, match=r"'when'.*datetime"):
        pre.transform_record({"km": 0.0, "when": number})


def test_an_aware_record_is_converted_to_utc():
    paris = pd.Series(STAMPS.tz_localize("Europe/Paris"))
    pre = FeaturePreprocessor().fit(_frame(paris))
    expected = pre.transform(_frame(paris.iloc[[4]]))
    for value in [paris.iloc[4], paris.iloc[4].tz_convert("Asia/Tokyo"),
                  paris.iloc[4].isoformat()]:
        np.testing.assert_array_equal(pre.transform_record({"km": 0.0, "when": value}), expected)
