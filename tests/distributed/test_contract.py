"""The engine contract in one process: every engine description, uneven shards, masks,
accumulation windows (partial too), against float64 NumPy written here."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import losskit
from losskit.distribute import get_context, global_denominator, replica_context
from losskit.distribute._denominator import window_denominators
from losskit.testing import check_replica_invariance, run_replicas

ENGINES = list(itertools.product(("sum", "mean"), ("sum", "mean")))


def _data(n: int = 23, t: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = (rng.random((n, t)) < 0.6).astype(np.float64)
    mask[3] = 0.0  # a fully padded example
    return {"x": rng.normal(size=(n, t)), "y": rng.normal(size=(n, t)), "mask": mask}


def _combine(values: list[list[float]], gradients: str, accumulation: str, k: int) -> float:
    """What the engine makes of the per-replica, per-micro-step values (hand arithmetic)."""
    r = len(values)
    total = sum(sum(v) for v in values)
    return total / (r if gradients == "mean" else 1) / (k if accumulation == "mean" else 1)


@pytest.mark.parametrize(("gradients", "accumulation"), ENGINES)
@pytest.mark.parametrize(
    ("replicas", "steps", "sizes"),
    [
        (1, 1, [23]),
        (2, 1, [20, 3]),
        (3, 1, [0, 22, 1]),
        (2, 3, [1, 2, 3, 7, 5, 5]),
        (4, 2, [3, 3, 0, 5, 2, 2, 1, 7]),
    ],
)
def test_masked_token_mean_is_exact(gradients, accumulation, replicas, steps, sizes) -> None:
    data = _data()
    loss = (data["x"] - data["y"]) ** 2  # per token
    expected = float(np.sum(loss * data["mask"]) / np.sum(data["mask"]))  # one device
    bounds = np.cumsum([0, *sizes])
    shards = [slice(a, b) for a, b in itertools.pairwise(bounds)]

    def step(r: int) -> list[float]:
        mine = shards[r * steps : (r + 1) * steps]
        D = global_denominator(*[data["mask"][s] for s in mine])
        return [
            float(losskit.compute_average_loss(loss[s], data["mask"][s], global_batch_size=D))
            for s in mine
        ]

    values = run_replicas(
        step, replicas, gradients=gradients, accumulation_steps=steps, accumulation=accumulation
    )
    assert _combine(values, gradients, accumulation, steps) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("gradients", "accumulation"), ENGINES)
@pytest.mark.parametrize(("replicas", "steps", "present"), [(1, 3, 2), (2, 3, 1), (3, 2, 2)])
def test_regularization_strength_does_not_change(
    gradients, accumulation, replicas, steps, present
) -> None:
    penalty = 0.75  # e.g. l2 * sum(w**2), the same on every replica and micro-step
    masks = [np.ones((2, 3))] * present

    def step(r: int) -> list[float]:
        global_denominator(*masks)  # the window: `present` micro-steps
        return [float(losskit.scale_regularization_loss(np.float64(penalty)))] * present

    values = run_replicas(
        step, replicas, gradients=gradients, accumulation_steps=steps, accumulation=accumulation
    )
    assert _combine(values, gradients, accumulation, steps) == pytest.approx(penalty, rel=1e-12)


@pytest.mark.parametrize(("gradients", "accumulation"), ENGINES)
def test_default_denominator_assumes_equal_shards(gradients, accumulation) -> None:
    losses = np.arange(12.0).reshape(3, 4)  # 3 replicas x 4 examples, one micro-step each

    def step(r: int) -> list[float]:
        return [float(losskit.compute_average_loss(losses[r]))]

    values = run_replicas(step, 3, gradients=gradients, accumulation_steps=1)
    assert _combine(values, gradients, accumulation, 1) == pytest.approx(np.mean(losses))


@pytest.mark.parametrize(("gradients", "accumulation"), ENGINES)
def test_sum_reduction_gives_the_global_sum(gradients, accumulation) -> None:
    losses = np.arange(1.0, 13.0).reshape(6, 2)  # 3 replicas x 2 micro-steps

    def step(r: int) -> list[float]:
        return [
            float(losskit.compute_weighted_loss(losses[2 * r + k], reduction="sum"))
            for k in range(2)
        ]

    values = run_replicas(
        step, 3, gradients=gradients, accumulation_steps=2, accumulation=accumulation
    )
    assert _combine(values, gradients, accumulation, 2) == pytest.approx(78.0)


def test_naive_local_means_differ() -> None:
    """The bug losskit prevents: each replica divides by its own token count."""
    data = _data()
    loss = (data["x"] - data["y"]) ** 2
    expected = np.sum(loss * data["mask"]) / np.sum(data["mask"])
    halves = [slice(0, 20), slice(20, 23)]
    naive = np.mean([np.sum((loss * data["mask"])[s]) / np.sum(data["mask"][s]) for s in halves])
    assert abs(naive - expected) > 1e-3


def test_dividing_reductions_refused_with_accumulation() -> None:
    with (
        replica_context(1, accumulation_steps=2),
        pytest.raises(ValueError, match=r"with 2 accumulation steps \(their gradients are"),
    ):
        losskit.compute_weighted_loss(np.ones(3))


def test_global_denominator_reductions() -> None:
    weights = np.array([[0.5, 0.0], [2.0, 1.0]])
    assert float(global_denominator(weights, reduction="sum_over_batch_size")) == 4.0
    assert float(global_denominator(weights, reduction="auto")) == 4.0
    assert float(global_denominator(weights)) == 3.0
    assert float(global_denominator(weights, weights, reduction="weighted_mean")) == 7.0
    assert float(global_denominator(weights, reduction="mean_with_sample_weight")) == 3.5
    assert float(global_denominator(np.array([True, False, True]))) == 2.0


def test_global_denominator_sets_the_window() -> None:
    with replica_context(1, accumulation_steps=3) as context:
        assert context.micro_steps == 3
        global_denominator(np.ones(2), np.ones(2))
        assert context.micro_steps == 2


def test_one_all_reduce_per_call() -> None:
    calls = []

    def all_reduce(value):
        calls.append(value)
        return value * 2

    with replica_context(2, accumulation_steps=3, all_reduce=all_reduce):
        D = global_denominator(np.ones(2), np.ones(5), np.zeros(1))
    assert len(calls) == 1
    assert float(calls[0]) == 7.0
    assert float(D) == 14.0


def test_window_denominators_share_one_all_reduce() -> None:
    # the engine adapters' two counts of a window (tokens, examples): one collective
    calls = []

    def all_reduce(value):
        calls.append(np.asarray(value).copy())
        return value * 2

    masks = [np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[0.0, 0.5]])]
    rows = [np.ones(2), np.ones(1)]
    with replica_context(2, accumulation_steps=2, all_reduce=all_reduce) as context:
        tokens, examples, weight = window_denominators(
            (masks, "sum_by_nonzero_weights"),
            (rows, "sum_over_batch_size"),
            (masks, "weighted_mean"),
        )
        assert context.micro_steps == 2
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], [4.0, 3.0, 3.5])
    assert (float(tokens), float(examples), float(weight)) == (8.0, 6.0, 7.0)
    # the same numbers as one global_denominator each (three collectives)
    with replica_context(2, accumulation_steps=2, all_reduce=all_reduce):
        separate = [
            float(global_denominator(*masks)),
            float(global_denominator(*rows, reduction="sum_over_batch_size")),
            float(global_denominator(*masks, reduction="weighted_mean")),
        ]
    assert separate == [8.0, 6.0, 7.0]
    assert len(calls) == 4


def test_window_denominators_need_one_array_per_micro_batch_in_every_entry() -> None:
    with pytest.raises(ValueError, match=r"^Invalid `entries`") as caught:
        window_denominators(([np.ones(2)], "sum_over_batch_size"), ([np.ones(2)] * 2, "auto"))
    assert str(caught.value).startswith(
        "Invalid `entries`: expected one array per micro-batch in every entry, received [1, 2]"
    )


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: global_denominator(),
            ValueError,
            r"Invalid `micro_batch_weights`: expected at least one array",
        ),
        (
            lambda: global_denominator(np.ones(2), reduction="sum"),
            ValueError,
            r"Invalid `reduction`: expected a dividing reduction .* received 'sum'. "
            r"SUM and NONE have no denominator",
        ),
        (
            lambda: global_denominator(np.ones(2), 3),
            TypeError,
            r"Invalid `micro_batch_weights\[1\]`: expected an array of weights or a mask for "
            r"one micro-batch, received 3",
        ),
        (lambda: global_denominator(np.array(["a"])), TypeError, r"micro_batch_weights\[0\]"),
    ],
)
def test_global_denominator_errors(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


def test_global_denominator_too_many_micro_batches() -> None:
    with (
        replica_context(2, accumulation_steps=2, all_reduce=lambda v: v),
        pytest.raises(
            ValueError, match=r"expected at most accumulation_steps=2 arrays, received '3 arrays'"
        ),
    ):
        global_denominator(np.ones(1), np.ones(1), np.ones(1))


def test_global_denominator_needs_an_all_reduce() -> None:
    with (
        replica_context(2),
        pytest.raises(
            RuntimeError, match=r"has no all-reduce. Pass `all_reduce=` to `replica_context`"
        ),
    ):
        global_denominator(np.ones(2))


def test_global_denominator_in_cross_replica_context() -> None:
    with (
        losskit.distribute.cross_replica_context(2),
        pytest.raises(RuntimeError, match=r"You are calling `global_denominator` in cross-replica"),
    ):
        global_denominator(np.ones(2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gradients": "avg"}, r"Invalid `gradients`: expected 'sum' or 'mean', received 'avg'"),
        (
            {"accumulation": None},
            r"Invalid `accumulation`: expected 'sum' or 'mean', received None",
        ),
        (
            {"accumulation_steps": 0},
            r"Invalid `accumulation_steps`: expected a positive integer, received 0",
        ),
    ],
)
def test_engine_description_errors(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        replica_context(2, **kwargs)


def test_all_reduce_must_be_callable() -> None:
    with pytest.raises(
        TypeError, match=r"Invalid `all_reduce`: expected a callable or None, received 3"
    ):
        replica_context(2, all_reduce=3)


def test_run_replicas_reraises_the_failing_replica() -> None:
    def step(r: int) -> float:
        if r == 2:
            raise KeyError("replica two")
        return float(global_denominator(np.ones(3)))

    with pytest.raises(KeyError, match="replica two"):
        run_replicas(step, 4, timeout=10)


def test_run_replicas_1024() -> None:
    def step(r: int) -> float:
        return float(global_denominator(np.ones(r % 3)))

    results = run_replicas(step, 1024)
    assert results == [float(sum(r % 3 for r in range(1024)))] * 1024


def test_torch_context_without_init_is_one_replica() -> None:
    torch = pytest.importorskip("torch")
    with losskit.distribute.torch_context(accumulation_steps=2) as context:
        assert (context.num_replicas, context.engine, context.loss_scale) == (1, "torch", 1)
        D = global_denominator(torch.ones(3), torch.ones(2))
        assert D.dtype == torch.float64
        assert float(D) == 5.0


def test_torch_context_group_without_init() -> None:
    pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=r"torch.distributed is not initialized"):
        losskit.distribute.torch_context(process_group=object())


def test_jax_context_unbound_axis() -> None:
    pytest.importorskip("jax")
    with pytest.raises(
        RuntimeError, match=r"jax_context\('batch'\): the axis 'batch' is not bound"
    ):
        losskit.distribute.jax_context("batch", gradients="sum")


def test_jax_context_under_vmap_is_exact() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    data = _data(24)
    loss = jnp.asarray((data["x"] - data["y"]) ** 2).reshape(4, 6, 5)
    mask = jnp.asarray(data["mask"]).reshape(4, 6, 5)

    def replica(values, m):
        with losskit.distribute.jax_context("r", gradients="mean") as context:
            assert context.num_replicas == 4
            D = global_denominator(m)
            return losskit.compute_average_loss(values, m, global_batch_size=D)

    per_replica = jax.vmap(replica, axis_name="r")(loss, mask)
    expected = np.sum(np.asarray(loss) * np.asarray(mask)) / np.sum(np.asarray(mask))
    assert float(jnp.mean(per_replica)) == pytest.approx(expected, rel=1e-6)
    assert get_context() is None


def test_invariance_harness_catches_a_local_mean() -> None:
    data = _data()

    def local_mean(w, mb):
        return losskit.compute_weighted_loss(
            (w * mb["x"] - mb["y"]) ** 2, mb["mask"], reduction="sum"
        ) / np.maximum(np.sum(mb["mask"]), 1)

    with pytest.raises(
        AssertionError, match=r"not replica-invariant: 2 replicas x 1 micro-batches"
    ):
        check_replica_invariance(
            local_mean, 0.3, data, num_replicas=2, sizes=[20, 3], gradients="mean"
        )


@pytest.mark.parametrize(("gradients", "accumulation"), ENGINES)
def test_invariance_harness_torch_gradients(gradients, accumulation) -> None:
    torch = pytest.importorskip("torch")
    data = {k: torch.as_tensor(v) for k, v in _data().items()}
    w = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)

    def loss(w, mb, D):
        pred = w[0] * mb["x"] + w[1]
        data_loss = losskit.compute_average_loss(
            (pred - mb["y"]) ** 2, mb["mask"], global_batch_size=D
        )
        return data_loss + losskit.scale_regularization_loss(0.1 * torch.sum(w**2))

    report = check_replica_invariance(
        loss,
        w,
        data,
        num_replicas=3,
        accumulation_steps=3,
        micro_batches=2,
        sizes=[5, 0, 9, 1, 3, 5],
        weights=lambda mb: mb["mask"],
        gradients=gradients,
        accumulation=accumulation,
    )
    assert report.gradients_checked
    assert report.max_rel_error < 1e-12
    # the oracle: float64 hand formula on the whole batch
    pred = 0.3 * data["x"] - 0.2
    m = data["mask"]
    expected = float(torch.sum((pred - data["y"]) ** 2 * m) / torch.sum(m)) + 0.1 * 0.13
    assert report.single_loss == pytest.approx(expected, rel=1e-12)


def test_engine_scaling_under_torch_compile() -> None:
    torch = pytest.importorskip("torch")
    torch._dynamo.reset()

    def step(losses, mask, D, penalty):
        return losskit.compute_average_loss(
            losses, mask, global_batch_size=D
        ) + losskit.scale_regularization_loss(penalty)

    compiled = torch.compile(step, fullgraph=True)
    losses = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    penalty = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    # a mean engine of 4 replicas, 3 micro-steps averaged, a window of 2
    with replica_context(
        4, gradients="mean", accumulation_steps=3, accumulation="mean", all_reduce=lambda d: d * 4
    ):
        D = global_denominator(mask, mask)  # 4 local tokens, 16 over the replicas
        got = compiled(losses, mask, D, penalty)
    scale = 4 * 3
    expected = scale * 3.0 / 16 + scale * 3.0 / (4 * 2)
    assert float(got.detach()) == pytest.approx(expected, rel=1e-12)
    got.backward()
    assert float(penalty.grad) == pytest.approx(scale / 8)
    assert losses.grad.tolist() == pytest.approx([scale / 16, scale / 16, 0.0])
    torch._dynamo.reset()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"micro_steps": 0}, r"Invalid `micro_steps`: expected a positive integer, received 0"),
        (
            {"micro_steps": 3, "accumulation_steps": 2},
            r"Invalid `micro_steps`: expected at most accumulation_steps=2, received 3",
        ),
    ],
)
def test_micro_steps_errors(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        replica_context(2, **kwargs)


def test_micro_steps_sets_a_partial_window() -> None:
    with replica_context(2, accumulation_steps=3, micro_steps=2) as context:
        # the penalty is added on 2 replicas x 2 micro-steps
        assert float(losskit.scale_regularization_loss(np.float64(8.0))) == 2.0
        assert context.micro_steps == 2


def test_run_replicas_abandoned_all_reduce() -> None:
    def step(r: int) -> float:
        if r == 1:
            return 0.0  # never reaches the all-reduce
        return float(global_denominator(np.ones(2)))

    with pytest.raises(RuntimeError, match=r"replica 0: the all-reduce was abandoned .* within 1"):
        run_replicas(step, 2, timeout=1)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"num_replicas": 2, "sizes": [3, 4]},
            ValueError,
            r"Invalid `sizes`: expected 2 non-negative integers \(replicas x micro-batches\) "
            r"adding up to the batch size 6, received \[3, 4\]",
        ),
        (
            {"num_replicas": 2, "accumulation_steps": 1, "micro_batches": 2},
            ValueError,
            r"Invalid `micro_batches`: expected at most accumulation_steps=1, received 2",
        ),
        ({"num_replicas": 0}, ValueError, r"Invalid `num_replicas`: expected a positive integer"),
        (
            {"num_replicas": 2, "gradients": "avg"},
            ValueError,
            r"Invalid `gradients`: expected 'sum' or 'mean', received 'avg'",
        ),
    ],
)
def test_invariance_harness_argument_errors(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        check_replica_invariance(lambda w, mb: w * mb, 1.0, np.ones(6), **kwargs)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({"a": 1.0}, r"Invalid `batch`: expected an array or a list/tuple/dict of arrays"),
        (
            {"a": np.ones(3), "b": np.ones(4)},
            r"Invalid `batch`: expected arrays with the same first dimension",
        ),
    ],
)
def test_invariance_harness_batch_errors(batch, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_replica_invariance(lambda w, mb: w, 1.0, batch, num_replicas=1)


def test_torch_activity_over_a_global_batch_size() -> None:
    torch = pytest.importorskip("torch")
    import losskit.torch as lt
    from losskit.regularizers import L1

    layer = torch.nn.Linear(3, 2, bias=False)
    torch.nn.init.ones_(layer.weight)
    lt.regularize(layer, kernel=None, bias=None, activity=L1(1.0))
    layer(torch.ones(4, 3))  # outputs 3 everywhere: sum |y| = 24 over 4 examples
    assert float(lt.penalty(layer).detach()) == 6.0  # Keras: / the local batch
    assert float(lt.penalty(layer, global_batch_size=8).detach()) == 3.0
    assert float(lt.penalty(layer, global_batch_size=torch.tensor(0.0)).detach()) == 0.0
    with replica_context(2, gradients="mean"):  # DDP-like: the mean of 2 replicas
        assert float(lt.penalty(layer, global_batch_size=8).detach()) == 6.0
    with pytest.raises(ValueError, match=r"Invalid `global_batch_size`: expected a finite"):
        lt.penalty(layer, global_batch_size=-1)


def test_jax_activity_over_a_global_batch_size() -> None:
    jax = pytest.importorskip("jax")
    from losskit.jax import Collector, activity

    with Collector() as collector:
        activity(jax.numpy.full((4, 2), 3.0), "l1")  # 0.01 * 24
        activity(jax.numpy.asarray(5.0), "l1")  # a 0-d output: not divided
    assert float(collector.total()) == pytest.approx(0.06 + 0.05)
    assert float(collector.total(global_batch_size=12)) == pytest.approx(0.02 + 0.05)
    with replica_context(3, gradients="mean", accumulation_steps=2, accumulation="mean"):
        assert float(collector.total(global_batch_size=12)) == pytest.approx(0.12 + 0.05)
