"""Training glue: config loading, the Lightning trainer factory, callbacks, run directories."""
