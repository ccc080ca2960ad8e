"""File I/O: atomic writes, checkpoints and exports."""
