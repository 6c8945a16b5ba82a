"""The benchmark inputs, generated identically in every worker process, and float64 references.

Losses are exponential(1) like cross-entropy values (positive, so a relative error of the sum
is meaningful), weights are uniform in [0, 2) with 10% exact zeros (so ``count_nonzero`` has
work to do). The token case has per-sequence weights ``[B, 1]`` or a padding mask ``[B, T]``
of ones followed by zeros (random lengths). Everything is float32 and C-contiguous.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from functools import cache

import numpy as np

SEED = 20251122
N_LARGE = 1 << 24  # 16M float32 = 64 MiB per array
TOKENS = (1024, 4096)  # [batch, sequence]
N_SMALL = 32


@dataclasses.dataclass(frozen=True)
class Inputs:
    losses: np.ndarray
    weights: np.ndarray
    reference: float  # float64 sum(losses * weights), exact products, pairwise sum

    @property
    def size(self) -> int:
        return int(self.losses.size)


def _reference(losses: np.ndarray, weights: np.ndarray) -> float:
    # float32 * float32 is exact in float64 (48 significant bits); NumPy's pairwise float64
    # sum then has a relative error near 1e-16, far below anything measured here.
    wide = np.broadcast_to(weights, losses.shape).astype(np.float64)
    return float(np.sum(losses.astype(np.float64) * wide))


def _losses(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.exponential(1.0, size=shape).astype(np.float32)


def _weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    w = rng.uniform(0.0, 2.0, size=shape).astype(np.float32)
    w[rng.random(size=shape) < 0.1] = 0.0
    return w


@cache
def large(n: int = N_LARGE) -> Inputs:
    """``[n]`` losses with ``[n]`` sample weights."""
    rng = np.random.default_rng(SEED)
    losses = _losses(rng, (n,))
    weights = _weights(rng, (n,))
    return Inputs(losses, weights, _reference(losses, weights))


@cache
def tokens_row_weights(shape: tuple[int, int] = TOKENS) -> Inputs:
    """``[B, T]`` token losses with ``[B, 1]`` per-sequence weights."""
    rng = np.random.default_rng(SEED + 1)
    losses = _losses(rng, shape)
    weights = _weights(rng, (shape[0], 1))
    return Inputs(losses, weights, _reference(losses, weights))


@cache
def tokens_mask(shape: tuple[int, int] = TOKENS) -> Inputs:
    """``[B, T]`` token losses with a ``[B, T]`` float padding mask (ones, then zeros)."""
    rng = np.random.default_rng(SEED + 2)
    losses = _losses(rng, shape)
    lengths = rng.integers(shape[1] // 4, shape[1] + 1, size=(shape[0], 1))
    mask = (np.arange(shape[1])[None, :] < lengths).astype(np.float32)
    return Inputs(losses, mask, _reference(losses, mask))


@cache
def small(n: int = N_SMALL) -> Inputs:
    rng = np.random.default_rng(SEED + 3)
    losses = _losses(rng, (n,))
    weights = _weights(rng, (n,))
    return Inputs(losses, weights, _reference(losses, weights))


# ----------------------------------------------------------------------------- parameters
#
# Model parameter lists for the regularizer cases: the shapes of GPT-2 small and ResNet-50,
# float32 values drawn as the models initialise them (so sums of squares and of absolute
# values are realistic; LayerNorm/BatchNorm scales are 1 and biases 0, so L1's subgradient
# at 0 is exercised). 124M normal draws take ~3 s, so every worker process would pay for
# them: the values are generated once and cached in a .npy file under the temporary
# directory (``PARAMS_CACHE``); later processes read the file (~0.3 s).

PARAMS_VERSION = 1
PARAMS_CACHE = os.path.join(tempfile.gettempdir(), "losskit-bench")
REG_SEED = SEED + 10


def gpt2_shapes() -> list[tuple[int, ...]]:
    """GPT-2 small (124M): 148 tensors in ``model.parameters()`` order (the LM head is tied)."""
    d, vocab, context, layers = 768, 50257, 1024, 12
    shapes: list[tuple[int, ...]] = [(vocab, d), (context, d)]  # wte, wpe
    for _ in range(layers):
        shapes += [
            (d,),  # ln_1.weight
            (d,),  # ln_1.bias
            (d, 3 * d),  # attn.c_attn.weight (Conv1D: [in, out])
            (3 * d,),  # attn.c_attn.bias
            (d, d),  # attn.c_proj.weight
            (d,),  # attn.c_proj.bias
            (d,),  # ln_2.weight
            (d,),  # ln_2.bias
            (d, 4 * d),  # mlp.c_fc.weight
            (4 * d,),  # mlp.c_fc.bias
            (4 * d, d),  # mlp.c_proj.weight
            (d,),  # mlp.c_proj.bias
        ]
    return [*shapes, (d,), (d,)]  # ln_f.weight, ln_f.bias


def _gpt2_init(index: int, shape: tuple[int, ...]) -> tuple[str, float]:
    """(distribution, scale) of parameter ``index``, as GPT-2's ``_init_weights`` draws it."""
    if index == 0:
        return "normal", 0.02  # wte
    if index == 1:
        return "normal", 0.01  # wpe
    if len(shape) == 1:
        # ln_1.weight, ln_2.weight and ln_f.weight are ones; every bias is zero
        return ("ones" if (index - 2) % 12 in (0, 6) else "zeros"), 0.0
    position = (index - 2) % 12
    if position in (4, 10):  # attn.c_proj, mlp.c_proj: scaled by 1/sqrt(2 * n_layer)
        return "normal", 0.02 / math.sqrt(2 * 12)
    return "normal", 0.02


def resnet50_shapes() -> list[tuple[int, ...]]:
    """torchvision's ResNet-50: 161 tensors in ``model.parameters()`` order (25.6M values).

    conv1 7x7 + bn1; four stages of Bottleneck blocks (3, 4, 6, 3; widths 64..512, output
    4x the width) with conv 1x1, 3x3, 1x1, each followed by a BatchNorm (weight, bias); the
    first block of each stage has a 1x1 conv + BatchNorm downsample; then fc [1000, 2048].
    """
    shapes: list[tuple[int, ...]] = [(64, 3, 7, 7), (64,), (64,)]
    inplanes = 64
    for planes, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for block in range(blocks):
            shapes += [(planes, inplanes, 1, 1), (planes,), (planes,)]
            shapes += [(planes, planes, 3, 3), (planes,), (planes,)]
            shapes += [(planes * 4, planes, 1, 1), (planes * 4,), (planes * 4,)]
            if block == 0:
                shapes += [(planes * 4, inplanes, 1, 1), (planes * 4,), (planes * 4,)]
            inplanes = planes * 4
    return [*shapes, (1000, 2048), (1000,)]


def _resnet50_init(index: int, shape: tuple[int, ...]) -> tuple[str, float]:
    if len(shape) == 4:  # kaiming_normal_(mode="fan_out", nonlinearity="relu")
        return "normal", math.sqrt(2.0 / (shape[0] * shape[2] * shape[3]))
    if shape in ((1000, 2048), (1000,)):  # nn.Linear default: U(-1/sqrt(in), 1/sqrt(in))
        return "uniform", 1.0 / math.sqrt(2048)
    # BatchNorm: (weight, bias) pairs follow each conv
    return ("ones" if index % 3 == 1 else "zeros"), 0.0


def tiny_shapes(count: int = 1000) -> list[tuple[int, ...]]:
    """``count`` tensors of shape [4]: the per-tensor overhead case."""
    return [(4,)] * count


def _tiny_init(index: int, shape: tuple[int, ...]) -> tuple[str, float]:
    return "normal", 0.1


@dataclasses.dataclass(frozen=True)
class Params:
    """A list of float32 parameter arrays (views into one buffer) and float64 references."""

    name: str
    arrays: tuple[np.ndarray, ...]
    flat: np.ndarray  # every value, contiguous (the arrays are views into it)
    sum_squares: float  # float64: sum over arrays of sum(float64(x) ** 2)
    sum_abs: float  # float64: sum of |x|

    @property
    def size(self) -> int:
        return int(self.flat.size)

    @property
    def nbytes(self) -> int:
        return int(self.flat.nbytes)

    @property
    def largest_nbytes(self) -> int:
        return max(int(a.nbytes) for a in self.arrays)

    def reference(self, l1: float = 0.0, l2: float = 0.0) -> float:
        """``l1 * sum|x| + l2 * sum x**2`` in float64."""
        return l1 * self.sum_abs + l2 * self.sum_squares


_PARAM_SETS = {
    "gpt2": (gpt2_shapes, _gpt2_init),
    "resnet50": (resnet50_shapes, _resnet50_init),
    "tiny1000": (tiny_shapes, _tiny_init),
}


def _generate(name: str) -> tuple[np.ndarray, float, float]:
    shapes_of, init = _PARAM_SETS[name]
    shapes = shapes_of()
    rng = np.random.default_rng([REG_SEED, list(_PARAM_SETS).index(name)])
    flat = np.empty(sum(math.prod(s) for s in shapes), dtype=np.float32)
    squares = absolute = 0.0
    start = 0
    for index, shape in enumerate(shapes):
        size = math.prod(shape)
        out = flat[start : start + size]
        kind, scale = init(index, shape)
        if kind == "normal":
            rng.standard_normal(size, dtype=np.float32, out=out)
            out *= np.float32(scale)
        elif kind == "uniform":
            rng.random(size, dtype=np.float32, out=out)
            out *= np.float32(2 * scale)
            out -= np.float32(scale)
        else:
            out[...] = 1.0 if kind == "ones" else 0.0
        wide = out.astype(np.float64)  # float32 squares are exact in float64
        squares += float(np.sum(wide * wide))
        absolute += float(np.sum(np.abs(wide)))
        start += size
    return flat, squares, absolute


def _store(stem: str, flat: np.ndarray, meta: dict[str, float]) -> None:
    """Write the cache atomically (parallel workers may race; the last one wins)."""
    os.makedirs(PARAMS_CACHE, exist_ok=True)
    temporary = f"{stem}.{os.getpid()}.tmp"
    np.save(temporary + ".npy", flat)
    with open(temporary + ".json", "w") as handle:
        json.dump(meta, handle)
    os.replace(temporary + ".npy", stem + ".npy")
    os.replace(temporary + ".json", stem + ".json")


def _stem(name: str) -> str:
    return os.path.join(PARAMS_CACHE, f"{name}-v{PARAMS_VERSION}-{REG_SEED}")


def ensure_cached(name: str) -> None:
    """Generate parameter set ``name`` into the file cache unless it is there (run.py calls
    this before starting the workers, so that no worker pays for the generation)."""
    stem = _stem(name)
    if not (os.path.exists(stem + ".npy") and os.path.exists(stem + ".json")):
        flat, squares, absolute = _generate(name)
        _store(stem, flat, {"sum_squares": squares, "sum_abs": absolute})


@cache
def params(name: str) -> Params:
    """Parameter set ``name`` ("gpt2", "resnet50", "tiny1000"), from the file cache."""
    shapes = _PARAM_SETS[name][0]()
    stem = _stem(name)
    try:
        with open(stem + ".json") as handle:
            meta = json.load(handle)
        flat = np.load(stem + ".npy")
        if flat.size != sum(math.prod(s) for s in shapes):
            raise ValueError("stale cache")
    except (OSError, ValueError):
        flat, squares, absolute = _generate(name)
        meta = {"sum_squares": squares, "sum_abs": absolute}
        _store(stem, flat, meta)
    arrays, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        arrays.append(flat[start : start + size].reshape(shape))
        start += size
    return Params(name, tuple(arrays), flat, meta["sum_squares"], meta["sum_abs"])
