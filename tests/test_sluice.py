"""Sluice networks: against a per-task reference, their penalty, the readable alphas and
betas, and a fitted model's sharing through save/load and ONNX.

The contract every architecture meets (shapes, the shared/task partition by backprop,
a small synthetic problem, ONNX parity) runs on ``"sluice"`` too, through
tests/test_architectures.py and tests/test_export.py, which cover every registered name.
"""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import make_mixed

from tabmtl import MultiTaskEstimator
from tabmtl._nn.architectures import ARCHITECTURES, Sluice, resolve_architecture
from tabmtl.io._persistence import load_model, save_model

TASKS = {"t0": 1, "t1": 1, "t2": 4}


def reference_sluice(body, h, tasks):
    """The paper's picture as loops: per task tower, subspaces mixed one scalar at a time,
    each head reading its layers weighted by its betas."""
    n, s = len(tasks), body.n_subspaces
    xs, per_layer = [h] * n, []
    for layer, alpha in zip(body.layers, body.alphas):
        outs = [torch.relu(F.linear(x, layer.weight[t], layer.bias[t])) for t, x in enumerate(xs)]
        parts = [o.chunk(s, dim=1) for o in outs]  # parts[u][r]: task u's subspace r
        xs = [
            torch.cat([
                sum(alpha[t * s + i, u * s + r] * parts[u][r] for u in range(n) for r in range(s))
                for i in range(s)
            ], dim=1)
            for t in range(n)
        ]
        per_layer.append(xs)
    outs, start = [], 0
    for t, k in enumerate(tasks.values()):
        inp = torch.cat([body.betas[t, i] * layer[t] for i, layer in enumerate(per_layer)], 1)
        outs.append(F.linear(inp, body.heads.weight[start:start + k],
                             body.heads.bias[start:start + k]))
        start += k
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("n_subspaces", [1, 2, 4])
def test_batched_body_equals_the_per_task_reference(n_subspaces):
    torch.manual_seed(0)
    body = Sluice(n_subspaces=n_subspaces).build(6, TASKS, (16, 8), 0.0)
    with torch.no_grad():  # off the symmetric start, so every alpha entry matters
        for p in body.parameters():
            p.add_(0.05 * torch.randn_like(p))
    h = torch.randn(32, 6)
    out, expected = body(h), reference_sluice(body, h, TASKS)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    weights = torch.randn_like(out)
    params = list(body.parameters())
    got = torch.autograd.grad((out * weights).sum(), params)
    want = torch.autograd.grad((expected * weights).sum(), params)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)


def test_alphas_start_as_a_cross_stitch_per_subspace_and_betas_favour_the_last_layer():
    body = Sluice(n_subspaces=2, init_self_weight=0.8).build(6, TASKS, (8, 4), 0.0)
    assert len(body.alphas) == 2
    alpha = body.alphas[0].detach()
    assert alpha.shape == (6, 6)
    # row (task 0, subspace 1): 0.8 of itself, 0.1 of subspace 1 of tasks 1 and 2
    assert alpha[1].tolist() == pytest.approx([0, 0.8, 0, 0.1, 0, 0.1])
    assert torch.allclose(alpha.sum(dim=1), torch.ones(6))
    assert body.betas.detach().tolist() == [[pytest.approx(0.1), 1.0]] * 3
    single = Sluice().build(6, {"t0": 2}, (8,), 0.0).alphas[0].detach()
    assert torch.equal(single, torch.eye(2))


def test_which_parameters_are_shared_and_whose_the_betas_are():
    body = Sluice().build(6, TASKS, (8, 4), 0.0)
    shared = {name for name, p in body.named_parameters()
              if any(p is q for q in body.shared_parameters())}
    assert shared == {"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                      "alphas.0", "alphas.1"}
    parts = body.task_parameters("t1")
    beta_index = [index for p, index in parts if p is body.betas]
    assert [i.tolist() for i in beta_index] == [[1]]  # row 1 of the betas is t1's


def _orthogonality(body, h):
    """The penalty recomputed from the layers, task by task and subspace pair by pair."""
    total, x = 0.0, [h] * len(TASKS)
    for layer, alpha in zip(body.layers, body.alphas):
        outs = [torch.relu(F.linear(xt, layer.weight[t], layer.bias[t])) for t, xt in enumerate(x)]
        for o in outs:
            g = o.chunk(body.n_subspaces, dim=1)
            for i in range(len(g)):
                for j in range(i + 1, len(g)):
                    total += float((g[i].T @ g[j]).detach().square().sum()) / len(h) ** 2
        x = body._mix(torch.stack(outs), alpha)
    return total


def test_orthogonality_penalty_value_and_life_cycle():
    torch.manual_seed(0)
    body = Sluice(n_subspaces=3, orthogonality=0.5).build(6, TASKS, (12, 6), 0.0)
    h = torch.randn(20, 6)
    assert body.penalty() == 0.0  # no training forward yet
    body.eval()(h)
    assert body.penalty() == 0.0  # inference records nothing
    body.train()(h)
    penalty = body.penalty()
    assert penalty.item() == pytest.approx(0.5 * _orthogonality(body, h), rel=1e-4)
    assert body.penalty() == 0.0  # consumed by the step that asked for it
    penalty.backward()  # it reaches the towers, which it is about
    assert body.layers[0].weight.grad.abs().sum() > 0
    body.train()(h)
    assert Sluice(orthogonality=0.0).build(6, TASKS, (8,), 0.0).train().penalty() == 0.0


def test_orthogonal_subspaces_have_no_penalty():
    body = Sluice(n_subspaces=2, orthogonality=1.0).build(2, {"t0": 1}, (2,), 0.0)
    with torch.no_grad():  # unit 0 reads only input 0, unit 1 only input 1
        body.layers[0].weight.copy_(torch.eye(2).unsqueeze(0))
        body.layers[0].bias.zero_()
    h = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])  # disjoint rows: G_1ᵀ G_2 = 0
    body.train()(h)
    assert float(body.penalty().detach()) == 0.0
    body.train()(torch.ones(3, 2))
    assert float(body.penalty().detach()) > 0.0


@pytest.mark.parametrize(
    ("arch", "sizes", "match"),
    [
        (Sluice(n_subspaces=3), (16, 8), "must divide every hidden layer size"),
        (Sluice(n_subspaces=0), (8,), "n_subspaces must be a positive integer"),
        (Sluice(n_subspaces=1.5), (8,), "n_subspaces must be a positive integer"),
        (Sluice(orthogonality=-1.0), (8,), "orthogonality must be >= 0"),
        (Sluice(init_self_weight=2.0), (8,), "init_self_weight must be in"),
    ],
    ids=["indivisible", "zero", "float", "negative", "self weight"],
)
def test_invalid_hyper_parameters_fail_at_build(arch, sizes, match):
    with pytest.raises(ValueError, match=match):
        arch.build(6, TASKS, sizes, 0.0)


def test_registered_and_searchable_by_name():
    assert ARCHITECTURES["sluice"] is Sluice
    model = MultiTaskEstimator(architecture=Sluice())
    model.set_params(architecture__n_subspaces=4, architecture__orthogonality=0.1)
    assert model.get_params()["architecture__n_subspaces"] == 4
    assert resolve_architecture(model.architecture).orthogonality == 0.1


def test_no_hidden_layer_is_heads_on_the_input():
    body = Sluice().build(6, TASKS, (), 0.0)
    assert body(torch.randn(4, 6)).shape == (4, 6)
    assert body.sharing_weights().empty and body.layer_weights().empty


@pytest.fixture(scope="module")
def fitted_sluice():
    X, Y = make_mixed(300, seed=0)
    model = MultiTaskEstimator(
        architecture=Sluice(), hidden_layer_sizes=(16, 8), max_epochs=15, lr=1e-2,
        random_state=0,
    ).fit(X, Y)
    return model, X


def test_sharing_weights_are_learned_and_tidy(fitted_sluice):
    model, _ = fitted_sluice
    body = model.net_.module_.body
    names = [t.name for t in model.target_spec_.tasks_]
    assert set(body.sharing_weights()["to_task"]) == {"t0", "t1", "t2"}  # by position
    sharing = body.sharing_weights(names)
    assert list(sharing.columns) == ["layer", "from_task", "to_task", "weight"]
    assert len(sharing) == 2 * 3 * 3  # layers x tasks x tasks
    assert set(sharing["to_task"]) == set(sharing["from_task"]) == {"eta", "late", "band"}
    sums = sharing.groupby(["layer", "to_task"])["weight"].sum()
    np.testing.assert_allclose(sums, 1.0, rtol=1e-6)
    own = sharing[sharing["from_task"] == sharing["to_task"]]["weight"]
    assert (own < 1.0).all() and (own > 0.0).all()
    # trained: the alphas moved off their 0.9 / 0.05 start
    assert (own - 0.9).abs().max() > 0.01
    betas = body.layer_weights(names)
    assert list(betas["task"].unique()) == names
    assert list(betas.columns) == ["task", "layer", "weight"] and len(betas) == 3 * 2
    assert not np.allclose(betas["weight"], np.tile([0.1, 1.0], 3))


def test_save_load_keeps_predictions_and_the_learned_sharing(fitted_sluice, tmp_path):
    model, X = fitted_sluice
    loaded = load_model(save_model(model, tmp_path / "sluice.tabmtl"))
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))
    assert isinstance(loaded.architecture, Sluice)
    assert loaded.architecture.get_params() == model.architecture.get_params()
    pd.testing.assert_frame_equal(
        loaded.net_.module_.body.sharing_weights(), model.net_.module_.body.sharing_weights()
    )


def test_trains_a_small_synthetic_problem_to_a_stated_score(fitted_sluice):
    # measured at these settings (seed 0): R² 0.983, accuracies 0.927 and 0.970
    model, _ = fitted_sluice
    X_test, Y_test = make_mixed(300, seed=1)
    scores = model.score_tasks(X_test, Y_test)
    assert scores["eta"] > 0.95 and scores["late"] > 0.88 and scores["band"] > 0.92, scores


def test_report_command_draws_the_learned_sharing_of_a_sluice_model(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from tabmtl._cli.main import main

    X, Y = make_mixed(120)
    X.join(Y).to_csv(tmp_path / "mixed.csv", index=False)
    targets = [flag for name in Y.columns for flag in ("--target", name)]
    code = main([
        "report", str(tmp_path / "mixed.csv"), *targets, "--cv", "2", "--no-baseline",
        "--architecture", "sluice", "--max-epochs", "2", "--hidden", "8,4",
        "--out", str(tmp_path / "report"),
    ])
    assert code in (0, 4), capsys.readouterr().err  # 4: a task showed negative transfer
    assert (tmp_path / "report" / "sluice_sharing.png").stat().st_size > 5000
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "Sharing learned by sluice" in page
