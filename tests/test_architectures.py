import pytest
import torch

from tabmtl.architectures import ARCHITECTURES, HardSharing, resolve_architecture

TASKS = {"t0": 1, "t1": 1, "t2": 4}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_output_width_is_sum_of_heads(name):
    body = resolve_architecture(name).build(6, TASKS, (16, 8), 0.0)
    assert body(torch.randn(5, 6)).shape == (5, 6)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_shared_and_task_parameters_partition_the_body(name):
    body = resolve_architecture(name).build(6, TASKS, (16, 8), 0.1)
    shared = {id(p) for p in body.shared_parameters()}
    per_task = [{id(p) for p in body.task_parameters(t)} for t in TASKS]
    assert shared, "an architecture must share something"
    for ids in per_task:
        assert ids and not ids & shared
    assert not per_task[0] & per_task[1]
    everything = {id(p) for p in body.parameters()}
    assert shared.union(*per_task) == everything


def test_task_output_depends_only_on_its_head():
    body = HardSharing().build(4, {"a": 1, "b": 1}, (8,), 0.0)
    out = body(torch.randn(3, 4))
    out[:, 0].sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in body.task_parameters("b"))
    assert all(p.grad is not None and p.grad.any() for p in body.task_parameters("a"))


def test_head_towers():
    body = HardSharing(head_layer_sizes=(5,)).build(4, {"a": 2}, (8,), 0.0)
    sizes = [p.shape for p in body.task_parameters("a")]
    assert torch.Size([5, 8]) in sizes and torch.Size([2, 5]) in sizes


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown architecture 'deep'.*\['hard'"):
        resolve_architecture("deep")


def test_instances_are_cloned_not_shared():
    arch = HardSharing(head_layer_sizes=(3,))
    resolved = resolve_architecture(arch)
    assert resolved is not arch and resolved.get_params() == arch.get_params()
