"""Handing freed heap memory back to the operating system, for long-running servers (app.py).

A Python process's resident memory is what glibc's malloc holds, not what Python uses. The Gradio demo
allocates and frees tens of MB per run (step HTML, PNG plots, JSON messages) from whichever of its
many short-lived threads does the work, so the freed memory is scattered over glibc's per-thread arenas
and stays resident: measured with bench/bench_app.py, malloc's in-use bytes stayed level (~150-190 MB)
while its free-but-held bytes rose by ~1 MB per request, and RSS with them. malloc_trim(0) releases the
free pages of every arena.
"""

import ctypes
import ctypes.util

_LIBC_NAME = ctypes.util.find_library("c")
_MALLOC_TRIM = getattr(ctypes.CDLL(_LIBC_NAME), "malloc_trim", None) if _LIBC_NAME else None


def release_freed_memory():
    """Return malloc's free pages to the OS; True if it could (glibc), False elsewhere (a no-op)."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
