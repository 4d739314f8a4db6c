"""Seeded mutations of LightGBM model texts: each is refused by check_lightgbm_text, or
LightGBM loads it and predicts with it without crashing or hanging the process.

Run in a subprocess by tests/test_blend_integration.py (a crash must not take pytest
down): ``python tests/blend_lightgbm_fuzz.py N_MUTATIONS [SEED]``; prints the counts.
"""
import random
import sys
import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd

from tabmtl.io._lightgbm_text import check_lightgbm_text
from tabmtl.io._model_json import ModelFileError

warnings.simplefilter("ignore")
n_mutations = int(sys.argv[1])
rs = np.random.RandomState(0)
X = pd.DataFrame({"a": rs.rand(120), "b": rs.rand(120),
                  "c": pd.Categorical(rs.choice(list("xyzw"), 120))})
models = [
    lgb.LGBMRegressor(n_estimators=3, num_leaves=5, min_child_samples=5, verbose=-1)
    .fit(X, X.a + (X.c == "x")),
    lgb.LGBMClassifier(n_estimators=2, num_leaves=4, min_child_samples=5, verbose=-1)
    .fit(X, rs.choice(3, 120)),
    lgb.LGBMClassifier(n_estimators=2, num_leaves=4, min_child_samples=5, verbose=-1)
    .fit(X, X.c == "y"),
    lgb.LGBMRegressor(n_estimators=2, min_child_samples=500, verbose=-1).fit(X, X.a),
]
texts = [m.booster_.model_to_string() for m in models]
for t in texts:
    check_lightgbm_text(t, 3, "original")  # the originals pass
rows = pd.concat([X.head(5), pd.DataFrame({"a": [np.nan], "b": [np.nan],
                                           "c": pd.Categorical([None], categories=list("xyzw"))})])
values = ["-3", "-1", "0", "1", "2", "3", "7", "31", "4294967296", "1000000", "x", "", "nan",
          "-2147483649", "1e300", "0.5"]
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
counts = {"refused": 0, "lightgbm error": 0, "loaded": 0}
for _ in range(n_mutations):
    text = rng.choice(texts)
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    kind = rng.random()
    key, sep, value = lines[i].partition("=")
    if kind < 0.6 and sep:
        tokens = value.split(" ")
        j = rng.randrange(len(tokens))
        tokens[j] = rng.choice(values)
        if rng.random() < 0.2:
            tokens.insert(j, rng.choice(values))
        lines[i] = key + "=" + " ".join(tokens)
    elif kind < 0.8:
        del lines[i]
    else:
        lines.insert(i, lines[rng.randrange(len(lines))])
    text = "\n".join(lines)
    try:
        check_lightgbm_text(text, 3, "mutated")
    except ModelFileError:
        counts["refused"] += 1
        continue
    try:
        booster = lgb.Booster(model_str=text)
        booster.predict(rows)
        counts["loaded"] += 1
    except Exception:
        counts["lightgbm error"] += 1
print(counts)
