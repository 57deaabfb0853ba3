"""From a header, a preset and the columns a person mapped by hand to one `Mapping`: column index → target."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidArguments
from .presets import IDENTITY_TARGETS, PRESETS, STANDARD_TARGETS, guess_preset, squeeze, targets_for

__all__ = ["PRESET_NAMES", "Mapping", "build_mapping"]

PRESET_NAMES = ("auto", "generic", *PRESETS)
_CUSTOM = re.compile(r"^(custom|custom_date):([a-z][a-z0-9_]{0,39})$")


@dataclass(frozen=True)
class Mapping:
    header: list[str]
    preset: str  # the preset used (auto resolved)
    columns: dict[int, str]  # column index → target

    def describe(self) -> dict[str, str]:
        """Header → target, for every column (unmapped columns are "ignore")."""
        return {name or f"column {i + 1}": self.columns.get(i, "ignore") for i, name in enumerate(self.header)}

    def index_of(self, target: str) -> list[int]:
        return [i for i, t in self.columns.items() if t == target]


def check_target(target: str) -> str:
    if target in STANDARD_TARGETS or _CUSTOM.match(target):
        return target
    raise InvalidArguments(
        f"{target!r} is not a field contacts can be imported into; use one of {', '.join(STANDARD_TARGETS)}, or "
        "custom:NAME (custom:NAME for text, custom_date:NAME for a date; NAME in lower case letters, digits and _)",
        field="mapping",
    )


def build_mapping(header: list[str], preset: str = "auto", overrides: dict[str, str] | None = None) -> Mapping:
    if preset not in PRESET_NAMES:
        raise InvalidArguments(f"preset {preset!r} is unknown; use one of {', '.join(PRESET_NAMES)}", field="preset")
    chosen = guess_preset(header) if preset == "auto" else preset
    known = targets_for(chosen)
    columns: dict[int, str] = {}
    for i, name in enumerate(header):
        target = known.get(squeeze(name))
        if target and target != "ignore":
            columns[i] = target
    by_name = {name.strip().lower(): i for i, name in reversed(list(enumerate(header)))}
    for column, target in (overrides or {}).items():
        found = by_name.get(column.strip().lower())
        if found is None:
            raise InvalidArguments(
                f"the mapping names the column {column!r}, which the file does not have; its columns are: "
                + ", ".join(repr(h) for h in header[:60]),
                field="mapping",
            )
        if check_target(target) == "ignore":
            columns.pop(found, None)
        else:
            columns[found] = target
    if not any(t in IDENTITY_TARGETS for t in columns.values()):
        raise InvalidArguments(
            "no column of this file was recognised as a name, an email or a phone (its columns are: "
            + ", ".join(repr(h) for h in header[:60])
            + '); map one by hand, e.g. mapping {"Correo": "email"}, or pick the preset of the CRM it came from',
            field="mapping",
        )
    return Mapping(header=header, preset=chosen, columns=columns)
