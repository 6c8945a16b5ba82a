"""losskit.losses.linear_cross_entropy against unfused oracles.

Oracles: PyTorch float64 autograd through ``F.linear`` + ``F.cross_entropy`` (PyTorch's own
label smoothing and ignore_index) plus the z-loss written out; JAX float64 autograd through
the formula written with ``jax.nn.logsumexp``; float64 NumPy for forward values. The fused
kernels compute their gradients by hand, so every gradient here is checked against an
autograd of an unfused loss. Small shapes (the large one is in bench/).
"""

from __future__ import annotations

from typing import Any

import array_api_strict
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from losskit.losses import linear_cross_entropy
from losskit.losses._linear_ce import default_chunk_size
from tests._helpers import TOLERANCE, Backend, assert_close

N, D, V = 37, 16, 50
IGNORE = -100
CHUNK = 8  # 37 tokens: four full chunks and a partial one
FRAMEWORKS = ("torch", "jax")
GRADS = ("hidden", "weight", "bias", "token_weights")


def make_data(seed: int = 0, n: int = N, scale: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, V, size=n)
    labels[rng.random(n) < 0.2] = IGNORE
    return {
        "hidden": rng.normal(size=(n, D)) * scale,
        "weight": rng.normal(size=(V, D)) / np.sqrt(D),
        "bias": rng.normal(size=V) * 0.5,
        "labels": labels,
        "token_weights": rng.uniform(0.1, 2.0, size=n),  # non-uniform
    }


def floats_as(data: dict[str, np.ndarray], dtype: Any) -> dict[str, np.ndarray]:
    """``data`` with its floating arrays converted to ``dtype`` (the labels unchanged)."""
    return {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in data.items()}


DATA = make_data()
FULL = {"label_smoothing": 0.1, "z_loss": 1e-3}
OPTIONS = {
    "plain": {},
    "smoothing": {"label_smoothing": 0.2},
    "z_loss": {"z_loss": 1e-2},
    "full": FULL,
}


# ----------------------------------------------------------------------------- oracles


def unfused_torch(
    data: dict[str, np.ndarray],
    *,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    reduction: str = "sum",
    cotangent: np.ndarray | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(loss, gradients) of the unfused loss by PyTorch autograd; for ``reduction="none"``
    the gradients are of ``sum(cotangent * losses)``."""
    leaves = {k: torch.tensor(data[k], dtype=dtype, requires_grad=True) for k in GRADS}
    labels = torch.tensor(data["labels"])
    logits = torch.nn.functional.linear(leaves["hidden"], leaves["weight"], leaves["bias"])
    flat_logits, flat_labels = logits.reshape(-1, V), labels.reshape(-1)
    per_token = torch.nn.functional.cross_entropy(
        flat_logits,
        flat_labels,
        reduction="none",
        ignore_index=IGNORE,
        label_smoothing=label_smoothing,
    )
    lse = torch.logsumexp(flat_logits, dim=1)
    per_token = per_token + z_loss * lse**2 * (flat_labels != IGNORE)
    per_token = per_token.reshape(labels.shape) * leaves["token_weights"]
    if reduction == "none":
        out = per_token
        (per_token * torch.tensor(cotangent, dtype=dtype)).sum().backward()
    else:
        out = per_token.sum()
        out.backward()
    grads = {k: leaf.grad.numpy() for k, leaf in leaves.items()}
    return out.detach().numpy(), grads


def unfused_jax(data: dict[str, np.ndarray], *, label_smoothing: float, z_loss: float) -> Any:
    """(loss, gradients) of the unfused float64 loss by JAX autograd."""

    def loss(hidden: Any, weight: Any, bias: Any, token_weights: Any) -> Any:
        logits = hidden @ weight.T + bias
        lse = jax.nn.logsumexp(logits, axis=-1)
        labels = jnp.asarray(data["labels"])
        valid = labels != IGNORE
        picked = jnp.take_along_axis(logits, jnp.where(valid, labels, 0)[..., None], -1)[..., 0]
        smooth = lse - jnp.mean(logits, axis=-1)
        per = (1 - label_smoothing) * (lse - picked) + label_smoothing * smooth
        per = per + z_loss * lse**2
        return jnp.sum(jnp.where(valid, per, 0.0) * token_weights)

    arrays = [jnp.asarray(data[k], jnp.float64) for k in GRADS]
    value, grads = jax.value_and_grad(loss, argnums=(0, 1, 2, 3))(*arrays)
    return np.asarray(value), {k: np.asarray(g) for k, g in zip(GRADS, grads, strict=True)}


def numpy_forward(data: dict[str, np.ndarray], *, label_smoothing: float, z_loss: float) -> Any:
    """Per-token weighted losses in float64 NumPy, written out."""
    logits = data["hidden"] @ data["weight"].T + data["bias"]
    top = logits.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(logits - top).sum(axis=-1)) + top[..., 0]
    valid = data["labels"] != IGNORE
    safe = np.where(valid, data["labels"], 0)
    picked = np.take_along_axis(logits, safe[..., None], axis=-1)[..., 0]
    per = (1 - label_smoothing) * (lse - picked) + label_smoothing * (lse - logits.mean(-1))
    per = per + z_loss * lse**2
    return np.where(valid, per, 0.0) * data["token_weights"]


# ----------------------------------------------------------------------------- the fused call


def fused(
    framework: str,
    data: dict[str, np.ndarray],
    dtype: str = "float32",
    *,
    reduction: str = "sum",
    cotangent: np.ndarray | None = None,
    jit: bool = True,
    **options: Any,
) -> tuple[Any, dict[str, Any]]:
    """(result, gradients) of the fused loss; gradients in their own dtype (as arrays)."""
    options = {"chunk_size": CHUNK, **options}
    if framework == "torch":
        leaves = {
            k: torch.tensor(data[k]).to(getattr(torch, dtype)).requires_grad_(True) for k in GRADS
        }
        out = linear_cross_entropy(
            leaves["hidden"],
            leaves["weight"],
            torch.tensor(data["labels"]),
            bias=leaves["bias"],
            token_weights=leaves["token_weights"],
            reduction=reduction,
            **options,
        )
        scalar = out if reduction == "sum" else (out * torch.tensor(cotangent).to(out.dtype)).sum()
        scalar.backward()
        return out.detach(), {k: leaf.grad for k, leaf in leaves.items()}

    def loss(hidden: Any, weight: Any, bias: Any, token_weights: Any) -> Any:
        out = linear_cross_entropy(
            hidden,
            weight,
            jnp.asarray(data["labels"]),
            bias=bias,
            token_weights=token_weights,
            reduction=reduction,
            **options,
        )
        if reduction == "sum":
            return out, out
        return jnp.sum(out * jnp.asarray(cotangent, out.dtype)), out

    arrays = [jnp.asarray(data[k]).astype(getattr(jnp, dtype)) for k in GRADS]
    step = jax.value_and_grad(loss, argnums=(0, 1, 2, 3), has_aux=True)
    (_, out), grads = (jax.jit(step) if jit else step)(*arrays)
    return out, dict(zip(GRADS, grads, strict=True))


def as_float64(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().double().numpy()
    return np.asarray(value, dtype=np.float64)


def relative_error(actual: Any, expected: np.ndarray) -> float:
    """Norm-wise: ||actual - expected|| / ||expected||."""
    return float(np.linalg.norm(as_float64(actual) - expected) / np.linalg.norm(expected))


def assert_relative(actual: Any, expected: np.ndarray, limit: float, what: str) -> None:
    error = relative_error(actual, expected)
    assert error <= limit, f"{what}: relative error {error:.2e} > {limit:.0e}"


def check_against(
    result: tuple[Any, dict[str, Any]], oracle: tuple[Any, dict[str, Any]], limit: float
) -> None:
    (out, grads), (expected, expected_grads) = result, oracle
    assert_relative(out, np.asarray(expected), limit, "loss")
    for name in GRADS:
        assert_relative(grads[name], expected_grads[name], limit, f"d/d{name}")


# ----------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("option", list(OPTIONS))
def test_float32_within_1e5_of_the_float64_reference(framework: str, option: str) -> None:
    # float32 inputs; the reference sees the same (float32-rounded) numbers in float64
    data = floats_as(DATA, np.float32)
    oracle = unfused_torch(floats_as(data, np.float64), **OPTIONS[option])
    check_against(fused(framework, data, "float32", **OPTIONS[option]), oracle, 1e-5)


def test_float32_within_1e5_with_large_logits() -> None:
    data = floats_as(make_data(seed=3, scale=8.0), np.float32)  # softmax far from uniform
    oracle = unfused_torch(floats_as(data, np.float64), **FULL)
    for framework in FRAMEWORKS:
        check_against(fused(framework, data, "float32", **FULL), oracle, 1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_float64_agrees_with_the_unfused_loss(framework: str, reduction: str) -> None:
    cotangent = np.random.default_rng(1).normal(size=N)
    result = fused(framework, DATA, "float64", reduction=reduction, cotangent=cotangent, **FULL)
    oracle = unfused_torch(DATA, reduction=reduction, cotangent=cotangent, **FULL)
    check_against(result, oracle, 1e-10)


def test_jax_oracle_agrees_with_the_torch_oracle() -> None:
    # the two unfused oracles are independent implementations of the formula
    check_against(unfused_jax(DATA, **FULL), unfused_torch(DATA, **FULL), 1e-12)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_batch_time_inputs(framework: str) -> None:
    data = make_data(seed=5, n=2 * 13)
    batched = {
        k: v.reshape(2, 13, *v.shape[1:]) if v.shape[0] == 26 else v for k, v in data.items()
    }
    out, grads = fused(framework, batched, "float64", **FULL)
    expected, expected_grads = unfused_torch(batched, **FULL)
    assert tuple(grads["hidden"].shape) == (2, 13, D)
    check_against((out, grads), (expected, expected_grads), 1e-10)
    cotangent = np.random.default_rng(2).normal(size=(2, 13))
    out, grads = fused(framework, batched, "float64", reduction="none", cotangent=cotangent)
    assert tuple(out.shape) == (2, 13)
    check_against(
        (out, grads), unfused_torch(batched, reduction="none", cotangent=cotangent), 1e-10
    )


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_accumulates_in_float32(framework: str, dtype: str) -> None:
    data = {k: v for k, v in DATA.items()}
    data["weight"] = data["weight"] / 2
    out, grads = fused(framework, data, dtype, **FULL)
    # the reference sees the numbers rounded to `dtype`
    rounded = {
        k: as_float64(torch.tensor(v).to(getattr(torch, dtype))) if k in GRADS else v
        for k, v in data.items()
    }
    expected, expected_grads = unfused_torch(rounded, **FULL)
    assert str(out.dtype).endswith(dtype)
    assert str(grads["weight"].dtype).endswith(dtype)
    limit = TOLERANCE[dtype]
    assert_relative(out, expected, limit, "loss")
    for name in GRADS:
        assert_relative(grads[name], expected_grads[name], limit, f"d/d{name}")


def test_jax_eager_equals_jitted() -> None:
    eager = fused("jax", DATA, "float64", jit=False, **FULL)
    check_against(eager, unfused_torch(DATA, **FULL), 1e-10)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_forward_on_every_backend(xp: Backend, reduction: str) -> None:
    arrays = {k: xp.asarray(DATA[k], "float64") for k in GRADS}
    got = linear_cross_entropy(
        arrays["hidden"],
        arrays["weight"],
        xp.asarray(DATA["labels"], "int64"),
        bias=arrays["bias"],
        token_weights=arrays["token_weights"],
        reduction=reduction,
        chunk_size=CHUNK,
        **FULL,
    )
    expected = numpy_forward(DATA, **FULL)
    assert_close(xp.numpy(got), expected if reduction == "none" else expected.sum(), rtol=1e-12)


def test_numpy_float32_forward() -> None:
    data = floats_as(DATA, np.float32)
    got = linear_cross_entropy(
        data["hidden"], data["weight"], data["labels"], bias=data["bias"], **FULL
    )
    assert got.dtype == np.float32
    expected = numpy_forward({**DATA, "token_weights": np.ones(N)}, **FULL).sum()
    assert_close(got, expected, rtol=1e-5)


def check_chunking_law(framework: str, n: int, chunk: int, reduction: str) -> None:
    """Any chunk size gives the result of one chunk, to float64 rounding."""
    data = make_data(seed=n, n=n)
    common = {"reduction": reduction, "cotangent": np.linspace(-1.0, 1.0, n), "jit": False}
    one, one_grads = fused(framework, data, "float64", chunk_size=chunk, **common, **FULL)
    whole, whole_grads = fused(framework, data, "float64", chunk_size=64, **common, **FULL)
    assert_close(as_float64(one), as_float64(whole), rtol=1e-12, atol=1e-14)
    for name in GRADS:
        actual, expected = as_float64(one_grads[name]), as_float64(whole_grads[name])
        assert_close(actual, expected, rtol=1e-12, atol=1e-14)


@given(n=st.integers(0, 12), chunk=st.integers(1, 14), reduction=st.sampled_from(["sum", "none"]))
def test_chunking_does_not_change_the_result_torch(n: int, chunk: int, reduction: str) -> None:
    check_chunking_law("torch", n, chunk, reduction)


@pytest.mark.parametrize(
    ("n", "chunk", "reduction"), [(0, 3, "sum"), (7, 3, "none"), (12, 5, "sum")]
)
def test_chunking_does_not_change_the_result_jax(n: int, chunk: int, reduction: str) -> None:
    # a few cases: every new shape traces the scans again (hypothesis covers PyTorch)
    check_chunking_law("jax", n, chunk, reduction)


def test_jax_ragged_tokens_take_no_more_temporary_memory() -> None:
    # N not a multiple of the chunk: the last chunk is read in place (it starts early),
    # not a padded copy of hidden, labels and coefficients
    def temporaries(n: int) -> int:
        rng = np.random.default_rng(0)
        hidden = jnp.asarray(rng.normal(size=(n, 32)), jnp.float32)
        weight = jnp.asarray(rng.normal(size=(2048, 32)), jnp.float32)
        labels = jnp.asarray(rng.integers(0, 2048, n), jnp.int32)

        def loss(h: Any, w: Any) -> Any:
            return linear_cross_entropy(h, w, labels, chunk_size=128)

        step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        analysis = step.lower(hidden, weight).compile().memory_analysis()
        return int(analysis.temp_size_in_bytes)

    assert temporaries(511) <= temporaries(512)


# ----------------------------------------------------------------------------- special inputs


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_no_tokens_and_all_ignored(framework: str) -> None:
    for data in (make_data(n=0), {**DATA, "labels": np.full(N, IGNORE)}):
        out, grads = fused(framework, data, "float64", **FULL)
        assert float(as_float64(out)) == 0.0
        for name in ("hidden", "weight", "bias"):
            assert not np.any(as_float64(grads[name]))


def test_scalar_token_weight_equals_a_constant_array() -> None:
    hidden, weight = torch.tensor(DATA["hidden"]), torch.tensor(DATA["weight"])
    labels = torch.tensor(DATA["labels"])
    scalar = linear_cross_entropy(hidden, weight, labels, token_weights=0.25)
    array = linear_cross_entropy(hidden, weight, labels, token_weights=torch.full((N,), 0.25))
    expected = (
        0.25
        * numpy_forward(
            {**DATA, "bias": np.zeros(V), "token_weights": np.ones(N)},
            label_smoothing=0.0,
            z_loss=0.0,
        ).sum()
    )
    assert_close(scalar.numpy(), expected, rtol=1e-12)
    assert_close(array.numpy(), expected, rtol=1e-12)


def test_ignore_index_may_be_a_class() -> None:
    data = {**DATA, "labels": np.where(DATA["labels"] == IGNORE, 3, DATA["labels"])}
    got = linear_cross_entropy(
        data["hidden"], data["weight"], data["labels"], bias=data["bias"], ignore_index=3
    )
    per = numpy_forward({**data, "token_weights": np.ones(N)}, label_smoothing=0.0, z_loss=0.0)
    # numpy_forward ignores IGNORE: recompute with class 3 ignored by hand
    expected = per[data["labels"] != 3].sum()
    assert_close(got, expected, rtol=1e-12)


def test_torch_gradients_only_where_required() -> None:
    hidden = torch.tensor(DATA["hidden"])  # frozen
    weight = torch.tensor(DATA["weight"], requires_grad=True)
    labels = torch.tensor(DATA["labels"])
    loss = linear_cross_entropy(hidden, weight, labels, chunk_size=CHUNK)
    loss.backward()
    assert hidden.grad is None
    _, expected = unfused_torch({**DATA, "bias": np.zeros(V), "token_weights": np.ones(N)})
    assert_close(weight.grad.numpy(), expected["weight"], rtol=1e-10)
    with torch.no_grad():
        again = linear_cross_entropy(hidden, weight, labels, chunk_size=CHUNK)
    assert not again.requires_grad
    assert_close(again.numpy(), loss.detach().numpy(), rtol=1e-14)


def test_torch_non_contiguous_inputs() -> None:
    # a transposed hidden view, and a head tied to a [d, V] parameter (weight = its .T)
    hidden = torch.tensor(DATA["hidden"].T.copy()).T.requires_grad_(True)
    table = torch.tensor(DATA["weight"].T.copy(), requires_grad=True)
    loss = linear_cross_entropy(hidden, table.T, torch.tensor(DATA["labels"]), chunk_size=CHUNK)
    loss.backward()
    expected, grads = unfused_torch({**DATA, "bias": np.zeros(V), "token_weights": np.ones(N)})
    assert_close(loss.detach().numpy(), expected, rtol=1e-12)
    assert_close(hidden.grad.numpy(), grads["hidden"], rtol=1e-10)
    assert_close(table.grad.numpy(), grads["weight"].T, rtol=1e-10)


def test_torch_upstream_gradient_scales_the_precomputed_gradients() -> None:
    leaves = [torch.tensor(DATA[k], requires_grad=True) for k in ("hidden", "weight")]
    loss = linear_cross_entropy(*leaves, torch.tensor(DATA["labels"]), chunk_size=CHUNK)
    (3.0 * loss).backward()
    _, expected = unfused_torch({**DATA, "bias": np.zeros(V), "token_weights": np.ones(N)})
    assert_close(leaves[0].grad.numpy(), 3.0 * expected["hidden"], rtol=1e-10)
    assert_close(leaves[1].grad.numpy(), 3.0 * expected["weight"], rtol=1e-10)


def test_torch_second_backward_is_refused() -> None:
    weight = torch.tensor(DATA["weight"], requires_grad=True)
    loss = linear_cross_entropy(torch.tensor(DATA["hidden"]), weight, torch.tensor(DATA["labels"]))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backward ran a second time"):
        loss.backward()


@pytest.fixture
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.usefixtures("_fresh_dynamo")
def test_torch_compile_fullgraph() -> None:
    data = make_data(seed=7, n=12)

    def step(hidden: Any, weight: Any, labels: Any, weights: Any) -> Any:
        return linear_cross_entropy(
            hidden, weight, labels, token_weights=weights, chunk_size=6, **FULL
        )

    compiled = torch.compile(step, fullgraph=True)
    leaves = [torch.tensor(data[k], requires_grad=True) for k in ("hidden", "weight")]
    labels, weights = torch.tensor(data["labels"]), torch.tensor(data["token_weights"])
    loss = compiled(*leaves, labels, weights)
    loss.backward()
    expected, grads = unfused_torch({**data, "bias": np.zeros(V)}, **FULL)
    assert_close(loss.detach().numpy(), expected, rtol=1e-10)
    assert_close(leaves[0].grad.numpy(), grads["hidden"], rtol=1e-10)
    assert_close(leaves[1].grad.numpy(), grads["weight"], rtol=1e-10)
    # not checked while compiling (it would read the labels): the result is NaN
    bad = labels.clone()
    bad[0] = V
    with torch.no_grad():
        assert torch.isnan(compiled(*leaves, bad, weights))


def test_out_of_range_labels_under_jit_give_nan() -> None:
    data = {**DATA, "labels": DATA["labels"].copy()}
    data["labels"][0] = V
    cotangent = np.ones(N)
    out, grads = fused("jax", data, "float64", reduction="none", cotangent=cotangent)
    out = np.asarray(out)
    assert np.isnan(out[0])
    assert np.all(np.isfinite(out[1:]))
    assert np.isnan(np.asarray(grads["weight"])).any()


# ----------------------------------------------------------------------------- errors


CONVERT = {
    "numpy": np.asarray,
    "torch": torch.tensor,
    "jax": jnp.asarray,
    "array_api_strict": array_api_strict.asarray,
}


def _call(library: str, **changes: Any) -> Any:
    """linear_cross_entropy on DATA converted to ``library``, with arguments replaced."""
    convert = CONVERT[library]
    args = {
        "hidden": convert(DATA["hidden"]),
        "weight": convert(DATA["weight"]),
        "labels": convert(DATA["labels"]),
    }
    args.update(changes)
    return linear_cross_entropy(args.pop("hidden"), args.pop("weight"), args.pop("labels"), **args)


@pytest.mark.parametrize("library", list(CONVERT))
def test_out_of_range_labels_raise_on_the_cpu(library: str) -> None:
    labels = DATA["labels"].copy()
    labels[[1, 4]] = [V, -3]
    converted = CONVERT[library](labels)
    match = r"Invalid `labels`: expected class indices in \[0, 50\) or `ignore_index` \(-100\)"
    with pytest.raises(
        ValueError,
        match=match + r", received 2 label\(s\) outside it "
        r"\(smallest -3, largest 50\)",
    ):
        _call(library, labels=converted)


ERRORS = [
    (
        {"reduction": "mean"},
        ValueError,
        r"Invalid `reduction`: .*'mean'\. A fused kernel .*"
        r"`token_weights` \(losskit\.aggregation, `Plan\.weights\(k\)`",
    ),
    (
        {"reduction": "avg"},
        ValueError,
        r"Invalid `reduction`: expected 'sum' or 'none', "
        r"received 'avg'",
    ),
    (
        {"chunk_size": 0},
        ValueError,
        r"Invalid `chunk_size`: expected a positive integer or "
        r"None, received 0",
    ),
    ({"chunk_size": -4}, ValueError, r"Invalid `chunk_size`: .*received -4"),
    ({"chunk_size": 2.0}, ValueError, r"Invalid `chunk_size`: .*received 2\.0"),
    ({"chunk_size": True}, ValueError, r"Invalid `chunk_size`: .*received True"),
    (
        {"label_smoothing": 1.5},
        ValueError,
        r"Invalid `label_smoothing`: expected a number in "
        r"\[0, 1\], received 1\.5",
    ),
    ({"z_loss": -1e-4}, ValueError, r"Invalid `z_loss`: expected a finite number >= 0"),
    (
        {"ignore_index": None},
        ValueError,
        r"Invalid `ignore_index`: expected an integer, "
        r"received None",
    ),
    (
        {"labels": DATA["labels"].astype(np.float32)},
        TypeError,
        r"Invalid `labels`: expected "
        r"integer class indices \(int32 or int64\), received numpy array of shape \(37,\) and "
        r"dtype float32",
    ),
    (
        {"labels": DATA["labels"][:-1]},
        ValueError,
        r"Invalid `labels`: expected the shape of "
        r"`hidden` without its last axis, \(37,\), received numpy array of shape \(36,\)",
    ),
    (
        {"hidden": DATA["hidden"][0]},
        ValueError,
        r"Invalid `hidden`: expected an array \[N, d\] "
        r"or \[B, T, d\], received numpy array of shape \(16,\)",
    ),
    (
        {"hidden": DATA["labels"][:, None]},
        TypeError,
        r"Invalid `hidden`: expected an array of "
        r"real floating dtype",
    ),
    (
        {"weight": DATA["weight"][:, :-1]},
        ValueError,
        r"Invalid `weight`: expected an array "
        r"\[V, 16\] \(torch\.nn\.Linear's layout, d of `hidden`\), received numpy array of shape "
        r"\(50, 15\)",
    ),
    ({"weight": DATA["weight"].T}, ValueError, r"Invalid `weight`: expected an array \[V, 16\]"),
    (
        {"weight": DATA["weight"].astype(np.float32)},
        TypeError,
        r"Invalid `weight`: expected "
        r"the dtype of `hidden` \(float64\), received numpy array of shape \(50, 16\) and dtype "
        r"float32",
    ),
    (
        {"bias": np.zeros(V - 1)},
        ValueError,
        r"Invalid `bias`: expected an array \[50\] \(V of "
        r"`weight`\), received numpy array of shape \(49,\)",
    ),
    (
        {"bias": np.zeros(V, np.float32)},
        TypeError,
        r"Invalid `bias`: expected the dtype of "
        r"`hidden`",
    ),
    (
        {"token_weights": np.ones(N - 1)},
        ValueError,
        r"Invalid `token_weights`: expected one "
        r"weight per token \(shape \(37,\)\) or a scalar, received numpy array of shape \(36,\)",
    ),
    (
        {"token_weights": np.array(["a"] * N)},
        TypeError,
        r"Invalid `token_weights`: expected an array of real floating, integer or bool dtype, "
        r"received numpy array of shape \(37,\) and dtype <U1",
    ),
]


@pytest.mark.parametrize(("changes", "error", "match"), ERRORS)
def test_errors(changes: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        _call("numpy", **changes)


def test_float_labels_are_refused_on_torch_and_jax() -> None:
    match = r"Invalid `labels`: expected integer class indices \(int32 or int64\), received"
    with pytest.raises(TypeError, match=match + " torch array"):
        _call("torch", labels=torch.tensor(DATA["labels"], dtype=torch.float32))
    with pytest.raises(TypeError, match=match + " jaxlib array"):
        _call("jax", labels=jnp.asarray(DATA["labels"], jnp.float32))


def test_arrays_of_two_libraries_are_refused() -> None:
    with pytest.raises(
        TypeError,
        match=r"Invalid `weight`: expected an array from the same "
        r"library as `hidden`",
    ):
        _call("torch", weight=jnp.asarray(DATA["weight"]))


def test_default_chunk_size() -> None:
    assert default_chunk_size(32768, "torch") == 512  # 2**24 logits
    assert default_chunk_size(32768, "jax") == 256  # 2**23 logits
    assert default_chunk_size(131072, "torch") == 256  # at least 256 tokens
    assert default_chunk_size(1000) == 8388
