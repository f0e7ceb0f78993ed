"""The servers the benchmarks compare, each doing the same work: validate a name, answer a greeting."""
