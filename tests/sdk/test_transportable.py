"""ct.TransportableObject: Covalent's public methods (no Ray involved)."""

from __future__ import annotations

import base64
import json

import cloudpickle
import pytest

import covalent_ray as ct


def sample(x):
    """Doubles x."""
    return 2 * x


def test_wraps_an_object_with_covalents_properties() -> None:
    to = ct.TransportableObject({"a": [1, 2]})
    assert to.get_deserialized() == {"a": [1, 2]}
    assert to.get_deserialized() is not to.get_deserialized()  # a fresh copy each time
    assert to.object_string == "{'a': [1, 2]}"
    assert json.loads(to.json) == {"a": [1, 2]}
    assert to.python_version.count(".") == 2
    assert set(to.header) >= {"py_version", "cloudpickle_version", "attrs"}
    fn = ct.TransportableObject(sample)
    assert fn.attrs == {"name": "sample", "doc": "Doubles x."}
    assert fn.get_deserialized()(4) == 8


def test_wrapping_copies_the_object_at_once() -> None:
    value = [1]
    to = ct.TransportableObject(value)
    value.append(2)
    assert to.get_deserialized() == [1]


def test_round_trips_through_bytes_dicts_and_json() -> None:
    to = ct.TransportableObject((1, "two", 3.0))
    again = ct.TransportableObject.deserialize(to.serialize())
    assert again == to and again.get_deserialized() == (1, "two", 3.0)
    assert ct.TransportableObject.from_dict(json.loads(json.dumps(to.to_dict()))) == to
    assert to.to_dict()["type"] == "TransportableObject"
    from_json = ct.TransportableObject.deserialize_from_json(to.serialize_to_json())
    assert from_json.get_deserialized() == (1, "two", 3.0)
    assert cloudpickle.loads(base64.b64decode(to.get_serialized())) == (1, "two", 3.0)
    header_only = ct.TransportableObject.deserialize(to.serialize(), header_only=True)
    assert header_only.object_string == to.object_string
    assert header_only.get_deserialized() is None
    with pytest.raises(ValueError, match="not a serialized TransportableObject"):
        ct.TransportableObject.deserialize(b"garbage")


def test_helpers_for_collections() -> None:
    to = ct.TransportableObject
    assert to.make_transportable(5).get_deserialized() == 5
    one = to(1)
    assert to.make_transportable(one) is one
    nested = {"a": one, "b": [to(2), {"c": to(3)}]}
    assert to.deserialize_dict(nested) == {"a": 1, "b": [2, {"c": 3}]}
    assert to.deserialize_list([to("x"), [to("y")]]) == ["x", ["y"]]
    with pytest.raises(TypeError, match="TransportableObjects"):
        to.deserialize_list([5])
    assert to(1) == to(1) and to(1) != to(2)
