"""Benchmarks that run StrumSpace and its peers on the same work in the same run: ``python -m bench NAME``."""
