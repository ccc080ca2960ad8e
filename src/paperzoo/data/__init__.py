"""Datasets and dataset builders, one module per dataset family; `registry` knows where they live."""
