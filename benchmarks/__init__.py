"""Recorder benchmarks against tlog-rec and script(1); run with `python -m benchmarks`."""
