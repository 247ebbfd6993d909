"""Every error covalent-ray raises on purpose.

The tree::

    CovalentRayError
    ├── LatticeBuildError          the lattice body failed or misused an electron output
    ├── SerializationError         a function, argument or output cannot be pickled
    ├── ServiceNotRunningError     no running service was found for the home directory
    ├── ServiceError               the service is running but misbehaved (start/stop/connect)
    ├── MissingDispatchError       no dispatch with that ID exists
    ├── ExecutorError              an executor is unknown, misconfigured or failed to set up
    │   └── UnknownExecutorError
    ├── ElectronError              (raised inside workers) one electron failed
    │   ├── TaskRuntimeError       an executor reports the task failed
    │   │   └── RemoteHostError    an SSH/Slurm host cannot be reached or refused the login
    │   ├── TaskCancelledError     an executor reports the task was cancelled
    │   ├── ElectronTimeoutError   the electron ran past its timeout
    │   ├── DepsError              a dependency (pip, bash, call_before/after) failed
    │   │   └── FileTransferError  a file transfer (``files=``) failed
    │   └── LeptonError            a lepton's command or foreign function failed
    ├── DispatchNotFinishedError   the result was asked for before the dispatch ended
    ├── CancelError                cancel on an unknown or already finished dispatch
    └── QueryError                 a SQL query was rejected or failed
        └── QueryRejectedError     the query would touch anything beyond the result views

Messages say which dispatch or electron is concerned and what the user can do about it.
"""

from __future__ import annotations


class CovalentRayError(Exception):
    """Base class of every error raised on purpose by covalent-ray."""


class LatticeBuildError(CovalentRayError):
    """The lattice body raised, or used an electron output in a way a static graph cannot."""


class SerializationError(CovalentRayError):
    """A function, argument, parameter or result could not be pickled."""


class ServiceNotRunningError(CovalentRayError):
    """No covalent-ray service answers for the home directory in use."""


class ServiceError(CovalentRayError):
    """The service could not be started, stopped or reached."""


class MissingDispatchError(CovalentRayError, KeyError):
    """No dispatch with the given ID is stored."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else "unknown dispatch"


# Covalent's name for the same condition, so ``except MissingLatticeRecordError`` keeps working.
MissingLatticeRecordError = MissingDispatchError


class ExecutorError(CovalentRayError):
    """An executor is unknown, misconfigured or failed to set up."""


class UnknownExecutorError(ExecutorError):
    """An executor name that no built-in, plugin or executor module provides."""


class ElectronError(CovalentRayError):
    """One electron failed; raised inside the worker that ran it."""


class TaskRuntimeError(ElectronError):
    """An executor reports that the task it ran failed."""


class RemoteHostError(TaskRuntimeError):
    """The remote host of an SSH or Slurm executor cannot be reached, or refused the login."""


class TaskCancelledError(ElectronError):
    """An executor reports that the task it ran was cancelled."""


class ElectronTimeoutError(ElectronError):
    """The electron ran past its ``timeout`` and was stopped."""


class DepsError(ElectronError):
    """A dependency of an electron (pip packages, bash commands, a call) failed."""


class FileTransferError(DepsError):
    """A file transfer of an electron (``files=[ct.fs.FileTransfer(...)]``) failed."""


class LeptonError(ElectronError):
    """A lepton's command exited non-zero, or its library or function could not be used."""


class DispatchNotFinishedError(CovalentRayError):
    """The dispatch is still running."""


class CancelError(CovalentRayError):
    """Cancel was asked of a dispatch that is unknown or has already ended."""


class QueryError(CovalentRayError):
    """A SQL query failed."""


class QueryRejectedError(QueryError):
    """A SQL query was refused because it is not a plain read of the result views."""
