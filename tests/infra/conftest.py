"""Fixtures of the offline infrastructure tests: each committed stack rendered once."""

from __future__ import annotations

import pytest

from tools.offline import STACKS, Program, rendered


@pytest.fixture(scope="session", params=STACKS)
def stack(request: pytest.FixtureRequest) -> tuple[str, Program]:
    """Each committed stack, with what its program declares (tests only read it)."""
    return request.param, rendered(request.param)
