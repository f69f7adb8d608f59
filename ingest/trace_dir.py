"""A directory of text traces as a TRACE: each JSON Lines or text file in it is one trace.

A directory that holds no Parquet trace but such files is read like a list of them (converted to
a temporary store); one that holds neither gets an error that says what would work.
"""

from __future__ import annotations

from pathlib import Path

from tdxray.schema.errors import InputError

TEXT_SUFFIXES = (".jsonl", ".trace", ".log", ".txt")
COMPRESSED = ("", ".gz", ".zst", ".xz")
PATTERNS = tuple(f"*{s}{c}" for s in TEXT_SUFFIXES for c in COMPRESSED)


def _is_text_trace(path: Path) -> bool:
    name = path.name
    return (path.is_file() and not name.startswith(".")
            and any(name.endswith(s + c) for s in TEXT_SUFFIXES for c in COMPRESSED))


def text_traces_in(directory: Path) -> list[Path]:
    """The text traces directly in directory, sorted by name."""
    return sorted(p for p in directory.iterdir() if _is_text_trace(p))


def has_parquet(directory: Path) -> bool:
    return any(p.is_file() for p in directory.glob("*.parquet"))


def no_traces_error(directory: Path) -> InputError:
    """What to say about a directory with no trace in it: where the traces seem to be."""
    deeper = sorted(p for p in directory.rglob("*") if _is_text_trace(p)
                    or (p.suffix == ".parquet" and p.is_file()))
    if deeper:
        parents = sorted({p.parent.relative_to(directory).as_posix() for p in deeper})
        example = deeper[0].relative_to(directory)
        glob = Path(directory, *example.parts[:-1], "*" + "".join(example.suffixes))
        return InputError(f"holds no traces itself, but {len(deeper)} in subdirectories "
                          f"({', '.join(parents[:4])}{', …' if len(parents) > 4 else ''}): "
                          f"name them, e.g. {glob}", str(directory))
    kinds = ", ".join(f"*{s}" for s in TEXT_SUFFIXES)
    return InputError(f"holds no traces (no *.parquet trace, no text trace: {kinds}, maybe "
                      "compressed); to make a store: tdxray ingest FILE... -o STORE",
                      str(directory))
