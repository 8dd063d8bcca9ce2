"""Micro-benchmarks: speed and memory, FLOPs, retrieval evaluation, the negative-caption generators
and DTR's token roles, each a script of its own (docs/performance.md)."""
