"""Peers of the dispatch benchmark (``bench/dispatch.py``): one module per task-queue library.

Each peer module has ``run(redis_url, tasks, workers) -> Run``: it pre-fills ``tasks`` no-op
tasks with the library's own enqueue API, starts ``workers`` worker processes with the
library's own worker CLI or runner, and returns when every result has been collected.
``harness`` holds what they share. Worker processes import the peer module too, so the peer
libraries themselves are imported only inside functions: this package imports without them.
"""
