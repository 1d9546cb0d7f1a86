"""A parent that starts one multiprocessing child, as the bench pool does, then waits.

``python orphan_parent.py FOLDER`` prints the child's pid; the child calls ``die_with_parent``
with FOLDER to clean up, creates FOLDER/ready and sleeps. The test kills this parent and
watches the child go.
"""

import multiprocessing
import os
import sys
import time
from pathlib import Path

from hwfit.bench.lifecycle import die_with_parent


def sleep_until_orphaned(parent_pid: int, folder: str) -> None:
    die_with_parent(parent_pid, Path(folder))
    (Path(folder) / "ready").touch()
    time.sleep(120)


if __name__ == "__main__":
    child = multiprocessing.get_context("spawn").Process(
        target=sleep_until_orphaned, args=(os.getpid(), sys.argv[1])
    )
    child.start()
    sys.stdout.write(f"{child.pid}\n")
    sys.stdout.flush()
    time.sleep(120)
