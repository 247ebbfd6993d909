"""File transfers, performed where an electron runs: the strategies behind Covalent's
``ct.fs_strategies`` and the actions they hand to the runtime.

- :mod:`~covalent_ray.transfer.strategies`: ``Shutil``, ``Rsync`` (local and over SSH),
  ``HTTP``, ``S3``, ``GCloud``, ``Blob`` and their base ``FileTransferStrategy``, with
  Covalent's constructor arguments. ``strategy.cp/download/upload(from_file, to_file)``
  returns a callable that performs the transfer when called;
- :mod:`~covalent_ray.transfer.actions`: those callables (small picklable objects holding
  plain paths and settings) and the code that runs them: ``shutil``, the ``rsync``
  command, and fsspec with its plugins (s3fs, gcsfs, adlfs, aiohttp) for HTTP and the
  clouds, loaded on first use; a missing plugin names the extra that installs it.

The declarative side (``FileTransfer``, ``File``, ``Folder``, ``Order``) is the SDK's
(:mod:`covalent_ray.sdk.fs`); the runtime runs the actions around the electron
(:mod:`covalent_ray.runtime.hooks`).

Self-contained on purpose: an executor may run an electron on a host without
covalent-ray, so this package's code must travel by value with cloudpickle
(:func:`ship_by_value`). Its errors are built-in exceptions (``FileNotFoundError``,
``ImportError``, ``RuntimeError``, ...) whose messages name the file and what to do; the
runtime wraps them in ``FileTransferError`` naming the electron.

May import: nothing of covalent_ray; the standard library, and fsspec (with its plugins)
inside the functions that need it.
"""

from __future__ import annotations

import sys


def ship_by_value() -> None:
    """Have cloudpickle pickle this package's functions and classes by value from now on,
    so transfer actions unpickle on hosts that do not have covalent-ray."""
    import cloudpickle

    if __name__ in sys.modules:
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
