import numpy as np
import pytest
import torch

from tabmtl._nn.loss import MultiTaskLoss
from tabmtl._nn.weighting import EqualWeighting
from tabmtl._training.iterators import SliceIterator, TensorDataset


def _criterion():
    return MultiTaskLoss(
        ["regression", "binary", "multiclass"], [(0, 1), (1, 2), (2, 5)],
        EqualWeighting().build(["r", "b", "m"]),
    )


def test_missing_labels_drop_out_of_their_task_only():
    torch.manual_seed(0)
    out = torch.randn(4, 5)
    y = torch.tensor(
        [[1.0, 1.0, 0.0], [np.nan, 0.0, 2.0], [0.5, np.nan, 1.0], [2.0, 1.0, np.nan]]
    )
    losses, counts = _criterion().task_losses(out, y)
    assert counts.tolist() == [3, 3, 3]
    rows = [0, 2, 3]
    expected_r = ((out[rows, 0] - y[rows, 0]) ** 2).mean()
    rows_b = [0, 1, 3]
    expected_b = torch.nn.functional.binary_cross_entropy_with_logits(out[rows_b, 1], y[rows_b, 1])
    rows_m = [0, 1, 2]
    expected_m = torch.nn.functional.cross_entropy(out[rows_m, 2:5], y[rows_m, 2].long())
    assert torch.allclose(losses, torch.stack([expected_r, expected_b, expected_m]))
    assert torch.isfinite(_criterion()(out, y))


def test_task_without_labels_in_batch_contributes_nothing():
    out = torch.randn(2, 5, requires_grad=True)
    y = torch.tensor([[1.0, np.nan, 0.0], [0.0, np.nan, 1.0]])
    losses, counts = _criterion().task_losses(out, y)
    assert counts[1] == 0 and losses[1] == 0
    losses.sum().backward()
    assert not out.grad[:, 1].any()


def test_slice_iterator_covers_each_row_once_per_epoch():
    X = torch.arange(10, dtype=torch.float32)[:, None]
    it = SliceIterator(TensorDataset(X, X.clone()), batch_size=4, shuffle=True, seed=3)
    assert len(it) == 3
    epoch1 = torch.cat([xb for xb, _ in it]).flatten().tolist()
    epoch2 = torch.cat([xb for xb, _ in it]).flatten().tolist()
    assert sorted(epoch1) == list(range(10)) and epoch1 != epoch2
    again = SliceIterator(TensorDataset(X, X.clone()), batch_size=4, shuffle=True, seed=3)
    assert torch.cat([xb for xb, _ in again]).flatten().tolist() == epoch1
    # rows stay paired with their targets
    assert all(torch.equal(xb, yb) for xb, yb in it)


def test_slice_iterator_unwraps_subsets():
    X = torch.arange(6, dtype=torch.float32)[:, None]
    sub = torch.utils.data.Subset(TensorDataset(X, X), [4, 1])
    (xb, _), = list(SliceIterator(sub, batch_size=8))
    assert xb.flatten().tolist() == [4.0, 1.0]


def test_slice_iterator_rejects_other_datasets():
    with pytest.raises(TypeError, match="TensorDataset"):
        SliceIterator(torch.utils.data.TensorDataset(torch.zeros(2, 1)))


def test_weighted_loss_is_a_weighted_mean_over_present_labels_only():
    out = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0, 0.0], [0.0] * 5])
    labels = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [np.nan, 1.0, 0.0]])
    # the third row's regression label is missing: its huge weight must not count
    weights = torch.tensor([[1.0, 1.0, 1.0], [3.0, 1.0, 1.0], [1000.0, 1.0, 1.0]])
    losses, counts = _criterion().task_losses(out, torch.cat([labels, weights], dim=1))
    assert losses[0].item() == pytest.approx((1 * 1.0 + 3 * 9.0) / 4)
    assert counts[0] == 2
    unweighted, _ = _criterion().task_losses(out, labels)
    assert torch.allclose(losses[1:], unweighted[1:])


def test_all_zero_weights_give_zero_loss_not_nan():
    labels = torch.tensor([[1.0, 1.0, 0.0]])
    weights = torch.zeros(1, 3)
    losses, _ = _criterion().task_losses(torch.randn(1, 5), torch.cat([labels, weights], dim=1))
    assert torch.equal(losses, torch.zeros(3))


def test_best_weights_trusts_a_finite_candidate_only():
    # after Ctrl-C (or the last epoch), the best epoch may still be a "candidate" that no
    # later batch verified: its weights are loaded when finite, never when not
    import datasets
    from tabmtl import MultiTaskEstimator

    X, Y = datasets.load("penguins")
    X, Y = X[Y["body_mass_g"].notna()], Y[Y["body_mass_g"].notna()]

    def fit_two_epochs():
        est = MultiTaskEstimator(max_epochs=2, hidden_layer_sizes=(8,), random_state=0)
        est.fit(X, Y[["body_mass_g"]])
        return est, dict(est.net_.callbacks_)["best_weights"]

    est, best_weights = fit_two_epochs()
    assert best_weights.epoch_ == 1 and best_weights.candidate_[1] == 2
    assert best_weights.restore(est.net_, probe=lambda state: True) == 2
    est, best_weights = fit_two_epochs()
    for tensor in best_weights.candidate_[2]["module"].values():
        if tensor.is_floating_point():
            tensor.fill_(float("nan"))
    assert best_weights.restore(est.net_, probe=lambda state: True) == 1
    assert np.isfinite(est.predict(X)["body_mass_g"]).all()


def test_normalised_objective_is_geometric_mean_ratio_to_first_epoch():
    from tabmtl._training.callbacks import normalised_objective

    history = [
        {"valid_loss_a": 2.0, "valid_loss_b": 100.0, "valid_loss_c": float("nan")},
        {"valid_loss_a": 1.0, "valid_loss_b": 200.0, "valid_loss_c": 3.0},
    ]
    # a halves, b doubles: no task dominates by the scale of its loss; c had no
    # first-epoch loss and is left out
    assert normalised_objective(history, "valid", ["a", "b", "c"]) == pytest.approx(1.0)
    assert np.isnan(normalised_objective(history, "train", ["a"]))
    # relative progress counts alike: a task at 2% of its first loss improving by a tenth
    # moves the objective as much as one at 80% improving by a tenth
    low = [{"valid_loss_a": 1.0, "valid_loss_b": 1.0},
           {"valid_loss_a": 0.02 * 0.9, "valid_loss_b": 0.8}]
    high = [{"valid_loss_a": 1.0, "valid_loss_b": 1.0},
            {"valid_loss_a": 0.02, "valid_loss_b": 0.8 * 0.9}]
    assert normalised_objective(low, "valid", ["a", "b"]) == pytest.approx(
        normalised_objective(high, "valid", ["a", "b"])
    )


def test_early_stopping_selects_on_the_fixed_objective_not_the_weighted_loss():
    import pandas as pd

    from tabmtl import MultiTaskEstimator

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 8)), columns=[f"x{i}" for i in range(8)])
    Y = pd.DataFrame({"a": X.x0 + rng.normal(size=120), "b": X.x1 + rng.normal(size=120) > 0})
    model = MultiTaskEstimator(  # a wide net on few noisy rows: it overfits quickly
        weighting="uncertainty", early_stopping=True, patience=3, max_epochs=60, lr=0.01,
        hidden_layer_sizes=(128,), validation_fraction=0.3, random_state=0,
    ).fit(X, Y)
    history = model.history_
    objective = np.array(history[:, "valid_objective"])
    ratios = np.exp(np.mean(
        [np.log(np.array(history[:, f"valid_loss_{t}"]) / history[0, f"valid_loss_{t}"])
         for t in "ab"],
        axis=0,
    ))
    np.testing.assert_allclose(objective, ratios)
    # the epoch kept is the one with the lowest objective, whatever the weighted loss did
    stopper = dict(model.net_.callbacks_)["early_stopping"]
    assert stopper.monitor == "valid_objective"
    best = int(np.nanargmin(objective))
    assert stopper.best_epoch_ == history[best, "epoch"]
    assert history[best, "valid_objective_best"]
    assert model.n_epochs_ > best + 1  # it stopped after running past the best epoch


@pytest.mark.parametrize("weighting", ["pcgrad", "mgda"])
def test_train_loss_is_the_optimised_objective_for_every_strategy(weighting):
    """Gradient-level strategies report what loss-level ones do: weighted loss + penalty."""
    from conftest import make_mixed

    from tabmtl import MultiTaskEstimator
    from tabmtl._data.features import FeaturePreprocessor
    from tabmtl._data.targets import TargetSpec
    from tabmtl._training.build import build_net
    from tabmtl._training.net import seeded_rng

    X, Y = make_mixed(64)
    spec, pre = TargetSpec().fit(Y), FeaturePreprocessor().fit(X)
    batch = (torch.as_tensor(pre.transform(X)), torch.as_tensor(spec.transform(Y)))
    reported = {}
    for name in ("equal", weighting):
        params = MultiTaskEstimator(
            architecture="soft", weighting=name, dropout=0.0, numeric_embedding=None
        ).get_params(deep=False)
        with seeded_rng(0, "cpu"):
            net = build_net(params, spec, pre, seed=0).initialize()
        net.history.new_epoch()
        net.history.new_batch()  # where the step records its per-task losses
        penalty = float(net.module_.penalty())
        reported[name] = float(net.train_step_single(batch)["loss"])
    assert penalty > 0  # soft sharing's tower distance: the term that went missing
    assert reported[weighting] == pytest.approx(reported["equal"], rel=1e-6)


# -- host syncs ------------------------------------------------------------------------------


def _host_reads_during_fit(monkeypatch, batch_size: int) -> int:
    """How many times tabmtl's or skorch's code reads a tensor back to the host in a fit.

    Reads are ``item``, ``tolist``, ``cpu``, ``float(t)``, ``bool(t)``...: each is a sync
    point on an accelerator. torch's own (the optimizer's CPU step counters) don't count.
    """
    import sys

    from conftest import make_mixed

    from tabmtl import MultiTaskEstimator

    X, Y = make_mixed(256)
    model = MultiTaskEstimator(
        max_epochs=3, batch_size=batch_size, early_stopping=True, patience=50,
        numeric_embedding=None, random_state=0,
    )
    calls = []
    for name in ("item", "tolist", "cpu", "numpy", "__float__", "__bool__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.split(".")[0] in ("tabmtl", "skorch"):
                calls.append(caller)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    model.fit(X, Y)
    monkeypatch.undo()
    assert model.n_epochs_ == 3
    return len(calls)


def test_training_reads_losses_back_once_per_pass_not_per_batch(monkeypatch):
    # four times the batches, the same host reads: per-task sums stay on the device
    assert _host_reads_during_fit(monkeypatch, 8) == _host_reads_during_fit(monkeypatch, 32)


def test_epoch_losses_are_the_row_weighted_batch_means():
    from conftest import make_mixed

    from tabmtl import MultiTaskEstimator

    X, Y = make_mixed(100)
    model = MultiTaskEstimator(max_epochs=1, batch_size=32, numeric_embedding=None,
                               dropout=0.0, random_state=0).fit(X, Y)
    row = model.net_.history[-1]
    (task_sums,) = [b["train_task_sums"] for b in row["batches"] if "train_task_sums" in b]
    assert task_sums[1] == [float(Y[c].notna().sum()) for c in model.target_spec_.target_names_]
    assert sum(b.get("train_batch_size", 0) for b in row["batches"]) == 100
    assert np.isfinite(row["train_loss"]) and row["train_loss"] > 0


@pytest.mark.parametrize("jump_after", [1, 2])
def test_a_kept_epoch_is_one_whose_outputs_are_finite(jump_after):
    # one batch per epoch and no early stopping: the epoch that jumps the learning rate
    # to 1e30 logs a finite loss (computed before its step) and ends with finite but huge
    # weights whose forward pass overflows; that epoch must never be the one kept
    import pandas as pd
    from skorch.callbacks import LRScheduler
    from torch.optim.lr_scheduler import LambdaLR

    from tabmtl import MultiTaskEstimator
    from tabmtl._training.net import TrainingDiverged

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(64, 3)), columns=list("abc"))
    Y = pd.DataFrame({"y": X.a * 2 + rng.normal(size=64)})
    schedule = LRScheduler(LambdaLR, lr_lambda=lambda e: 1.0 if e < jump_after else 1e30)
    est = MultiTaskEstimator(
        max_epochs=jump_after + 1, batch_size=64, hidden_layer_sizes=(8,),
        early_stopping=False, callbacks=[schedule], numeric_embedding=None,
        calibration_fraction=0.0, random_state=0,
    )
    with pytest.raises(TrainingDiverged, match="not finite") as err:
        est.fit(X, Y)
    assert est.best_epoch_ is not None and est.best_epoch_ <= jump_after
    assert f"epoch {est.best_epoch_}" in str(err.value)
    assert np.isfinite(est.predict(X)["y"]).all()


def test_a_held_out_split_without_early_stopping_never_steers_the_kept_epoch():
    # the evaluation runner hands the test fold to the net as its validation split (for
    # the learning curves) when early stopping is off: after a divergence the epoch kept
    # must be the best by the *training* objective, never the best on the test fold
    import pandas as pd
    from skorch.callbacks import LRScheduler
    from torch.optim.lr_scheduler import LambdaLR

    from tabmtl import MultiTaskEstimator
    from tabmtl._training.net import TrainingDiverged
    from tabmtl.evaluation._runner import _HeldOutSplit

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=list("abc"))
    Y = pd.DataFrame({"y": X.a * 2 + 0.1 * rng.normal(size=200)})
    split = _HeldOutSplit(X.iloc[150:], -Y.iloc[150:])  # worse on it the more it learns
    est = MultiTaskEstimator(
        max_epochs=8, batch_size=16, hidden_layer_sizes=(16,), lr=0.01,
        early_stopping=False, numeric_embedding=None, calibration_fraction=0.0,
        random_state=0, net_kwargs={"train_split": split},
        callbacks=[LRScheduler(LambdaLR, lr_lambda=lambda e: 1.0 if e < 5 else 1e30)],
    )
    split.estimator = est
    with pytest.raises(TrainingDiverged, match="epoch 6"):
        est.fit(X.iloc[:150], Y.iloc[:150])
    history = est.net_.history
    train = [row["train_objective"] for row in history[:4]]
    assert np.argmin([row["valid_objective"] for row in history[:4]]) == 0
    # epochs 1-4 are verified (epoch 5's weights never gave a finite loss)
    assert est.best_epoch_ == 1 + int(np.argmin(train)) == 4


@pytest.mark.parametrize(
    "objective", [[1.0, 0.99995, 1.1, 1.2, 1.3], [1.0, 0.5, 0.49999, 0.6, 0.7, 0.8]]
)
def test_early_stopping_and_best_weights_keep_the_same_epoch(objective):
    # a tiny improvement (below skorch's relative threshold) is no new best for early
    # stopping: BestWeights must not keep it either, or the two callbacks disagree
    from skorch.callbacks import EarlyStopping
    from skorch.history import History

    from tabmtl._training.callbacks import BestWeights

    stopper = EarlyStopping(monitor="valid_objective", patience=3, load_best=True)
    best = BestWeights().initialize()
    net = type("Net", (), {})()
    net.history, net.verbose = History(), 0
    net.module_, net.criterion_ = torch.nn.Linear(2, 1), torch.nn.Linear(1, 1)
    net.callbacks_ = [("best_weights", best), ("early_stopping", stopper)]
    stopper.on_train_begin(net)
    stopped = False
    for epoch, value in enumerate(objective, start=1):
        net.history.new_epoch()
        net.history.record("epoch", epoch)
        net.history.record("train_batch_count", 1)
        net.history.record("train_objective", 1.0 / epoch)  # always improving: not watched
        net.history.record("valid_objective", value)
        best.on_epoch_end(net)
        try:
            stopper.on_epoch_end(net)
        except KeyboardInterrupt:
            stopped = True
            break
    assert stopped
    assert best.best_epoch(probe=lambda state: True) == stopper.best_epoch_
