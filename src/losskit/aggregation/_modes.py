"""The aggregation modes: their canonical names and what each one needs from a step.

Every mode is a per-token coefficient ``c_t`` that depends only on masks and batch
structure; the table below says which global counts enter it (``docs/aggregation.md``).
"""

from __future__ import annotations

import dataclasses

__all__ = ["MODES", "Mode", "spec"]


@dataclasses.dataclass(frozen=True)
class Mode:
    """What one mode's coefficient is built from.

    Attributes:
        name: the canonical name.
        formula: the coefficient ``c_t`` of a valid token ``t`` of sequence ``i`` in group
            ``g`` (the docs table).
        denominator: the global scalar count it divides by: ``"tokens"`` (N),
            ``"sequences"`` (S), ``"groups"`` (G) or None.
        per_sequence: divides by the sequence's own valid tokens ``n_i``.
        group_count: the per-group count it divides by: ``"group_tokens"`` (N_g),
            ``"group_sequences"`` (S_g) or None.
        needs_max_length: divides by the constant ``max_length`` (L).
    """

    name: str
    formula: str
    denominator: str | None = None
    per_sequence: bool = False
    group_count: str | None = None
    needs_max_length: bool = False

    @property
    def uses_sequences(self) -> bool:
        """Needs the step's sequences (rows, or packed segments)."""
        return (
            self.denominator == "sequences"
            or self.per_sequence
            or self.group_count == ("group_sequences")
        )

    @property
    def uses_groups(self) -> bool:
        return self.group_count is not None


_TABLE = (
    Mode("token-mean", "1 / N", denominator="tokens"),
    Mode("token-sum", "1"),
    Mode("seq-mean-token-mean", "1 / (S n_i)", denominator="sequences", per_sequence=True),
    Mode("seq-mean-token-sum", "1 / S", denominator="sequences"),
    Mode("seq-mean-token-sum-norm", "1 / (S L)", denominator="sequences", needs_max_length=True),
    Mode("group-token-mean", "1 / (G N_g)", denominator="groups", group_count="group_tokens"),
    Mode(
        "group-seq-mean",
        "1 / (G S_g n_i)",
        denominator="groups",
        per_sequence=True,
        group_count="group_sequences",
    ),
)

_BY_NAME = {mode.name: mode for mode in _TABLE}

MODES: tuple[str, ...] = tuple(mode.name for mode in _TABLE)
"""The canonical mode names, in the order of the docs table."""


def spec(name: str) -> Mode:
    """The description of a canonical mode name (see :func:`resolve_mode` for the others)."""
    return _BY_NAME[name]
