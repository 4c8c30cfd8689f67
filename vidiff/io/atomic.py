"""Output paths that appear complete or not at all.

Outputs are written to a hidden, unique temporary name in the destination directory
(``.<name>.vidiff-tmp-XXXX<suffix>``, created with ``tempfile``, so two runs never collide) and
renamed over the final path (``os.replace``) only after they are complete. On any exception,
KeyboardInterrupt included, the temporary is removed. An existing output that is being overwritten
stays untouched until the new one is complete. (A process killed with SIGKILL can leave a hidden
``*.vidiff-tmp*`` behind; it is never mistaken for an output.)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import OutputError
from .formats import FRAME_NAME_RE, is_folder_output

TEMP_MARK = ".vidiff-tmp-"


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _is_previous_frame_folder(folder: Path) -> bool:
    return all(FRAME_NAME_RE.fullmatch(p.name) for p in folder.iterdir())


def check_output_path(
    output: str | Path, inputs: Iterable[str | Path | None] = (), overwrite: bool = False
) -> Path:
    """Validate an output path and return it (absolute); raise OutputError when it cannot be used.

    Refuses: the output being one of ``inputs`` (compared as resolved paths and by inode); an
    existing output unless ``overwrite`` (an existing *empty* folder is fine for folder output,
    and a non-empty folder is only replaced when it holds nothing but ``frame_*.png`` files); a
    video output where a directory exists; a missing or unwritable parent directory.
    """
    text = str(output)
    path = Path(output).expanduser().absolute()
    for source in inputs:
        if source is not None and _same(path, Path(source).expanduser()):
            raise OutputError(
                f"output {text!r} is the same as the input: choose a different output path"
            )
    folder = is_folder_output(output)
    if path.exists():
        if folder:
            if not path.is_dir():
                raise OutputError(f"output folder {text!r} exists as a file: choose another path")
            if any(path.iterdir()):
                if not overwrite:
                    raise OutputError(
                        f"output folder {text!r} is not empty: choose another folder or "
                        "pass overwrite (--overwrite)"
                    )
                if not _is_previous_frame_folder(path):
                    raise OutputError(
                        f"output folder {text!r} holds files other than frame_*.png: refusing to "
                        "replace it even with overwrite; choose an empty or new folder"
                    )
        elif not overwrite:
            raise OutputError(
                f"output {text!r} already exists: choose another name or pass overwrite "
                "(--overwrite)"
            )
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"output directory {str(parent)!r} does not exist: create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {str(parent)!r} is not writable: choose another")
    return path


def _umask_mode(base: int) -> int:
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def temp_file_beside(path: Path) -> Path:
    """Create an empty hidden unique file beside ``path`` and return its path."""
    fd, name = tempfile.mkstemp(
        prefix=f".{path.stem}{TEMP_MARK}", suffix=path.suffix, dir=path.parent
    )
    os.close(fd)
    return Path(name)


def temp_dir_beside(path: Path) -> Path:
    """Create an empty hidden unique directory beside ``path`` and return its path."""
    return Path(tempfile.mkdtemp(prefix=f".{path.name}{TEMP_MARK}", dir=path.parent))


def commit_file(temp: Path, final: Path) -> None:
    """Give ``temp`` normal permissions and rename it over ``final``."""
    os.chmod(temp, _umask_mode(0o666))
    os.replace(temp, final)


def commit_dir(temp: Path, final: Path) -> None:
    """Rename the finished folder ``temp`` to ``final``, replacing an old one only at the end."""
    os.chmod(temp, _umask_mode(0o777))
    if final.exists() and any(final.iterdir()):
        trash = Path(tempfile.mkdtemp(prefix=f".{final.name}{TEMP_MARK}old-", dir=final.parent))
        os.replace(final, trash / final.name)
        os.replace(temp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        if final.exists():
            final.rmdir()
        os.replace(temp, final)


def discard(temp: Path | None) -> None:
    """Remove a temporary file or folder, ignoring errors (used while another error propagates)."""
    if temp is None:
        return
    if temp.is_dir():
        shutil.rmtree(temp, ignore_errors=True)
    else:
        try:
            temp.unlink()
        except FileNotFoundError:
            pass
