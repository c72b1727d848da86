"""Plugins: where papersift grows without being edited.

Each stage that others may extend keeps a :class:`Registry` next to its code, with its small
interface: sources (:mod:`papersift.sources.base`), LLM backends (:mod:`papersift.llm.base`),
embedders (:mod:`papersift.search.embeddings`), output formats (:mod:`papersift.publish.formats`)
and delivery channels (:mod:`papersift.deliver`). The built-in plugins are registered in code;
third-party ones are found through Python entry points, one group per kind::

    [project.entry-points."papersift.formats"]
    txt = "papersift_txt:TextFormat"

Nothing is imported until it is used: a registry knows names from the entry points' metadata,
and loads a plugin (once) when it is asked for by name. A plugin that fails to load is an error
naming the plugin and its distribution; an unknown name is an error listing the known ones.
``docs/plugins.md`` says how to write each kind.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")

KINDS = ("sources", "backends", "embedders", "formats", "channels")  # the entry-point groups, papersift.<kind>
BUILTIN = "papersift (built-in)"


class PluginError(Exception):
    """A plugin could not be used: the message names it, where it comes from, and why."""


class UnknownPlugin(PluginError, ValueError):
    """No plugin of that name: the message lists the known ones."""


@dataclass(frozen=True)
class PluginInfo:
    kind: str
    name: str
    origin: str  # "papersift (built-in)" or the distribution and its version
    target: str  # where it lives, "module:attribute"
    shadowed: bool = False  # a third-party plugin with a built-in's name is not used

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _origin(entry: EntryPoint) -> str:
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


def _target(obj: Any) -> str:
    return obj if isinstance(obj, str) else f"{obj.__module__}:{obj.__qualname__}"


def _import(target: str) -> Any:
    module, _, attribute = target.partition(":")
    obj = importlib.import_module(module)
    for part in attribute.split(".") if attribute else ():
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """The plugins of one kind: built-ins registered in code, others from ``papersift.<kind>`` entry points."""

    def __init__(self, kind: str, what: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"plugin kind {kind!r}: use one of {', '.join(KINDS)}")
        self.kind, self.what, self.group = kind, what, f"papersift.{kind}"
        self._builtins: dict[str, T | str] = {}  # the object, or "module:attribute" to import when first used
        self._loaded: dict[str, T] = {}

    def builtin(self, name: str, target: T | str) -> None:
        """Register a built-in plugin: the object itself, or ``"module:attribute"`` to import lazily."""
        self._builtins[name] = target

    def _entry_points(self) -> dict[str, EntryPoint]:
        found: dict[str, EntryPoint] = {}
        for entry in entry_points(group=self.group):
            found.setdefault(entry.name, entry)  # the first on sys.path wins, as for modules
        return found

    def names(self) -> list[str]:
        """Every usable name, built-in and installed, without loading anything."""
        return sorted({*self._builtins, *self._entry_points()})

    def third_party(self) -> list[str]:
        """The installed plugins' names that no built-in shadows."""
        return sorted(set(self._entry_points()) - set(self._builtins))

    def get(self, name: str, where: str | None = None) -> T:
        """The plugin called ``name``, loaded on first use; ``where`` names the setting or option that asked."""
        if name in self._loaded:
            return self._loaded[name]
        if name in self._builtins:
            target = self._builtins[name]
            plugin = _import(target) if isinstance(target, str) else target
        else:
            entry = self._entry_points().get(name)
            if entry is None:
                asked = f" ({where})" if where else ""
                raise UnknownPlugin(f"unknown {self.what} {name!r}{asked}; known: {', '.join(self.names())}")
            try:
                plugin = entry.load()
            except Exception as exc:  # any error inside a third party's import is its own, named
                raise PluginError(
                    f"{self.what} plugin {name!r} from {_origin(entry)} ({entry.value}, entry point group {self.group})"
                    f" failed to load: {type(exc).__name__}: {exc}"
                ) from exc
        self._loaded[name] = plugin
        return plugin

    def plugins(self) -> list[PluginInfo]:
        """What is registered and installed, without loading it."""
        found = [PluginInfo(self.kind, name, BUILTIN, _target(target)) for name, target in self._builtins.items()]
        found += [
            PluginInfo(self.kind, name, _origin(entry), entry.value, shadowed=name in self._builtins)
            for name, entry in self._entry_points().items()
        ]
        return sorted(found, key=lambda p: (p.name, p.shadowed))

    def clear(self) -> None:
        """Forget the loaded plugins (tests that change ``sys.path``)."""
        self._loaded.clear()
