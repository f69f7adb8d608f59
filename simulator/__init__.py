"""The reference simulator: a seeded model of a TD's life (boot, APs, shared I/O buffers,
background TDVMCALLs, kexec and kdump, and injected bugs) that writes traces."""
