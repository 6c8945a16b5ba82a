"""Each engine's page shows, verbatim, the example script that its slow test runs."""

from __future__ import annotations

import pytest

from tests.engines._examples import DOCS

ENGINES = ["accelerate", "lightning", "transformers", "deepspeed", "fsdp"]


@pytest.mark.parametrize("engine", ENGINES)
def test_the_page_shows_the_tested_example(engine: str) -> None:
    page = (DOCS / f"{engine}.md").read_text()
    script = (DOCS / f"{engine}_example.py").read_text()
    assert f"```python\n{script}```\n" in page, f"docs/engines/{engine}.md: re-embed the example"


def test_the_contract_table_links_every_page() -> None:
    table = (DOCS.parent / "distributed.md").read_text()
    for engine in ENGINES:
        assert f"(engines/{engine}.md)" in table, engine
