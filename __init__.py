"""tdxray: store, replay and explore traces of Intel TDX guests (TDs) to catch kexec/kdump bugs.

    import tdxray
    store = tdxray.open("STORE")   # the Python API (api.py), imported on first use
    report = tdxray.check("STORE") # what `tdxray check` does, as a report object
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Store", "__version__", "check", "open"]


def __getattr__(name: str) -> Any:
    """`tdxray.open` and `tdxray.Store` load the API lazily: `import tdxray` stays cheap."""
    if name in ("open", "Store", "check"):
        from tdxray import api

        return getattr(api, name)
    raise AttributeError(f"module 'tdxray' has no attribute {name!r}")
