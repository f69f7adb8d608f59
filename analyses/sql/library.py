"""The named query library: .sql files in queries/, each opening with a name and a description.

    -- name: divergence-summary
    -- description: divergences per trace, severity and rule
    SELECT …
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from tdxray.schema.errors import InputError

_HEADER_KEYS = ("name", "description")


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str


def parse_query(text: str, origin: str) -> NamedQuery:
    """A library file: `-- name:` and `-- description:` header lines, then one statement."""
    header: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        key, sep, value = line[2:].partition(":")
        if sep and key.strip() in _HEADER_KEYS:
            header[key.strip()] = value.strip()
    missing = [k for k in _HEADER_KEYS if k not in header]
    if missing:
        raise ValueError(f"{origin}: library query without a '-- {missing[0]}:' header line")
    return NamedQuery(header["name"], header["description"], text)


def load_library() -> list[NamedQuery]:
    """Every query of the library, sorted by name."""
    folder = resources.files(__package__).joinpath("queries")
    queries = [parse_query(f.read_text(encoding="utf-8"), f.name)
               for f in folder.iterdir() if f.name.endswith(".sql")]
    return sorted(queries, key=lambda q: q.name)


def get_query(name: str) -> NamedQuery:
    library = {q.name: q for q in load_library()}
    if name not in library:
        raise InputError(f"no library query {name!r} (try: {', '.join(library)})")
    return library[name]
