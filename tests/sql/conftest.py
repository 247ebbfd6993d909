"""Real dispatches on the session's service, for the SQL tests to query."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

import covalent_ray as ct

from . import workflows as wf

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="session")
def runs(service: object) -> dict[str, object]:
    """Finished dispatches: the sweep, a mixed one, a failing one, a slow one, a parent
    with a sublattice. Values are dispatch ids (lists for the sweep)."""
    sweep = {(lr, depth): ct.dispatch(wf.lr_depth_sweep)(lr, depth) for lr, depth in wf.GRID}
    ids: dict[str, object] = {
        "mixed": ct.dispatch(wf.mixed)(2, tag="x"),
        "failing": ct.dispatch(wf.failing)(9),
        "slow": ct.dispatch(wf.slow)(0.4),
        "parent": ct.dispatch(wf.parent)(5),
    }
    for dispatch_id in [*sweep.values(), *ids.values()]:
        ct.get_result(str(dispatch_id), wait=True, timeout=180)
    ids["sweep"] = sweep
    return ids


def readme_queries() -> list[str]:
    """The ```sql blocks of the README's SQL section, in order."""
    text = README.read_text()
    start = text.index("## SQL over results")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end > 0 else None]
    blocks = section.split("```sql\n")[1:]
    return [b.split("```", 1)[0].strip() for b in blocks]


@pytest.fixture
def anyio_backend() -> str:
    """The REST tests run on asyncio."""
    return "asyncio"


@pytest.fixture
async def client(service_home: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP app in-process, reading through the session service's result manager."""
    from covalent_ray.api import ServiceBackend, create_app

    app = create_app(ServiceBackend.connect(service_home), ui_dir=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as c:
        yield c
