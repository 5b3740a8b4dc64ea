"""The join table: every leaderboard row, the results model it joined (if any), and how.

`how` is `exact` (same spelling as the results), `normalised` (same after lower-casing and
dropping punctuation, `names.name_key`), `map` (through an entry of the name map) or `unmatched`.
For an unmatched row, `near` lists results models with a similar spelling (difflib ratio >= 0.8)
that did not join, so ambiguous pairs can be audited. Counts are per leaderboard, both ways:
leaderboard rows with no results partner, and results models with no row in that leaderboard.
"""

from __future__ import annotations

import difflib
from typing import Iterable, Sequence

from sos_jax.analysis.names import NameMap, name_key


def join_table(results: Sequence[str], leaderboards: Iterable[tuple[str, Sequence[str]]],
               name_map: NameMap) -> dict:
    """Returns {"pairs": [...], "counts": {leaderboard: {...}}} for results vs each leaderboard."""
    nm = name_map.extended(results)
    res_canon = {nm.canonical(m): m for m in results}
    pairs, counts = [], {}
    for src, models in leaderboards:
        seen = set()
        for name in models:
            canon = nm.canonical(name)
            partner = res_canon.get(canon)
            if partner is None:
                how = "unmatched"
            elif name == partner:
                how = "exact"
            elif name_key(name) == name_key(partner):
                how = "normalised"
            else:
                how = "map"
            row = {"leaderboard": src, "name": name, "results_model": partner, "how": how}
            if partner is None:
                row["near"] = difflib.get_close_matches(name.lower(), [m.lower() for m in results], n=3, cutoff=0.8)
                row["near"] = [m for m in results if m.lower() in row["near"]]
            else:
                seen.add(partner)
            pairs.append(row)
        rows = [p for p in pairs if p["leaderboard"] == src]
        counts[src] = {
            "rows": len(rows),
            "joined": len(seen),
            **{h: sum(p["how"] == h for p in rows) for h in ("exact", "normalised", "map", "unmatched")},
            "results_without_partner": sorted(set(results) - seen),
        }
    return {"pairs": pairs, "counts": counts}


__all__ = ["join_table"]
