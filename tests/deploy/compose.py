"""
Reading docker-compose.yaml the way Docker Compose does, for tests on a machine without a Docker engine.

``load()`` parses the file with PyYAML (anchors and ``<<`` merges resolved); ``variables()`` lists every
``${VAR}`` the file interpolates (``$$`` is Compose's escape for a literal ``$``, e.g. in shell commands
run inside the containers); ``interpolate()`` applies ``${VAR}``, ``${VAR:-default}`` and
``${VAR-default}`` as Compose does, so a test can see what a container would receive for a given .env.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"

#: ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}``, ``${NAME:?err}``, ``${NAME?err}``.
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
#: ``NAME=value`` or ``# NAME=value`` in an env file.
_ENV_LINE = re.compile(r"^(?P<hash>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def load(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """The compose file as plain data."""
    import yaml

    with path.open() as f:
        data = yaml.safe_load(f)
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def scalars(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML tree, keys included."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from scalars(key)
            yield from scalars(value)
    elif isinstance(node, list):
        for item in node:
            yield from scalars(item)
    elif isinstance(node, str):
        yield node


def _unescaped(text: str) -> str:
    return text.replace("$$", "\0")


def variables(data: dict[str, Any]) -> dict[str, set[str | None]]:
    """Variable name -> the defaults it is used with (None: no default, ``${VAR}``)."""
    found: dict[str, set[str | None]] = {}
    for text in scalars(data):
        for m in _VAR.finditer(_unescaped(text)):
            default = m["arg"] if m["op"] in (":-", "-") else None
            found.setdefault(m["name"], set()).add(default)
    return found


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation of one string (``$$`` becomes ``$``)."""

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m["name"], m["op"], m["arg"]
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise KeyError(f"{name}: {arg}")
        return value or ""

    return _VAR.sub(sub, _unescaped(text)).replace("\0", "$")


def service_env(data: dict[str, Any], service: str, env: Mapping[str, str]) -> dict[str, str]:
    """The environment one service's container gets for the given .env values."""
    raw = data["services"][service].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(str(value), env) for key, value in raw.items()}


def env_file_entries(path: Path = ENV_EXAMPLE) -> list[tuple[str, str, bool]]:
    """``(name, value, commented_out)`` for every assignment line of an env file."""
    entries = []
    for line in path.read_text().splitlines():
        m = _ENV_LINE.match(line.strip())
        if m:
            entries.append((m["name"], m["value"], bool(m["hash"])))
    return entries


def named_volume(spec: str | dict[str, Any]) -> str | None:
    """The named volume a service volume entry mounts, or None for a bind mount."""
    if isinstance(spec, dict):
        return spec.get("source") if spec.get("type", "volume") == "volume" else None
    source = spec.split(":", 1)[0]
    if ":" not in spec or source.startswith(("/", ".", "~", "$")):
        return None
    return source


def mount_target(spec: str | dict[str, Any]) -> str:
    """Where a service volume entry is mounted in the container."""
    if isinstance(spec, dict):
        return str(spec["target"])
    parts = spec.split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def healthcheck_command(service: dict[str, Any], replace: Mapping[str, str] | None = None) -> list[str]:
    """
    The argv Docker would run for a service's healthcheck (``CMD`` as is, ``CMD-SHELL`` through ``sh -c``).

    ``replace`` maps container-specific substrings (hosts, ports, paths) to what they are on this machine.
    """
    test = [interpolate(str(part), {}) for part in service["healthcheck"]["test"]]
    for old, new in (replace or {}).items():
        test = [part.replace(old, new) for part in test]
    kind, args = test[0], test[1:]
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(args)]
    assert kind == "CMD", test
    return args
