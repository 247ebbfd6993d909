"""`covalent-ray config [KEY [VALUE]]`: read and write the config file (``ct.get_config``
and ``ct.set_config`` from the shell).

Exit codes: 0 done; 1 an unknown key; 2 bad usage or a value TOML cannot hold.
"""

from __future__ import annotations

import os
import tomllib
from typing import Annotated, Any

import typer

from .._home import ENV_HOME, home_dir
from .common import HomeOpt, JsonOpt, fail, print_json


def register(app: typer.Typer) -> None:
    """Add the config command to ``app``."""
    app.command(name="config")(config_command)


def parse_value(text: str) -> Any:
    """A command-line value as TOML reads it (``8``, ``true``, ``[1, 2]``, ``"x"``), else
    the text itself, so ``config executors.local.workdir /tmp/w`` needs no quotes."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def config_command(
    key: Annotated[
        str | None,
        typer.Argument(help="A dotted key such as executors.local.workdir.", show_default=False),
    ] = None,
    value: Annotated[
        str | None,
        typer.Argument(
            help="Set the key to this (TOML syntax; plain text is a string).", show_default=False
        ),
    ] = None,
    unset: Annotated[
        bool, typer.Option("--unset", help="Remove KEY from the file (its default applies).")
    ] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the effective settings, one of them, or set one in the home's config file."""
    previous = os.environ.get(ENV_HOME)
    os.environ[ENV_HOME] = str(home_dir(home))  # the config file of that home, for this call
    try:
        _config(key, value, unset, as_json)
    finally:
        if previous is None:
            os.environ.pop(ENV_HOME, None)
        else:
            os.environ[ENV_HOME] = previous


def _config(key: str | None, value: str | None, unset: bool, as_json: bool) -> None:
    import tomli_w

    from ..sdk.config import get_config, set_config

    if unset or value is not None:
        if key is None:
            fail("give the KEY to set or unset, e.g. `covalent-ray config sdk.executor_dir DIR`", 2)
        if unset and value is not None:
            fail("give either a VALUE or --unset, not both", 2)
        new = None if unset else parse_value(value)  # type: ignore[arg-type]
        try:
            set_config(key, new)
        except (ValueError, TypeError) as exc:
            fail(exc, 2)
        if as_json:
            print_json({"key": key, "value": new})
        else:
            typer.echo(f"{key} removed" if unset else f"{key} = {_show(new)}")
        return
    try:
        data = get_config(key)
    except KeyError as exc:
        fail(f"{exc}. `covalent-ray config` lists every key.")
    if as_json:
        print_json(data)
    elif isinstance(data, dict):
        typer.echo(tomli_w.dumps(data if key is None else _nest(key, data)), nl=False)
    else:
        typer.echo(_show(data))


def _show(value: Any) -> str:
    import tomli_w

    return tomli_w.dumps({"v": value}).strip()[len("v = ") :]


def _nest(key: str, data: dict[str, Any]) -> dict[str, Any]:
    """``{"a": {"b": data}}`` for key ``a.b``: a table is shown under its own header."""
    for part in reversed(key.split(".")):
        data = {part: data}
    return data
