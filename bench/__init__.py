"""Benchmark of the job's bulk paths against the MySQL command-line client (`python -m bench`)."""
