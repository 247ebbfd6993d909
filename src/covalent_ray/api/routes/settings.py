"""``/api/v1/config``: the settings in effect, secrets hidden (the dashboard's settings
page; ``covalent-ray config`` shows the same, unredacted, to the home's owner)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from ...core.redact import redact
from .._deps import Backend
from .._models import EffectiveConfig

router = APIRouter(tags=["system"])


@router.get("/config", response_model=EffectiveConfig)
async def effective_config(backend: Backend) -> EffectiveConfig:
    """Every setting in effect, as ``ct.get_config()`` reads it, with the values of
    tokens, passwords, secrets and credentials replaced by ``********``."""
    from ..._home import config_file, home_dir
    from ...sdk.config import get_config

    # the service's own home (its process is not told it through the environment)
    home = home_dir(backend.home)
    data = await asyncio.to_thread(get_config, home=home)
    shown, hidden = redact(data)
    return EffectiveConfig(config=shown, file=str(config_file(home)), redacted=sorted(hidden))
