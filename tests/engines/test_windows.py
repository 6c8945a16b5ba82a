"""The adapters' shared parts in one process: windows, their counts and losses (hand
arithmetic), the batch sampler that repeats nothing, and every error message."""

from __future__ import annotations

import contextlib
import os
import types

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import losskit.torch
from losskit.engines._shards import EvenShards, empty_safe
from losskit.engines._window import Engine, windows
from losskit.regularizers import L1, L2


def _batches() -> list[dict[str, torch.Tensor]]:
    """7 micro-batches of 1-3 examples with 2-token masks."""
    rng = np.random.default_rng(0)
    out = []
    for n in (2, 1, 3, 2, 3, 1, 2):
        out.append(
            {
                "x": torch.as_tensor(rng.normal(size=(n, 2))),
                "mask": torch.as_tensor((rng.random((n, 2)) < 0.6).astype(np.float64)),
            }
        )
    return out


def test_windows_fetch_k_batches_and_a_partial_last_window() -> None:
    calls = []

    def micro(index: int, last: bool):
        calls.append((index, last))
        return contextlib.nullcontext()

    engine = Engine(gradients="mean", accumulation="mean", accumulation_steps=3, micro=micro)
    batches = _batches()
    found = list(windows(batches, engine, weights=lambda b: b["mask"]))
    assert [len(window) for window in found] == [3, 3, 1]
    for window, start in zip(found, (0, 3, 6), strict=True):
        mine = batches[start : start + len(window)]
        assert float(window.denominator) == sum(float((b["mask"] != 0).sum()) for b in mine)
        assert float(window.examples) == sum(len(b["x"]) for b in mine)
        assert [b["x"] is m["x"] for b, m in zip(window, mine, strict=True)] == [True] * len(mine)
    assert calls == [(0, False), (1, False), (2, True)] * 2 + [(0, True)]


def test_a_window_divides_by_the_step_and_undoes_the_engine() -> None:
    """One process, K=2, an engine that divides by K: each micro-batch's average is
    K * S_k / D and the penalty K * P / k, so that the engine's / K leaves S / D and P."""
    engine = Engine(gradients="mean", accumulation="mean", accumulation_steps=2)
    layer = torch.nn.Linear(2, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0]]))
    losskit.torch.regularize(layer, kernel=L2(0.5), activity=L1(0.25))
    window = next(iter(windows(_batches()[6:], engine, weights=lambda b: b["mask"])))
    batch = window.batches[0]
    losses = batch["x"] ** 2
    tokens = float((batch["mask"] != 0).sum())
    expected = 2 * float(torch.sum(losses * batch["mask"])) / tokens
    assert float(window.average(losses, batch["mask"])) == pytest.approx(expected, rel=1e-12)
    out = layer(batch["x"])
    activity = 0.25 * float(out.detach().abs().sum()) / len(batch["x"])
    kernel = 0.5 * 5.0
    got = float(window.penalty(layer).detach())
    assert got == pytest.approx(2 * activity + 2 * kernel, rel=1e-12)


def test_windows_without_weights_count_examples() -> None:
    engine = Engine(gradients="sum", accumulation="sum", accumulation_steps=4)
    window = next(iter(windows(_batches(), engine, examples=lambda b: len(b["x"]))))
    assert float(window.denominator) == float(window.examples) == 2 + 1 + 3 + 2


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {},
            ValueError,
            r"Invalid `weights, examples`: expected a function giving a micro-batch's weights "
            r"or mask \(or, for per-example losses without weights, its example count\)",
        ),
        (
            {"weights": "mask"},
            TypeError,
            r"Invalid `weights`: expected a function of a micro-batch, or None, received 'mask'",
        ),
        (
            {"weights": len, "examples": 3},
            TypeError,
            r"Invalid `examples`: expected a function of a micro-batch, or None, received 3",
        ),
    ],
)
def test_window_argument_errors(kwargs, error, message) -> None:
    engine = Engine(gradients="mean", accumulation="sum", accumulation_steps=2)
    with pytest.raises(error, match=message):
        windows([], engine, **kwargs)


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(0, 60),
    batch=st.integers(1, 7),
    world=st.integers(1, 5),
    shuffle=st.booleans(),
    epoch=st.integers(0, 3),
)
def test_even_shards_repeat_nothing_and_leave_nothing_out(size, batch, world, shuffle, epoch):
    shards = [
        EvenShards(size, batch, rank=rank, world_size=world, shuffle=shuffle, seed=7)
        for rank in range(world)
    ]
    for shard in shards:
        shard.set_epoch(epoch)
    per_rank = [list(shard) for shard in shards]
    counts = {len(batches) for batches in per_rank}
    assert counts == {len(shards[0])}  # the same number of batches on every rank
    seen = sorted(i for batches in per_rank for b in batches for i in b)
    assert seen == list(range(size))  # each example exactly once
    for step in zip(*per_rank, strict=True):
        sizes = [len(b) for b in step]
        assert max(sizes) <= batch
        assert max(sizes) - min(sizes) <= 1


def test_even_shards_shuffle_per_epoch() -> None:
    shard = EvenShards(20, 5, rank=0, world_size=2, shuffle=True, seed=1)
    first = list(shard)
    assert list(shard) == first
    shard.set_epoch(1)
    assert list(shard) != first


def test_even_shards_errors() -> None:
    with pytest.raises(
        ValueError, match=r"Invalid `rank`: expected an integer in \[0, 2\), received 2"
    ):
        EvenShards(10, 2, rank=2, world_size=2)
    with pytest.raises(ValueError, match=r"Invalid `batch_size`: expected a positive integer"):
        EvenShards(10, 0, rank=0, world_size=2)


def test_an_empty_batch_collates_to_zero_rows() -> None:
    data = torch.utils.data.TensorDataset(torch.ones(3, 4, 2), torch.arange(3))
    collate = empty_safe(torch.utils.data.default_collate, data)
    x, y = collate([])
    assert x.shape == (0, 4, 2)
    assert y.shape == (0,)
    assert y.dtype == torch.int64
    x, y = collate([data[0], data[2]])
    assert x.shape == (2, 4, 2)
    assert y.tolist() == [0, 2]


def test_an_empty_zero3_partition_is_refused() -> None:
    """DeepSpeed ZeRO-3 leaves ``data`` empty outside the forward and records the real
    size in ``ds_numel``: a penalty of 0 there would be silent and wrong."""
    layer = torch.nn.Linear(3, 2)
    losskit.torch.regularize(layer, kernel=L2(0.1))
    layer.weight.data = torch.empty(0)
    layer.weight.ds_numel = 6
    with pytest.raises(
        RuntimeError,
        match=r"parameter 'weight' is a DeepSpeed ZeRO-3 partition, empty outside the forward "
        r"\(6 elements live on the ranks' partitions\)",
    ):
        losskit.torch.penalty(layer)
    del layer.weight.ds_numel  # a genuinely empty parameter adds 0
    assert float(losskit.torch.penalty(layer).detach()) == 0.0


def test_a_view_of_an_fsdp1_flat_parameter_is_refused() -> None:
    """FSDP1 with ``use_orig_params=True`` leaves each original parameter a flat view of
    this rank's shard, marked ``_fsdp_flattened``: its penalty would be the shard's."""
    layer = torch.nn.Linear(3, 2)
    losskit.torch.regularize(layer, kernel=L2(0.1))
    layer.weight.data = torch.ones(4)  # this rank's 4 of the 6 elements, flattened
    layer.weight._fsdp_flattened = True
    with pytest.raises(
        RuntimeError,
        match=r"^losskit\.torch: parameter 'weight' is this rank's view of an FSDP1 flat "
        r"parameter \(shape \(4,\), flattened and sharded\), so its penalty would be that of "
        r"a shard\. FSDP1 \(FullyShardedDataParallel\) keeps parameters in flat, sharded "
        r"parameters.*FSDP2's `fully_shard`",
    ):
        losskit.torch.penalty(layer)
    # without the mark it is an ordinary parameter of 4 ones: 0.1 * 4
    del layer.weight._fsdp_flattened
    assert float(losskit.torch.penalty(layer).detach()) == pytest.approx(0.4)


def test_a_regularized_weight_replaced_by_a_tensor_is_refused() -> None:
    """FSDP1 without ``use_orig_params`` deletes the parameters and sets plain tensors in
    their place; a parametrization does the same: the penalty would silently be 0."""
    layer = torch.nn.Linear(3, 2)
    losskit.torch.regularize(layer, kernel=L2(0.1), bias=L2(0.1))
    del layer.weight
    layer.weight = torch.ones(2, 3)
    with pytest.raises(
        RuntimeError,
        match=r"^losskit\.torch: 'weight' is regularized but is no longer a parameter of its "
        r"module \(a Tensor of shape \(2, 3\) took its place\), so its penalty would silently "
        r"be 0\. FSDP1 .*parametrizations\.<name>\.original",
    ):
        losskit.torch.penalty(layer)
    assert float(losskit.torch.penalty(layer, weights=False).detach()) == 0.0  # activity only
    del layer.weight  # gone altogether: nothing to penalize but the bias
    with torch.no_grad():
        layer.bias.fill_(1.0)
    assert float(losskit.torch.penalty(layer).detach()) == pytest.approx(0.2)


def test_a_parametrized_regularized_weight_is_refused() -> None:
    from torch.nn.utils import parametrize

    class Doubled(torch.nn.Module):
        def forward(self, weight: torch.Tensor) -> torch.Tensor:
            return 2 * weight

    layer = torch.nn.Linear(3, 2)
    losskit.torch.regularize(layer, kernel=L2(0.1))
    parametrize.register_parametrization(layer, "weight", Doubled())
    with pytest.raises(RuntimeError, match=r"'weight' is regularized but is no longer a param"):
        losskit.torch.penalty(layer)


class _Reused(torch.nn.Module):
    """One layer run twice, and a weight tied to another module's (an embedding and its LM
    head): each parameter is penalized once per forward."""

    def __init__(self) -> None:
        super().__init__()
        self.block = torch.nn.Linear(2, 2, bias=False)
        self.head = torch.nn.Linear(2, 2, bias=False)
        self.head.weight = self.block.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.block(x)))


def test_zero3_records_each_parameter_once_per_forward() -> None:
    pytest.importorskip("deepspeed")
    from losskit.engines.deepspeed import _Recorder

    model = _Reused()
    with torch.no_grad():
        model.block.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    losskit.torch.regularize(model, kernel=L2(0.5))
    recorder = _Recorder(model)
    for _ in range(2):  # and again: a new forward starts a new record
        model(torch.ones(1, 2))
        assert float(recorder.total(model).detach()) == 0.5 * (1 + 4 + 9 + 16)


def test_accelerate_other_back_ends_are_refused() -> None:
    accelerate = pytest.importorskip("accelerate")
    import losskit.engines.accelerate

    fake = types.SimpleNamespace(distributed_type=accelerate.DistributedType.DEEPSPEED)
    with pytest.raises(
        ValueError,
        match=r"Invalid `accelerator`: expected an Accelerator running DDP or one process "
        r"\(distributed_type in \('NO', 'MULTI_CPU', 'MULTI_GPU'\)\), received "
        r"'distributed_type=DistributedType.DEEPSPEED'",
    ):
        losskit.engines.accelerate.windows(fake, [], weights=len)


def test_lightning_other_strategies_are_refused() -> None:
    pytest.importorskip("lightning")
    import losskit.engines.lightning

    fake = types.SimpleNamespace(strategy=object())
    with pytest.raises(
        ValueError,
        match=r"Invalid `trainer`: expected a Trainer with the DDP or a single-device strategy, "
        r"received 'strategy object'",
    ):
        losskit.engines.lightning.windows(fake, [], batch_size=2, weights=len)


def test_deepspeed_and_fsdp_argument_errors() -> None:
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    pytest.importorskip("deepspeed")
    import losskit.engines.deepspeed
    import losskit.engines.fsdp

    with pytest.raises(TypeError, match=r"Invalid `engine`: expected a deepspeed.DeepSpeedEngine"):
        losskit.engines.deepspeed.windows(object(), [])
    with pytest.raises(
        ValueError, match=r"Invalid `model`: expected a module with fully_shard applied \(FSDP2\)"
    ):
        losskit.engines.fsdp.windows(torch.nn.Linear(2, 2), [], accumulation_steps=2)


class _FakeTrainer:
    """What ExactLossMixin reads of a transformers.Trainer after its __init__."""

    def __init__(self, compute_loss_func=None, average=True, n_gpu=1, kind="NO") -> None:
        from accelerate.utils import DistributedType

        self.compute_loss_func = compute_loss_func
        self.args = types.SimpleNamespace(average_tokens_across_devices=average, n_gpu=n_gpu)
        self.accelerator = types.SimpleNamespace(distributed_type=DistributedType[kind])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {},
            ValueError,
            r"Invalid `compute_loss_func`: expected a function \(outputs, labels, "
            r"num_items_in_batch\) -> loss, received None",
        ),
        (
            {"compute_loss_func": len, "average": False},
            ValueError,
            r"Invalid `args.average_tokens_across_devices`: expected True",
        ),
        (
            {"compute_loss_func": len, "n_gpu": 2},
            ValueError,
            r"Invalid `args`: expected DDP or one process, one device each, received "
            r"'distributed_type=DistributedType.NO, n_gpu=2'",
        ),
        (
            {"compute_loss_func": len, "kind": "DEEPSPEED"},
            ValueError,
            r"Invalid `args`: expected DDP or one process, one device each, received "
            r"'distributed_type=DistributedType.DEEPSPEED, n_gpu=1'",
        ),
        (
            {"compute_loss_func": len, "token_weights": "labels"},
            TypeError,
            r"Invalid `token_weights`: expected a function of a batch, or None, received 'labels'",
        ),
    ],
)
def test_transformers_settings_that_cannot_be_exact(kwargs, error, message) -> None:
    pytest.importorskip("transformers")
    from losskit.engines.transformers import ExactLossMixin

    class Trainer(ExactLossMixin, _FakeTrainer):
        pass

    with pytest.raises(error, match=message):
        Trainer(**kwargs)
    token_weights = Trainer(compute_loss_func=len, average=False, token_weights=len)
    assert token_weights.loss_is_scaled_for_ga is True
