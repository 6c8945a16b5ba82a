"""Every example of the four reference pages, and the pages' note on gradients.

For each ``tests._page_examples.EXAMPLES`` entry: the live TensorFlow computes the recorded
number (or raises the recorded error), and losskit on NumPy, PyTorch and JAX computes the
live TensorFlow's. The gradients of ``compute_weighted_loss`` and of
``compute_average_loss`` with ``sample_weight`` flow into losses *and* weights; they must
equal ``tf.GradientTape``'s on PyTorch and JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import losskit
from tests import _page_examples as page_examples
from tests._helpers import assert_close
from tests.conformance._outcomes import Outcome, backend, build, from_tensorflow
from tests.conformance._pages import GradientCase, example_key, gradient_cases

pytestmark = pytest.mark.tf

EXAMPLE_RTOL = 2e-6  # float32 results; summation order may differ in the last bit
GRADIENT_RTOL = 1e-5


def _example_outcome(tf_results: dict[str, Any], example: page_examples.Example) -> Outcome:
    result = tf_results["examples"].get(example_key(example))
    if result is None:
        pytest.fail(f"no TensorFlow result for page example {example_key(example)!r}")
    return from_tensorflow(result)


def _as_recorded(outcome: Outcome) -> float | tuple[float, ...] | str:
    """An outcome in the form of ``Example.tensorflow``."""
    if outcome.raised:
        return str(outcome.error)
    assert outcome.value is not None
    if outcome.value.ndim == 0:
        return float(outcome.value)
    return tuple(float(v) for v in outcome.value.reshape(-1))


EXAMPLES = [pytest.param(example, id=example_key(example)) for example in page_examples.EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES)
def test_live_tensorflow_gives_the_recorded_number(
    example: page_examples.Example, tf_results: dict[str, Any]
) -> None:
    live = _as_recorded(_example_outcome(tf_results, example))
    recorded = example.tensorflow
    if isinstance(recorded, str) or isinstance(live, str):
        assert live == recorded, f"{example_key(example)}: TF gives {live}, recorded {recorded}"
        return
    assert_close(live, recorded, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend_name", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("example", EXAMPLES)
def test_losskit_gives_the_live_tensorflow_number(
    example: page_examples.Example, backend_name: str, tf_results: dict[str, Any]
) -> None:
    live = _example_outcome(tf_results, example)
    xp = backend(backend_name)
    if live.raised:
        with pytest.raises((ValueError, TypeError, RuntimeError)) as raised:
            xp.run(example.run, xp.xp)
        assert type(raised.value).__name__ == live.error, (
            f"{example_key(example)}: losskit raises {raised.value!r}, TF raises {live}"
        )
        return
    got = xp.run(example.run, xp.xp)
    assert xp.dtype_name(got) == live.dtype, f"{example_key(example)}: dtype {got.dtype} != {live}"
    assert tuple(got.shape) == live.shape
    assert_close(xp.numpy(got), live.value, rtol=EXAMPLE_RTOL, atol=1e-7)


# ----------------------------------------------------------------------------- gradients


def _loss_fn(case: GradientCase) -> Any:
    def loss(losses: Any, weights: Any) -> Any:
        if case.api == "cal":
            return losskit.compute_average_loss(
                losses, sample_weight=weights, global_batch_size=case.gbs
            )
        return losskit.compute_weighted_loss(losses, weights, reduction=case.reduction)

    return loss


@pytest.mark.parametrize("backend_name", ["torch", "jax"])
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in gradient_cases()])
def test_gradients_match_gradient_tape(
    case: GradientCase, backend_name: str, tf_results: dict[str, Any]
) -> None:
    tf = tf_results["gradients"].get(case.id)
    assert tf is not None, f"no TensorFlow result for {case.id}"
    assert "error" not in tf, f"TensorFlow failed on {case.id}: {tf}"
    xp = backend(backend_name)
    losses, weights = build(case.losses, xp), build(case.weights, xp)
    fn = _loss_fn(case)
    value = xp.run(fn, losses, weights)
    assert_close(xp.numpy(value), from_tensorflow(tf["loss"]).value, rtol=GRADIENT_RTOL)
    d_losses, d_weights = xp.grad(fn, losses, weights)
    for name, got, result in (
        ("losses", d_losses, tf["d_losses"]),
        ("weights", d_weights, tf["d_weights"]),
    ):
        want = from_tensorflow(result).value
        assert want is not None
        assert np.shape(got) == want.shape, f"d/d{name}: shape {np.shape(got)} != {want.shape}"
        try:
            assert_close(got, want, rtol=GRADIENT_RTOL, atol=1e-7)
        except AssertionError as mismatch:
            raise AssertionError(
                f"{case.id} on {backend_name}: d loss / d {name}\n"
                f"losskit    {np.asarray(got).tolist()}\nTensorFlow {want.tolist()}\n{mismatch}"
            ) from None
