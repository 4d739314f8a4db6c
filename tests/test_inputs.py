"""The network's input side and ensemble (issue 14): numeric embeddings, robust scaling,
parameter-efficient ensembling, label smoothing. Each: shapes, gradients, determinism,
and a small problem it exists for, with a stated margin."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from tabmtl import MultiTaskEstimator
from tabmtl._data.targets import BinaryTarget, MulticlassTarget
from tabmtl._nn.inputs import MemberAdapter, RobustNumeric
from tabmtl._nn.numeric_embedding import (
    PeriodicEmbedding,
    PiecewiseLinearEmbedding,
    resolve_numeric_embedding,
)

FAST = dict(hidden_layer_sizes=(32,), architecture="hard", dropout=0.0, random_state=0)


def _step_table(n: int = 800, seed: int = 0):
    """y jumps at x = -1, 0, 1 and oscillates: a smooth MLP on the raw value needs many
    more epochs for this than one that sees the value against bins or frequencies."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.uniform(-2, 2, n), "noise": rng.normal(size=n)})
    y = np.floor(X.x * 1.0) + 0.5 * np.sin(6 * X.x) + rng.normal(scale=0.05, size=n)
    return X, pd.DataFrame({"y": y})


@pytest.mark.parametrize("embedding", ["periodic", "piecewise_linear"])
def test_numeric_embedding_fits_a_step_signal_a_plain_mlp_misses(embedding):
    X, Y = _step_table()
    Xte, Yte = _step_table(seed=1)
    budget = dict(max_epochs=15, early_stopping=False, **FAST)  # the same 15 epochs for both
    plain = MultiTaskEstimator(numeric_embedding=None, **budget).fit(X, Y)
    embedded = MultiTaskEstimator(numeric_embedding=embedding, **budget).fit(X, Y)
    plain_r2 = plain.score_tasks(Xte, Yte)["y"]
    embedded_r2 = embedded.score_tasks(Xte, Yte)["y"]
    # seen: plain 0.38, periodic 0.78, piecewise-linear 0.79
    assert embedded_r2 > plain_r2 + 0.3, (embedded_r2, plain_r2)
    assert embedded_r2 > 0.7


@pytest.mark.parametrize("cls", [PeriodicEmbedding, PiecewiseLinearEmbedding])
def test_numeric_embedding_module_shapes_gradients_and_seed(cls):
    X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    X[:, 2] = 1.0  # a constant column (a missing indicator never set) is fine
    spec = cls(d_embedding=4)
    state = spec.fit_state(X)
    torch.manual_seed(0)
    module = spec.build(3, state)
    out = module(torch.from_numpy(X))
    assert out.shape == (64, 12)
    out.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    torch.manual_seed(0)
    again = spec.build(3, state)
    torch.testing.assert_close(again(torch.from_numpy(X)), out.detach())


def test_resolve_numeric_embedding_names_the_choices():
    assert resolve_numeric_embedding(None) is None
    assert isinstance(resolve_numeric_embedding("periodic"), PeriodicEmbedding)
    with pytest.raises(ValueError, match="piecewise_linear"):
        resolve_numeric_embedding("fourier")
    with pytest.raises(ValueError, match="numeric_embedding"):
        MultiTaskEstimator(numeric_embedding="fourier").fit(*_step_table(20))


def test_robust_scaling_survives_a_heavy_tailed_feature():
    # a money-like amount: most rows small, a few 10^5 times larger. Standard scaling
    # squeezes the informative bulk into a sliver near 0; robust scaling keeps it spread

    def table(n, seed):
        r = np.random.default_rng(seed)
        amount = r.lognormal(0, 1, n)
        amount[r.random(n) < 0.02] *= 1e5
        y = np.log1p(np.minimum(amount, 10)) + r.normal(scale=0.05, size=n)
        return pd.DataFrame({"amount": amount}), pd.DataFrame({"y": y})

    X, Y = table(1000, 0)
    Xte, Yte = table(1000, 1)
    plain = dict(max_epochs=30, numeric_embedding=None, early_stopping=False, **FAST)
    standard = MultiTaskEstimator(**plain).fit(X, Y).score_tasks(Xte, Yte)["y"]
    robust = MultiTaskEstimator(numeric_scaling="robust", **plain).fit(X, Y)
    robust_r2 = robust.score_tasks(Xte, Yte)["y"]
    # seen: standard 0.08, robust 0.86
    assert robust_r2 > standard + 0.5, (robust_r2, standard)
    assert robust_r2 > 0.7


def test_robust_numeric_is_bounded_and_monotone():
    X = np.concatenate([np.random.default_rng(0).normal(size=(99, 1)), [[1e6]]])
    module = RobustNumeric.fit(X)
    out = module(torch.tensor([[-1e9], [-1.0], [0.0], [1.0], [1e9]], dtype=torch.float32))
    values = out.squeeze(1)
    assert torch.all(values.diff() > 0) and values.abs().max() <= 3.0
    assert RobustNumeric.from_state(module.state()).state() == module.state()


def test_ensemble_members_differ_and_predictions_average_their_probabilities():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=300), "z": rng.normal(size=300)})
    Y = pd.DataFrame({"r": X.x + rng.normal(scale=0.3, size=300), "b": X.z > 0})
    model = MultiTaskEstimator(max_epochs=5, ensemble_size=4, **FAST).fit(X, Y)
    module = model.net_.module_
    x = torch.from_numpy(model.preprocessor_.transform(X.head(50)))
    module.train()  # dropout is 0: train mode only exposes the members
    with torch.no_grad():
        members = module(x)
    module.eval()
    assert members.shape == (50, 4, 2)
    assert members[:, 0].sub(members[:, 1]).abs().max() > 1e-3  # the members differ
    with torch.no_grad():
        combined = module(x)
    torch.testing.assert_close(combined[:, 0], members[:, :, 0].mean(dim=1))
    proba = model.predict_proba(X.head(50))["b"].to_numpy()[:, 1]
    expected = torch.sigmoid(members[:, :, 1]).mean(dim=1).numpy()
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-6)
    # the adapter's vectors are trained (they started as random signs)
    r = module.members.r.detach()
    assert not torch.all((r == 1.0) | (r == -1.0))


def test_member_adapter_and_multiclass_combination():
    adapter = MemberAdapter(3, 2)
    x = torch.randn(4, 2)
    out = adapter(x).reshape(4, 3, 2)
    torch.testing.assert_close(out, x.unsqueeze(1) * adapter.r)
    logits = torch.randn(5, 3, 4)
    combined = MulticlassTarget.combine_members(logits)
    torch.testing.assert_close(
        torch.softmax(combined, dim=1), torch.softmax(logits, dim=2).mean(dim=1)
    )


def test_label_smoothing_matches_its_definition():
    out = torch.tensor([[4.0, -1.0, 0.0], [0.0, 2.0, -3.0]])
    t = torch.tensor([0.0, 1.0])
    torch.testing.assert_close(
        MulticlassTarget.loss(out, t, 0.1),
        F.cross_entropy(out, t.long(), reduction="none", label_smoothing=0.1),
    )
    logit, label = torch.tensor([[6.0]]), torch.tensor([1.0])
    smoothed = BinaryTarget.loss(logit, label, 0.2)
    manual = F.binary_cross_entropy_with_logits(logit[:, 0], torch.tensor([0.9]))
    torch.testing.assert_close(smoothed, manual.reshape(1))
    assert smoothed > BinaryTarget.loss(logit, label)  # a confident logit now costs more


def test_new_options_are_validated_by_name():
    X, Y = _step_table(30)
    for params, word in [
        ({"numeric_scaling": "minmax"}, "numeric_scaling"),
        ({"ensemble_size": 0}, "ensemble_size"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
    ]:
        with pytest.raises(ValueError, match=word):
            MultiTaskEstimator(**params).fit(X, Y)


def test_every_option_together_is_deterministic_with_a_seed():
    X, Y = _step_table(200)
    Y["b"] = X.noise > 0
    params = dict(
        numeric_embedding="piecewise_linear", numeric_scaling="robust", ensemble_size=2,
        label_smoothing=0.1, max_epochs=3, hidden_layer_sizes=(16,), random_state=0,
    )
    a = MultiTaskEstimator(**params).fit(X, Y).predict_proba(X)["b"]
    b = MultiTaskEstimator(**params).fit(X, Y).predict_proba(X)["b"]
    pd.testing.assert_frame_equal(a, b)


def test_flag_columns_get_one_bin_without_rtdl_warnings():
    import warnings

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"flag": rng.integers(0, 2, 300).astype(float), "x": rng.normal(size=300)})
    Y = pd.DataFrame({"y": X["x"] + X["flag"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning, rtdl's "two bin edges" included, fails
        model = MultiTaskEstimator(max_epochs=2, early_stopping=False, random_state=0).fit(X, Y)
    assert len(model.input_state_["embedding"]["bins"][0]) == 2  # the flag: one bin
