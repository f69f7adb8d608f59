"""Console captures (dmesg, serial logs): `log` events and the phase markers."""
