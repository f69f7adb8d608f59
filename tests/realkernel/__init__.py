"""A real Debian kernel under QEMU: fetch it, build a busybox initramfs, boot it, capture."""
