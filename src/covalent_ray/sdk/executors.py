"""Which executor runs a node: names and instances resolved at dispatch time, and their
description in the transport graph (``ExecutorSpec``)."""

from __future__ import annotations

from typing import Any

from .._exceptions import ExecutorError
from ..core.graph import ExecutorSpec
from .build import GraphBuilder


def resolve_executor(executor: Any, builder: GraphBuilder, owner: str) -> Any:
    """The executor instance for a short name or instance (None: the default executor).

    Resolved here, at dispatch time, so that an unknown or broken executor fails in the
    client with the electron and the available executors named.
    """
    if executor is None:
        return None
    cache_key = executor if isinstance(executor, str) else id(executor)
    if cache_key in builder.executors:
        return builder.executors[cache_key][1]
    from ..executors import registry

    if registry.is_default(executor):
        return None
    try:
        instance = registry.resolve(executor)
    except ExecutorError as exc:
        raise type(exc)(f"{owner}: {exc}") from exc
    builder.executors[cache_key] = (executor, instance)  # keeps id() keys alive
    return instance


def executor_spec(executor: Any, builder: GraphBuilder, owner: str) -> ExecutorSpec | None:
    """The graph's description of ``executor`` (a short name or an executor instance)."""
    instance = resolve_executor(executor, builder, owner)
    if instance is None:
        return None
    from ..executors.base import config_key, short_name_of

    return ExecutorSpec(
        short_name=short_name_of(instance),
        instance_blob=builder.blob(instance, f"the executor of {owner}"),
        identity=config_key(instance),
    )
