"""``covalent_ray.executor``: Covalent's module paths ``covalent.executor`` and
``covalent.executor.base`` (``from covalent_ray.executor import LocalExecutor``, ``from
covalent_ray.executor.base import BaseExecutor``). They are :mod:`covalent_ray.executors`
and :mod:`covalent_ray.executors.base` themselves (``ct.executor`` is the same module),
so each class exists once."""

import sys

from . import executors as _executors
from .executors import base as _base

sys.modules[__name__ + ".base"] = _base
sys.modules[__name__] = _executors
