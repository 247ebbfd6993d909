"""``covalent_ray.triggers``: Covalent's module path ``covalent.triggers``, so that
``from covalent_ray.triggers import DirTrigger`` works as ``from covalent.triggers import
DirTrigger`` does. It is :mod:`covalent_ray.sdk.triggers` itself (the same module object
as ``ct.triggers``), not a copy."""

import sys

from .sdk import triggers as _triggers

sys.modules[__name__] = _triggers
