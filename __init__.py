"""tdxray: store, replay and explore traces of Intel TDX guests (TDs) to catch kexec/kdump bugs.

    import tdxray
    store = tdxray.open("STORE")   # the Python API (api.py), imported on first use
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Store", "__version__", "open"]


def __getattr__(name: str) -> Any:
    """`tdxray.open` and `tdxray.Store` load the API lazily: `import tdxray` stays cheap."""
    if name in ("open", "Store"):
        from tdxray import api

        return getattr(api, name)
    raise AttributeError(f"module 'tdxray' has no attribute {name!r}")
