"""losskit's numerics: the array arithmetic behind every public function.

* :mod:`.sums`: sums, weighted sums and safe division in pure array-API calls (every
  library), with blocked dot products that are both fast and accurate.
* :mod:`.penalty`: L1/L2 penalties of many arrays at once (the generic array-API kernel,
  and the grouping by dtype); :mod:`.penalty_numpy`, :mod:`.penalty_torch` and
  :mod:`.penalty_jax` are the per-library kernels, chosen by :mod:`losskit._backends` and
  imported only when the caller's arrays come from that library.
* :mod:`.linear_ce_torch`, :mod:`.linear_ce_jax`, :mod:`.linear_ce_array_api`: the fused
  linear cross-entropy (:func:`losskit.losses.linear_cross_entropy`) in token chunks.

Nothing here reads a context or any other state; kernels import only this package's
constants and :mod:`losskit._namespace`.
"""

BLOCK = 1 << 16
"""Elements per partial sum of the penalty kernels' accelerator paths."""
SMALL = 1 << 16
"""Arrays up to this size are concatenated and reduced together (one kernel, not one each)."""
