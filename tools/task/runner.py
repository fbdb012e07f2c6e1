"""Run a task the way Fargate runs it, on this machine, and report what DescribeTasks would.

Lifecycle (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html):
secrets are resolved before any container starts (a failure stops the task: TaskFailedToStart);
containers start in `dependsOn` order, each once its conditions hold (START, COMPLETE, SUCCESS,
HEALTHY) or never, when they cannot or `startTimeout` passes; health checks run with their
interval/timeout/retries/startPeriod; when an essential container stops, or the task is stopped,
containers get SIGTERM in reverse dependency order and SIGKILL after their `stopTimeout`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.task.definition import (
    ContainerSpec,
    DefinitionError,
    TaskSpec,
    secret_value,
    start_order,
)
from tools.task.images import Image, ImageError, stand_in
from tools.task.network import TaskNetwork

LAUNCH = Path(__file__).resolve().parent / "launch.py"
POLL = 0.05


def _print_line(stream: str, line: str) -> None:
    print(f"{stream}  {line}", flush=True)


@dataclass
class Container:
    spec: ContainerSpec
    image: Image
    env: dict[str, str]
    argv: list[str]
    status: str = "PENDING"  # PENDING -> RUNNING -> STOPPED
    health: str = "UNKNOWN"
    exit_code: int | None = None
    reason: str = ""
    process: subprocess.Popen[bytes] | None = None
    pid1: int | None = None
    logs: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None
    started_at: float | None = None

    @property
    def user(self) -> str | None:
        return self.spec.user or self.image.user


@dataclass
class TaskResult:
    """What DescribeTasks tells of a stopped task, plus the timeline and the log streams."""

    task_id: str
    family: str
    stop_code: str
    stopped_reason: str
    containers: list[dict[str, Any]]
    timeline: list[tuple[float, str]]
    logs: dict[str, list[str]]

    def container(self, name: str) -> dict[str, Any]:
        return next(c for c in self.containers if c["name"] == name)

    def exit_code(self) -> int:
        """The first non-zero exit code of an essential container, 1 if one never ran."""
        for container in self.containers:
            if container["essential"] and container["exitCode"] != 0:
                return 1 if container["exitCode"] is None else int(container["exitCode"])
        return 0

    def at(self, event: str) -> float | None:
        """Seconds from the start of the task to the first event starting with `event`."""
        return next((t for t, text in self.timeline if text.startswith(event)), None)

    def describe(self) -> dict[str, Any]:
        return {
            "taskArn": f"arn:aws:ecs:local:000000000000:task/local/{self.task_id}",
            "taskDefinitionArn": f"{self.family} (offline render)",
            "lastStatus": "STOPPED",
            "stopCode": self.stop_code,
            "stoppedReason": self.stopped_reason,
            "containers": self.containers,
        }

    def report(self) -> str:
        lines = [
            f"task {self.task_id} ({self.family}) STOPPED",
            f"  stopCode: {self.stop_code}",
            f"  stoppedReason: {self.stopped_reason}",
        ]
        for c in self.containers:
            health = f", health {c['healthStatus']}" if c["healthStatus"] != "UNKNOWN" else ""
            reason = f" ({c['reason']})" if c["reason"] else ""
            lines.append(f"  container {c['name']}: exit code {c['exitCode']}{health}{reason}")
        lines.append("  timeline:")
        lines += [f"    {t:8.2f} s  {text}" for t, text in self.timeline]
        return "\n".join(lines)


class TaskRun:
    """One task from start to stop. `stop()` may be called from any thread (StopTask)."""

    def __init__(
        self,
        task: TaskSpec,
        *,
        secrets: dict[str, Any],
        overrides: dict[str, dict[str, Any]] | None = None,
        platform_env: dict[str, str] | None = None,
        forwards: dict[int, tuple[str, int]] | None = None,
        on_log: Callable[[str, str], None] = _print_line,
        keep: bool = False,
        images: dict[str, Image] | None = None,
        hosts: dict[str, str] | None = None,
    ) -> None:
        self.task, self.secrets = task, secrets
        self.overrides = overrides or {}
        self.platform_env = platform_env or {}
        self.forwards = forwards or {}
        self.on_log, self.keep = on_log, keep
        self.images = images or {}  # container name -> image, instead of its stand-in
        # Names the VPC's resolver would answer (a cluster endpoint) -> an address in the
        # task's network (a forwarded port's 127.0.0.1): the containers' /etc/hosts.
        self.hosts = hosts or {}
        self.task_id = uuid.uuid4().hex
        self.timeline: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._stop_reason = ""
        self.started = time.monotonic()
        self._netns = ""
        self.network: TaskNetwork | None = None  # while the task runs
        self.dir = Path(tempfile.gettempdir()) / f"fargate-task-{self.task_id}"

    # -- public -----------------------------------------------------------------------------
    def stop(self, reason: str = "Task stopped by user") -> None:
        self._stop_reason = reason
        self._stop.set()

    def run(self) -> TaskResult:
        self.event(f"task PROVISIONING ({self.task.family}, cpu {self.task.cpu}, "
                   f"memory {self.task.memory})")  # fmt: skip
        containers: list[Container] = []
        network: TaskNetwork | None = None
        _remove_dead_runners_folders()
        self.dir.mkdir(mode=0o700)
        (self.dir / "runner.pid").write_text(str(os.getpid()))
        try:
            try:
                containers = [self._prepare(spec) for spec in start_order(self.task)]
            except (DefinitionError, ImageError) as exc:
                self.event(f"task STOPPED: {exc}")
                return self._result([], "TaskFailedToStart", str(exc))
            self.event("images ready (local stand-ins)")
            self._make_volumes()
            network = TaskNetwork()
            self._netns = network.path
            self.network = network
            for port, target in self.forwards.items():
                network.forward(port, target)
            stop_code, reason = self._supervise(containers)
        finally:
            for container in containers:  # nothing outlives the task
                self._kill(container)
            if network is not None:
                network.close()
            if not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
        self.event("task STOPPED")
        return self._result(containers, stop_code, reason)

    # -- steps ------------------------------------------------------------------------------
    def event(self, text: str) -> None:
        self.timeline.append((round(time.monotonic() - self.started, 3), text))

    def _prepare(self, spec: ContainerSpec) -> Container:
        image = self.images.get(spec.name) or stand_in(spec.image, spec.name)
        override = self.overrides.get(spec.name, {})
        env = {
            **image.env,
            **self.platform_env,
            **spec.environment,
            **{name: secret_value(ref, self.secrets) for name, ref in spec.secrets.items()},
            **{e["name"]: e["value"] for e in override.get("environment", [])},
        }
        # Docker: a container's own entry point replaces the image's and drops the image's CMD.
        entrypoint = spec.entry_point or image.entrypoint
        command = override.get("command") or spec.command
        if not command and not spec.entry_point:
            command = image.cmd
        return Container(spec, image, env, [*entrypoint, *command])

    def _hosts_file(self) -> dict[str, tuple[str, str]]:
        """This machine's /etc/hosts and the task's names, laid over the containers' copy."""
        if not self.hosts:
            return {}
        path = self.dir / "hosts"
        if not path.exists():
            lines = [f"{address} {name}" for name, address in sorted(self.hosts.items())]
            path.write_text(Path("/etc/hosts").read_text() + "\n".join(lines) + "\n")
        return {"/etc/hosts": (str(path), "644")}

    def _launch(self, container: Container) -> None:
        home = self.dir / "containers" / container.spec.name
        for part in ("upper", "work", "root", "tmp"):
            (home / part).mkdir(parents=True)
        (home / "tmp").chmod(0o1777)
        binds = [
            {"source": b.source, "target": b.target, "readonly": b.readonly}
            for b in container.image.binds
        ]
        mounted = set(container.spec.mounts)
        if not container.spec.readonly_root and "/tmp" not in mounted:
            # A scratch /tmp outside the copy-on-write layer. With readonlyRootFilesystem there
            # is none: as on Fargate, only volumes can be written.
            binds.append({"source": str(home / "tmp"), "target": "/tmp", "readonly": False})
        for index, path in enumerate(container.image.volumes):  # the image's VOLUMEs start empty
            if path in mounted:
                continue  # a task volume at a VOLUME's path takes its place
            anonymous = home / f"volume-{index}"
            anonymous.mkdir()
            binds.append({"source": str(anonymous), "target": path, "readonly": False})
        for path, volume in container.spec.mounts.items():
            # Fargate: a bind mount at a path the image declares a VOLUME starts as the image's
            # directory (owner, mode); any other starts root-owned, 0755.
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html
            binds.append({"source": str(self._volume(volume)), "target": path, "readonly": False,
                          "from_image": path in container.image.volumes})  # fmt: skip
        spec = {
            "netns": self._netns,
            "upper": str(home / "upper"),
            "work": str(home / "work"),
            "root": str(home / "root"),
            "files": [
                {"path": p, "source": s, "mode": m}
                for p, (s, m) in {**container.image.files, **self._hosts_file()}.items()
            ],
            "binds": binds,
            "readonly_root": container.spec.readonly_root,
            "build": container.image.build,
            "build_env": container.image.env,
            "env": container.env,
            "user": container.user,
            "workdir": container.spec.working_directory or container.image.workdir,
            "argv": container.argv,
        }
        spec_file = home / "spec.json"  # holds resolved secrets: root only, removed with the task
        spec_file.touch(mode=0o600)
        spec_file.write_text(json.dumps(spec))
        container.process = subprocess.Popen(
            [sys.executable, str(LAUNCH), str(spec_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the runner only
        )
        container.status = "RUNNING"
        container.started_at = time.monotonic()
        container.reader = threading.Thread(target=self._read_logs, args=(container,), daemon=True)
        container.reader.start()
        self.event(f"{container.spec.name} started (user {container.user or 'root'})")
        if container.spec.health_check:
            threading.Thread(target=self._health, args=(container,), daemon=True).start()

    def _volume(self, name: str) -> Path:
        return self.dir / "volumes" / name

    def _make_volumes(self) -> None:
        # A Fargate bind-mount volume starts empty, root-owned, 0755, on ephemeral storage.
        for name in self.task.volumes:
            self._volume(name).mkdir(parents=True)
            self._volume(name).chmod(0o755)

    def _read_logs(self, container: Container) -> None:
        stream = container.spec.log_stream(self.task_id)
        assert container.process and container.process.stdout
        with contextlib.suppress(ValueError, OSError):  # the pipe closed under the reader
            for raw in container.process.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                container.logs.append(line)
                self.on_log(stream, line)

    def _container_pid(self, container: Container, wait: float = 5.0) -> int | None:
        """The container's PID 1 (the shim's child), as seen from this machine."""
        if container.pid1 is None and container.process is not None:
            shim = container.process.pid
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and container.process.poll() is None:
                with contextlib.suppress(OSError):
                    children = Path(f"/proc/{shim}/task/{shim}/children").read_text().split()
                    if children:
                        container.pid1 = int(children[0])
                        break
                time.sleep(0.01)
        return container.pid1

    def _check_once(self, container: Container, check: dict[str, Any]) -> bool:
        command = check["command"]
        argv = ["/bin/sh", "-c", command[1]] if command[0] == "CMD-SHELL" else command[1:]
        pid = self._container_pid(container)
        if pid is None:
            return False
        enter = ["nsenter", f"--target={pid}", "--mount", "--net", "--pid", "--root", "--wd"]
        probe = subprocess.Popen([*enter, "--", *argv], env=container.env, start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            return probe.wait(timeout=check["timeout"]) == 0
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(probe.pid, signal.SIGKILL)  # the probe and what it forked
            probe.wait()
            return False

    def _health(self, container: Container) -> None:
        """Docker's health-check semantics, which ECS uses: the first check one interval after
        the start; failures within startPeriod do not count; `retries` failures in a row make
        the container UNHEALTHY; one success makes it HEALTHY. Health never stops a task run
        outside a service; it only gates the containers that wait for HEALTHY."""
        check = container.spec.health_check
        assert check is not None
        began, failures, ever_healthy = time.monotonic(), 0, False
        while container.status == "RUNNING":
            time.sleep(check["interval"])
            if container.status != "RUNNING":
                return
            if self._check_once(container, check):
                failures, ever_healthy = 0, True
                if container.health != "HEALTHY":
                    container.health = "HEALTHY"
                    self.event(f"{container.spec.name} HEALTHY")
                continue
            # Docker: failures within startPeriod do not count, until a first success.
            if not ever_healthy and time.monotonic() - began < check["startPeriod"]:
                continue
            failures += 1
            if failures >= check["retries"] and container.health != "UNHEALTHY":
                container.health = "UNHEALTHY"
                self.event(f"{container.spec.name} UNHEALTHY after {failures} failed checks")

    def _condition(self, container: Container, by_name: dict[str, Container]) -> str | None:
        """'' when every dependency condition holds, None while waiting, else why it never will.
        As the ECS agent resolves them (amazon-ecs-agent, agent/engine/dependencygraph): a
        dependency's own `startTimeout`, counted from its start, bounds the wait for COMPLETE,
        SUCCESS and HEALTHY; without one, the wait has no end."""
        waiting = False
        for name, condition in container.spec.depends_on.items():
            dependency = by_name[name]
            state = _dependency_state(name, condition, dependency)
            if state is None and _timed_out(dependency, condition):
                state = (f"dependency {name} did not reach {condition} within its "
                         f"startTimeout ({dependency.spec.start_timeout} s)")  # fmt: skip
            if state:
                return state
            waiting = waiting or state is None
        return None if waiting else ""

    def _supervise(self, containers: list[Container]) -> tuple[str, str]:
        by_name = {c.spec.name: c for c in containers}
        self.event("task PENDING")
        while True:
            for container in containers:
                if self._stop.is_set():
                    break
                if container.status == "PENDING":
                    why = self._condition(container, by_name)
                    if why == "":
                        self._launch(container)
                    elif why is not None:
                        container.status, container.reason = "STOPPED", why
                        self.event(f"{container.spec.name} not started: {why}")
                elif container.status == "RUNNING":
                    assert container.process is not None
                    if container.process.poll() is not None:
                        self._exited(container)
            if self._stop.is_set():
                self._stop_all(containers)
                return "UserInitiated", self._stop_reason
            stopped = next(
                (c for c in containers if c.spec.essential and c.status == "STOPPED"), None
            )
            if stopped is not None:
                self._stop_all(containers)
                why = stopped.reason or f"exit code {stopped.exit_code}"
                reason = f"Essential container in task exited ({stopped.spec.name}: {why})"
                return "EssentialContainerExited", reason
            if all(c.status == "STOPPED" for c in containers):
                return "EssentialContainerExited", "All containers exited"
            time.sleep(POLL)

    def _exited(self, container: Container) -> None:
        assert container.process is not None
        container.exit_code = container.process.wait()
        if container.reader is not None:
            container.reader.join(timeout=5)  # the last lines, once the pipe closes
        if container.process.stdout is not None:
            container.process.stdout.close()
        container.status = "STOPPED"
        self.event(f"{container.spec.name} exited ({container.exit_code})")

    def _stop_all(self, containers: list[Container]) -> None:
        """SIGTERM in reverse dependency order; SIGKILL after each one's stopTimeout."""
        for container in reversed(containers):
            if container.status == "PENDING":
                container.status, container.reason = "STOPPED", "task stopped before it started"
            if container.status != "RUNNING":
                continue
            assert container.process is not None
            pid = self._container_pid(container)
            self.event(
                f"{container.spec.name} SIGTERM (stopTimeout {container.spec.stop_timeout} s)"
            )
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            try:
                container.process.wait(timeout=container.spec.stop_timeout)
            except subprocess.TimeoutExpired:
                self.event(f"{container.spec.name} SIGKILL")
                self._kill(container)
            self._exited(container)

    def _kill(self, container: Container) -> None:
        if container.process is None:
            return
        if container.process.poll() is None:
            pid = self._container_pid(container, wait=1.0)
            with contextlib.suppress(ProcessLookupError):
                # PID 1 takes its whole namespace with it; the shim then reports 137.
                os.kill(pid or container.process.pid, signal.SIGKILL)
            container.process.wait()
        if container.reader is not None:
            container.reader.join(timeout=5)
        if container.process.stdout is not None:
            container.process.stdout.close()

    def _result(self, containers: list[Container], stop_code: str, reason: str) -> TaskResult:
        return TaskResult(
            task_id=self.task_id,
            family=self.task.family,
            stop_code=stop_code,
            stopped_reason=reason,
            containers=[
                {
                    "name": c.spec.name,
                    "essential": c.spec.essential,
                    "lastStatus": c.status,
                    "exitCode": c.exit_code,
                    "healthStatus": c.health,
                    "reason": c.reason,
                    "logStream": c.spec.log_stream(self.task_id),
                }
                for c in containers
            ],
            timeline=self.timeline,
            logs={c.spec.log_stream(self.task_id): c.logs for c in containers},
        )


def _remove_dead_runners_folders() -> None:
    """A runner killed outright (kill -9) cannot remove its task's folder: the next run does,
    once the process that wrote `runner.pid` is gone."""
    for folder in Path(tempfile.gettempdir()).glob("fargate-task-*"):
        try:
            pid = int((folder / "runner.pid").read_text())
        except (OSError, ValueError):
            continue
        if not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def _dependency_state(name: str, condition: str, dependency: Container) -> str | None:
    """'' when `condition` holds for `dependency`, None while it may, else why it never will."""
    if dependency.status == "STOPPED" and dependency.started_at is None:
        return f"dependency {name} will never start ({dependency.reason})"
    stopped = dependency.status == "STOPPED"
    if condition == "START":
        return "" if dependency.started_at is not None else None
    if condition in ("COMPLETE", "SUCCESS"):
        if not stopped:
            return None
        failed = condition == "SUCCESS" and dependency.exit_code != 0
        return f"dependency {name} exited {dependency.exit_code}, not SUCCESS" if failed else ""
    if stopped:  # HEALTHY; an UNHEALTHY container may still recover, so it is waited for
        return f"dependency {name} stopped before it was HEALTHY"
    return "" if dependency.health == "HEALTHY" else None


def _timed_out(dependency: Container, condition: str) -> bool:
    limit, started = dependency.spec.start_timeout, dependency.started_at
    if condition == "START" or limit is None or started is None:
        return False
    return time.monotonic() > started + limit


def run_task(task: TaskSpec, **options: Any) -> TaskResult:
    """Run `task` to its end; see TaskRun for the options."""
    return TaskRun(task, **options).run()
