"""Which executor runs a node: names and instances resolved at dispatch time, and their
description in the transport graph (``ExecutorSpec``).

An executor that cannot be resolved (an unknown name, a plugin that fails to load or to
build from its settings) does not stop the dispatch, as in Covalent: the electron's node
carries the error (metadata ``executor_error``) and fails when it would run, the rest of
the graph running as usual.
"""

from __future__ import annotations

from typing import Any

from .._exceptions import ExecutorError
from ..core.graph import ExecutorSpec
from .build import GraphBuilder


def resolve_executor(executor: Any, builder: GraphBuilder, owner: str) -> Any:
    """The executor instance for a short name or instance (None: the default executor).

    Resolved here, at dispatch time; an unknown or broken executor raises
    ``ExecutorError`` naming ``owner`` and the available executors.
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

    check = getattr(instance, "check_settings", None)
    problems = check() if callable(check) else []
    if problems:  # bad settings fail the dispatch now, not its electron later
        raise ExecutorError(
            f"{owner}: its {short_name_of(instance)} executor has bad settings: "
            + "; ".join(problems)
        )
    return ExecutorSpec(
        short_name=short_name_of(instance),
        instance_blob=builder.blob(instance, f"the executor of {owner}"),
        identity=config_key(instance),
    )


def try_resolve_executor(
    executor: Any, builder: GraphBuilder, owner: str
) -> tuple[Any, str | None]:
    """:func:`resolve_executor`, but an ``ExecutorError`` becomes ``(None, message)``: the
    message, saying what to do, is what the electron fails with when the dispatch runs."""
    try:
        return resolve_executor(executor, builder, owner), None
    except ExecutorError as exc:
        return None, (
            f"{exc} The dispatch was created, but this electron cannot run until its executor "
            "resolves: fix the name (see ct.executor.available()) or install the plugin, then "
            "dispatch again."
        )


def executor_label(executor: Any) -> str:
    """How an executor was asked for: its short name, or its class name."""
    return executor if isinstance(executor, str) else type(executor).__name__
