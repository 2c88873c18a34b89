"""Parent-death signals (Linux `prctl(PR_SET_PDEATHSIG)`): a child of ours stops when its parent dies, however.

Two uses, one per level of `shopbridge worker`'s tree (workers/cli.py): the command arms it in Dramatiq's master
(`preexec`), and the master in each of its worker processes (`arm_in_forked_children`, workers/run.py). A process
killed outright (SIGKILL, the out-of-memory killer) cannot stop its children itself; the kernel then does it for
it. Elsewhere than on Linux both do nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _arm(signum: int, parent: int, libc: ctypes.CDLL | None = None) -> None:
    """Ask the kernel to send `signum` to this process when its parent dies; exit at once (status 1) if `parent`,
    the process that started this one, is already gone (it died before the signal was armed). `libc`: the C library
    loaded before the fork (a `dlopen` in a child forked from a process with threads may wait for ever on a lock
    another thread held at the fork)."""
    (libc or ctypes.CDLL(None, use_errno=True)).prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def preexec(signum: int) -> Callable[[], None]:
    """A `subprocess.Popen(preexec_fn=...)` that arms `signum` in the child, this process being its parent.

    The parent's death is that of the thread that forked: start the child from the main thread.
    """
    parent = os.getpid()

    def arm() -> None:
        if sys.platform.startswith("linux"):
            _arm(signum, parent)

    return arm


def arm_in_forked_children(signum: int) -> None:
    """Arm `signum` in every process this process forks from now on (`os.register_at_fork`), not in theirs.

    For Dramatiq's master, whose worker processes are `multiprocessing` forks (its default start method before
    Python 3.14; from 3.14 it is `forkserver`, whose processes a fork hook never reaches). A process a worker
    process forks in turn is left alone: its parent is that worker, which stays.
    """
    if not sys.platform.startswith("linux"):
        return
    this = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)
    forker = 0

    def before() -> None:
        nonlocal forker
        forker = os.getpid()

    def after_in_child() -> None:
        if forker == this:
            _arm(signum, this, libc)

    os.register_at_fork(before=before, after_in_child=after_in_child)
