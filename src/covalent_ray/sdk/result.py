"""``Result``: everything stored about one dispatch, as Covalent's Result presents it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from .. import _serialize
from .._status import Status


class TransportableObject:
    """A value in its stored form, as Covalent's ``TransportableObject`` presents it.

    ``TransportableObject(obj)`` wraps any picklable object (cloudpickled at once, so a
    later change to ``obj`` does not show). ``get_deserialized()`` returns a fresh copy of
    the value; ``object_string`` is ``str(obj)``; ``json`` its JSON form when it has one
    (ours); ``serialize()`` / ``TransportableObject.deserialize(data)`` give and take
    bytes; ``to_dict`` / ``from_dict`` and ``serialize_to_json`` /
    ``deserialize_from_json`` a JSON-safe form (the pickle as base64);
    ``get_serialized()`` that base64 text; ``python_version``, ``header`` and ``attrs``
    (``name`` and ``doc`` of the object) describe it. Values read from a dispatch are
    unpickled only when ``get_deserialized()`` is called.
    """

    def __init__(self, obj: Any = None) -> None:
        self._data: bytes | None = _serialize.dumps(obj, "a TransportableObject")
        self._value_cached = False
        self._object_string = str(obj)
        self._json = _serialize.as_json(obj)
        self._header = _header(obj)

    @classmethod
    def _stored(
        cls, data: bytes | None, object_string: str | None = None, json: str | None = None
    ) -> TransportableObject:
        """A stored value (pickled bytes plus its readable forms), unpickled on demand."""
        to = cls.__new__(cls)
        to._data = data
        to._value_cached = False
        to._object_string = object_string or ""
        to._json = json
        to._header = _header(None)
        return to

    # -- Covalent's properties --------------------------------------------------------

    @property
    def object_string(self) -> str:
        """``str()`` of the object (bounded for stored values)."""
        return self._object_string

    @property
    def json(self) -> str | None:
        """The object as JSON text, when it is made of JSON types (else None)."""
        return self._json

    @property
    def python_version(self) -> str:
        """The Python version that serialized the object."""
        return str(self._header["py_version"])

    @property
    def header(self) -> dict[str, Any]:
        """Python and cloudpickle versions, and the object's ``attrs``."""
        return self._header

    @property
    def attrs(self) -> dict[str, Any]:
        """The object's ``name`` and ``doc`` (its ``__name__`` and ``__doc__``)."""
        return dict(self._header["attrs"])

    # -- the value --------------------------------------------------------------------

    def get_deserialized(self) -> Any:
        """The object (a new copy on every call, as in Covalent)."""
        return None if self._data is None else _serialize.loads(self._data)

    def get_serialized(self) -> str:
        """The cloudpickled object as base64 text (Covalent's ``_object``)."""
        import base64

        return base64.b64encode(self._data or b"").decode("ascii")

    def serialize(self) -> bytes:
        """Bytes that :meth:`deserialize` turns back into an equal TransportableObject."""
        import pickle

        state = (self._data, self._object_string, self._json, self._header)
        return pickle.dumps(("covalent_ray.TransportableObject", 1, state), protocol=5)

    @staticmethod
    def deserialize(
        serialized: bytes, *, header_only: bool = False, string_only: bool = False
    ) -> TransportableObject:
        """The TransportableObject that :meth:`serialize` gave these bytes for.

        ``header_only`` / ``string_only`` (Covalent's) keep the header and string but drop
        the object itself.
        """
        import pickle

        try:
            tag, _version, state = pickle.loads(serialized)
        except Exception as exc:
            raise ValueError(
                "these bytes are not a serialized TransportableObject (make them with "
                "TransportableObject.serialize())"
            ) from exc
        if tag != "covalent_ray.TransportableObject":
            raise ValueError("these bytes are not a serialized TransportableObject")
        data, object_string, json, header = state
        to = TransportableObject._stored(
            None if (header_only or string_only) else data, object_string, json
        )
        to._header = header
        return to

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict that :meth:`from_dict` turns back into this object."""
        return {
            "type": "TransportableObject",
            "attributes": {
                "_object": self.get_serialized(),
                "_object_string": self._object_string,
                "_json": self._json,
                "_header": self._header,
            },
        }

    @staticmethod
    def from_dict(object_dict: dict[str, Any]) -> TransportableObject:
        """Rebuild a TransportableObject from :meth:`to_dict`'s dict."""
        import base64

        attrs = object_dict["attributes"]
        to = TransportableObject._stored(
            base64.b64decode(attrs["_object"]), attrs.get("_object_string"), attrs.get("_json")
        )
        to._header = attrs.get("_header") or _header(None)
        return to

    def serialize_to_json(self) -> str:
        """:meth:`to_dict` as JSON text."""
        import json

        return json.dumps(self.to_dict())

    @staticmethod
    def deserialize_from_json(json_string: str) -> TransportableObject:
        """Rebuild a TransportableObject from :meth:`serialize_to_json`'s text."""
        import json

        return TransportableObject.from_dict(json.loads(json_string))

    @staticmethod
    def make_transportable(obj: Any) -> TransportableObject:
        """``obj`` itself if it is a TransportableObject, else one wrapping it."""
        return obj if isinstance(obj, TransportableObject) else TransportableObject(obj)

    @staticmethod
    def deserialize_list(collection: list[Any]) -> list[Any]:
        """A list of TransportableObjects (nested lists and dicts too) as their values."""
        return [_deserialize_item(item) for item in collection]

    @staticmethod
    def deserialize_dict(collection: dict[Any, Any]) -> dict[Any, Any]:
        """A dict of TransportableObjects (nested lists and dicts too) as their values."""
        return {k: _deserialize_item(item) for k, item in collection.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TransportableObject):
            return NotImplemented
        return (self._data, self._object_string) == (other._data, other._object_string)

    def __hash__(self) -> int:
        return hash((self._data, self._object_string))

    def __repr__(self) -> str:
        return f"TransportableObject({self._object_string})"


def _header(obj: Any) -> dict[str, Any]:
    import platform

    import cloudpickle

    return {
        "py_version": platform.python_version(),
        "cloudpickle_version": cloudpickle.__version__,
        "attrs": {
            "doc": getattr(obj, "__doc__", "") if obj is not None else "",
            "name": getattr(obj, "__name__", "") if obj is not None else "",
        },
    }


def _deserialize_item(item: Any) -> Any:
    if isinstance(item, TransportableObject):
        return item.get_deserialized()
    if isinstance(item, list):
        return TransportableObject.deserialize_list(item)
    if isinstance(item, dict):
        return TransportableObject.deserialize_dict(item)
    raise TypeError(
        f"cannot deserialize a {type(item).__name__}: expected TransportableObjects, lists "
        "and dicts"
    )


class LatticeInputs(TransportableObject):
    """``Result.inputs``: Covalent's TransportableObject of ``{"args": tuple, "kwargs":
    dict}``. It can also be read as that dict directly (``inputs["args"]``)."""

    def _value(self) -> dict[str, Any]:
        value = self.get_deserialized()
        return value if isinstance(value, dict) else {"args": (), "kwargs": {}}

    def __getitem__(self, key: str) -> Any:
        return self._value()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """``inputs.get("args")``, as on the dict."""
        return self._value().get(key, default)

    def keys(self) -> Any:
        """``"args"`` and ``"kwargs"``."""
        return self._value().keys()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, dict):
            return self._value() == other
        return super().__eq__(other)

    __hash__ = TransportableObject.__hash__


class _Blobs(Mapping[str, bytes]):
    """A result's stored blobs: the small ones came with its record; a large one is read
    from its file on first use (the service's machine), or fetched from the result
    manager where that file is not here (issue 13: a large result never passes whole
    through the result manager on this machine)."""

    def __init__(
        self,
        sent: dict[str, bytes],
        files: dict[str, str],
        fetch: Callable[[list[str]], dict[str, bytes]] | None,
    ) -> None:
        self._sent = sent
        self._files = files
        self._fetch = fetch

    def __getitem__(self, key: str) -> bytes:
        if key in self._sent:
            return self._sent[key]
        if key not in self._files:
            raise KeyError(key)
        try:
            with open(self._files[key], "rb") as f:
                return f.read()
        except OSError:  # not on this machine: the result manager reads it
            fetched = self._fetch([key]) if self._fetch else {}
            if key not in fetched:
                raise KeyError(key) from None
            return fetched[key]

    def __contains__(self, key: object) -> bool:
        return key in self._sent or key in self._files

    def __iter__(self) -> Iterator[str]:
        yield from self._sent
        yield from (k for k in self._files if k not in self._sent)

    def __len__(self) -> int:
        return len(self._sent) + sum(1 for k in self._files if k not in self._sent)


class Result:
    """The state and outputs of a dispatch."""

    NEW_OBJ = Status.NEW_OBJECT
    NEW_OBJECT = Status.NEW_OBJECT
    RUNNING = Status.RUNNING
    COMPLETED = Status.COMPLETED
    FAILED = Status.FAILED
    CANCELLED = Status.CANCELLED
    POSTPROCESSING_FAILED = Status.POSTPROCESSING_FAILED

    def __init__(
        self,
        record: dict[str, Any],
        *,
        workflow_output: bool = True,
        intermediate_outputs: bool = True,
        fetch_child: Callable[[str], Result | None] | None = None,
        fetch_edges: Callable[[], list[dict[str, Any]]] | None = None,
        home: str | os.PathLike[str] | None = None,
        fetch_blobs: Callable[[list[str]], dict[str, bytes]] | None = None,
    ) -> None:
        self._row = record["dispatch"]
        self._nodes = {n["node_id"]: n for n in record["nodes"]}
        self._edges = record.get("edges")
        self._fetch_edges = fetch_edges
        self._children = record.get("children", [])
        self._blobs = _Blobs(record.get("blobs", {}), record.get("blob_files") or {}, fetch_blobs)
        self._workflow_output = workflow_output
        self._intermediate = intermediate_outputs
        self._fetch_child = fetch_child
        self._home = home  # the service holding it (for the dashboard link)
        self._fetch_blobs = fetch_blobs
        self._graph: Any = None  # the stored transport graph, fetched on first use
        self._lattice: Any = None
        self._metadata: dict[int, dict[str, Any]] | None = None

    # -- dispatch ---------------------------------------------------------------------

    @property
    def dispatch_id(self) -> str:
        """This dispatch's ID."""
        return str(self._row["dispatch_id"])

    @property
    def root_dispatch_id(self) -> str:
        """The top-level dispatch (itself unless this is a sublattice's dispatch)."""
        return str(self._row["root_dispatch_id"])

    @property
    def parent_dispatch_id(self) -> str | None:
        """The dispatch whose sublattice node started this one, if any."""
        return self._row["parent_dispatch_id"]

    @property
    def status(self) -> Status:
        """Current status (``ct.status`` values)."""
        return Status(self._row["status"])

    @property
    def result(self) -> Any:
        """The lattice's return value, once COMPLETED (None before, or if not fetched)."""
        key = self._row["result_blob"]
        if not self._workflow_output or not key or key not in self._blobs:
            return None
        return _serialize.loads(self._blobs[key])

    @property
    def encoded_result(self) -> TransportableObject:
        """The result with its readable forms."""
        key = self._row["result_blob"]
        data = self._blobs.get(key) if key and self._workflow_output else None
        return TransportableObject._stored(data, self._row["result_repr"], self._row["result_json"])

    @property
    def error(self) -> str | None:
        """Why the dispatch failed, naming each failed electron."""
        return self._row["error"]

    @property
    def inputs(self) -> LatticeInputs:
        """The lattice's inputs as Covalent gives them: a TransportableObject of
        ``{"args": tuple, "kwargs": dict}`` (``.get_deserialized()``; ``inputs["args"]``
        works too)."""
        key = self._row["inputs_blob"]
        value: Any = {"args": [], "kwargs": {}}
        if key and key in self._blobs:
            value = _serialize.loads(self._blobs[key])
        value = {"args": tuple(value.get("args", ())), "kwargs": dict(value.get("kwargs", {}))}
        return LatticeInputs(value)

    @property
    def start_time(self) -> datetime | None:
        """When the dispatch started (UTC)."""
        return self._row["start_time"]

    @property
    def end_time(self) -> datetime | None:
        """When the dispatch ended (UTC)."""
        return self._row["end_time"]

    @property
    def lattice(self) -> Any:
        """The dispatched lattice object; its ``transport_graph`` is this dispatch's graph
        with every node's state (``get_node_value(i, "status")``, ``"output"``,
        ``"stdout"``, ``"metadata"``, ...), as in Covalent."""
        if self._lattice is not None:
            return self._lattice
        key = self._row["lattice_blob"]
        if not key or key not in self._blobs:
            return None
        lattice = _serialize.loads(self._blobs[key])
        view = self._graph_view()
        if view is not None:
            lattice.transport_graph = view
        lattice.inputs = self.inputs
        self._lattice = lattice
        return lattice

    def _load_graph(self) -> tuple[Any, Callable[[str], Any]] | None:
        """The stored manifest's graph and a loader of its small blobs (hooks, executors)."""
        if self._graph is None:
            key = self._row.get("manifest_blob")
            if not key or self._fetch_blobs is None:
                return None
            try:
                data = self._fetch_blobs([key]).get(key)
                manifest = None if data is None else _serialize.loads(data)
            except Exception:  # an old or unreadable record: no graph to show
                manifest = None
            if manifest is None:
                return None
            graph = manifest.graph
            wanted = {n.metadata["hooks"] for n in graph.nodes if n.metadata.get("hooks")}
            wanted |= {
                n.executor.instance_blob
                for n in graph.nodes
                if n.executor and n.executor.instance_blob
            }
            wanted |= {n.value for n in graph.nodes if n.value}
            known = self._blobs
            cache: dict[str, bytes] = {}
            missing = sorted(k for k in wanted if k not in known)
            if missing:
                cache.update(self._fetch_blobs(missing))
            fetch = self._fetch_blobs

            def load(blob: str) -> Any:
                if blob in known:
                    return _serialize.loads(known[blob])
                if blob not in cache:
                    cache.update(fetch([blob]))
                data = cache.get(blob)
                return None if data is None else _serialize.loads(data)

            self._graph = (graph, load)
        return self._graph

    def _graph_view(self) -> Any:
        from .graph_view import TransportGraphView

        loaded = self._load_graph()
        if loaded is None:
            return None
        graph, load = loaded
        return TransportGraphView(
            graph,
            load,
            default_executor=str(self._row.get("executor") or "dask"),
            state_value=self._node_state,
            wrap=TransportableObject,
        )

    def _node_state(self, node_id: int, key: str) -> Any:
        if node_id not in self._nodes:
            return Status.NEW_OBJECT if key == "status" else None
        if key == "output":
            return self._output(self._nodes[node_id])
        if key == "sublattice_result":
            return self.get_node_result(node_id)["sublattice_result"]
        if key == "status":
            return Status(self._nodes[node_id]["status"])
        return self._nodes[node_id].get(key)

    def _node_metadata(self, node_id: int) -> dict[str, Any] | None:
        """Covalent's metadata of a node (executor, hooks), from the stored graph."""
        if self._metadata is None:
            from .graph_view import electron_metadata

            loaded = self._load_graph()
            self._metadata = {}
            if loaded is not None:
                graph, load = loaded
                default = str(self._row.get("executor") or "dask")
                for n in graph.nodes:
                    try:
                        self._metadata[n.id] = electron_metadata(n, load, default)
                    except Exception:  # a hook that cannot be unpickled here
                        self._metadata[n.id] = {
                            "executor": n.executor.short_name if n.executor else default
                        }
        return self._metadata.get(node_id)

    @property
    def lattice_source(self) -> str | None:
        """Source code of the lattice function."""
        return self._row["lattice_source"]

    @property
    def num_nodes(self) -> int:
        """Nodes in the transport graph (parameters included)."""
        return int(self._row["num_nodes"])

    @property
    def children(self) -> list[dict[str, Any]]:
        """Child dispatches (sublattices): id, name, status, parent node."""
        return list(self._children)

    # -- electrons --------------------------------------------------------------------

    def _output(self, node: dict[str, Any]) -> TransportableObject | None:
        key = node["output_blob"]
        if key is None or not self._intermediate:
            return None
        return TransportableObject._stored(
            self._blobs.get(key), node["output_repr"], node["output_json"]
        )

    def get_node_result(self, node_id: int) -> dict[str, Any]:
        """Everything about one node: its status, times, output, error and logs."""
        if node_id not in self._nodes:
            raise KeyError(
                f"dispatch {self.dispatch_id} has no node {node_id} "
                f"(it has nodes 0..{len(self._nodes) - 1})"
            )
        n = self._nodes[node_id]
        sub = n["sub_dispatch_id"]
        return {
            "node_id": node_id,
            "node_name": n["name"],
            "kind": n["kind"],
            "status": Status(n["status"]),
            "start_time": n["start_time"],
            "end_time": n["end_time"],
            "output": self._output(n),
            "error": n["error"],
            "stdout": n["stdout"],
            "stderr": n["stderr"],
            "executor": n["executor"],
            "ray_node_id": n["ray_node_id"],
            "worker_pid": n["worker_pid"],
            "attempt": n["attempt"],
            "attempts": list(n.get("attempts") or []),
            "reused_from": n.get("reused_from"),
            "job_handle": n.get("job_handle"),
            "remote_host": n.get("remote_host"),
            "sub_dispatch_id": sub,
            "sublattice_result": (self._fetch_child(sub) if sub and self._fetch_child else None),
            "metadata": self._node_metadata(node_id),
        }

    def get_all_node_outputs(self) -> dict[str, TransportableObject | None]:
        """``{"name(node_id)": output}`` for every node, as Covalent gives it: each output a
        :class:`TransportableObject` (``.get_deserialized()`` for the value), None for a
        node without one (failed, cancelled, not run)."""
        return {f"{n['name']}({nid})": self._output(n) for nid, n in sorted(self._nodes.items())}

    def get_all_node_results(self) -> list[dict[str, Any]]:
        """:meth:`get_node_result` of every node, by node id."""
        return [self.get_node_result(nid) for nid in sorted(self._nodes)]

    @property
    def edges(self) -> list[dict[str, Any]]:
        """The transport graph's edges (fetched on first use)."""
        if self._edges is None:
            self._edges = self._fetch_edges() if self._fetch_edges else []
        return list(self._edges)

    def __repr__(self) -> str:
        done = self.status is Status.COMPLETED
        return (
            f"Result(dispatch_id={self.dispatch_id!r}, status={self.status.value}, "
            f"result={_serialize.readable(self.result) if done else None})"
        )

    def _repr_html_(self) -> str:
        """Jupyter's view: lattice, status, times, electrons, result or error, and a link
        to the dispatch's page on the dashboard."""
        from .notebook import dashboard_url, result_html

        return result_html(self, dashboard_url(self.dispatch_id, self._home))

    def __str__(self) -> str:
        lines = [
            f"Lattice: {self._row['name']}",
            f"Dispatch ID: {self.dispatch_id}",
            f"Status: {self.status.value}",
            f"Start: {self.start_time}",
            f"End: {self.end_time}",
        ]
        if self.error:
            lines.append(f"Error: {self.error}")
        if self.status is Status.COMPLETED:
            lines.append(f"Result: {_serialize.readable(self.result)}")
        return "\n".join(lines)
