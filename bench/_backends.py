"""One small adapter per array library: thread setup, conversion, synchronisation, jit.

Each worker process imports exactly one of these libraries (TensorFlow never shares a
process with PyTorch or JAX), so the libraries' thread pools do not compete for the two
cores.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Callable
from typing import Any

import numpy as np

BACKENDS = ("numpy", "torch", "jax", "tensorflow")


def pin_cpus(threads: int) -> list[int]:
    """Restrict this process to its first ``threads`` CPUs (before importing a library).

    Thread pools sized from the CPU affinity (XLA's, PyTorch's OpenMP) then match
    ``--threads``; with ``threads`` >= the number of CPUs nothing changes.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if 0 < threads < len(cpus):
        os.sched_setaffinity(0, cpus[:threads])
    return sorted(os.sched_getaffinity(0))


def _openblas(threads: int) -> dict[str, Any]:
    """NumPy's bundled OpenBLAS: configuration and thread count.

    The thread count is changed (through OpenBLAS's own API, not the environment) only when
    ``threads`` is below what OpenBLAS started with.
    """
    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(libs, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
            get_threads = lib.scipy_openblas_get_num_threads64_
            config = lib.scipy_openblas_get_config64_
            config.restype = ctypes.c_char_p
            if 0 < threads < get_threads():
                lib.scipy_openblas_set_num_threads64_(ctypes.c_int(threads))
            return {"openblas_threads": int(get_threads()), "openblas": config().decode()}
        except (OSError, AttributeError):
            continue
    return {"openblas_threads": "unknown"}


class Backend:
    name = "numpy"
    label = "NumPy"

    def setup(self, threads: int) -> dict[str, Any]:
        """Configure ``threads`` intra-op threads where the library allows it; report."""
        return {"numpy": np.__version__, **_openblas(threads)}

    @property
    def xp(self) -> Any:
        import array_api_compat

        return array_api_compat.array_namespace(self.asarray(np.zeros(1, np.float32)))

    def asarray(self, host: np.ndarray) -> Any:
        return np.ascontiguousarray(host).copy()

    def sync(self, value: Any) -> Any:
        return value

    def to_float(self, value: Any) -> float:
        return float(np.asarray(value, dtype=np.float64))

    def jit(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn


class TorchBackend(Backend):
    name = "torch"
    label = "PyTorch"

    def setup(self, threads: int) -> dict[str, Any]:
        import torch

        torch.set_num_threads(threads)
        return {
            "torch": torch.__version__,
            "intra_op_threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "blas": "MKL" if torch.backends.mkl.is_available() else "other",
        }

    def asarray(self, host: np.ndarray) -> Any:
        import torch

        return torch.from_numpy(np.ascontiguousarray(host)).clone()

    def to_float(self, value: Any) -> float:
        return float(value.detach().double().item())


class JaxBackend(Backend):
    name = "jax"
    label = "JAX"

    def setup(self, threads: int) -> dict[str, Any]:
        import jax

        return {
            "jax": jax.__version__,
            "device": str(jax.devices()[0]),
            "threads": "XLA default: one per CPU of the affinity "
            f"{sorted(os.sched_getaffinity(0))}",
        }

    def asarray(self, host: np.ndarray) -> Any:
        import jax.numpy as jnp

        return jnp.asarray(host).block_until_ready()

    def sync(self, value: Any) -> Any:
        import jax

        if isinstance(value, jax.Array):
            return value.block_until_ready()
        leaves = [x for x in jax.tree_util.tree_leaves(value) if isinstance(x, jax.Array)]
        jax.block_until_ready(leaves)
        return value

    def to_float(self, value: Any) -> float:
        return float(np.asarray(value, dtype=np.float64))

    def jit(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        import jax

        return jax.jit(fn)


class TensorFlowBackend(Backend):
    name = "tensorflow"
    label = "TensorFlow"

    def setup(self, threads: int) -> dict[str, Any]:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        return {
            "tensorflow": tf.__version__,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        }

    @property
    def xp(self) -> Any:  # pragma: no cover - TensorFlow has no array-API namespace
        raise NotImplementedError

    def asarray(self, host: np.ndarray) -> Any:
        import tensorflow as tf

        return tf.constant(np.ascontiguousarray(host))

    def to_float(self, value: Any) -> float:
        return float(np.asarray(value, dtype=np.float64))

    def jit(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        import tensorflow as tf

        return tf.function(fn, jit_compile=False)


def get(name: str) -> Backend:
    return {
        "numpy": Backend,
        "torch": TorchBackend,
        "jax": JaxBackend,
        "tensorflow": TensorFlowBackend,
    }[name]()
