"""Traces written back as text: JSON Lines (lossless), ftrace host/guest, QEMU, console."""
