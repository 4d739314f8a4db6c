import math

import pytest
import torch
import torch.nn.functional as F

from tabmtl._nn.embeddings import CategoricalEmbeddings
from tabmtl._nn.layers import ParallelLinear, ParallelMLP, TaskHeads, dropout


def test_parallel_linear_is_one_linear_per_member_for_both_input_layouts():
    torch.manual_seed(0)
    layer = ParallelLinear(4, 6, 3)
    shared = torch.randn(5, 6)
    per_member = torch.randn(4, 5, 6)
    expected_shared = torch.stack([F.linear(shared, layer.weight[m], layer.bias[m])
                                   for m in range(4)])
    expected_own = torch.stack([F.linear(per_member[m], layer.weight[m], layer.bias[m])
                                for m in range(4)])
    torch.testing.assert_close(layer(shared), expected_shared)
    torch.testing.assert_close(layer(per_member), expected_own)


def test_parallel_linear_initialises_each_member_like_nn_linear():
    # nn.Linear: weight and bias uniform(+-1/sqrt(fan_in)); check range and spread
    torch.manual_seed(0)
    layer = ParallelLinear(8, 64, 32)
    bound = 1 / math.sqrt(64)
    for p in (layer.weight, layer.bias):
        assert p.abs().max() <= bound
        assert p.abs().max() > 0.95 * bound
    reference = torch.nn.Linear(64, 32).weight
    for m in range(8):  # same distribution per member: uniform's std is bound / sqrt(3)
        assert layer.weight[m].std().item() == pytest.approx(reference.std().item(), rel=0.1)
        assert layer.weight[m].std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)


def test_parallel_mlp_without_layers_broadcasts_a_shared_input():
    x = torch.randn(5, 3)
    out = ParallelMLP(2, 3, (), 0.0)(x)
    assert out.shape == (2, 5, 3) and torch.equal(out[1], x)


@pytest.mark.parametrize("widths", [{"a": 1, "b": 3, "c": 2}, {"a": 2, "b": 2}])
def test_task_heads_fused_equal_per_task_heads(widths):
    torch.manual_seed(0)
    heads = TaskHeads(5, widths)
    shared = torch.randn(7, 5)
    per_task = torch.randn(len(widths), 7, 5)
    rows = torch.cumsum(torch.tensor([0, *widths.values()]), 0).tolist()

    def reference(xs):
        return torch.cat([F.linear(x, heads.weight[a:b], heads.bias[a:b])
                          for x, a, b in zip(xs, rows[:-1], rows[1:])], dim=1)

    torch.testing.assert_close(heads(shared), reference([shared] * len(widths)))
    torch.testing.assert_close(heads(per_task), reference(per_task))
    owners = [t for t, k in widths.items() for _ in range(k)]
    assert list(heads.output_owners) == owners


def test_embeddings_are_one_table_with_per_column_blocks():
    torch.manual_seed(0)
    emb = CategoricalEmbeddings([3, 5, 2], [2, 4, 1])
    codes = torch.tensor([[0, 4, 1], [2, 0, 0], [1, 3, 1]], dtype=torch.float32)
    matrices = emb.column_weights()
    expected = torch.cat([F.embedding(codes[:, i].long(), w) for i, w in enumerate(matrices)],
                         dim=1)
    out = emb(codes)
    torch.testing.assert_close(out, expected)
    # each column's rows get exactly their own lookups' gradients
    out.sum().backward()
    grads = [g.view(k, d) for g, k, d in
             zip(torch.split(emb.table.grad, [6, 20, 2]), [3, 5, 2], [2, 4, 1])]
    counts = [torch.bincount(codes[:, i].long(), minlength=k).float()
              for i, k in enumerate([3, 5, 2])]
    for g, c in zip(grads, counts):
        torch.testing.assert_close(g, c[:, None].expand_as(g))
    assert CategoricalEmbeddings([], []).table is None  # no categorical columns


def test_dropout_keeps_expected_fraction_and_scale():
    torch.manual_seed(0)
    x = torch.ones(1000, 100)
    out = dropout(x, 0.25, training=True)
    kept = out != 0
    assert kept.float().mean().item() == pytest.approx(0.75, abs=0.01)
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.75))
    assert dropout(x, 0.25, training=False) is x and dropout(x, 0.0, training=True) is x
