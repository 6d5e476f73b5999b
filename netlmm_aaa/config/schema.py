"""The configuration schema, declared on the dataclasses themselves.

A field made with :func:`setting` is a TOML key: its checker validates (and converts) the value,
the dataclass default is the key's default, a field without one is required. :func:`read_table`
reads one TOML table into its dataclass: unknown keys, missing required keys and bad values are
:class:`~netlmm_aaa.core.errors.ConfigError` naming the key path and the value.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from collections.abc import Callable, Collection, Sequence
from datetime import timedelta
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from netlmm_aaa.core.errors import ConfigError

Check = Callable[[str, Any], Any]
"""(key path, raw value) -> the value to store; raises ConfigError."""

_T = TypeVar("_T")
_E = TypeVar("_E", bound=Enum)
_CHECK = "netlmm_aaa.check"
_KEY = "netlmm_aaa.key"


_DESCRIBED: dict[Check, str] = {}


def described(what: str, check: Check) -> Check:
    """``check``, registered as accepting ``what`` (the configuration reference's type column)."""
    _DESCRIBED[check] = what
    return check


def describe(check: Check) -> str:
    """What ``check`` accepts, in words; KeyError for a checker made without :func:`described`."""
    return _DESCRIBED[check]


def setting(check: Check, default: Any = dataclasses.MISSING, *, key: str | None = None) -> Any:
    """A dataclass field read from the TOML key of its name (or ``key``) through ``check``."""
    metadata = {_CHECK: check, _KEY: key}
    return dataclasses.field(default=default, metadata=metadata)


def setting_check(field: dataclasses.Field[Any]) -> Check | None:
    """The checker of a field made with :func:`setting`, None for other fields."""
    check: Check | None = field.metadata.get(_CHECK)
    return check


def setting_key(field: dataclasses.Field[Any]) -> str:
    """The TOML key of a setting."""
    return str(field.metadata.get(_KEY) or field.name)


@dataclasses.dataclass(frozen=True, slots=True)
class TableDoc:
    """A TOML table of a daemon's file and the dataclass declaring its keys (the reference's
    order and titles)."""

    path: str
    cls: type[Any]
    array: bool = False
    """An array of tables (``[[path]]``)."""
    meanings_from: tuple[type[Any], ...] = ()
    """Classes whose same-named fields say what a key means when ``cls`` does not (the core's
    policy dataclasses the table fills)."""


class ConfigProblems(ConfigError):
    """Several problems of one file, found in one pass; each names its key path."""

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Problems:
    """Collects the problems of a file so that one pass reports them all: a check inside
    :meth:`collect` that raises is recorded and the caller goes on with the next table."""

    def __init__(self) -> None:
        self.found: list[ConfigError] = []

    def collect(self) -> Problems:
        """``with problems.collect():`` records a ConfigError raised inside and goes on."""
        return self

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if isinstance(exc, ConfigProblems):
            self.found.extend(exc.problems)
            return True
        if isinstance(exc, ConfigError):
            self.found.append(exc)
            return True
        return False

    def array(self, path: str, table: dict[str, Any]) -> list[Any]:
        """The array of tables (``[[...]]``) at ``path``, its last name a key of ``table``;
        a problem, and no tables, when it is not one."""
        with self.collect():
            return read_array(path, table.get(path.rsplit(".", 1)[1]))
        return []

    def raise_any(self) -> None:
        """Raise what was found: the one problem, or all of them as :class:`ConfigProblems`."""
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise ConfigProblems(self.found)


def read_settings(
    path: str, raw: Any, cls: type[Any], *, tables: Collection[str] = ()
) -> dict[str, Any]:
    """The checked values of ``cls``'s settings in the TOML table ``raw`` at ``path``, defaults
    filled in, by field name. ``tables``: sub-tables the caller reads itself (known keys).
    Every unknown, missing or bad key of the table is reported at once."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise fail(path, raw, "must be a table")
    settings = {
        f.metadata[_KEY] or f.name: f for f in dataclasses.fields(cls) if _CHECK in f.metadata
    }
    known = {*settings, *tables}
    problems = Problems()
    for key in sorted(set(raw) - known):
        with problems.collect():
            raise ConfigError(f"{path}.{key}: unknown key (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for key, field in settings.items():
        with problems.collect():
            if key in raw:
                values[field.name] = field.metadata[_CHECK](f"{path}.{key}", raw[key])
            elif field.default is dataclasses.MISSING:
                raise ConfigError(f"{path}.{key}: missing (required)")
            else:
                values[field.name] = field.default
    problems.raise_any()
    return values


def read_table(
    path: str, raw: Any, cls: type[_T], *, tables: Collection[str] = (), **computed: Any
) -> _T:
    """``cls`` from the TOML table ``raw``; ``computed``: its fields that are not settings."""
    return cls(**read_settings(path, raw, cls, tables=tables), **computed)


def read_array(path: str, raw: Any) -> list[Any]:
    """An array of tables (``[[...]]``), empty when absent."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise fail(path, raw, "must be an array of tables ([[...]])")
    return raw


def read_document(path: str | Path) -> dict[str, Any]:
    """The parsed TOML file at ``path``."""
    try:
        with open(path, "rb") as stream:
            document = tomllib.load(stream)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return document


def top_table(document: dict[str, Any], top: str) -> dict[str, Any]:
    """``document[top]``, refusing any other top-level table."""
    others = set(document) - {top}
    if others:
        raise ConfigError(f"{sorted(others)[0]}: unknown top-level table (expected [{top}])")
    if top not in document:
        raise ConfigError(f"{top}: missing ([{top}] table required)")
    table = document[top]
    if not isinstance(table, dict):
        raise fail(top, table, "must be a table")
    return table


def fail(path: str, value: Any, why: str) -> ConfigError:
    return ConfigError(f"{path}: {value!r} {why}")


# ---------------------------------------------------------------------- checkers


def _parser(parse: Callable[[str], Any], what: str) -> Check:
    """Addresses and networks, written as strings; stored in their canonical spelling."""

    def check(path: str, value: Any) -> str:
        if not isinstance(value, str):
            raise fail(path, value, f"is not {what} (write it as a string)")
        try:
            return str(parse(value))
        except (ValueError, TypeError) as exc:
            raise fail(path, value, f"is not {what} ({exc})") from None

    return described(what.removeprefix("an ").removeprefix("a "), check)


ipv6 = _parser(ipaddress.IPv6Address, "an IPv6 address")
ipv4 = _parser(ipaddress.IPv4Address, "an IPv4 address")
ip = _parser(ipaddress.ip_address, "an IP address")
net6 = _parser(ipaddress.IPv6Network, "an IPv6 network")
net4 = _parser(ipaddress.IPv4Network, "an IPv4 network")
net = _parser(ipaddress.ip_network, "an IP network")


def text(path: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise fail(path, value, "must be a non-empty string")
    return value


def secret(path: str, value: Any) -> bytes:
    """A shared secret: a non-empty string, kept as its UTF-8 octets."""
    return text(path, value).encode()


def listen(path: str, value: Any) -> str:
    """``ADDRESS:PORT`` of a listener."""
    from netlmm_aaa.metrics import parse_listen

    spelled = text(path, value)
    try:
        host, _port = parse_listen(spelled)
        if host != "::":
            ipaddress.ip_address(host)
    except ValueError:
        raise fail(path, value, "must be ADDRESS:PORT, e.g. 127.0.0.1:9813") from None
    return spelled


def age(path: str, value: Any) -> timedelta:
    """A retention period: ``36h``, ``90d``, ``12w`` (at least a day)."""
    from netlmm_aaa.persistence.retention import RetentionError, parse_age

    try:
        return parse_age(text(path, value))
    except RetentionError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def boolean(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(path, value, "must be true or false")
    return value


described("string", text)
described("string (a shared secret)", secret)
described("`ADDRESS:PORT`", listen)
described("age: hours, days or weeks (`36h`, `90d`, `12w`), at least a day", age)
described("boolean", boolean)


def number(low: float, high: float) -> Check:
    def check(path: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(path, value, "must be a number")
        if not low <= value <= high:
            raise fail(path, value, f"must be between {low:g} and {high:g}")
        return float(value)

    return described(f"number, {low:g} to {high:g}", check)


def integer(low: int, high: int) -> Check:
    def check(path: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(path, value, "must be a whole number")
        if not low <= value <= high:
            raise fail(path, value, f"must be between {low} and {high}")
        return value

    return described(f"integer, {low} to {high}", check)


def choice(*allowed: str) -> Check:
    def check(path: str, value: Any) -> str:
        if value not in allowed:
            raise fail(path, value, f"must be one of {', '.join(allowed)}")
        return str(value)

    return described("one of " + ", ".join(f"`{a}`" for a in allowed), check)


def one_of(kind: type[_E]) -> Check:
    """A member of the enum ``kind``, written as its value."""
    allowed = choice(*(member.value for member in kind))

    def check(path: str, value: Any) -> _E:
        return kind(allowed(path, value))

    return described(describe(allowed), check)


def bounds(item: Check) -> Check:
    """``[low, high]``, each element through ``item``, low <= high."""
    pair = list_of(item)

    def check(path: str, value: Any) -> tuple[Any, ...]:
        checked: tuple[Any, ...] = pair(path, value)
        if len(checked) != 2 or checked[0] > checked[1]:
            raise fail(path, value, "must be [low, high] with low <= high")
        return checked

    return described(f"[low, high], each {describe(item)}", check)


def list_of(item: Check) -> Check:
    """A TOML array, each element through ``item``; stored as a tuple."""

    def check(path: str, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise fail(path, value, "must be a list")
        return tuple(item(f"{path}[{i}]", v) for i, v in enumerate(value))

    return described(f"list of {describe(item)}", check)
