"""Model-name maps: one canonical name per model across results files and leaderboards.

Sources spell the same model differently (`Llama-3-8B-Ultrachat-DPO` vs
`llama-3-base-8b-sft-dpo`), so every source's names go through a user-supplied map before any
join, and each join reports the names that found no partner.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence


def name_key(name: str) -> str:
    """Returns the spelling-insensitive key of a name: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


@dataclass
class NameMap:
    """Alias -> canonical name; lookups try the exact alias, then its spelling-insensitive key."""

    aliases: dict[str, str] = field(default_factory=dict)
    source: str = "<inline>"

    def __post_init__(self) -> None:
        self._by_key: dict[str, str] = {}
        for alias, canonical in self.aliases.items():
            for spelling in (alias, canonical):
                key = name_key(spelling)
                prev = self._by_key.get(key)
                if prev is not None and prev != canonical:
                    raise ValueError(
                        f"{self.source}: name {spelling!r} maps to both {prev!r} and {canonical!r}"
                    )
                self._by_key[key] = canonical

    def extended(self, names: Iterable[str]) -> "NameMap":
        """Returns a copy that also maps other spellings of `names` (case, punctuation) to them.

        Used to let leaderboard rows find the results' spelling of a model the map does not list.
        """
        out = NameMap(dict(self.aliases), self.source)
        for n in names:
            c = self.canonical(n)
            out._by_key.setdefault(name_key(n), c)
            out._by_key.setdefault(name_key(c), c)
        return out

    def canonical(self, name: str) -> str:
        """Returns the canonical name of `name` (itself when the map does not know it)."""
        name = name.strip()
        if name in self.aliases:
            return self.aliases[name]
        return self._by_key.get(name_key(name), name)


def _from_mapping(obj: Mapping, source: str) -> NameMap:
    aliases: dict[str, str] = {}
    for key, value in obj.items():
        if isinstance(value, str):  # alias: canonical
            aliases[str(key)] = value
        elif isinstance(value, (list, tuple)):  # canonical: [aliases]
            aliases[str(key)] = str(key)
            for alias in value:
                if not isinstance(alias, str):
                    raise ValueError(f"{source}: aliases of {key!r} must be strings, got {alias!r}")
                aliases[alias] = str(key)
        elif value is None:  # canonical with no aliases (YAML `name:`)
            aliases[str(key)] = str(key)
        else:
            raise ValueError(
                f"{source}: entry {key!r} must map to a canonical name (string) or a list of aliases, "
                f"got {type(value).__name__}"
            )
    return NameMap(aliases, source)


def load_name_map(path: str | Path | Mapping | None) -> NameMap:
    """Returns the name map stored in a YAML/JSON/CSV file (or given as a dict).

    YAML/JSON hold either `alias: canonical` pairs or `canonical: [alias, ...]` lists (both may
    mix). A CSV needs the columns `alias` and `canonical`.
    """
    if path is None:
        return NameMap({}, "<empty>")
    if isinstance(path, Mapping):
        return _from_mapping(path, "<dict>")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"name map {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("alias", "canonical") if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(
                    f"{path}: name-map CSV lacks column(s) {missing}; expected header 'alias,canonical', "
                    f"got {reader.fieldnames}"
                )
            aliases = {}
            for line, row in enumerate(reader, start=2):
                alias, canonical = (row["alias"] or "").strip(), (row["canonical"] or "").strip()
                if not alias or not canonical:
                    raise ValueError(f"{path}: line {line}: empty 'alias' or 'canonical'")
                aliases[alias] = canonical
        return NameMap(aliases, str(path))
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        obj = json.loads(text)
    elif suffix in (".yaml", ".yml"):
        import yaml

        obj = yaml.safe_load(text) or {}
    else:
        raise ValueError(f"{path}: name map must be .yaml, .yml, .json or .csv")
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: name map must be a mapping at the top level, got {type(obj).__name__}")
    nm = _from_mapping(obj, str(path))
    return nm


@dataclass
class JoinReport:
    """Which canonical models each source holds, and which found no partner in the reference."""

    reference: str
    joined: list[str]
    unmatched: dict[str, list[str]]  # source -> original names that did not join

    def to_dict(self) -> dict:
        """Returns the report as a JSON-friendly dict."""
        return {"reference": self.reference, "joined": self.joined, "unmatched": self.unmatched}


def join_report(
    reference: tuple[str, Sequence[str]],
    others: Iterable[tuple[str, Sequence[str]]],
    name_map: NameMap,
) -> JoinReport:
    """Returns the models shared by the reference source and each other source, and the misses.

    Names are canonicalised first; `unmatched[source]` lists original spellings (from the
    reference too) that have no partner in at least one other source.
    """
    ref_name, ref_models = reference
    name_map = name_map.extended(ref_models)
    ref_canon = {name_map.canonical(m): m for m in ref_models}
    others = list(others)
    unmatched: dict[str, list[str]] = {}
    shared_any: set[str] = set()
    for src, models in others:
        canon = {name_map.canonical(m): m for m in models}
        unmatched[src] = sorted(m for c, m in canon.items() if c not in ref_canon)
        shared_any |= set(canon) & set(ref_canon)
    unmatched[ref_name] = sorted(m for c, m in ref_canon.items() if c not in shared_any) if others else []
    return JoinReport(ref_name, sorted(shared_any), unmatched)
