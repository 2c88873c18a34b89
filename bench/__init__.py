"""Shopbridge's benchmarks (`make bench`, `python -m bench --help`): never part of `make test`."""
