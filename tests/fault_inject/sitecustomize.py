"""Fault injection for tests/test_faults.py: put this folder on PYTHONPATH and set COMPRESS_LAB_TEST_FAULT.

Python imports `sitecustomize` at start-up, so every process of the test (workers, CLI
runs) carries the fault without the code under test knowing:
- `enospc`: `torch.save` writes 1 KB, then fails as a full disk does (OSError ENOSPC).
- `erofs`: creating a folder inside an `artifacts` folder fails as on a read-only file system.
"""
import errno
import os

_FAULT = os.environ.get("COMPRESS_LAB_TEST_FAULT", "")

if _FAULT == "enospc":
    import torch

    def _full_disk_save(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"\0" * 1024)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))

    torch.save = _full_disk_save

elif _FAULT == "erofs":
    _mkdir = os.mkdir

    def _read_only_mkdir(path, *args, **kwargs):
        if os.path.basename(os.path.dirname(os.fspath(path))) == "artifacts":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return _mkdir(path, *args, **kwargs)

    os.mkdir = _read_only_mkdir
