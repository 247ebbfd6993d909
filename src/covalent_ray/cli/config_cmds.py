"""`covalent-ray config [KEY [VALUE]]`: read and write the config file (``ct.get_config``
and ``ct.set_config`` from the shell).

Exit codes: 0 done; 1 an unknown key; 2 bad usage or a value TOML cannot hold.

Setting a key that no default, plugin or the file knows is refused (a typo would be
stored silently and never read) unless ``--new`` says it is meant.
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
    new: Annotated[
        bool,
        typer.Option(
            "--new", help="Set a KEY no default knows (a plugin's setting not registered yet)."
        ),
    ] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the effective settings, one of them, or set one in the home's config file."""
    previous = os.environ.get(ENV_HOME)
    os.environ[ENV_HOME] = str(home_dir(home))  # the config file of that home, for this call
    try:
        _config(key, value, unset, new, as_json)
    finally:
        if previous is None:
            os.environ.pop(ENV_HOME, None)
        else:
            os.environ[ENV_HOME] = previous


def _unknown(exc: KeyError, then: str = "`covalent-ray config` lists every key") -> str:
    # the library's advice (ct.set_config) is for Python; the shell's follows instead
    return f"{str(exc).split(' Set it with ')[0].rstrip('.')}; {then}"


def _config(key: str | None, value: str | None, unset: bool, new: bool, as_json: bool) -> None:
    from ..sdk.config import get_config, set_config

    if key is not None and not all(key.split(".")):
        fail(f"invalid config key {key!r}: use dotted names such as executors.local.workdir", 2)
    if unset or value is not None:
        if key is None:
            fail("give the KEY to set or unset, e.g. `covalent-ray config sdk.executor_dir DIR`", 2)
        if unset and value is not None:
            fail("give either a VALUE or --unset, not both", 2)
        try:
            current = get_config(key)
        except KeyError as exc:
            if not new:
                fail(_unknown(exc, "check its spelling, or add it anyway with --new"))
            current = None
            _refuse_under_a_value(key)
        if isinstance(current, dict) and not unset:
            fail(
                f"{key} is a table of settings, not one value: set one of its keys "
                f"(`covalent-ray config {key}` lists them)",
                2,
            )
        setting = None if unset else parse_value(value)  # type: ignore[arg-type]
        try:
            set_config(key, setting)
        except (ValueError, TypeError) as exc:
            fail(exc, 2)
        if as_json:
            print_json({"key": key, "value": setting})
        else:
            typer.echo(f"{key} removed" if unset else f"{key} = {_show(setting)}")
        return
    try:
        data = get_config(key)
    except KeyError as exc:
        fail(_unknown(exc))
    if as_json:
        print_json(data)
    elif isinstance(data, dict):
        typer.echo(_toml(data if key is None else _nest(key, data)), nl=False)
    else:
        typer.echo(_show(data))


def _refuse_under_a_value(key: str) -> None:
    """A new key may not turn an existing single setting into a table (``sdk.log_level.x``
    would replace ``sdk.log_level``)."""
    from ..sdk.config import get_config

    parts = key.split(".")
    for i in range(1, len(parts)):
        prefix = ".".join(parts[:i])
        try:
            above = get_config(prefix)
        except KeyError:
            return
        if not isinstance(above, dict):
            fail(f"{prefix} is a single setting, not a table: {key} cannot go under it", 2)


#: how a setting without a value (None: TOML has no null) is shown
NOT_SET = "(not set)"


def _show(value: Any) -> str:
    import tomli_w

    if value is None:
        return NOT_SET
    return tomli_w.dumps({"v": value}).strip()[len("v = ") :]


def _toml(data: dict[str, Any], name: str = "") -> str:
    """``data`` as TOML, with each setting that has no value as a comment line where it
    would be (``# cert_file = (not set)``): TOML cannot hold a null."""
    import tomli_w

    values = {k: v for k, v in data.items() if not isinstance(v, dict) and v is not None}
    lines = [tomli_w.dumps(values)] if values else []
    lines += [f"# {k} = {NOT_SET}\n" for k, v in data.items() if v is None]
    out = (f"[{name}]\n" if name and lines else "") + "".join(lines)
    for k, v in data.items():
        if isinstance(v, dict):
            part = tomli_w.dumps({k: 0}).split(" = ")[0]  # the key, quoted if TOML needs it
            sub = _toml(v, f"{name}.{part}" if name else part)
            out += ("\n" if out and sub else "") + sub
    return out


def _nest(key: str, data: dict[str, Any]) -> dict[str, Any]:
    """``{"a": {"b": data}}`` for key ``a.b``: a table is shown under its own header."""
    for part in reversed(key.split(".")):
        data = {part: data}
    return data
