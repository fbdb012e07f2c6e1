"""A user's job folder as the demo hands it to the app container (`make demo JOB=…`).

Nothing outside the folder goes along: the folder is walked without following links, a link
must point inside the folder (it is copied as a relative link), and only folders and regular
files are read, so a link to /etc/shadow or a device such as /dev/zero is refused before
anything reads it. The copy belongs to the container's user and nobody else may read it.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path


class JobFolderError(Exception):
    """The folder holds what must not leave it (a link out of it, a device, a FIFO)."""


def problems(folder: Path) -> list[str]:
    """What makes `folder` unfit to copy ([] when it is fit), each naming the path."""
    root = folder.resolve()
    found = []
    for here, dirs, files in os.walk(root):  # links to folders are listed, never entered
        for name in sorted(dirs + files):
            path = Path(here) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                target = path.resolve()
                if not target.is_relative_to(root):
                    found.append(f"{path} links to {target}, outside the job folder")
            elif not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                found.append(f"{path} is not a regular file or folder")
    return found


def copy(folder: Path, dest: Path, uid: int, gid: int) -> None:
    """Copy `folder` to the new folder `dest`, owned by uid:gid, readable by that user only
    (folders 0500, files 0400); raises JobFolderError as `problems` would report."""
    root = folder.resolve()
    if wrong := problems(root):
        raise JobFolderError("; ".join(wrong))
    for here, dirs, files in os.walk(root):
        source = Path(here)
        target = dest / source.relative_to(root)
        target.mkdir(mode=0o700)
        for name in sorted(dirs + files):
            path = source / name
            if path.is_symlink():  # inside the folder (checked): the same link in the copy
                link = target / name
                link.symlink_to(os.path.relpath(path.resolve(), source))
                os.lchown(link, uid, gid)
            elif name in files:
                _copy_file(path, target / name, uid, gid)
        dirs[:] = [d for d in dirs if not (source / d).is_symlink()]
    for here, _, _ in os.walk(dest, topdown=False):
        os.chown(here, uid, gid)
        Path(here).chmod(0o500)


def _copy_file(source: Path, target: Path, uid: int, gid: int) -> None:
    # O_NOFOLLOW and a second look at what was opened: the file may have changed meanwhile.
    reader = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with open(reader, "rb") as src:
        if not stat.S_ISREG(os.fstat(reader).st_mode):
            raise JobFolderError(f"{source} is not a regular file")
        with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400), "wb") as dst:
            shutil.copyfileobj(src, dst)
            os.fchown(dst.fileno(), uid, gid)
