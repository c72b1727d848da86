"""The two-level taxonomy papers are filed under: areas, then sub-areas, from a TOML file.

The default ships with papersift (``taxonomy.toml`` beside this module); ``settings.taxonomy``
(``PAPERSIFT_TAXONOMY``) points at a user's own file of the same shape. Keys are stable and
stored with each paper; labels are per language; descriptions guide the zero-shot classifier.
Sub-area keys are unique across the whole taxonomy, so a sub-area alone names its area.
"""

from __future__ import annotations

import tomllib
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from .labels import labels

if TYPE_CHECKING:
    from .config import Settings

DEFAULT_TAXONOMY = Path(__file__).with_name("taxonomy.toml")


class TaxonomyError(Exception):
    """A taxonomy file could not be used: the message names the file and the field."""


class Node(BaseModel):
    key: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    labels: dict[str, str] = Field(min_length=1, description="label per language code: {zh = ..., en = ...}")
    description: str = ""

    def label(self, lang: str = "zh") -> str:
        """The label in ``lang``, else English, else the first one given."""
        return self.labels.get(lang) or self.labels.get("en") or next(iter(self.labels.values()))


class SubArea(Node):
    pass


class Area(Node):
    subareas: list[SubArea] = Field(min_length=1)

    @field_validator("subareas")
    @classmethod
    def _unique(cls, subareas: list[SubArea]) -> list[SubArea]:
        keys = [s.key for s in subareas]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate sub-area key(s): {', '.join(dupes)}")
        return subareas


class Taxonomy(BaseModel):
    areas: list[Area] = Field(min_length=1)

    @model_validator(mode="after")
    def _keys_unique(self) -> Taxonomy:
        keys = [a.key for a in self.areas] + [s.key for a in self.areas for s in a.subareas]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"keys must be unique across areas and sub-areas: {', '.join(dupes)}")
        return self

    @cached_property
    def _nodes(self) -> dict[str, Node]:
        """Every area and sub-area by key, in file order (an area, then its sub-areas)."""
        return {node.key: node for a in self.areas for node in (a, *a.subareas)}

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {key: i for i, key in enumerate(self._nodes)}

    @cached_property
    def _parent(self) -> dict[str, Area]:
        return {s.key: a for a in self.areas for s in a.subareas}

    def label(self, key: str, lang: str = "zh") -> str:
        """The label of an area or sub-area; an unknown key is shown as itself."""
        node = self._nodes.get(key) or self._area_by_label(key)
        return node.label(lang) if node else key

    def area(self, key_or_label: str) -> Area:
        """An area by key or by any of its labels (sources may give the label, as the shared catalog does)."""
        found = self._nodes.get(key_or_label)
        if isinstance(found, Area):
            return found
        found = self._area_by_label(key_or_label)
        if found is None:
            raise KeyError(key_or_label)
        return found

    def subarea(self, key: str) -> SubArea:
        found = self._nodes.get(key)
        if not isinstance(found, SubArea):
            raise KeyError(key)
        return found

    def area_of(self, subarea_key: str) -> Area:
        """The area a sub-area belongs to."""
        try:
            return self._parent[subarea_key]
        except KeyError:
            raise KeyError(subarea_key) from None

    def subarea_keys(self, area: str | None = None) -> list[str]:
        """Sub-area keys in the file's order, of one area (key or label) or of all."""
        areas = [self.area(area)] if area else self.areas
        return [s.key for a in areas for s in a.subareas]

    def order(self, key: str) -> int:
        """Position of an area or sub-area in the file (for sorting); unknown keys sort last."""
        return self._positions.get(key, len(self._positions))

    def __contains__(self, key: object) -> bool:
        return key in self._nodes

    def _area_by_label(self, label: str) -> Area | None:
        return next((a for a in self.areas if label in a.labels.values()), None)


def read_taxonomy(path: str | Path) -> Taxonomy:
    """Parse and check one taxonomy file; errors name the file and the offending field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaxonomyError(f"{path}: taxonomy file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TaxonomyError(f"{path}: invalid TOML: {exc}") from exc
    try:
        return Taxonomy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise TaxonomyError(f"{path}: {problems}") from None


_cache: dict[tuple[Path, float], Taxonomy] = {}


def load_taxonomy(settings: Settings | None = None) -> Taxonomy:
    """The taxonomy in effect: ``settings.taxonomy`` if set, else the default that ships."""
    path = Path(settings.taxonomy) if settings is not None and settings.taxonomy else DEFAULT_TAXONOMY
    try:
        key = (path.resolve(), path.stat().st_mtime)
    except FileNotFoundError:
        raise TaxonomyError(f"{path}: taxonomy file not found") from None
    if key not in _cache:
        _cache[key] = read_taxonomy(path)
    return _cache[key]


class Labeller:
    """Area and sub-area labels from the taxonomy, in the reader's language; unknown keys show as themselves."""

    def __init__(self, lang: str, settings=None):
        self.lang = lang
        self.taxonomy = _taxonomy(settings)

    def area_key(self, area: str | None, subarea: str | None) -> str | None:
        """The area's key: sources may give its label (the shared catalog does) or only a sub-area."""
        if self.taxonomy is None or (area is None and subarea is None):
            return area
        try:
            return self.taxonomy.area(area).key if area else self.taxonomy.area_of(subarea).key
        except KeyError:
            return area

    def label(self, key: str | None) -> str:
        if key is None:
            return labels(self.lang)["uncategorised"]
        return self.taxonomy.label(key, self.lang) if self.taxonomy is not None else key


def _taxonomy(settings):
    try:
        return load_taxonomy(settings)
    except TaxonomyError:
        return None  # a broken user taxonomy must not stop publishing: show keys
