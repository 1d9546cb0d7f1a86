"""One generic, lazy registry for every kind of plug-in."""

from __future__ import annotations

import contextlib
import difflib
import importlib
from collections.abc import Iterator
from typing import Generic, TypeVar

from hwfit.errors import InternalError, PluginUnavailableError, UnknownNameError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Map plug-in names to ``"module:Class"`` paths, imported on first use.

    Args:
        kind: What the plug-ins are ("runtime"), used in messages.
        builtins: Name -> ``"module:attribute"`` for the plug-ins hwfit ships.

    Example:
        >>> reg: Registry[object] = Registry(kind="thing", builtins={"dict": "builtins:dict"})
        >>> reg.load("dict") is dict
        True
        >>> reg.load("dcit")
        Traceback (most recent call last):
        ...
        hwfit.errors.UnknownNameError: Unknown thing 'dcit'. Did you mean 'dict'? Known: dict.
    """

    def __init__(self, kind: str, builtins: dict[str, str] | None = None) -> None:
        self.kind = kind
        self._paths: dict[str, str] = dict(builtins or {})
        self._loaded: dict[str, type[T]] = {}

    def names(self) -> list[str]:
        """Return every registered name, sorted."""
        return sorted(self._paths)

    def register(self, name: str, target: type[T] | str) -> None:
        """Register a plug-in class, or its ``"module:Class"`` path.

        Raises:
            InternalError: ``name`` is already registered.
        """
        if name in self._paths:
            raise InternalError(f"{self.kind.capitalize()} {name!r} is already registered.")
        self._set(name, target)

    @contextlib.contextmanager
    def override(self, name: str, target: type[T] | str) -> Iterator[None]:
        """Register ``target`` as ``name`` for the duration of a ``with`` block (for tests).

        ``name`` may be registered already (its plug-in is replaced) or new; on exit the
        registry is as it was before, also when the block raises.

        Example:
            >>> reg: Registry[object] = Registry(kind="thing", builtins={"a": "builtins:dict"})
            >>> with reg.override("a", "builtins:list"):
            ...     reg.load("a") is list
            True
            >>> reg.load("a") is dict
            True
        """
        saved_path = self._paths.get(name)
        saved_class = self._loaded.pop(name, None)
        self._set(name, target)
        try:
            yield
        finally:
            self._paths.pop(name, None)
            self._loaded.pop(name, None)
            if saved_path is not None:
                self._paths[name] = saved_path
            if saved_class is not None:
                self._loaded[name] = saved_class

    def _set(self, name: str, target: type[T] | str) -> None:
        if isinstance(target, str):
            self._paths[name] = target
        else:
            self._paths[name] = f"{target.__module__}:{target.__qualname__}"
            self._loaded[name] = target

    def path(self, name: str) -> str:
        """Return the ``"module:Class"`` path of ``name`` (workers import plug-ins by path).

        Raises:
            UnknownNameError: ``name`` is not registered.
        """
        self._check(name)
        return self._paths[name]

    def load(self, name: str) -> type[T]:
        """Import and return the plug-in registered as ``name``.

        Raises:
            UnknownNameError: ``name`` is not registered; the message suggests close names.
            PluginUnavailableError: The plug-in's package is not installed.
        """
        self._check(name)
        if name not in self._loaded:
            self._loaded[name] = import_path(self._paths[name])
        return self._loaded[name]

    def _check(self, name: str) -> None:
        if name in self._paths:
            return
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        suggestion = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(
            f"Unknown {self.kind} {name!r}.{suggestion} Known: {', '.join(self.names())}."
        )


def import_path(path: str) -> type[T]:
    """Import ``"package.module:Attribute"`` and return the attribute.

    Raises:
        PluginUnavailableError: The module or one of its dependencies is not installed.
        UnknownNameError: The module has no such attribute.
    """
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise PluginUnavailableError(
            f"{path!r} needs the package {exc.name!r}, which is not installed.",
            hint=f"Install it: pip install {exc.name}",
        ) from exc
    except ImportError as exc:  # installed but broken (a missing shared library, say)
        raise PluginUnavailableError(
            f"{path!r} cannot be imported: {exc}",
            hint="Reinstall the package, or check its system libraries.",
        ) from exc
    try:
        return getattr(module, attr)  # type: ignore[no-any-return]
    except AttributeError as exc:
        raise UnknownNameError(f"Module {module_name!r} has no attribute {attr!r}.") from exc
