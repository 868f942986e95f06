"""What every script shares: the ``${project_root:}`` resolver its config uses, and the error wrapper
that turns a user's mistake into one ``error:`` line and exit code 1.

User errors are the project's own (every one is a ``ValueError`` subclass with a one-line message
naming the file or option), files the system cannot read or write (``OSError``), configs OmegaConf
cannot resolve (a missing mandatory value), Lightning's misconfigurations, and running out of memory.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

T = TypeVar("T")
EXIT_USER_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def project_root() -> str:
    """The folder holding the ``conf/`` that Hydra composed the running script's config from: the
    repository. Configs composed in Python (``hydra.compose``) have no such record; they get the
    current folder, which for them is the repository (or set ``paths.root=``)."""
    if HydraConfig.initialized():
        for source in HydraConfig.get().runtime.config_sources:
            if source.provider == "main" and source.schema == "file":
                return str(Path(source.path).resolve().parent)
    return os.getcwd()


OmegaConf.register_new_resolver("project_root", project_root, replace=True)


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def is_out_of_memory(error: BaseException) -> bool:
    """torch's allocator failures: OutOfMemoryError on CUDA, a RuntimeError from the CPU allocator."""
    if isinstance(error, MemoryError | torch.OutOfMemoryError):
        return True
    message = str(error)
    return isinstance(error, RuntimeError) and (
        "can't allocate memory" in message or "DefaultCPUAllocator" in message
    )


def user_error_message(error: BaseException, memory_hint: str = "") -> str | None:
    """The line to print for a user error, None for anything else."""
    if is_out_of_memory(error):
        hint = f" ({memory_hint})" if memory_hint else ""
        return f"out of memory: {one_line(error)}{hint}"
    if isinstance(error, OSError):
        # e.g. "[Errno 13] Permission denied: '/x'": keep the path, drop the errno prefix.
        if error.filename is not None and error.strerror:
            return f"{error.filename}: {error.strerror}"
        return one_line(error)
    if isinstance(error, MissingMandatoryValue) and error.full_key:
        return f"{error.full_key} is missing: give {error.full_key}=..."
    if isinstance(error, (ValueError, OmegaConfBaseException, *lightning_config_errors())):
        return one_line(error)
    return None


def lightning_config_errors() -> tuple[type[Exception], ...]:
    """Lightning's MisconfigurationException where Lightning is loaded, else nothing to match.

    Importing Lightning for the class alone costs 2.5 s of start-up (it pulls in torch._dynamo) in
    scripts that never train; only a script that imported Lightning can raise it.
    """
    module = sys.modules.get("lightning.fabric.utilities.exceptions")
    return (module.MisconfigurationException,) if module is not None else ()


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(EXIT_USER_ERROR)


def _terminate(signum: int, frame: object) -> NoReturn:
    # An exception, so that staged outputs are removed on the way out, as on Ctrl-C.
    raise SystemExit(EXIT_TERMINATED)


def run_reporting_errors(
    job: Callable[[], T],
    memory_hint: str = "",
    cleanup: Callable[[], None] | None = None,
    handle_sigterm: bool = True,
) -> T:
    """Run ``job``; a user error becomes one ``error:`` line on stderr and exit code 1, Ctrl-C exit
    code 130, SIGTERM 143. ``cleanup`` runs first on errors and Ctrl-C (e.g. removing a run folder that
    holds nothing yet). ``handle_sigterm=False`` leaves SIGTERM to the job (Lightning checkpoints on it)."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread and handle_sigterm else None
    try:
        return job()
    except KeyboardInterrupt:
        if cleanup is not None:
            cleanup()
        print("interrupted", file=sys.stderr, flush=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:
        message = user_error_message(error, memory_hint)
        if message is None:
            raise
        if cleanup is not None:
            cleanup()
        fail(message)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
