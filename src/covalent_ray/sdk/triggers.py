"""``ct.triggers``: Covalent's triggers (``BaseTrigger``, ``DirTrigger``, ``TimeTrigger``,
``SQLiteTrigger``, ``DatabaseTrigger``) and ``ct.stop_triggers``.

A trigger watches for something (files changing, time passing, rows in a table) and, in ``observe``,
calls ``trigger()`` whenever it should act. ``trigger()`` starts the dispatch given by
``lattice_dispatch_id`` if it was registered without running (``disable_run``), else runs
it again under a new dispatch ID appended to ``new_dispatch_ids`` (Covalent's
``BaseTrigger.trigger``). What each trigger decides is pure (``core.triggers``); this
module holds the observers.

Triggers usually run inside the service: ``ct.lattice(triggers=...)`` with ``ct.dispatch``,
or ``trigger.register()``, hand them (cloudpickled) to the service, which observes in an
actor per trigger (``runtime.triggers``) and keeps them until ``ct.stop_triggers``.
Calling ``observe()`` yourself runs one in this process instead.

Whoever runs a trigger may hand it a firing function (``_fire``: takes the trigger, returns
the new dispatch ID or None when the firing failed); without one, ``trigger()`` asks the
service (``Dispatcher.fire``), so no user code runs in this process to do it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .. import _serialize
from ..core.triggers import (
    EventBatch,
    PollCount,
    TriggerSpec,
    event_names,
    hide_url_password,
    poll_query,
    positive_interval,
    readable_settings,
)

__all__ = [
    "BaseTrigger",
    "DatabaseTrigger",
    "DirTrigger",
    "SQLiteTrigger",
    "TimeTrigger",
    "stop_triggers",
]

log = logging.getLogger(__name__)

#: attributes that belong to one run of a trigger, never pickled with it
_RUN_STATE = ("_fire", "_observer", "_batch", "event_loop", "stop_flag")


class BaseTrigger:
    """The base of every trigger; subclasses implement ``observe`` and ``stop``.

    ``observe`` either returns at once after starting its own observer
    (``observe_blocks = False``, as ``DirTrigger``) or blocks until ``stop`` is called
    (``observe_blocks = True``, the default, as ``TimeTrigger``)."""

    def __init__(
        self,
        lattice_dispatch_id: str | None = None,
        dispatcher_addr: str | None = None,
        triggers_server_addr: str | None = None,
    ) -> None:
        self.lattice_dispatch_id = lattice_dispatch_id
        self.dispatcher_addr = dispatcher_addr
        self.triggers_server_addr = triggers_server_addr
        self.new_dispatch_ids: list[str] = []
        self.observe_blocks = True
        self.use_internal_funcs = True
        self.event_loop: Any = None
        self.stop_flag: threading.Event | None = None
        self._fire: Callable[[BaseTrigger], str | None] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # what observes (threads, observers, locks) belongs to the process running it
        return {k: v for k, v in self.__dict__.items() if k not in _RUN_STATE}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for key in _RUN_STATE:
            setattr(self, key, None)

    def trigger(self) -> str | None:
        """Start the attached dispatch if it never ran, else run it again as a new
        dispatch (its ID is returned and appended to ``new_dispatch_ids``). Returns None
        when the firing failed (the service logs and counts it).

        Raises ``RuntimeError`` when no dispatch is attached (``lattice_dispatch_id``)."""
        if not self.lattice_dispatch_id:
            raise RuntimeError(
                f"{type(self).__name__} has no lattice_dispatch_id: attach it to a dispatch "
                "(trigger.lattice_dispatch_id = dispatch_id) before it fires."
            )
        fire = self._fire if self._fire is not None else _fire_through_service
        new_id = fire(self)
        if new_id is not None and new_id != self.lattice_dispatch_id:
            self.new_dispatch_ids.append(new_id)
        return new_id

    def register(self, *, home: str | os.PathLike[str] | None = None) -> str:
        """Hand this trigger to the service, which starts observing at once and keeps it
        (across restarts) until ``ct.stop_triggers(lattice_dispatch_id)``; returns the
        trigger's ID. Its ``lattice_dispatch_id`` must be set."""
        if not self.lattice_dispatch_id:
            raise RuntimeError(
                f"{type(self).__name__} has no lattice_dispatch_id: set it to the dispatch "
                "its firings should run before registering it."
            )
        return register_triggers([self], str(self.lattice_dispatch_id), home=home)[0]

    def to_dict(self) -> dict[str, Any]:
        """The trigger's settings with its class name (Covalent's dictionary form)."""
        out = {
            k: v
            for k, v in self.__dict__.items()
            if not k.startswith("_") and k not in ("event_loop", "stop_flag") and not callable(v)
        }
        out["name"] = type(self).__name__
        return out

    def _shown_settings(self) -> dict[str, Any]:
        """The settings ``covalent-ray status``, the REST API and the dashboard show
        (secrets hidden)."""
        return self.to_dict()

    def observe(self) -> None:
        """Start watching; call ``self.trigger()`` whenever the dispatch should run."""
        raise NotImplementedError(f"{type(self).__name__} must implement observe()")

    def stop(self) -> None:
        """Stop watching: no firing starts after this returns."""
        raise NotImplementedError(f"{type(self).__name__} must implement stop()")


def _fire_through_service(trig: BaseTrigger) -> str:
    """Start or run again the attached dispatch through the service, as a firing does."""
    from .._exceptions import MissingDispatchError
    from ..client.connect import call

    dispatch_id = str(trig.lattice_dispatch_id)
    status = call(
        lambda conn, _: conn.result_manager.status.remote(dispatch_id),
        f"reading the status of dispatch {dispatch_id}",
    )
    if status is None:
        raise MissingDispatchError(
            f"{type(trig).__name__} is attached to dispatch {dispatch_id!r}, which is not "
            "stored; check the ID and that you use the same home directory."
        )
    return str(
        call(
            lambda conn, _: conn.dispatcher.fire.remote(dispatch_id),
            f"firing a trigger of dispatch {dispatch_id}",
        )
    )


def trigger_spec(trig: BaseTrigger, dispatch_id: str) -> TriggerSpec:
    """What the service keeps of a trigger attached to ``dispatch_id``."""
    if not isinstance(trig, BaseTrigger):
        raise TypeError(
            f"triggers must be ct.triggers.BaseTrigger instances (DirTrigger, TimeTrigger or "
            f"a subclass), got {type(trig).__name__}: {trig!r}"
        )
    trig.lattice_dispatch_id = dispatch_id
    kind = type(trig).__name__
    return TriggerSpec(
        trigger_id=str(uuid.uuid4()),
        dispatch_id=dispatch_id,
        kind=kind,
        settings=readable_settings(trig._shown_settings()),
        data=_serialize.dumps(trig, f"{kind} of dispatch {dispatch_id}"),
    )


def register_triggers(
    triggers: Iterable[BaseTrigger],
    dispatch_id: str,
    *,
    home: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Attach ``triggers`` to ``dispatch_id`` and have the service run them; returns
    their IDs once they observe (a trigger that cannot start raises here)."""
    from ..client.connect import call

    specs = [trigger_spec(t, dispatch_id) for t in triggers]
    if not specs:
        return []
    return list(
        call(
            lambda conn, _: conn.dispatcher.register_triggers.remote(specs),
            f"registering the triggers of dispatch {dispatch_id}",
            home=home,
        )
    )


def stop_triggers(
    dispatch_ids: str | list[str],
    triggers_server_addr: str | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Stop every trigger of these dispatches (Covalent's ``ct.stop_triggers``): no firing
    starts after this returns, and they stay stopped when the service restarts. Returns
    the IDs of the triggers stopped."""
    from ..client.connect import call

    ids = [dispatch_ids] if isinstance(dispatch_ids, str) else list(dispatch_ids)
    return list(
        call(
            lambda conn, _: conn.dispatcher.stop_triggers.remote(ids),
            f"stopping the triggers of {', '.join(ids)}",
            home=home,
        )
    )


class DirTrigger(BaseTrigger):
    """Fires once per ``batch_size`` events among ``event_names`` (a subset of
    ``created``, ``deleted``, ``modified``, ``moved``, ``closed``) under ``dir_path``
    (a directory or a file; with ``recursive``, its subdirectories too), observed with
    watchdog."""

    def __init__(
        self,
        dir_path: str | Path,
        event_names: str | Iterable[str],
        batch_size: int = 1,
        recursive: bool = False,
        lattice_dispatch_id: str | None = None,
        dispatcher_addr: str | None = None,
        triggers_server_addr: str | None = None,
    ) -> None:
        super().__init__(lattice_dispatch_id, dispatcher_addr, triggers_server_addr)
        self.dir_path = str(dir_path)
        self.event_names = _event_names(event_names)
        self.batch_size = batch_size
        self.recursive = recursive
        self.observe_blocks = False
        EventBatch(tuple(self.event_names), batch_size)  # refuse a bad batch_size now
        self._observer: Any = None

    @property
    def n_changes(self) -> int:
        """Matching events seen since the last firing."""
        batch = getattr(self, "_batch", None)
        return batch.pending if batch is not None else 0

    def observe(self) -> None:
        """Start a watchdog observer on ``dir_path`` and return."""
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        path = Path(self.dir_path).expanduser().resolve()
        self.dir_path = str(path)
        self._batch = EventBatch(tuple(self.event_names), self.batch_size)
        lock = threading.Lock()
        trig = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                with lock:
                    due = trig._batch.add(event.event_type)
                if due:
                    trig.trigger()

        self._observer = Observer()
        self._observer.schedule(Handler(), self.dir_path, recursive=self.recursive)
        self._observer.start()

    def stop(self) -> None:
        """Stop the observer and wait for its thread to end."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None


def _event_names(names: str | Iterable[str]) -> list[str]:
    return event_names(names)


class TimeTrigger(BaseTrigger):
    """Fires every ``time_gap`` seconds until stopped (``observe`` blocks).

    The firings keep to the schedule ``start + k * time_gap``: the time a firing takes
    (the service starting a dispatch) does not push the later ones back. A firing that
    outlasts the gap is followed by a full gap, never by a burst of the missed ones."""

    def __init__(
        self,
        time_gap: float,
        lattice_dispatch_id: str | None = None,
        dispatcher_addr: str | None = None,
        triggers_server_addr: str | None = None,
    ) -> None:
        super().__init__(lattice_dispatch_id, dispatcher_addr, triggers_server_addr)
        if time_gap <= 0:
            raise ValueError(f"TimeTrigger needs a positive time_gap in seconds, got {time_gap}")
        self.time_gap = time_gap
        self.stop_flag = threading.Event()

    def observe(self) -> None:
        """Fire every ``time_gap`` seconds; return once :meth:`stop` is called."""
        flag = self.stop_flag
        if flag is None or flag.is_set():
            flag = self.stop_flag = threading.Event()
        due = time.monotonic() + self.time_gap
        while not flag.wait(max(0.0, due - time.monotonic())):
            self.trigger()
            due += self.time_gap
            now = time.monotonic()
            if due < now:  # this firing outlasted the gap
                due = now + self.time_gap

    def stop(self) -> None:
        """Make :meth:`observe` return (a wait under way ends at once)."""
        if self.stop_flag is not None:
            self.stop_flag.set()


class _PollingTrigger(BaseTrigger):
    """Polls a table every ``poll_interval`` seconds and fires on every
    ``trigger_after_n``-th poll that found rows (``observe`` blocks until ``stop``).
    Subclasses say how to connect and query (``_connect``)."""

    def __init__(
        self,
        db_path: str,
        table_name: str,
        poll_interval: float = 1,
        where_clauses: str | list[str] | None = None,
        trigger_after_n: int = 1,
        lattice_dispatch_id: str | None = None,
        dispatcher_addr: str | None = None,
        triggers_server_addr: str | None = None,
    ) -> None:
        super().__init__(lattice_dispatch_id, dispatcher_addr, triggers_server_addr)
        kind = type(self).__name__
        self.db_path = db_path
        self.table_name = table_name
        self.poll_interval = positive_interval(poll_interval, f"{kind}'s poll_interval")
        self.where_clauses = where_clauses
        self.trigger_after_n = trigger_after_n
        poll_query(table_name, where_clauses)  # refuse a bad table or clause now
        PollCount(trigger_after_n)
        self.stop_flag = threading.Event()

    def _connect(self) -> tuple[Callable[[str], bool], Callable[[], None]]:
        """``(has_rows, close)``: ``has_rows(query)`` runs the query and says whether it
        returned a row (it raises when the query cannot run)."""
        raise NotImplementedError

    def observe(self) -> None:
        """Poll until :meth:`stop` is called, firing as Covalent's database triggers do.
        A poll that fails (the table does not exist yet, the database is locked or
        unreachable) counts as no rows; the error is logged once and polling goes on."""
        flag = self.stop_flag
        if flag is None or flag.is_set():
            flag = self.stop_flag = threading.Event()
        query = poll_query(self.table_name, self.where_clauses)
        count = PollCount(self.trigger_after_n)
        has_rows, close = self._connect()
        last_error = None
        try:
            while not flag.is_set():
                try:
                    found = has_rows(query)
                    last_error = None
                except Exception as exc:
                    found = False
                    error = f"{type(exc).__name__}: {exc}"
                    if error != last_error:
                        log.warning(
                            "%s of dispatch %s: %s failed (%s); polling again every %ss",
                            type(self).__name__,
                            self.lattice_dispatch_id,
                            query,
                            error,
                            self.poll_interval,
                        )
                    last_error = error
                if count.add(found):
                    self.trigger()
                flag.wait(self.poll_interval)
        finally:
            close()

    def stop(self) -> None:
        """Make :meth:`observe` return (a wait under way ends at once)."""
        if self.stop_flag is None:
            self.stop_flag = threading.Event()
        self.stop_flag.set()


class SQLiteTrigger(_PollingTrigger):
    """Fires on every ``trigger_after_n``-th poll, every ``poll_interval`` seconds, that
    finds rows in ``table_name`` of the SQLite file ``db_path`` matching all of
    ``where_clauses`` (SQL conditions, e.g. ``["id > 2", "status = 'pending'"]``).
    Read with Python's ``sqlite3``; a relative ``db_path`` is taken from the current
    directory when the trigger is made. A file that does not exist yet is waited for
    (never created)."""

    def __init__(
        self,
        db_path: str | Path,
        table_name: str,
        poll_interval: float = 1,
        where_clauses: str | list[str] | None = None,
        trigger_after_n: int = 1,
        lattice_dispatch_id: str | None = None,
        dispatcher_addr: str | None = None,
        triggers_server_addr: str | None = None,
    ) -> None:
        path = str(db_path)
        if path != ":memory:" and not path.startswith("file:"):
            # the service reads it from another directory
            path = str(Path(path).expanduser().absolute())
        super().__init__(
            path,
            table_name,
            poll_interval,
            where_clauses,
            trigger_after_n,
            lattice_dispatch_id,
            dispatcher_addr,
            triggers_server_addr,
        )

    def _connect(self) -> tuple[Callable[[str], bool], Callable[[], None]]:
        held: list[sqlite3.Connection] = []

        def has_rows(query: str) -> bool:
            if not held:
                if not self.db_path.startswith("file:") and not Path(self.db_path).is_file():
                    raise FileNotFoundError(f"no SQLite database at {self.db_path} (yet)")
                held.append(
                    sqlite3.connect(
                        self.db_path, uri=self.db_path.startswith("file:"), isolation_level=None
                    )
                )
            return held[0].execute(query).fetchone() is not None

        def close() -> None:
            for con in held:
                con.close()

        return has_rows, close


class DatabaseTrigger(_PollingTrigger):
    """Fires on every ``trigger_after_n``-th poll, every ``poll_interval`` seconds, that
    finds rows in ``table_name`` matching all of ``where_clauses``, in the database at
    the SQLAlchemy URL ``db_path`` (``postgresql+psycopg://user:pw@host/db``,
    ``sqlite:////abs/path.db``, ...). Needs SQLAlchemy (``pip install
    'covalent-ray[db]'``) and the URL's driver where the service runs. Each poll is its
    own short transaction, so rows committed since the last one are seen."""

    def __init__(
        self,
        db_path: str,
        table_name: str,
        poll_interval: float = 1,
        where_clauses: str | list[str] | None = None,
        trigger_after_n: int = 1,
        lattice_dispatch_id: str | None = None,
        dispatcher_addr: str | None = None,
        triggers_server_addr: str | None = None,
    ) -> None:
        url = _sqlalchemy().engine.make_url(str(db_path))  # refuses a malformed URL
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            if not url.database.startswith("file:"):
                # the service reads it from another directory
                url = url.set(database=str(Path(url.database).expanduser().absolute()))
        super().__init__(
            url.render_as_string(hide_password=False),
            table_name,
            poll_interval,
            where_clauses,
            trigger_after_n,
            lattice_dispatch_id,
            dispatcher_addr,
            triggers_server_addr,
        )

    def _shown_settings(self) -> dict[str, Any]:
        shown = self.to_dict()
        shown["db_path"] = hide_url_password(str(self.db_path))
        return shown

    def _connect(self) -> tuple[Callable[[str], bool], Callable[[], None]]:
        sa = _sqlalchemy()
        engine = sa.create_engine(self.db_path)

        def has_rows(query: str) -> bool:
            with engine.connect() as con:
                return con.execute(sa.text(query)).first() is not None

        return has_rows, engine.dispose


def _sqlalchemy() -> Any:
    try:
        import sqlalchemy
    except ImportError as exc:
        raise ImportError(
            "ct.triggers.DatabaseTrigger needs SQLAlchemy: pip install 'covalent-ray[db]' "
            "(plus the driver of your database URL, e.g. psycopg for PostgreSQL) where the "
            "covalent-ray service runs. For a SQLite file, ct.triggers.SQLiteTrigger needs "
            "nothing more."
        ) from exc
    return sqlalchemy
