import pytest

from remedi.demo.memory import release_freed_memory


def resident_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def test_freed_holes_in_the_heap_go_back_to_the_os():
    """64 KiB blocks (below malloc's mmap threshold, so from the heap), every other one freed: 62.5 MiB of
    holes that malloc keeps resident, as a server's heap looks after many requests, until trimmed."""
    kept, freed = [], []
    for _ in range(1000):
        freed.append(bytes(65536))
        kept.append(bytes(65536))
    del freed
    holding = resident_mib()
    if not release_freed_memory():
        pytest.skip("not glibc: malloc_trim is unavailable, and release_freed_memory does nothing")
    assert holding - resident_mib() > 40
    assert len(kept) == 1000
