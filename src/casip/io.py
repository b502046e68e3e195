"""File input and output, kept out of the pure core.

Reading: :func:`read_design` turns a design file into a validated
:class:`~casip.design.schema.Design`; every problem with the file is a
:class:`~casip.errors.CasipInputError` that names the file, the field path (``cathode.porosity``),
the value and what was expected. The file is only ever opened for reading.

Writing: :func:`write_text_atomic`, :func:`write_bytes_atomic` and :func:`atomic_path` write to a
temporary file in the destination folder and move it into place with :func:`os.replace`, so a
reader sees either the old file, or no file, or the complete new one — never half of it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from casip.design.schema import Design
from casip.design.schema import validate_design as design_from_data
from casip.errors import CasipInputError, Problem

#: Design files larger than this are refused before parsing (a design is a few kB).
MAX_DESIGN_BYTES = 5_000_000



# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping.

    Plain PyYAML keeps the last of two equal keys without a word, which would silently drop a
    value the user typed.
    """

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            first_line: dict[object, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in first_line:
                        raise yaml.constructor.ConstructorError(
                            None,
                            None,
                            f"the key {key!r} is given twice in one mapping "
                            f"(first at line {first_line[key]})",
                            key_node.start_mark,
                        )
                    first_line[key] = key_node.start_mark.line + 1
                except TypeError:  # an unhashable key: let PyYAML report it
                    break
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str) -> object:
    """Parse YAML text safely, turning syntax errors into a :class:`CasipInputError`.

    Parameters
    ----------
    text : str
        The YAML document.
    source : str
        Where the text came from (a file path), named in the error.

    Returns
    -------
    object
        The parsed document (``None`` for an empty one).

    Raises
    ------
    CasipInputError
        If the text is not valid YAML, holds more than one document or repeats a key; the
        message gives the line and column (1-based).
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: safe
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or str(exc)
        if exc.context and exc.problem:
            cm = exc.context_mark
            started = (
                f" started at line {cm.line + 1}, column {cm.column + 1}"
                if cm is not None and cm is not mark
                else ""
            )
            what = f"{exc.problem} ({exc.context}{started})"
        raise CasipInputError(
            Problem(field="", message=f"not valid YAML{where}: {what}"), source=source
        ) from None
    except yaml.YAMLError as exc:
        raise CasipInputError(
            Problem(field="", message=f"not valid YAML: {exc}"), source=source
        ) from None


def read_design_text(text: str, source: str = "<text>") -> Design:
    """Parse and validate the text of a design file.

    Parameters
    ----------
    text : str
        YAML in the design-file format (``schema: casip.design/1``).
    source : str
        Where the text came from, named in errors.

    Returns
    -------
    Design
        The validated design.

    Raises
    ------
    CasipInputError
        See :func:`read_design`.
    """
    return design_from_data(parse_yaml(text, source), source)


def read_text_file(
    path: str | os.PathLike, what: str = "file", max_bytes: int | None = None
) -> str:
    """Read a UTF-8 text file, turning every failure into a :class:`CasipInputError`.

    Parameters
    ----------
    path : str or path-like
        The file to read (never written to).
    what : str
        What the file should be, for messages (``"design file"``).
    max_bytes : int, optional
        Refuse files larger than this.

    Returns
    -------
    str
        The text, with a leading byte-order mark removed.

    Raises
    ------
    CasipInputError
        If the file is missing, is a folder, cannot be read, is too large or is not UTF-8.
    """
    p = Path(path)
    src = str(path)
    try:
        if max_bytes is not None and p.is_file() and p.stat().st_size > max_bytes:
            raise CasipInputError(
                Problem("", f"the {what} is too large", f"{p.stat().st_size} bytes",
                        f"at most {max_bytes} bytes"),
                source=src,
            )
        raw = p.read_bytes()
    except FileNotFoundError:
        raise CasipInputError(Problem("", f"{what} not found"), source=src) from None
    except IsADirectoryError:
        raise CasipInputError(
            Problem("", f"this is a folder; expected a {what}"), source=src
        ) from None
    except PermissionError:
        raise CasipInputError(
            Problem("", f"permission denied reading the {what}"), source=src
        ) from None
    except OSError as exc:
        raise CasipInputError(
            Problem("", f"cannot read the {what}: {exc.strerror or exc}"), source=src
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CasipInputError(
            Problem(
                "",
                f"not a UTF-8 text file (invalid byte 0x{raw[exc.start]:02x} at offset "
                f"{exc.start})",
                expected=f"a YAML {what} saved as UTF-8",
            ),
            source=src,
        ) from None
    return text.removeprefix("\ufeff")


def read_design(path: str | os.PathLike) -> Design:
    """Read and validate a design file.

    Parameters
    ----------
    path : str or path-like
        A YAML file in the design-file format, version 1 (``schema: casip.design/1``).
        The file is only read, never modified.

    Returns
    -------
    Design
        The validated design.

    Raises
    ------
    CasipInputError
        With ``source`` set to the path. The problems name the field path (for example
        ``cathode.porosity``), the value and the allowed range; an empty file, a file that is
        not UTF-8, invalid YAML (with line and column), a top level that is not a mapping and a
        missing or unknown ``schema`` version each get their own message.

    Examples
    --------
    >>> from casip.io import read_design  # doctest: +SKIP
    >>> design = read_design("my-cell.yaml")  # doctest: +SKIP
    """
    text = read_text_file(path, "design file", MAX_DESIGN_BYTES)
    return read_design_text(text, str(path))


def design_to_yaml(design: Design) -> str:
    """The YAML text of a design in the file format (defaults left out, key order kept)."""
    data = design.model_dump(mode="json", by_alias=True, exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Give a temporary path beside ``path``; move it onto ``path`` if the block succeeds.

    Use it for writers that want a file name (``savefig``, ``write_html``). If the block raises,
    the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        The final file. Its folder must exist.
    overwrite : bool
        False: refuse to replace an existing file (checked again at the moment of the move).

    Yields
    ------
    pathlib.Path
        The temporary file to write (it exists, empty, with the usual permissions).

    Raises
    ------
    CasipInputError
        If ``overwrite`` is False and ``path`` exists, or the folder does not exist.
    """
    final = Path(path)
    if final.is_dir():
        raise CasipInputError(
            Problem("", "is a folder", expected="a file name inside the folder"), str(final)
        )
    folder = final.parent if str(final.parent) else Path(".")
    if not folder.is_dir():
        raise CasipInputError(Problem("", "the folder to write into does not exist"), str(folder))
    if not overwrite and final.exists():
        raise CasipInputError(
            Problem("", "the file exists; refusing to overwrite it",
                    expected="a new file name (or remove the file first)"),
            str(final),
        )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield tmp
        if overwrite:
            os.replace(tmp, final)
        else:
            _move_no_clobber(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _move_no_clobber(tmp: Path, final: Path) -> None:
    """Move ``tmp`` to ``final`` unless ``final`` exists, without a race where the OS allows."""
    try:
        os.link(tmp, final)  # fails with FileExistsError if final appeared meanwhile
    except FileExistsError:
        raise CasipInputError(
            Problem("", "the file exists; refusing to overwrite it"), str(final)
        ) from None
    except OSError:  # a filesystem without hard links
        if final.exists():
            raise CasipInputError(
                Problem("", "the file exists; refusing to overwrite it"), str(final)
            ) from None
        os.replace(tmp, final)
        return
    tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write bytes to ``path`` atomically (temporary file in the same folder + rename).

    Parameters
    ----------
    path : str or path-like
        The final file; its folder must exist.
    data : bytes
        The content.
    overwrite : bool
        False: refuse to replace an existing file.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_text_atomic(
    path: str | os.PathLike, text: str, *, overwrite: bool = True, encoding: str = "utf-8"
) -> Path:
    """Write text to ``path`` atomically; see :func:`write_bytes_atomic`.

    Newlines are written as given (``\\n``), whatever the platform.
    """
    return write_bytes_atomic(path, text.encode(encoding), overwrite=overwrite)


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create an output folder (and its parents) if needed.

    Raises
    ------
    CasipInputError
        If the path exists and is not a folder, or cannot be created.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CasipInputError(
            Problem("", "exists and is not a folder", expected="a folder"), str(p)
        )
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CasipInputError(
            Problem("", f"cannot create the output folder: {exc.strerror or exc}"), str(p)
        ) from None
    return p


__all__ = [
    "MAX_DESIGN_BYTES",
    "atomic_path",
    "design_from_data",
    "design_to_yaml",
    "ensure_dir",
    "parse_yaml",
    "read_design",
    "read_design_text",
    "read_text_file",
    "write_bytes_atomic",
    "write_text_atomic",
]
