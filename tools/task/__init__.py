"""Run a stack's own Fargate task definition on this machine, the way Fargate runs it.

    python -m tools.task dev monthly-orders            # see `--help`

The definition comes from the program itself (the offline render the snapshots use). Each
container is a process tree in its own mount and PID namespaces, on a copy-on-write view of this
machine's root with its image's files laid over it; all containers of the task share one network
namespace (127.0.0.1, as in `awsvpc`), which this machine reaches at an address of its own (the
ENI's stand-in); task volumes are bind-mounted at their `containerPath`, starting as the image's
directory where the image declares a VOLUME there (else root-owned 0755, as on Fargate), and
`readonlyRootFilesystem` leaves only them writable.
Needs root (CI and the sessions that build this project run as root) and Linux.
"""

from tools.task.definition import ContainerSpec, TaskSpec, task_spec
from tools.task.runner import TaskResult, run_task

__all__ = ["ContainerSpec", "TaskResult", "TaskSpec", "run_task", "task_spec"]
