"""Start one container: run as root with a JSON spec, stdlib only (`python launch.py SPEC`).

Joins the task's network namespace, enters new mount and PID namespaces, and forks the
container's PID 1, which builds its root file system (this machine's root, copy-on-write, with
the image's files and the task volumes laid over it), chroots into it, runs the image's build
steps as root, drops to the container's user and execs the entry point. This process stays as
the container's shim and exits with the container's exit code (128 + signal when killed, as
Docker reports it).
"""

from __future__ import annotations

import ctypes
import grp
import json
import os
import pwd
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """SIGKILL when the parent dies: a killed runner leaves no container behind. Linux clears
    this on a change of credentials, so PID 1 sets it again after dropping to its user."""
    _check(LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _ids(user: str | None) -> tuple[int, int, list[int]]:
    """uid, gid and groups for `user`, `user:group`, `uid` or `uid:gid` (ECS's forms),
    resolved in the container's own /etc/passwd and /etc/group, as Docker does."""
    if not user:
        return 0, 0, [0]
    name, _, group = user.partition(":")
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError as missing:
        if not name.isdigit():
            raise SystemExit(
                f"unable to find user {name}: no matching entries in passwd file"
            ) from missing
        entry = None
    uid = entry.pw_uid if entry else int(name)
    gid = entry.pw_gid if entry else 0  # Docker: a uid not in passwd runs with gid 0
    groups = [g.gr_gid for g in grp.getgrall() if entry and entry.pw_name in g.gr_mem]
    if group:  # an explicit group replaces the user's own
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        groups = []
    return uid, gid, sorted({gid, *groups})


def _lay_root(spec: dict[str, Any]) -> Path:
    root = Path(spec["root"])
    _mount("--make-rprivate", "/")
    _mount(
        "-t",
        "overlay",
        "overlay",
        "-o",
        f"lowerdir=/,upperdir={spec['upper']},workdir={spec['work']}",
        str(root),
    )
    _mount("-t", "proc", "proc", str(root / "proc"))  # this PID namespace's processes only
    for shared in ("dev", "sys"):
        _mount("--rbind", f"/{shared}", str(root / shared))
    for item in spec.get("files", []):
        target = root / item["path"].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        target.write_bytes(Path(item["source"]).read_bytes())
        target.chmod(int(item["mode"], 8))
    for bind in spec.get("binds", []):
        target = root / bind["target"].lstrip("/")
        source = Path(bind["source"])
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        if bind.get("from_image") and not any(source.iterdir()):
            # A fresh volume at one of the image's VOLUMEs starts as the image's directory.
            image_dir = target.stat()
            os.chown(source, image_dir.st_uid, image_dir.st_gid)
            source.chmod(image_dir.st_mode & 0o7777)
        _mount("--bind", str(source), str(target))
        if bind.get("readonly"):
            _mount("-o", "remount,bind,ro", str(target))
    return root


def container_init(spec: dict[str, Any]) -> None:
    # PID 1 of a PID namespace ignores signals it has no handler for: until the entry point
    # runs, a stop request ends the start-up (Docker: exit 128 + 15).
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    _die_with_parent()
    root = _lay_root(spec)
    os.chroot(root)
    os.chdir("/")
    env = spec["env"]
    # RUN steps of the image, in its root, with the image's own environment: a build never
    # sees the task's variables or secrets.
    build_env = spec.get("build_env", env)
    for step in spec.get("build", []):
        built = subprocess.run(
            ["/bin/sh", "-c", step], env=build_env, capture_output=True, text=True, check=False
        )
        if built.returncode != 0:  # build output is not the container's log, unless it fails
            raise RuntimeError(f"image step failed: {step}\n{built.stdout}{built.stderr}")
    workdir = spec.get("workdir") or "/"
    Path(workdir).mkdir(parents=True, exist_ok=True)  # Docker creates a missing WORKDIR
    if spec.get("readonly_root"):
        # readonlyRootFilesystem: the root read-only from here on; volumes stay writable.
        _check(LIBC.mount(None, b"/", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None), "mount")
    uid, gid, groups = _ids(spec.get("user"))
    if "HOME" not in env:
        try:
            env = {**env, "HOME": pwd.getpwuid(uid).pw_dir}
        except KeyError:
            env = {**env, "HOME": "/"}
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
    _die_with_parent()
    os.chdir(workdir)
    argv = spec["argv"]
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        print(f"exec {argv[0]}: {exc.strerror}", file=sys.stderr)
        os._exit(127)


def main() -> int:
    _die_with_parent()
    spec_file = Path(sys.argv[1])
    spec = json.loads(spec_file.read_text())
    spec_file.unlink()  # it holds resolved secrets: gone before any container code runs
    net = os.open(spec["netns"], os.O_RDONLY)
    _check(LIBC.setns(net, CLONE_NEWNET), "setns")
    os.close(net)
    _check(LIBC.unshare(CLONE_NEWNS | CLONE_NEWPID), "unshare")
    pid = os.fork()  # the first child of a new PID namespace is its PID 1
    if pid == 0:
        try:
            container_init(spec)
        except BaseException as exc:  # report any start failure, then exit
            print(f"CannotStartContainerError: {exc}", file=sys.stderr)
            os._exit(128)
    for signum in (signal.SIGTERM, signal.SIGINT):  # a signal to the shim goes to PID 1
        signal.signal(signum, lambda received, _frame: os.kill(pid, received))
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
