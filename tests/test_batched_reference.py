"""Each batched architecture against a straightforward per-member implementation.

The references below are the architectures as the papers draw them: Python loops over
tasks, experts and towers, one small ``F.linear`` per member, reading the member's slice
of the batched parameters. Outputs and gradients must agree to float tolerance.
"""

import pytest
import torch
import torch.nn.functional as F

from tabmtl._nn.architectures import PLE, CrossStitch, HardSharing, MMoE, SoftSharing
from tabmtl._nn.weighting import resolve_weighting

TASKS = {"t0": 1, "t1": 1, "t2": 4}
EQUAL = {"t0": 2, "t1": 2}  # equal head widths: the fused heads' batched path
N_TASKS = len(TASKS)


def member(layer, m, x):
    return F.linear(x, layer.weight[m], layer.bias[m])


def member_mlp(mlp, m, x):
    for layer in mlp.layers:
        x = torch.relu(member(layer, m, x))
    return x


def shared_mlp(mlp, x):
    for layer in mlp.layers:
        x = torch.relu(layer(x))
    return x


def heads_of(heads, xs, tasks):
    """Task t's head (its rows of the fused layer) on task t's input."""
    outs, start = [], 0
    for x, k in zip(xs, tasks.values()):
        outs.append(F.linear(x, heads.weight[start : start + k], heads.bias[start : start + k]))
        start += k
    return torch.cat(outs, dim=1)


def mixture(gate_logits, experts):
    weights = torch.softmax(gate_logits, dim=1)
    return sum(weights[:, e : e + 1] * out for e, out in enumerate(experts))


def reference_hard(body, h, tasks):
    z = shared_mlp(body.trunk, h)
    xs = [member_mlp(body.towers, t, z) if body.towers else z for t in range(len(tasks))]
    if body.private:  # each head reads the shared features, then its task's own
        xs = [torch.cat([x, member_mlp(body.private, t, h)], dim=1) for t, x in enumerate(xs)]
    return heads_of(body.heads, xs, tasks)


def reference_soft(body, h, tasks):
    return heads_of(body.heads, [member_mlp(body.towers, t, h) for t in range(len(tasks))], tasks)


def reference_cross_stitch(body, h, tasks):
    xs = [h] * len(tasks)
    for layer, stitch in zip(body.layers, body.stitches):
        outs = [torch.relu(member(layer, t, x)) for t, x in enumerate(xs)]
        xs = [sum(stitch[t, s] * outs[s] for s in range(len(outs))) for t in range(len(outs))]
    return heads_of(body.heads, xs, tasks)


def reference_towers(towers, xs, tasks):
    return heads_of(towers.heads, [member_mlp(towers.towers, t, x) for t, x in enumerate(xs)],
                    tasks)


def reference_mmoe(body, h, tasks):
    experts = [member_mlp(body.experts, e, h) for e in range(body.experts.n_members)]
    mixed = [mixture(member(body.gates, t, h), experts) for t in range(len(tasks))]
    return reference_towers(body.towers, mixed, tasks)


def reference_ple(body, h, tasks):
    task_in, shared_in = [h] * len(tasks), h
    for level in body.levels:
        n = level.n_task
        shared = [member_mlp(level.shared_experts, e, shared_in)
                  for e in range(level.shared_experts.n_members)]
        own = [[member_mlp(level.task_experts, t * n + i, x) for i in range(n)]
               for t, x in enumerate(task_in)]
        outs = [mixture(member(level.task_gates, t, x), own[t] + shared)
                for t, x in enumerate(task_in)]
        if level.shared_gate is not None:
            every = [out for mine in own for out in mine] + shared
            shared_in = mixture(level.shared_gate(shared_in), every)
        task_in = outs
    return reference_towers(body.towers, task_in, tasks)


CASES = [
    (HardSharing(), reference_hard),
    (HardSharing(head_layer_sizes=(5, 3)), reference_hard),
    (HardSharing(private_layer_sizes=(4,)), reference_hard),
    (HardSharing(head_layer_sizes=(5,), private_layer_sizes=(6, 3)), reference_hard),
    (SoftSharing(), reference_soft),
    (CrossStitch(), reference_cross_stitch),
    (MMoE(n_experts=3), reference_mmoe),
    (MMoE(n_experts=2, tower_layer_sizes=(5,)), reference_mmoe),
    (PLE(), reference_ple),
    (PLE(n_levels=1), reference_ple),
    (PLE(n_levels=3, n_task_experts=2, tower_layer_sizes=(4,)), reference_ple),
    (PLE(n_levels=3, n_task_experts=0), reference_ple),
]


@pytest.mark.parametrize("tasks", [TASKS, EQUAL], ids=["mixed widths", "equal widths"])
@pytest.mark.parametrize(("arch", "reference"), CASES, ids=[repr(a) for a, _ in CASES])
def test_batched_body_equals_per_member_reference(arch, reference, tasks):
    torch.manual_seed(0)
    body = arch.build(6, tasks, (16, 8), 0.0)
    with torch.no_grad():  # move the stitches off their symmetric start
        for p in body.parameters():
            p.add_(0.05 * torch.randn_like(p))
    h = torch.randn(32, 6)
    out = body(h)
    expected = reference(body, h, tasks)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    # same gradients on every parameter for a loss that weighs all outputs differently
    weights = torch.randn_like(out)
    params = list(body.parameters())
    got = torch.autograd.grad((out * weights).sum(), params, allow_unused=True)
    want = torch.autograd.grad((expected * weights).sum(), params, allow_unused=True)
    for p, g, w in zip(params, got, want):
        g = torch.zeros_like(p) if g is None else g
        w = torch.zeros_like(p) if w is None else w
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("arch", "reference"), CASES, ids=[repr(a) for a, _ in CASES])
def test_eval_mode_equals_reference_with_dropout_configured(arch, reference):
    # dropout only acts in training: in eval mode the batched body is the reference
    torch.manual_seed(1)
    body = arch.build(6, TASKS, (16, 8), 0.3).eval()
    h = torch.randn(16, 6)
    torch.testing.assert_close(body(h), reference(body, h, TASKS), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "arch", [SoftSharing(), MMoE(n_experts=3), PLE(n_levels=2)], ids=repr
)
def test_gradient_strategy_gives_each_task_part_its_own_gradient(arch):
    # PCGrad combines task gradients on the shared parameters only; every batched
    # parameter outside them must hold, slice by slice, its own task's plain gradient
    torch.manual_seed(0)
    body = arch.build(6, TASKS, (16, 8), 0.0)
    h, slices = torch.randn(32, 6), [(0, 1), (1, 2), (2, 6)]
    out = body(h)
    losses = torch.stack([out[:, a:b].square().mean() for a, b in slices])
    shared = list(body.shared_parameters())
    shared_ids = {id(p) for p in shared}
    others = [p for p in body.parameters() if id(p) not in shared_ids]
    own_grads = [torch.autograd.grad(loss, others, retain_graph=True, allow_unused=True)
                 for loss in losses]
    weighting = resolve_weighting("pcgrad").build(list(TASKS))
    weighting.backward(losses, torch.ones(N_TASKS, dtype=torch.bool), shared, others)
    position = {id(p): i for i, p in enumerate(others)}
    for t, task in enumerate(TASKS):
        for p, index in body.task_parameters(task):
            expected = own_grads[t][position[id(p)]]
            torch.testing.assert_close(p.grad[index], expected[index])
    assert all(p.grad is not None for p in shared)
