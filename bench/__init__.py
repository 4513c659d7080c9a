"""Benchmarks: ``make bench`` measures the hot paths on this machine and prints the figures."""
