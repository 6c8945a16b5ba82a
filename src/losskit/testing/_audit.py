"""``audit_loss``: who weighs what in the combined gradient of your own loss function.

Every aggregation mode is a fixed per-token coefficient c_t, and a per-micro-step loss
that aggregates per-token losses is linear in them. So the effective weight of each token
in the gradient the engine combines is the derivative of the combined loss with respect to
that token's loss: the audit runs your function on every replica's micro-batches of one
window (replicas in threads, with a real all-reduce), differentiates it exactly (autograd
in float64 with PyTorch or JAX; for NumPy functions, by evaluating it on unit vectors),
applies the engine's combination, and compares the weights with the target mode's c_t from
a float64 NumPy oracle of the single-device objective.

Example:
    >>> import numpy as np
    >>> from losskit.testing import Layout, audit_loss
    >>> layout = Layout([[np.array([[1, 1, 0]])], [np.array([[1, 0, 0]])]])  # 2 replicas
    >>> def per_rank_mean(per_token_loss, step):  # step: a MicroStep (mask, rank, window...)
    ...     return (per_token_loss * step.mask).sum() / step.mask.sum()
    >>> report = audit_loss(per_rank_mean, layout, mode="token-mean")  # an AuditReport
    >>> print(report.worst)  # a TokenLocation
    rank 1, micro-batch 0, row 0, position 0: weight 0.5 against 0.333333 (x1.5)
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from losskit._errors import describe, invalid
from losskit._state import DistributionContext, enter, get_context
from losskit.aggregation._aliases import resolve
from losskit.testing._layout import Layout
from losskit.testing._oracle import check_target, target_weights
from losskit.testing._threads import _ThreadAllReduce, run_replicas

__all__ = ["AuditReport", "MicroStep", "TokenLocation", "Window", "audit_loss"]

LIBRARIES = ("numpy", "torch", "jax")


@dataclasses.dataclass(frozen=True)
class Window:
    """What one replica knows about its window before the first micro-step.

    Attributes:
        rank: this replica's index; ``num_ranks`` replicas in all.
        masks, segment_ids, group_ids: this replica's micro-batches of the window (arrays of
            the audited library; ids None when the layout has none).
        num_groups: the global number of group ids, or None.
        accumulation_steps: configured micro-batches per window (``micro_steps`` may be
            fewer: a partial last window).
        gradients, accumulation: the engine's combination (``"sum"``/``"mean"``).
        all_reduce: sums a value over the replicas (call it the same number of times on
            every replica); the result carries no gradient.
        sequence_shards, sequence_shard, replicas: the layout's context parallelism and
            copies: this rank holds shard ``sequence_shard`` of its sequences.
        unsharded_masks: this rank's micro-batches before the split: its sequence group's
            shards side by side along T (what a rank that loads the whole micro-batch
            counts); the masks themselves without context parallelism.
        sequence_all_reduce: sums a value over this rank's sequence group.
        data_all_reduce: sums a value over the ranks that hold the same shard index and
            copy (the data-parallel ranks alone, without the other shards).
    """

    rank: int
    num_ranks: int
    masks: tuple[Any, ...]
    segment_ids: tuple[Any, ...] | None
    group_ids: tuple[Any, ...] | None
    num_groups: int | None
    accumulation_steps: int
    gradients: str
    accumulation: str
    all_reduce: Callable[[Any], Any] = dataclasses.field(repr=False)
    sequence_shards: int = 1
    sequence_shard: int = 0
    replicas: int = 1
    unsharded_masks: tuple[Any, ...] = dataclasses.field(default=(), repr=False)
    sequence_all_reduce: Callable[[Any], Any] | None = dataclasses.field(default=None, repr=False)
    data_all_reduce: Callable[[Any], Any] | None = dataclasses.field(default=None, repr=False)

    @property
    def micro_steps(self) -> int:
        return len(self.masks)


@dataclasses.dataclass(frozen=True)
class MicroStep:
    """What one replica's loss function knows at one micro-step: the second argument of
    the audited ``loss_fn(per_token_loss, step)``.

    Attributes:
        window: the replica's :class:`Window` (its other micro-batches, the engine, the
            all-reduce).
        micro_batch: this micro-step's index in the window.
        state: what ``prepare(window)`` returned (None without ``prepare``).

    The window's fields are also readable here: ``mask``, ``segment_ids``,
    ``group_ids`` and ``unsharded_mask`` of this micro-batch, ``rank``, ``num_ranks``,
    ``micro_steps``, ``accumulation_steps``, ``gradients``, ``accumulation``,
    ``num_groups``, ``sequence_shards``, ``sequence_shard``, ``replicas``, ``all_reduce``,
    ``sequence_all_reduce``, ``data_all_reduce``.
    """

    window: Window
    micro_batch: int
    state: Any = None

    @property
    def mask(self) -> Any:
        return self.window.masks[self.micro_batch]

    @property
    def segment_ids(self) -> Any:
        ids = self.window.segment_ids
        return None if ids is None else ids[self.micro_batch]

    @property
    def group_ids(self) -> Any:
        ids = self.window.group_ids
        return None if ids is None else ids[self.micro_batch]

    @property
    def rank(self) -> int:
        return self.window.rank

    @property
    def num_ranks(self) -> int:
        return self.window.num_ranks

    @property
    def micro_steps(self) -> int:
        return self.window.micro_steps

    @property
    def accumulation_steps(self) -> int:
        return self.window.accumulation_steps

    @property
    def gradients(self) -> str:
        return self.window.gradients

    @property
    def accumulation(self) -> str:
        return self.window.accumulation

    @property
    def num_groups(self) -> int | None:
        return self.window.num_groups

    @property
    def all_reduce(self) -> Callable[[Any], Any]:
        return self.window.all_reduce

    @property
    def unsharded_mask(self) -> Any:
        return self.window.unsharded_masks[self.micro_batch]

    @property
    def sequence_shards(self) -> int:
        return self.window.sequence_shards

    @property
    def sequence_shard(self) -> int:
        return self.window.sequence_shard

    @property
    def replicas(self) -> int:
        return self.window.replicas

    @property
    def sequence_all_reduce(self) -> Callable[[Any], Any]:
        assert self.window.sequence_all_reduce is not None
        return self.window.sequence_all_reduce

    @property
    def data_all_reduce(self) -> Callable[[Any], Any]:
        assert self.window.data_all_reduce is not None
        return self.window.data_all_reduce


@dataclasses.dataclass(frozen=True)
class TokenLocation:
    """Where a token sits, and its effective weight against the target coefficient."""

    rank: int
    micro_batch: int
    row: int
    position: int
    segment: int | None
    group: int | None
    weight: float
    target: float

    def __str__(self) -> str:
        where = f"rank {self.rank}, micro-batch {self.micro_batch}, row {self.row}, "
        where += f"position {self.position}"
        if self.segment is not None:
            where += f" (segment {self.segment})"
        if self.group is not None:
            where += f" (group {self.group})"
        ratio = f" (x{self.weight / self.target:.4g})" if self.target else ""
        return f"{where}: weight {self.weight:.6g} against {self.target:.6g}{ratio}"


@dataclasses.dataclass(frozen=True, eq=False)
class AuditReport:
    """What :func:`audit_loss` found.

    Attributes:
        mode, options: the target (canonical mode; ``count_empty``, ``max_length``, and
            the term's ``coefficient`` where it is not 1).
        layout: the audited :class:`Layout`.
        weights: ``weights[r][k]``, each position's effective weight in the combined
            gradient (float64, shaped like the mask).
        target: ``target[r][k]``, the mode's coefficients c_t (times ``coefficient``).
        relative_error: ``||weights - target|| / ||target||`` over all positions (the
            absolute norm if the target is 0); NaN if a weight is NaN.
        max_abs_error: the largest ``|weight - target|``.
        ratio_min, ratio_max: extreme ``weight / target`` over valid tokens (1 when exact;
            NaN without valid tokens).
        masked_weight: the largest ``|weight|`` on a masked position.
        worst: the token with the largest ``|weight - target|`` (None without positions).
        combined_loss, target_loss: the engine's combination of the micro-step losses, and
            the target objective, on the same random per-token losses.
        rtol: the tolerance on ``relative_error``.
    """

    mode: str
    options: Mapping[str, Any]
    layout: Layout = dataclasses.field(repr=False)
    weights: list[list[np.ndarray]] = dataclasses.field(repr=False)
    target: list[list[np.ndarray]] = dataclasses.field(repr=False)
    relative_error: float
    max_abs_error: float
    ratio_min: float
    ratio_max: float
    masked_weight: float
    worst: TokenLocation | None
    combined_loss: float
    target_loss: float
    rtol: float

    @property
    def passed(self) -> bool:
        return self.relative_error <= self.rtol  # False for NaN

    @property
    def spread(self) -> float:
        """``ratio_max / ratio_min``: 1 when every token is weighted alike."""
        return self.ratio_max / self.ratio_min if self.ratio_min > 0 else math.inf

    def summary(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        valid = sum(int(np.count_nonzero(t)) for row in self.target for t in row)
        positions = sum(t.size for row in self.target for t in row)
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"audit of {self.mode} ({options}) on {self.layout.describe()}, "
            f"{positions} positions, {valid} with a target weight:",
            f"  {verdict}: relative gradient error {self.relative_error:.3g} "
            f"({'<=' if self.passed else 'not <='} rtol {self.rtol:g})",
            f"  effective weight / target over those tokens: min {self.ratio_min:.6g}, "
            f"max {self.ratio_max:.6g} (max/min {self.spread:.6g})",
            f"  largest weight on a masked position: {self.masked_weight:.6g}",
        ]
        if self.worst is not None and self.max_abs_error > 0:
            lines.append(f"  worst token: {self.worst}")
        lines.append(
            f"  combined loss {self.combined_loss:.6g} against {self.target_loss:.6g} "
            "on random per-token losses"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def check(self) -> AuditReport:
        """Return the report if it passed; else raise ``AssertionError`` with the summary."""
        if not self.passed:
            raise AssertionError(self.summary())
        return self


LossFn = Callable[[Any, MicroStep], Any]


def audit_loss(
    loss_fn: LossFn,
    layout: Layout,
    *,
    mode: str,
    max_length: float | None = None,
    count_empty: bool | None = None,
    library: str = "numpy",
    prepare: Callable[[Window], Any] | None = None,
    rtol: float = 1e-6,
    seed: int = 0,
    coefficient: float = 1.0,
) -> AuditReport:
    """Report every token's effective weight in the gradient your engine combines.

    ``loss_fn(per_token_loss, step)`` is your per-micro-step loss: it receives one
    micro-batch's per-token losses (a float64 ``[B, T]`` array of ``library``) and a
    :class:`MicroStep` (the micro-batch's mask, segment and group ids, its replica and
    micro-step, the engine, the replica's whole window and an ``all_reduce``), and returns
    the scalar your training loop calls ``backward`` on. It runs inside
    ``losskit.distribute.replica_context`` for its replica (so losskit's own
    ``global_denominator``, ``compute_average_loss`` and aggregation plans work unchanged)
    and may be called many times, in any order: it must be a function of its arguments
    (anything computed once per window goes in ``prepare``). Values it all-reduces must
    not depend on the per-token losses (counts never do).

    The engine combines the micro-steps' gradients as ``layout`` says: a mean over
    replicas divides by R, ``accumulation="mean"`` by ``accumulation_steps``. The target is
    ``coefficient`` times ``mode``'s coefficient c_t on the whole step (canonical name or
    framework alias): with a ``coefficient``, audit one term of a multi-term objective (a
    z-loss, an MTP or side term, a load-balancing term's router probabilities) on its own,
    against the weight its coefficient promises.

    Args:
        loss_fn: the function to audit.
        layout: replicas, micro-batches, rows, groups and engine (:class:`Layout`).
        mode: the target, e.g. ``"token-mean"`` or ``"verl:seq-mean-token-mean"``.
        max_length: L for ``seq-mean-token-sum-norm``.
        count_empty: count empty sequences and groups; default: the alias's setting, else
            False.
        library: ``"numpy"`` (unit vectors, no framework needed), ``"torch"`` or ``"jax"``
            (autograd in float64).
        prepare: ``prepare(window) -> state``, run once per replica before its first
            micro-step (build a plan, all-reduce counts); ``step.state`` holds the result.
        rtol: tolerated relative gradient error.
        seed: seed of the random per-token losses used for the reported loss values.
        coefficient: the term's coefficient: the target is ``coefficient * c_t``.

    Returns:
        An :class:`AuditReport`; ``report.check()`` raises ``AssertionError`` unless it
        passed.

    Raises:
        TypeError: ``loss_fn``/``prepare`` not callable, ``layout`` not a :class:`Layout`.
        ValueError: unknown ``mode`` or ``library``, a missing ``max_length`` or group
            ids for the mode, a ``loss_fn`` that is not linear in the per-token losses, or
            that all-reduces values depending on them.

    Example:
        >>> import numpy as np
        >>> from losskit.testing import Layout, audit_loss
        >>> layout = Layout([[np.array([[1, 1, 1, 0]]), np.array([[1, 0, 0, 0]])]])
        >>> def local_mean(l, step):  # each micro-batch's own mean, halved: a mean of means
        ...     return (l * step.mask).sum() / step.mask.sum() / step.micro_steps
        >>> report = audit_loss(local_mean, layout, mode="token-mean")
        >>> report.passed, round(report.ratio_min, 4), round(report.ratio_max, 4)
        (False, 0.6667, 2.0)
        >>> print(report.worst)
        rank 0, micro-batch 1, row 0, position 0: weight 0.5 against 0.25 (x2)
    """
    if not callable(loss_fn):
        raise TypeError(invalid("loss_fn", "a function (per_token_loss, step) -> scalar", loss_fn))
    if prepare is not None and not callable(prepare):
        raise TypeError(invalid("prepare", "a function (window) -> state, or None", prepare))
    if not isinstance(layout, Layout):
        raise TypeError(invalid("layout", "a losskit.testing.Layout", layout))
    if library not in LIBRARIES:
        raise ValueError(invalid("library", f"one of {LIBRARIES}", library))
    if isinstance(rtol, bool) or not (isinstance(rtol, numbers.Real) and rtol >= 0):
        raise ValueError(invalid("rtol", "a non-negative number", rtol))
    if (
        isinstance(coefficient, bool)
        or not isinstance(coefficient, numbers.Real)
        or not math.isfinite(float(coefficient))
    ):
        raise ValueError(invalid("coefficient", "a finite real number", coefficient))
    canonical, options = resolve(mode)
    empty = bool(options.get("count_empty", False)) if count_empty is None else bool(count_empty)
    check_target(layout, canonical, max_length)
    target = target_weights(layout, canonical, max_length=max_length, count_empty=empty)
    if coefficient != 1.0:
        target = [[float(coefficient) * t for t in row] for row in target]
    rng = np.random.default_rng(seed)
    losses = [[rng.standard_normal(t.shape) for t in row] for row in target]
    copies = layout.replicas
    losses = [losses[r - r % copies] for r in range(layout.num_ranks)]  # the same tokens
    backend = _Backend(library)
    runs = _first_pass(loss_fn, layout, losses, prepare, backend)
    steps = int(layout.accumulation_steps or layout.micro_steps)
    scale = (1.0 / layout.num_ranks if layout.gradients == "mean" else 1.0) * (
        1.0 / steps if layout.accumulation == "mean" else 1.0
    )
    weights = [
        [scale * _derivative(loss_fn, runs[r], k, losses[r][k], backend) for k in range(len(row))]
        for r, row in enumerate(target)
    ]
    if copies > 1:  # a token's weight: the sum over the ranks that hold a copy of it
        weights = [
            [sum(weights[r - r % copies + j][k] for j in range(copies)) for k in range(len(row))]
            for r, row in enumerate(weights)
        ]
    combined = scale * sum(v for run in runs for v in run.values)
    target_loss = sum(
        float(np.sum(t * u))
        for r, (tr, ur) in enumerate(zip(target, losses, strict=True))
        if r % copies == 0
        for t, u in zip(tr, ur, strict=True)
    )
    settings = {"count_empty": empty, **({"max_length": max_length} if max_length else {})}
    if coefficient != 1.0:
        settings["coefficient"] = float(coefficient)
    return _report(canonical, settings, layout, weights, target, combined, target_loss, rtol)


# ----------------------------------------------------------------------------- running


class _Backend:
    """The audited library's arrays, and the scope its float64 arithmetic needs."""

    def __init__(self, library: str) -> None:
        self.library = library

    def array(self, value: np.ndarray) -> Any:
        if self.library == "torch":
            import torch

            return torch.from_numpy(np.ascontiguousarray(value))
        if self.library == "jax":
            import jax.numpy as jnp

            return jnp.asarray(value)
        return value

    def scope(self) -> Any:
        if self.library == "jax":
            import jax

            return jax.enable_x64(True)
        return contextlib.nullcontext()


Recorded = list[tuple[str, np.ndarray, Any]]
"""What one micro-step all-reduced: (collective, value sent, sum received), in order."""


@dataclasses.dataclass
class _Run:
    """One replica's first pass: its context, window, prepared state, the values of its
    micro-steps and what each micro-step all-reduced."""

    context: DistributionContext
    window: Window
    state: Any
    values: list[float]
    reduced: list[Recorded]


class _Collectives:
    """The sequence groups' and data groups' all-reduces of a layout's threads."""

    def __init__(self, layout: Layout, timeout: float) -> None:
        self.layout = layout
        ranks, shards = layout.num_ranks, layout.sequence_shards
        self.sequence: dict[tuple[int, int], _ThreadAllReduce] = {}
        self.data: dict[tuple[int, int], _ThreadAllReduce] = {}
        for r in range(ranks):
            key = (layout.data_index(r), layout.replica_index(r))
            self.sequence.setdefault(key, _ThreadAllReduce(shards, timeout))
            key = (layout.shard_index(r), layout.replica_index(r))
            self.data.setdefault(key, _ThreadAllReduce(ranks // shards // layout.replicas, timeout))

    def of(self, rank: int) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
        layout = self.layout
        copy = layout.replica_index(rank)
        sequence = self.sequence[(layout.data_index(rank), copy)]
        data = self.data[(layout.shard_index(rank), copy)]
        return (
            sequence.for_replica(layout.shard_index(rank)),
            data.for_replica(layout.data_index(rank)),
        )

    def abort(self) -> None:
        for collective in (*self.sequence.values(), *self.data.values()):
            collective.barrier.abort()


def _first_pass(
    loss_fn: LossFn,
    layout: Layout,
    losses: list[list[np.ndarray]],
    prepare: Callable[[Window], Any] | None,
    backend: _Backend,
) -> list[_Run]:
    """Run every replica's window in threads with real all-reduces, recording what each
    micro-step all-reduced so that later evaluations can replay it."""
    groups = _Collectives(layout, timeout=60.0)

    def replica(r: int) -> _Run:
        try:
            return run_one(r)
        except BaseException:
            groups.abort()
            raise

    def run_one(r: int) -> _Run:
        with backend.scope():
            base = get_context()
            assert base is not None
            assert base.all_reduce is not None
            slot: list[Recorded | None] = [None]

            def recording(kind: str, collective: Callable[[Any], Any]) -> Callable[[Any], Any]:
                def call(value: Any) -> Any:
                    total = collective(value)
                    if slot[0] is not None:
                        slot[0].append((kind, _host(value, "loss_fn"), total))
                    return total

                return call

            sequence, data = groups.of(r)
            reduces = {
                "all_reduce": recording("all_reduce", base.all_reduce),
                "sequence_all_reduce": recording("sequence_all_reduce", sequence),
                "data_all_reduce": recording("data_all_reduce", data),
            }
            context = _context(base, layout, r, reduces)
            window = _window(layout, r, backend, reduces)
            run = _Run(context, window, None, [], [])
            with enter(context):
                run.state = prepare(window) if prepare is not None else None
                for k in range(layout.micro_steps):
                    run.reduced.append([])
                    slot[0] = run.reduced[k]
                    value = loss_fn(backend.array(losses[r][k]), MicroStep(window, k, run.state))
                    run.values.append(_scalar(value))
                slot[0] = None
            return run

    return run_replicas(
        replica,
        layout.num_ranks,
        gradients=layout.gradients,
        accumulation_steps=layout.accumulation_steps or 1,
        accumulation=layout.accumulation,
        timeout=60.0,
    )


def _context(
    base: DistributionContext, layout: Layout, rank: int, reduces: dict[str, Callable[[Any], Any]]
) -> DistributionContext:
    """The replica context of ``rank`` with the layout's sequence split and collectives."""
    return dataclasses.replace(
        base,
        all_reduce=reduces["all_reduce"],
        sequence_shards=layout.sequence_shards,
        sequence_shard=layout.shard_index(rank),
        sequence_all_reduce=reduces["sequence_all_reduce"],
    )


def _window(
    layout: Layout, rank: int, backend: _Backend, reduces: dict[str, Callable[[Any], Any]]
) -> Window:
    def convert(nested: Any) -> tuple[Any, ...] | None:
        return None if nested is None else tuple(backend.array(a) for a in nested[rank])

    masks = convert(layout.masks)
    assert masks is not None
    unsharded = tuple(
        backend.array(layout.unsharded(rank, k)[0]) for k in range(layout.micro_steps)
    )
    return Window(
        rank=rank,
        num_ranks=layout.num_ranks,
        masks=masks,
        segment_ids=convert(layout.segment_ids),
        group_ids=convert(layout.group_ids),
        num_groups=layout.num_groups,
        accumulation_steps=int(layout.accumulation_steps or 1),
        gradients=layout.gradients,
        accumulation=layout.accumulation,
        all_reduce=reduces["all_reduce"],
        sequence_shards=layout.sequence_shards,
        sequence_shard=layout.shard_index(rank),
        replicas=layout.replicas,
        unsharded_masks=unsharded,
        sequence_all_reduce=reduces["sequence_all_reduce"],
        data_all_reduce=reduces["data_all_reduce"],
    )


def _replaying(recorded: Recorded) -> dict[str, Callable[[Any], Any]]:
    """All-reduces that hand out, in order, what the first pass's calls returned, after
    checking that they are asked to reduce the same values by the same collective."""
    calls: Iterator[tuple[str, np.ndarray, Any]] = iter(recorded)

    def replay(kind: str) -> Callable[[Any], Any]:
        def all_reduce(value: Any) -> Any:
            got = _host(value, "loss_fn")
            try:
                used, sent, total = next(calls)
            except StopIteration:
                raise ValueError(_dependent("calls all_reduce more often than before")) from None
            if used != kind:
                raise ValueError(_dependent(f"calls {kind} where it called {used} before"))
            if got.shape != sent.shape or not np.allclose(
                got, sent, rtol=1e-12, atol=0.0, equal_nan=True
            ):
                raise ValueError(
                    _dependent("all-reduces a value that depends on the per-token losses")
                )
            return total

        return all_reduce

    return {kind: replay(kind) for kind in ("all_reduce", "sequence_all_reduce", "data_all_reduce")}


def _dependent(what: str) -> str:
    return invalid(
        "loss_fn",
        "a function whose all-reduced values (counts) do not depend on the per-token losses",
        f"one that {what}",
        hint="Only counts and other mask-derived values may be all-reduced; the loss itself "
        "is combined by the engine.",
    )


def _derivative(
    loss_fn: LossFn, run: _Run, k: int, base: np.ndarray, backend: _Backend
) -> np.ndarray:
    """d loss_fn / d per_token_loss at micro-step k of one replica, exactly."""

    def call(per_token_loss: Any) -> Any:
        reduces = _replaying(run.reduced[k])
        window = dataclasses.replace(
            run.window,
            all_reduce=reduces["all_reduce"],
            sequence_all_reduce=reduces["sequence_all_reduce"],
            data_all_reduce=reduces["data_all_reduce"],
        )
        context = dataclasses.replace(
            run.context,
            all_reduce=reduces["all_reduce"],
            sequence_all_reduce=reduces["sequence_all_reduce"],
        )
        with enter(context):
            return loss_fn(per_token_loss, MicroStep(window, k, run.state))

    with backend.scope():
        if backend.library == "torch":
            weights, at_zero, at_base = _torch_gradient(call, base)
        elif backend.library == "jax":
            weights, at_zero, at_base = _jax_gradient(call, base)
        else:
            weights, at_zero, at_base = _unit_vectors(call, base)
    predicted = at_zero + float(np.sum(weights * base))
    finite = bool(np.all(np.isfinite(weights))) and math.isfinite(at_base)
    if finite and not math.isclose(
        at_base, predicted, rel_tol=1e-9, abs_tol=1e-9 * (1 + abs(at_base))
    ):
        raise ValueError(
            invalid(
                "loss_fn",
                "a function linear in the per-token losses (an aggregation of them)",
                f"one whose value {at_base!r} at random losses is not its value at zero "
                f"plus gradient x losses ({predicted!r}) on rank {run.window.rank}, "
                f"micro-batch {k}",
            )
        )
    return weights


def _unit_vectors(call: Callable[[Any], Any], base: np.ndarray) -> tuple[np.ndarray, float, float]:
    at_zero = _scalar(call(np.zeros_like(base)))
    weights = np.empty(base.size)
    probe = np.zeros_like(base)
    flat = probe.reshape(-1)
    for j in range(base.size):
        flat[j] = 1.0
        weights[j] = _scalar(call(probe.copy())) - at_zero
        flat[j] = 0.0
    return weights.reshape(base.shape), at_zero, _scalar(call(base.copy()))


def _torch_gradient(
    call: Callable[[Any], Any], base: np.ndarray
) -> tuple[np.ndarray, float, float]:
    import torch

    point = torch.tensor(base, dtype=torch.float64, requires_grad=True)
    value = call(point)
    if not (isinstance(value, torch.Tensor) and value.requires_grad):
        weights = np.zeros_like(base)  # the value does not depend on the losses
    else:
        (grad,) = torch.autograd.grad(value, point, allow_unused=True)
        weights = np.zeros_like(base) if grad is None else grad.detach().numpy().astype(np.float64)
    with torch.no_grad():
        at_zero = _scalar(call(torch.zeros_like(point)))
    return weights, at_zero, _scalar(value)


def _jax_gradient(call: Callable[[Any], Any], base: np.ndarray) -> tuple[np.ndarray, float, float]:
    import jax
    import jax.numpy as jnp

    value, grad = jax.value_and_grad(lambda x: jnp.asarray(call(x), dtype=jnp.float64))(
        jnp.asarray(base, dtype=jnp.float64)
    )
    at_zero = _scalar(call(jnp.zeros(base.shape, dtype=jnp.float64)))
    return np.asarray(grad, dtype=np.float64), at_zero, _scalar(value)


def _host(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    try:
        return np.asarray(value, dtype=np.float64)
    except Exception as error:  # a JAX tracer: the value depends on the per-token losses
        raise ValueError(
            _dependent("all-reduces a value that depends on the per-token losses")
        ) from error


def _scalar(value: Any) -> float:
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    array = np.asarray(value, dtype=np.float64)
    if array.size != 1:
        raise ValueError(invalid("loss_fn", "a function that returns a scalar", value))
    return float(array.reshape(()))


# ----------------------------------------------------------------------------- report


def _report(
    mode: str,
    options: dict[str, Any],
    layout: Layout,
    weights: list[list[np.ndarray]],
    target: list[list[np.ndarray]],
    combined: float,
    target_loss: float,
    rtol: float,
) -> AuditReport:
    w = np.concatenate([a.ravel() for row in weights for a in row]) if weights else np.zeros(0)
    c = np.concatenate([a.ravel() for row in target for a in row]) if target else np.zeros(0)
    error = np.abs(w - c)
    norm = float(np.linalg.norm(c))
    difference = float(np.linalg.norm(w - c))
    relative = difference / norm if norm > 0 else difference
    valid = c != 0
    ratios = w[valid] / c[valid]
    masked = np.abs(w[~valid])
    worst = None
    if error.size:
        worst = _locate(
            layout, weights, target, int(np.argmax(np.where(np.isnan(error), np.inf, error)))
        )
    return AuditReport(
        mode=mode,
        options=options,
        layout=layout,
        weights=weights,
        target=target,
        relative_error=relative,
        max_abs_error=float(np.max(error)) if error.size else 0.0,
        ratio_min=_extreme(ratios, np.min),
        ratio_max=_extreme(ratios, np.max),
        masked_weight=_extreme(masked, np.max, empty=0.0),
        worst=worst,
        combined_loss=float(combined),
        target_loss=float(target_loss),
        rtol=float(rtol),
    )


def _extreme(
    values: np.ndarray, pick: Callable[[np.ndarray], Any], *, empty: float = math.nan
) -> float:
    if values.size == 0:
        return empty
    if np.any(np.isnan(values)):
        return math.nan
    return float(pick(values))


def _locate(
    layout: Layout, weights: list[list[np.ndarray]], target: list[list[np.ndarray]], flat: int
) -> TokenLocation:
    for r, k, mask, segments, groups in layout.pieces():
        if flat < mask.size:
            row, position = divmod(flat, mask.shape[1])
            segment = None if segments is None else int(segments[row, position])
            group = None
            if groups is not None:
                group = int(groups[row, position] if segments is not None else groups[row])
            return TokenLocation(
                r,
                k,
                row,
                position,
                segment,
                group,
                float(weights[r][k][row, position]),
                float(target[r][k][row, position]),
            )
        flat -= mask.size
    raise AssertionError(f"position out of range: {describe(flat)}")
