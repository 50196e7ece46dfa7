"""Options: the validated, keyword-only settings of a store, and the registry of options classes.

:class:`Options` holds what every backend understands (cache, timeouts, retries, pickle policy).
Backends subclass it (:class:`autostore.s3.S3Options`) with ``@dataclass(frozen=True, kw_only=True)``
and extend :meth:`Options.__post_init__` to validate their own fields.

Instances are immutable: :meth:`Options.merged` returns a changed copy, validated again. Fields marked
secret (see :func:`secret_field`) never appear in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import Self

from autostore.exceptions import InvalidConfigError

__all__ = [
    "Options",
    "fields_for",
    "options_class_for_module",
    "options_class_for_scheme",
    "register_options_scheme",
    "registered_schemes",
    "secret_field",
]

logger = logging.getLogger("autostore.options")

_SECRET = "secret"
_MASK = "***"
# RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")


def secret_field(**kwargs: Any) -> Any:
    """A dataclass field whose value is shown as ``'***'`` in ``repr`` and never in error messages.

    Accepts the keyword arguments of :func:`dataclasses.field` (``default`` is ``None`` unless given).
    """
    kwargs.setdefault("default", None)
    return field(repr=False, metadata={_SECRET: True}, **kwargs)


def _is_secret(options_cls: type, name: str) -> bool:
    for options_field in dataclasses.fields(options_cls):
        if options_field.name == name:
            return bool(options_field.metadata.get(_SECRET, False))
    return False


def fields_for(options_cls: type[Options] | Options) -> list[str]:
    """The keyword names an options class (or the class of an instance) accepts, in declaration order."""
    return _init_names(options_cls)


def _init_names(dataclass_or_instance: Any) -> list[str]:
    return [item.name for item in dataclasses.fields(dataclass_or_instance) if item.init]


def _reject_unknown_keywords(options_cls: type, names: Iterable[str]) -> None:
    valid = _init_names(options_cls)
    unknown = [name for name in names if name not in valid]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1)
        if close:
            hints.append(f"{name!r} (did you mean {close[0]!r}?)")
        else:
            hints.append(repr(name))
    noun = "keyword" if len(unknown) == 1 else "keywords"
    raise TypeError(
        f"{options_cls.__name__} got an unexpected {noun} {', '.join(hints)}; valid: {', '.join(valid)}"
    )


def _type_name(value: object) -> str:
    return type(value).__name__


class _KeywordsOnly:
    """Refuses positional arguments and unknown keywords with messages that list the valid names."""

    def __new__(cls, *args: object, **kwargs: object) -> Self:
        """Check the call's arguments before the dataclass ``__init__`` sees them."""
        # The dataclass __init__ would reject these too, but its message does not list the valid names;
        # checking in __new__ covers every subclass, whatever __init__ the dataclass decorator gives it.
        if args:
            raise TypeError(
                f"{cls.__name__} takes keyword arguments only, got {len(args)} positional; "
                f"valid keywords: {', '.join(_init_names(cls))}"
            )
        _reject_unknown_keywords(cls, kwargs)
        return super().__new__(cls)


@dataclass(frozen=True, kw_only=True)
class Options(_KeywordsOnly):
    """Settings shared by every backend.

    Every field is keyword-only and checked on construction: a value of the wrong type raises
    ``TypeError`` naming the field, the expected type and the given type; a value out of range raises
    :class:`~autostore.exceptions.InvalidConfigError` (a ``ValueError``) naming the field. An unknown
    keyword raises ``TypeError`` listing the valid names.
    """

    scheme: str | None = None
    """The URI scheme these options apply to (``None``: the store's own, e.g. local paths)."""
    cache_enabled: bool = False
    """Keep a local copy of what is read and written, validated by ETag."""
    cache_dir: str | os.PathLike[str] | None = None
    """Root of the cache; ``None`` picks the platform cache directory."""
    cache_expiry_hours: float = 24.0
    """Hours a cached entry is served without asking the server; ``0`` means it never expires."""
    cache_max_bytes: int | None = None
    """Upper bound of the cache's size in bytes; ``None`` means unbounded."""
    timeout: float = 30.0
    """Seconds without progress after which a request is considered stalled (not a whole-transfer limit)."""
    max_retries: int = 3
    """How many times a failed request is retried."""
    retry_delay: float = 1.0
    """Seconds before the first retry; later retries back off from it."""
    allow_pickle: bool = True
    """Whether ``.pkl`` files and full torch models may be loaded (loading them runs code)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give every subclass this class's secret-masking ``__repr__``."""
        super().__init_subclass__(**kwargs)
        # The dataclass decorator writes a __repr__ only when the class body lacks one, and it runs
        # after this hook: placing ours in the subclass's own namespace keeps secrets masked.
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = Options.__repr__  # type: ignore[method-assign]

    def __repr__(self) -> str:
        """``ClassName(field=value, ...)`` with secret fields shown as ``'***'`` when set."""
        parts = []
        for options_field in dataclasses.fields(self):
            value = getattr(self, options_field.name)
            if options_field.metadata.get(_SECRET, False) and value is not None:
                parts.append(f"{options_field.name}={_MASK!r}")
            else:
                parts.append(f"{options_field.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __post_init__(self) -> None:
        """Validate and normalize every field of :class:`Options`; subclasses call it first."""
        self._check("scheme", _scheme, optional=True)
        self._check("cache_enabled", _boolean)
        self._check("cache_dir", _path, optional=True)
        self._check("cache_expiry_hours", _number, minimum=0.0)
        self._check("cache_max_bytes", _integer, minimum=1, optional=True)
        self._check("timeout", _number, minimum=0.0, exclusive=True)
        self._check("max_retries", _integer, minimum=0)
        self._check("retry_delay", _number, minimum=0.0)
        self._check("allow_pickle", _boolean)

    def _check(
        self, name: str, validator: Callable[..., Any], *, optional: bool = False, **limits: Any
    ) -> None:
        """Run ``validator`` on field ``name`` and store the normalized value.

        ``optional`` lets ``None`` through untouched; ``limits`` go to the validator.
        """
        value = getattr(self, name)
        if value is None and optional:
            return
        label = f"{type(self).__name__}.{name}"
        normalized = validator(label, value, secret=_is_secret(type(self), name), optional=optional, **limits)
        # Frozen dataclass: normalization (int -> float, scheme lowercasing) must bypass __setattr__.
        object.__setattr__(self, name, normalized)

    def merged(self, **overrides: Any) -> Self:
        """A copy with ``overrides`` replacing fields (they win), validated like a new instance."""
        _reject_unknown_keywords(type(self), overrides)
        return dataclasses.replace(self, **overrides)

    def to_core_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`autostore._core.Store` that these options determine."""
        return {"timeout": self.timeout, "max_retries": self.max_retries, "retry_delay": self.retry_delay}


def _expected(label: str, expected: str, value: object, optional: bool) -> TypeError:
    if optional:
        expected = f"{expected} or None"
    return TypeError(f"{label} must be {expected}, got {_type_name(value)}")


def _boolean(label: str, value: object, *, secret: bool, optional: bool) -> bool:
    """Only ``True``/``False``: ``1`` or ``"yes"`` are mistakes more often than intentions."""
    if not isinstance(value, bool):
        raise _expected(label, "bool", value, optional)
    return value


def _integer(
    label: str,
    value: object,
    *,
    secret: bool,
    optional: bool,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """An ``int`` (never a ``bool``) within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _expected(label, "int", value, optional)
    shown = "the given value" if secret else repr(value)
    if minimum is not None and value < minimum:
        raise InvalidConfigError(f"{label} must be >= {minimum}, got {shown}")
    if maximum is not None and value > maximum:
        raise InvalidConfigError(f"{label} must be <= {maximum}, got {shown}")
    return int(value)


def _number(
    label: str,
    value: object,
    *,
    secret: bool,
    optional: bool,
    minimum: float | None = None,
    exclusive: bool = False,
) -> float:
    """A finite ``int`` or ``float`` (never a ``bool``) above ``minimum``, returned as ``float``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _expected(label, "a number (int or float)", value, optional)
    number = float(value)
    shown = "the given value" if secret else repr(value)
    # The Rust core turns these into Durations, which cannot hold NaN or infinity.
    if not math.isfinite(number):
        raise InvalidConfigError(f"{label} must be a finite number, got {shown}")
    if minimum is not None:
        if exclusive and number <= minimum:
            raise InvalidConfigError(f"{label} must be > {minimum:g}, got {shown}")
        if not exclusive and number < minimum:
            raise InvalidConfigError(f"{label} must be >= {minimum:g}, got {shown}")
    return number


def _text(label: str, value: object, *, secret: bool, optional: bool) -> str:
    """A non-empty ``str``."""
    if not isinstance(value, str):
        raise _expected(label, "str", value, optional)
    if not value.strip():
        raise InvalidConfigError(f"{label} must not be empty or blank")
    return value


def _choice(label: str, value: object, *, secret: bool, optional: bool, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (exact spelling)."""
    if not isinstance(value, str):
        raise _expected(label, "str", value, optional)
    if value not in choices:
        raise InvalidConfigError(f"{label} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _scheme(label: str, value: object, *, secret: bool, optional: bool) -> str:
    """A URI scheme such as ``s3`` or ``minio`` (no ``://``), lowercased as URI schemes compare."""
    if not isinstance(value, str):
        raise _expected(label, "str", value, optional)
    if not _SCHEME_RE.fullmatch(value):
        hint = " (give the scheme alone, without '://')" if "://" in value or ":" in value else ""
        raise InvalidConfigError(
            f"{label} must be a URI scheme: a letter then letters, digits, '+', '-' or '.', "
            f"got {value!r}{hint}"
        )
    return value.lower()


def _path(label: str, value: object, *, secret: bool, optional: bool) -> str | os.PathLike[str]:
    """A ``str`` or ``os.PathLike`` naming a directory; kept as given."""
    if not isinstance(value, (str, os.PathLike)):
        raise _expected(label, "str or os.PathLike", value, optional)
    if isinstance(os.fspath(value), bytes):
        raise _expected(label, "a text path (str or os.PathLike[str])", value, optional)
    if not os.fspath(value):
        raise InvalidConfigError(f"{label} must not be an empty path")
    return value


# --- registry of options classes by scheme ---------------------------------------------------------

_BUILTIN_SCHEME_MODULES = {"s3": "autostore.s3", "s3a": "autostore.s3"}
_scheme_modules: dict[str, str] = dict(_BUILTIN_SCHEME_MODULES)
_registry_lock = threading.Lock()


def options_class_for_module(module_name: str) -> type[Options]:
    """Import ``module_name`` and return its ``OPTIONS_CLASS`` (an :class:`Options` subclass).

    Raises ``ImportError`` when the module cannot be imported and ``TypeError`` when it has no
    ``OPTIONS_CLASS`` or that is not an :class:`Options` subclass.
    """
    if not isinstance(module_name, str) or not module_name:
        raise TypeError(f"module name must be a non-empty str, got {_type_name(module_name)}")
    module = importlib.import_module(module_name)
    options_cls = getattr(module, "OPTIONS_CLASS", None)
    if options_cls is None:
        raise TypeError(f"module {module_name!r} defines no OPTIONS_CLASS, so it cannot back a scheme")
    if not (isinstance(options_cls, type) and issubclass(options_cls, Options)):
        raise TypeError(
            f"{module_name}.OPTIONS_CLASS must be a subclass of autostore.Options, got {options_cls!r}"
        )
    return options_cls


def register_options_scheme(scheme: str, module_name: str) -> type[Options]:
    """Make ``scheme`` use the options class of ``module_name`` (e.g. ``"minio"``, ``"autostore.s3"``).

    The module is imported now, so a typo fails here rather than at the first access. Returns the
    options class.
    """
    scheme = _scheme("scheme", scheme, secret=False, optional=False)
    options_cls = options_class_for_module(module_name)
    with _registry_lock:
        _scheme_modules[scheme] = module_name
    logger.debug("scheme %r uses %s from %s", scheme, options_cls.__name__, module_name)
    return options_cls


def options_class_for_scheme(scheme: str | None) -> type[Options]:
    """The options class for URIs of ``scheme``: registered, built-in (``s3``), or :class:`Options`.

    ``None``, ``""`` and ``"file"`` (local paths) and ``"memory"`` use :class:`Options`. An unknown
    scheme raises :class:`~autostore.exceptions.InvalidConfigError` listing the known ones.
    """
    if scheme is None or scheme == "":
        return Options
    scheme = _scheme("scheme", scheme, secret=False, optional=False)
    if scheme in ("file", "memory"):
        return Options
    with _registry_lock:
        module_name = _scheme_modules.get(scheme)
    if module_name is None:
        raise InvalidConfigError(
            f"no backend is registered for scheme {scheme!r}; known: {', '.join(registered_schemes())} "
            f"(register one with AutoStore.register_scheme({scheme!r}, 'autostore.s3'))"
        )
    return options_class_for_module(module_name)


def registered_schemes() -> list[str]:
    """Every scheme with an options class: the built-in ones and those registered, sorted."""
    with _registry_lock:
        return sorted({"file", "memory", *_scheme_modules})
