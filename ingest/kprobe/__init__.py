"""Guest kprobes: the probe set a distro kernel accepts (recipe), what its events mean (decode)."""
