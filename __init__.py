"""tdxray: store, replay and explore traces of Intel TDX guests (TDs) to catch kexec/kdump bugs."""

__version__ = "0.1.0"
