"""Local stand-ins for the task's images: what the runner lays over this machine's root.

No image can be pulled here, so each image reference maps to a stand-in:
- the app's image is this checkout, reproduced from the Dockerfile: its final stage's ENV,
  WORKDIR, USER, ENTRYPOINT/CMD and RUN steps, its COPY sources bind-mounted where they would be
  copied, the build stage's virtualenv built from the same requirements file, and each file it
  ADDs from a URL a local file the caller names (else empty: nothing is downloaded);
- a job image built FROM the project's runtime (`FROM ${RUNTIME_IMAGE}`, such as
  examples/own-job-image/Dockerfile) is that app image with the job Dockerfile's steps on top;
- `mysql`/`mariadb` images are the official image's entrypoint contract on this machine's
  MariaDB binaries (standin/docker-entrypoint.sh), its `mysql` user (999:999) and config, and
  for `mysql` MySQL 8.4's 0640 mode for INTO OUTFILE files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

from etl.contract import APP_CONTAINER

ROOT = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).resolve().parent / "standin"
CACHE = ROOT / ".cache" / "task-images"
# The ENV of the python:*-slim base image (docker-library/python), which the Dockerfile extends.
PYTHON_BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
DEFAULT_PATH = PYTHON_BASE_ENV["PATH"]
MYSQL_UID = 999  # the official mysql and mariadb images' `mysql` user and group


class ImageError(RuntimeError):
    """The stand-in cannot reproduce this image."""


@dataclass(frozen=True)
class Bind:
    source: str
    target: str
    readonly: bool = True


@dataclass
class Image:
    """An image's config and the files that stand in for its layers."""

    reference: str
    env: dict[str, str]
    user: str | None = None
    workdir: str | None = None
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    binds: list[Bind] = field(default_factory=list)
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (source, mode)
    build: list[str] = field(default_factory=list)  # RUN steps, as root, before the start
    volumes: list[str] = field(default_factory=list)  # VOLUME: an empty directory per container


def _exec_form(value: str) -> list[str]:
    """CMD/ENTRYPOINT: the JSON exec form, or the shell form run by /bin/sh -c."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return ["/bin/sh", "-c", value]
    return [str(part) for part in parsed]


def _stages(parser: DockerfileParser) -> list[list[dict[str, str]]]:
    stages: list[list[dict[str, str]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append(instruction)
    return stages


def _expand(value: str, env: dict[str, str]) -> str:
    for name, current in env.items():
        value = value.replace(f"${{{name}}}", current).replace(f"${name}", current)
    return value


def _pairs(value: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(value))


def _virtualenv(requirements: Path) -> Path:
    """The build stage's /opt/venv: a virtualenv with exactly `requirements`, cached by content."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    venv = CACHE / f"venv-{digest}-compiled"
    if not (venv / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "-r",
                str(requirements),
            ],
            check=True,
        )
        # As the Dockerfile: bytecode compiled once (the image sets PYTHONDONTWRITEBYTECODE).
        compileall = [str(venv / "bin" / "python"), "-m", "compileall", "-q"]
        subprocess.run([*compileall, "--invalidation-mode", "unchecked-hash", str(venv / "lib")],
                       check=True)  # fmt: skip
        (venv / ".complete").touch()
    return venv


def _reachable_interpreter() -> list[str]:
    """The virtualenv's python links to this machine's interpreter; a base image has it in
    /usr/local. Open the directories above it (in the container's copy only) so any user can
    run it, as in the image."""
    steps = []
    for folder in reversed(Path(sys.base_prefix).parents):
        if folder != Path("/") and not os.stat(folder).st_mode & 0o001:
            steps.append(f"chmod o+x {shlex.quote(str(folder))}")
    return steps


def _build_stage_venvs(stages: list[list[dict[str, str]]], context: Path) -> dict[str, Path]:
    """The only build-stage recipe the stand-in knows: a virtualenv from a requirements file."""
    venvs: dict[str, Path] = {}
    for stage in stages:
        for instruction in stage:
            if instruction["instruction"] == "COPY" and "requirements" in instruction["value"]:
                source = instruction["value"].split()[0]
                venvs["/opt/venv"] = _virtualenv(context / source)
    return venvs


def _copy(value: str, workdir: str, venvs: dict[str, Path], context: Path) -> list[Bind]:
    """COPY from the build context: the sources bind-mounted where they would be copied;
    COPY --from=<build stage>: the stage's virtualenv, built here from the same requirements."""
    *sources, target = value.split()
    stage = next((s for s in sources if s.startswith("--from=")), None)
    flags = [s for s in sources if s.startswith("--") and s != stage]
    if flags:  # --chown, --chmod, --link…: not reproduced by a bind mount
        raise ImageError(f"the stand-in cannot reproduce COPY {value}")
    sources = [s for s in sources if not s.startswith("--")]
    if stage:
        if sources != [target] or target not in venvs:
            raise ImageError(f"the stand-in cannot reproduce COPY {value}")
        return [Bind(str(venvs[target]), target)]
    binds = []
    for source in sources:
        path = (context / source).resolve()
        # As `docker build`: a source outside the context, or missing (or a wildcard, which the
        # stand-in does not expand), fails the build.
        if not path.is_relative_to(context.resolve()) or not path.exists():
            raise ImageError(f"COPY {value}: {source} is not in the build context {context}")
        binds.append(Bind(str(path), str(Path(workdir) / target)))
    return binds


EMPTY_DOWNLOAD = CACHE / "empty-download"


def _add(value: str, downloads: dict[str, Path]) -> dict[str, tuple[str, str]]:
    """ADD <https URL> <file>: nothing is downloaded here, so the file is what the caller gives
    for that URL (`downloads`), else an empty file (a CA bundle that verifies nothing: a
    connection that relies on it fails, never passes unverified). `--chmod` is kept."""
    *options, source, target = value.split()
    flags = dict(o.removeprefix("--").split("=", 1) for o in options if o.startswith("--"))
    if set(flags) - {"chmod", "checksum"} or not source.startswith("https://"):
        raise ImageError(f"the stand-in cannot reproduce ADD {value}")
    local = downloads.get(source)
    if local is None:
        EMPTY_DOWNLOAD.parent.mkdir(parents=True, exist_ok=True)
        EMPTY_DOWNLOAD.touch()
        local = EMPTY_DOWNLOAD
    return {target: (str(local), flags.get("chmod", "600"))}  # (Docker: 600 for a URL)


def _require_packages(run: str) -> None:
    """A RUN step installing Debian packages: the stand-in's root is this machine's, so the
    packages must be installed here (running apt-get at each container start would be slow,
    need the network, and delay the container's own command)."""
    words = run.split("apt-get install", 1)[1].split("&&", 1)[0].split()
    names = [w.strip("\"'").split("=", 1)[0] for w in words if not w.startswith("-")]
    missing = []
    for name in (n for n in names if n and n != "\\"):
        found = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name],
                               capture_output=True, text=True, check=False)  # fmt: skip
        if "install ok installed" not in found.stdout:
            missing.append(name)
    if missing:
        raise ImageError(f"the app image installs {' '.join(missing)}: apt-get install it here")


def _build_step(step: str, image: Image) -> str:
    """A RUN step as `docker build` runs it, in the WORKDIR and as the USER so far (the runner
    runs steps as root from /): `setpriv` drops to `user:group`, or to the user's own id as its
    group."""
    if image.user:
        uid, _, gid = image.user.partition(":")
        step = (f"setpriv --reuid={shlex.quote(uid)} --regid={shlex.quote(gid or uid)} "
                f"--clear-groups /bin/sh -c {shlex.quote(step)}")  # fmt: skip
    if image.workdir:
        folder = shlex.quote(image.workdir)
        step = f"mkdir -p {folder} && cd {folder} && {step}"
    return step


def _apply(
    image: Image,
    instructions: list[dict[str, str]],
    venvs: dict[str, Path],
    context: Path,
    downloads: dict[str, Path] | None = None,
) -> None:
    """One stage's instructions, laid over `image` (its config and files so far);
    `downloads`: local files standing in for the URLs it ADDs."""
    for instruction in instructions:
        kind, value = instruction["instruction"], instruction["value"]
        if kind == "ENV":
            image.env.update({k: _expand(v, image.env) for k, v in _pairs(value).items()})
        elif kind == "WORKDIR":
            image.workdir = str(Path(image.workdir or "/") / value)
        elif kind == "USER":
            image.user = value
        elif kind == "CMD":
            image.cmd = _exec_form(value)
        elif kind == "ENTRYPOINT":
            image.entrypoint = _exec_form(value)
        elif kind == "RUN" and "apt-get install" in value:
            _require_packages(value)
        elif kind == "RUN":
            image.build.append(_build_step(value, image))
        elif kind == "COPY":
            image.binds += _copy(value, image.workdir or "/", venvs, context)
        elif kind == "ADD":
            image.files.update(_add(value, downloads or {}))
        elif kind == "VOLUME":
            image.volumes += _exec_form(value) if value.startswith("[") else value.split()
        elif kind not in ("ARG", "LABEL", "EXPOSE", "COMMENT"):
            raise ImageError(f"the stand-in cannot reproduce {kind} {value}")


def app_image(
    reference: str, context: Path = ROOT, downloads: dict[str, Path] | None = None
) -> Image:
    """The image the Dockerfile builds, reproduced from this checkout; `downloads`: local
    files standing in for the URLs it ADDs."""
    parser = DockerfileParser(path=str(context / "Dockerfile"))
    *build_stages, final = _stages(parser)
    venvs = _build_stage_venvs(build_stages, context)
    image = Image(reference, env=dict(PYTHON_BASE_ENV), build=_reachable_interpreter())
    _apply(image, final, venvs, context, downloads)
    return image


# How a job image names its base (examples/own-job-image/Dockerfile): the project's runtime.
RUNTIME_BASE = ("${RUNTIME_IMAGE}", "$RUNTIME_IMAGE")


def job_image(reference: str, dockerfile: Path, context: Path | None = None) -> Image:
    """An image built `FROM ${RUNTIME_IMAGE}` (the project's runtime) with a job of its own:
    this checkout's app image with `dockerfile`'s steps on top, COPY sources from `context`
    (default: the Dockerfile's folder). Another base, or a second stage, is refused: the
    stand-in can only reproduce the runtime from this checkout."""
    parser = DockerfileParser(path=str(dockerfile))
    froms = [i["value"] for i in parser.structure if i["instruction"] == "FROM"]
    if len(froms) != 1 or froms[0].split()[0] not in RUNTIME_BASE:
        raise ImageError(f"{dockerfile}: FROM {' / FROM '.join(froms) or '(none)'}: the stand-in "
                         "builds a job image only as one stage FROM ${RUNTIME_IMAGE}, "
                         "the project's runtime")  # fmt: skip
    image = app_image(reference)
    (stage,) = _stages(parser)
    _apply(image, stage, {}, (context or dockerfile.parent).resolve())
    return image


def _outfile_shim() -> Path:
    """standin/mysql84_outfile.c, compiled once with the machine's C compiler."""
    source = STANDIN / "mysql84_outfile.c"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    library = CACHE / f"mysql84-outfile-{digest}.so"
    if not library.exists():
        library.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["cc", "-shared", "-fPIC", "-O2", "-o", str(library), str(source), "-ldl"], check=True
        )
    return library


def database_image(reference: str) -> Image:
    """The official mysql/mariadb image's contract on this machine's MariaDB binaries."""
    mysql = _repository(reference) == "mysql"
    env = {"PATH": DEFAULT_PATH}
    files = {
        "/usr/local/bin/docker-entrypoint.sh": (str(STANDIN / "docker-entrypoint.sh"), "755"),
        "/usr/local/bin/mysqld": (str(STANDIN / "mysqld"), "755"),
        "/etc/mysql/my.cnf": (str(STANDIN / "my.cnf"), "644"),
        "/etc/my.cnf": (str(STANDIN / "my.cnf"), "644"),
    }
    if mysql:
        files["/usr/local/lib/mysql84-outfile.so"] = (str(_outfile_shim()), "755")
        env["MYSQL84_OUTFILE_SHIM"] = "/usr/local/lib/mysql84-outfile.so"
    # The official Dockerfiles: groupadd --system --gid 999 mysql && useradd --system --uid 999.
    uid = MYSQL_UID
    build = [
        f"sed -i -e '/^mysql:/d' -e '/^[^:]*:[^:]*:{uid}:/d' /etc/passwd /etc/group",
        f"groupadd --system --gid {uid} mysql",
        f"useradd --system --uid {uid} --gid {uid} --home-dir /var/lib/mysql"
        " --no-create-home mysql",
        "mkdir -p /docker-entrypoint-initdb.d /var/lib/mysql /var/run/mysqld /var/lib/mysql-files",
        # As the official Dockerfile leaves them; a task volume at /var/lib/mysql (its VOLUME)
        # starts this way on Fargate, which these steps reproduce by running over the mount.
        "chown mysql:mysql /var/lib/mysql /var/run/mysqld /var/lib/mysql-files",
        "chmod 1777 /var/run/mysqld /var/lib/mysql",
    ]
    # VOLUME /var/lib/mysql: each container starts with an empty data directory.
    return Image(
        reference,
        env=env,
        entrypoint=["docker-entrypoint.sh"],
        cmd=["mysqld"],
        files=files,
        build=build,
        volumes=["/var/lib/mysql"],
    )


def _repository(reference: str) -> str:
    """`public.ecr.aws/docker/library/mysql:8.4@sha256:…` -> `mysql`."""
    name = reference.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


def stand_in(reference: str, container: str) -> Image:
    """The stand-in for a container's image: the official mysql/mariadb image's contract, or
    this checkout's image for the app container (whatever registry the stack builds it in).
    Any other image has no stand-in: refused, never run as something else."""
    if _repository(reference) in ("mysql", "mariadb"):
        return database_image(reference)
    if container == APP_CONTAINER:
        return app_image(reference)
    raise ImageError(f"container {container}: no local stand-in for image {reference}")
