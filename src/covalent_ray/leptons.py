"""``covalent_ray.leptons``: Covalent's module path ``covalent.leptons`` (``from
covalent_ray.leptons import bash``). It is :mod:`covalent_ray.sdk.lepton` itself (the
same module object as ``ct.leptons``), not a copy."""

import sys

from .sdk import lepton as _lepton

sys.modules[__name__] = _lepton
