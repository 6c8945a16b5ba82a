"""The public signatures let mypy check calling code (losskit.typing's Array protocol)."""

from __future__ import annotations

import textwrap

import pytest

mypy_api = pytest.importorskip("mypy.api")

SNIPPET = textwrap.dedent(
    """
    import numpy as np
    import torch
    import losskit
    from losskit.distribute import global_denominator

    losses = torch.ones(3, requires_grad=True)
    loss = losskit.compute_average_loss(losses, torch.ones(3), global_batch_size=3)
    loss.backward()  # a torch.Tensor in, a torch.Tensor out
    reveal_type(loss)
    reveal_type(losskit.compute_average_loss(np.ones(3)))
    reveal_type(losskit.compute_average_loss([1.0, 2.0]))
    reveal_type(losskit.scale_regularization_loss(torch.tensor(2.0)))
    reveal_type(global_denominator(np.ones(3), np.ones(2)))
    losskit.compute_average_loss(None)
    losskit.compute_average_loss("losses")
    """
)


def test_mypy_checks_calls_and_keeps_the_callers_array_type(tmp_path) -> None:
    path = tmp_path / "user_code.py"
    path.write_text(SNIPPET)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nignore_missing_imports = True\n")  # not the project's strict mode
    out, _, status = mypy_api.run(
        [str(path), "--config-file", str(config), "--no-incremental", "--cache-dir", str(tmp_path)]
    )
    lines = [line.partition(": ")[2] for line in out.splitlines() if "user_code.py" in line]
    revealed = [line for line in lines if line.startswith("note: Revealed type")]
    types = [line.partition('"')[2].rpartition('"')[0] for line in revealed]
    assert types[0] == "torch._tensor.Tensor", out
    assert types[1].startswith("numpy.ndarray["), out
    assert types[2] == "Any", out  # a list: converted into NumPy, or stacked if of arrays
    assert types[3] == "torch._tensor.Tensor", out
    assert types[4].startswith("numpy.ndarray["), out
    assert len(types) == 5, out
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 2, out
    assert all("compute_average_loss" in line for line in errors), out
    assert status == 1
