"""Arbin MITS Pro results files (``.res``): Microsoft Access (Jet 4) databases.

Library and why part of it is hand-written
-------------------------------------------
The database is read with `access-parser <https://github.com/ClarotyICS/access_parser>`_
(Apache-2.0, pure Python, no system package): its structures parse the catalogue
(``MSysObjects``), every table definition (column names, types, offsets) and the small tables
(``Global_Table``, ``Aux_Global_Data_Table``, ``Version_Table``). Its row decoder, however, works
one row at a time in Python (about 8 000 rows/s on the shared files, too slow for the
throughput goal), so the two large tables, ``Channel_Normal_Table`` and ``Auxiliary_Table``,
whose columns all have a fixed length, are decoded here with vectorised numpy: the row offsets
of every data page owned by the table, then each column gathered at its fixed offset with its
null bit. The tests check this decoder against access-parser's own on every shared file. (Jet 3
databases, which Arbin does not write, fall back to access-parser's row decoder.) cellpy needs
``mdb-export`` from mdbtools (a system package) on Linux; galvani is GPL; neither is used.

The file is memory-mapped read-only: nothing is written and no copy is made
(``PRIVATE_COPY = False``). Corruption is detected, not guessed around: every row must have the
table's column count and room for its columns, and the rows found must match the count kept in
the table definition.

Cut files are refused with the shared truncation message
(:func:`casip.data.readers._base.truncated_error`, naming the byte where the file ends), never
read up to the cut. access-parser has no such check (it reads what pages it finds), so it is
made here: a file that is not a whole number of pages was cut inside a page; a file cut on a
page boundary still refers to pages it no longer has, which are looked for in the catalogue's
table definitions, each table's usage map of owned pages (map type 0, a start page and a
bitmap, or type 1, a list of bitmap pages), the root page of each index and the sibling links
of the index pages. Limit: a cut that removes only trailing long-value (``LVAL``) pages, which
are referred to from inside rows only, is not seen (Arbin's data tables hold no long values).

Tester conventions
------------------
- ``Current`` in A, **positive while charging** (the CASIP convention): no sign change.
- ``Voltage`` V, ``Test_Time`` s, ``Charge_Capacity``/``Discharge_Capacity`` Ah,
  ``Charge_Energy``/``Discharge_Energy`` Wh, ``Internal_Resistance`` ohm (0 = not measured).
- The capacity and energy counters **reset at each cycle** (MITS Pro's default; a schedule may
  also reset them per step). They are made cumulative from the test start by adding, at every
  point where a counter falls, the value it had reached.
- ``DateTime`` is an Access date (days since 1899-12-30) on the tester PC's local clock; the file
  does not state the time zone. ``unix_time_second`` reads that clock as UTC, and
  ``metadata.extra["clock"]`` says so.
- Auxiliary channels (``Auxiliary_Table``): the first temperature channel (``Data_Type`` 1,
  unit C, F or K) becomes ``surface_temperature_celsius``; a pressure channel (``Data_Type`` 2
  with a pressure unit) becomes ``applied_pressure_pa``; others are listed in the warnings.
- Several tests in one file (``Test_ID``) are chained in order, test time and cycle numbers
  continuing from the previous test (as cellpy does), with a warning.

Metadata (``Global_Table``): channel (``Channel_Index``), schedule, start time, active mass
(``MASS``, g), nominal capacity (``Capacity``, Ah) and cell id (``Item_ID``) when filled in;
test name, creator, comments, software version and the like go to ``extra``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import mmap
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from access_parser.access_parser import AccessTable, TableObj
from access_parser.parsing_primitives import TDEF_HEADER
from numpy.lib.stride_tricks import sliding_window_view

from casip.data import schema
from casip.data.readers._base import RawReading, StreamFallback, truncated_error
from casip.errors import CasipInputError, Problem

FORMAT = "arbin-res"
VENDOR = "Arbin"
DESCRIPTION = "Arbin MITS Pro results database (.res, MS Access/Jet 4)"
EXTENSIONS = (".res",)
LIBRARY = "access-parser"
PRIVATE_COPY = False

_MAGIC = b"\x00\x01\x00\x00"
_ENGINES = (b"Standard Jet DB\x00", b"Standard ACE DB\x00")
_JET_VERSIONS = {0: 3, 1: 4, 2: 5, 3: 2010}
_OLE_UNIX_EPOCH_DAYS = 25569.0  # 1970-01-01 as an Access (OLE) date
_OLE_EPOCH = _dt.datetime(1899, 12, 30)

# Access column type -> numpy dtype of its fixed-length value (1 = boolean, kept in the null mask)
_DTYPES = {
    2: np.dtype("u1"),  # byte
    3: np.dtype("<i2"),  # integer
    4: np.dtype("<i4"),  # long integer
    5: np.dtype("<i8"),  # currency (1e-4 units)
    6: np.dtype("<f4"),  # single
    7: np.dtype("<f8"),  # double
    8: np.dtype("<f8"),  # date/time (days since 1899-12-30)
}

_CHUNK_ROWS = 1 << 18  # rows gathered at a time (bounds the temporary copy)
_NORMAL = "Channel_Normal_Table"
_AUX = "Auxiliary_Table"
_NORMAL_COLUMNS = (
    "Test_ID",
    "Data_Point",
    "Test_Time",
    "DateTime",
    "Step_Index",
    "Cycle_Index",
    "Current",
    "Voltage",
    "Charge_Capacity",
    "Discharge_Capacity",
    "Charge_Energy",
    "Discharge_Energy",
    "Internal_Resistance",
)
_REQUIRED = ("Test_ID", "Data_Point", "Test_Time", "Current", "Voltage")
_COUNTERS = {
    "Charge_Capacity": "charging_capacity_ah",
    "Discharge_Capacity": "discharging_capacity_ah",
    "Charge_Energy": "charging_energy_wh",
    "Discharge_Energy": "discharging_energy_wh",
}
_TEMPERATURE_UNITS = {
    "": None,
    "c": None,
    "°c": None,
    "degc": None,
    "deg c": None,
    "f": "F",
    "°f": "F",
    "degf": "F",
    "k": "K",
}
_PRESSURE_UNITS_PA = {
    "pa": 1.0,
    "kpa": 1e3,
    "mpa": 1e6,
    "bar": 1e5,
    "mbar": 100.0,
    "psi": 6894.757293168,
    "atm": 101325.0,
}

_LOG = logging.getLogger("access_parser")


def _bad(message: str) -> CasipInputError:
    return CasipInputError(Problem("", message))


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` starts an Arbin ``.res`` file (an MS Access database).

    The Access signature is certain; that the database is Arbin's (it holds a
    ``Channel_Normal_Table``) is checked by :func:`read`, as the catalogue lies beyond 64 KiB.
    """
    if len(head) >= 0x15 and head[:4] == _MAGIC and head[4:20] in _ENGINES:
        return 0.9 if name.lower().endswith(".res") else 0.7
    return 0.0


def cumulative_counter(values: np.ndarray) -> np.ndarray:
    """Make a capacity or energy counter cumulative across the tester's resets.

    A reset is any point where the counter falls; from there on, the value reached before the
    fall is added (:func:`casip.data.schema.cumulative_from_resetting` on the runs between
    falls). A counter that never resets is returned unchanged.
    """
    v = np.nan_to_num(np.asarray(values, dtype=float))
    if len(v) < 2:
        return v
    falls = np.r_[False, v[1:] < v[:-1]]
    if not falls.any():
        return v
    return schema.cumulative_from_resetting(v, np.cumsum(falls))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence access-parser's log messages (a corrupted file is reported by our own error)."""
    was = _LOG.disabled
    _LOG.disabled = True
    try:
        yield
    finally:
        _LOG.disabled = was


class _Table(AccessTable):
    """access-parser's table, without memo/OLE values and with a bounded definition chain.

    Memo and OLE fields (only in system tables here) are not needed; skipping them means a
    corrupted long-value chain is never followed. A corrupted chain of table-definition pages
    raises instead of looping.
    """

    def _parse_memo(self, relative_obj_data, return_raw=False):
        return None

    def _merge_table_data(self, first_page):
        data, seen, page = b"", set(), first_page
        while page:
            if page in seen or len(seen) > 4096:
                raise ValueError("the table definition pages form a loop")
            seen.add(page)
            raw = self._table_defs.get(page * self.page_size)
            if raw is None:
                raise ValueError("a table definition page is missing")
            head = TDEF_HEADER.parse(raw)
            data += raw[head.header_end :]
            page = head.next_page_ptr
        return data


class _Pages(Mapping):
    """Offset -> page bytes, for the pages of one kind (data or table definition)."""

    def __init__(self, db: _Jet, mask: np.ndarray):
        self._db = db
        self._mask = mask

    def __getitem__(self, offset: int) -> bytes:
        ps = self._db.page_size
        page, rest = divmod(int(offset), ps)
        if rest or not 0 <= page < len(self._mask) or not self._mask[page]:
            raise KeyError(offset)
        return self._db.page(page)

    def __iter__(self) -> Iterator[int]:
        return iter(int(p) * self._db.page_size for p in np.flatnonzero(self._mask))

    def __len__(self) -> int:
        return int(self._mask.sum())


class _Jet:
    """A read-only, memory-mapped Jet/ACE database: catalogue, table definitions, tables."""

    def __init__(self, path: Path):
        self._fh = path.open("rb")
        self._mm: mmap.mmap | None = None
        try:
            size = os.fstat(self._fh.fileno()).st_size
            head = self._fh.read(0x15)
            if len(head) < 0x15 or head[:4] != _MAGIC or head[4:20] not in _ENGINES:
                raise _bad("not an MS Access database (no Jet/ACE signature)")
            if head[0x14] not in _JET_VERSIONS:
                raise _bad(f"unknown Access database version {head[0x14]}")
            self.version = _JET_VERSIONS[head[0x14]]
            self.page_size = 2048 if self.version == 3 else 4096
            if size % self.page_size or size < 4 * self.page_size:
                raise truncated_error(path, offset=size)
            self._mm = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ)
            self.flat = np.frombuffer(self._mm, dtype=np.uint8)
            self.pages = self.flat.reshape(-1, self.page_size)
            self.is_data = (self.pages[:, 0] == 1) & (self.pages[:, 1] == 1)
            self.is_tdef = (self.pages[:, 0] == 2) & (self.pages[:, 1] == 1)
            self.owner = np.ascontiguousarray(self.pages[:, 4:8]).view("<u4").ravel()
            self._tables: dict[str, _Table] = {}
            self.data_pages = _Pages(self, self.is_data)
            self.table_defs = _Pages(self, self.is_tdef)
            self.catalog = self._read_catalog()
            self._refuse_cut(path, size)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for name in ("flat", "pages"):
            self.__dict__.pop(name, None)
        if self._mm is not None:
            with contextlib.suppress(BufferError):
                self._mm.close()
        self._fh.close()

    def __enter__(self) -> _Jet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def page(self, number: int) -> bytes:
        ps = self.page_size
        return self._mm[number * ps : (number + 1) * ps]

    def _refuse_cut(self, path: Path, size: int) -> None:
        """Raise :func:`truncated_error` if a page the database refers to lies past its end.

        A file cut on a page boundary is a whole number of pages; what betrays it is a
        reference to a missing page: a table definition of the catalogue, the pages a table
        owns (its usage map), the root page of each of its indexes, or the sibling links of
        the index pages.
        """
        n = len(self.pages)
        refs: list[int] = []
        for name, tdef in self.catalog.items():
            if not 0 < tdef < n:
                raise truncated_error(path, offset=size)
            try:
                header = self.table(name).table_header
            except CasipInputError:
                continue  # an unreadable definition is reported if the table is read
            refs += [int(ri.first_index_page) for ri in header.real_index_2]
            refs += [int(header.row_page_map) >> 8, int(header.free_space_page_map) >> 8]
            if max(refs) >= n:
                raise truncated_error(path, offset=size)
            refs.append(self._usage_map_last(int(header.row_page_map)))
        index = np.flatnonzero((self.pages[:, 0] == 3) | (self.pages[:, 0] == 4))
        if len(index):
            links = np.ascontiguousarray(self.pages[index, 8:20]).view("<u4")
            refs.append(int(links.max()))
        if refs and max(refs) >= n:
            raise truncated_error(path, offset=size)

    def _usage_map_last(self, pointer: int) -> int:
        """The highest page number in a usage map (row ``pointer & 0xFF`` of page
        ``pointer >> 8``): map type 0 is a start page and a bitmap, type 1 a list of bitmap
        pages; -1 for an empty or unrecognised map."""
        page, row = pointer >> 8, pointer & 0xFF
        ps = self.page_size
        base = page * ps
        count = int.from_bytes(self._mm[base + 12 : base + 14], "little")
        if row >= count:
            return -1

        def entry(i: int) -> int:
            return int.from_bytes(self._mm[base + 14 + 2 * i : base + 16 + 2 * i], "little")

        start = entry(row) & 0x1FFF
        end = entry(row - 1) & 0x1FFF if row else ps
        if not 14 + 2 * count <= start < end <= ps:
            return -1
        body = self._mm[base + start : base + end]
        if body[0] == 0 and len(body) >= 5:
            bitmap = np.frombuffer(body[5:], np.uint8)
            bits = np.flatnonzero(np.unpackbits(bitmap, bitorder="little"))
            return int.from_bytes(body[1:5], "little") + int(bits[-1]) if len(bits) else -1
        if body[0] == 1:
            per = (ps - 4) * 8
            maps = np.frombuffer(body[1 : 1 + (len(body) - 1) // 4 * 4], "<u4")
            last = -1
            for j, mp in enumerate(maps.tolist()):
                if mp == 0:
                    continue
                if mp >= len(self.pages):
                    return int(mp)
                bits = np.flatnonzero(np.unpackbits(self.pages[mp, 4:], bitorder="little"))
                if len(bits):
                    last = j * per + int(bits[-1])
            return last
        return -1

    def _table_at(self, tdef: int, name: str, with_rows: bool) -> _Table:
        if not 0 < tdef < len(self.is_tdef) or not self.is_tdef[tdef]:
            raise _bad(f"the definition of table {name} is missing (truncated or corrupted file)")
        obj = TableObj(tdef * self.page_size, self.page(tdef))
        if with_rows:
            owned = np.flatnonzero(self.is_data & (self.owner == tdef))
            obj.linked_pages = [self.page(int(p)) for p in owned]
        try:
            with _quiet():
                return _Table(obj, self.version, self.page_size, self.data_pages, self.table_defs)
        except Exception as exc:
            raise _bad(f"the definition of table {name} is unreadable ({exc})") from None

    def _read_catalog(self) -> dict[str, int]:
        table = self._table_at(2, "MSysObjects", with_rows=True)
        try:
            with _quiet():
                rows = table.parse()
        except Exception as exc:
            raise _bad(f"the database catalogue is unreadable ({exc})") from None
        names, ids, types = (rows.get(k) or [] for k in ("Name", "Id", "Type"))
        if not names or not (len(names) == len(ids) == len(types)):
            raise _bad("the database catalogue is empty or unreadable (corrupted file?)")
        return {n: int(i) for n, i, t in zip(names, ids, types, strict=True) if t == 1 and n}

    def table(self, name: str) -> _Table:
        """access-parser's view of a table (definition only)."""
        if name not in self._tables:
            self._tables[name] = self._table_at(self.catalog[name], name, with_rows=False)
        return self._tables[name]

    def records(self, name: str) -> dict[str, list]:
        """All rows of a (small) table through access-parser's row decoder."""
        table = self._table_at(self.catalog[name], name, with_rows=True)
        try:
            with _quiet():
                rows = table.parse()
        except Exception as exc:
            raise _bad(f"the table {name} is unreadable ({exc})") from None
        return {k: v for k, v in rows.items() if isinstance(v, list)}

    def columns(self, name: str, wanted: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Fixed-length columns of a table as numpy arrays (file order; NaN where null).

        Columns in ``wanted`` that the table lacks are left out of the result.
        """
        table = self.table(name)
        cols = {c.col_name_str: c for c in table.columns.values()}
        present = [w for w in wanted if w in cols]
        if self.version == 3 or any(not cols[w].column_flags.fixed_length for w in present):
            return self._columns_slow(name, present)
        starts, ends = self._row_spans(name, table)
        return self.gather(name, present, starts, ends)

    def fast_columns(self, name: str, wanted: tuple[str, ...]) -> list[str] | None:
        """The columns of ``wanted`` that the table has, if the vectorised decoder reads them
        (None if access-parser's row decoder is needed)."""
        cols = {c.col_name_str: c for c in self.table(name).columns.values()}
        present = [w for w in wanted if w in cols]
        if self.version == 3 or any(not cols[w].column_flags.fixed_length for w in present):
            return None
        return present

    def owned_pages(self, name: str) -> np.ndarray:
        """Numbers of the data pages of a table, in file order."""
        tdef = self.catalog[name]
        return np.flatnonzero(self.is_data & (self.owner == tdef)).astype(np.int64)

    def gather(
        self, name: str, present: list[str], starts: np.ndarray, ends: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Fixed-length columns ``present`` of the rows spanning ``starts``..``ends``."""
        table = self.table(name)
        cols = {c.col_name_str: c for c in table.columns.values()}
        n = len(starts)
        n_null = (table.table_header.column_count + 7) // 8
        for w in present:
            if cols[w].type != 1 and cols[w].type not in _DTYPES:
                raise _bad(f"column {name}.{w} has an unsupported type ({cols[w].type})")
        fixed = {w: cols[w] for w in present if cols[w].type != 1}
        width = max((2 + c.fixed_offset + _DTYPES[c.type].itemsize for c in fixed.values()),
                    default=0)  # fmt: skip
        values = {w: np.empty(n, dtype=_DTYPES[c.type]) for w, c in fixed.items()}
        masks = np.empty((n, n_null), dtype=np.uint8)
        # Each row's leading bytes (and its null mask) are copied in one gather per chunk from
        # a sliding-window view of the file: one index per row, not one per byte.
        rows_view = sliding_window_view(self.flat, width) if width and n else None
        mask_view = sliding_window_view(self.flat, n_null) if n else None
        for a in range(0, n, _CHUNK_ROWS):
            b = min(n, a + _CHUNK_ROWS)
            masks[a:b] = mask_view[ends[a:b] - n_null]
            if rows_view is None:
                continue
            block = rows_view[starts[a:b]]
            for w, c in fixed.items():
                off, size = 2 + c.fixed_offset, _DTYPES[c.type].itemsize
                values[w][a:b] = block[:, off : off + size].copy().view(_DTYPES[c.type]).ravel()
        del rows_view, mask_view
        out = {}
        for w in present:
            cid = cols[w].column_id
            has = ((masks[:, cid // 8] >> (cid % 8)) & 1).astype(bool)
            if cols[w].type == 1:  # boolean: the null bit is the value
                out[w] = has.astype(float)
                continue
            v = values[w] / 1e4 if cols[w].type == 5 else values[w]
            if not has.all():
                v = v.astype(float)
                v[~has] = np.nan
            out[w] = v
        return out

    def _row_spans(
        self, name: str, table: _Table, pages: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Absolute start and end (exclusive) in the file of every live row of a table.

        With ``pages`` (some of the table's data pages, in order), the rows of those pages
        only: the total row count is then the caller's to check, and a row moved to another
        page (whose place in the order is unknown) raises :class:`StreamFallback`.
        """
        ps = self.page_size
        whole = pages is None
        if whole:
            pages = self.owned_pages(name)
        counts = self.pages[pages, 12].astype(np.int64) | (
            self.pages[pages, 13].astype(np.int64) << 8
        )
        if np.any(counts > (ps - 14) // 2):
            raise _bad(f"a data page of table {name} is corrupted (impossible row count)")
        total = int(counts.sum())
        page_of = np.repeat(pages, counts)
        k = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        pos = page_of * ps + 14 + 2 * k
        flat = self.flat
        off = flat[pos].astype(np.int64) | (flat[pos + 1].astype(np.int64) << 8)
        start = off & 0x1FFF
        end = np.empty_like(start)
        end[1:] = start[:-1]
        end[k == 0] = ps
        deleted = (off & 0x8000) != 0
        overflow = ((off & 0x4000) != 0) & ~deleted
        live = ~deleted & ~overflow
        first_free = 14 + 2 * np.repeat(counts, counts)
        a_start, a_end = page_of * ps + start, page_of * ps + end
        ok = (start >= first_free) & (end <= ps) & (start < end)
        if not ok[live].all():
            raise _bad(f"a data page of table {name} is corrupted (row outside its page)")
        starts, ends = [a_start[live]], [a_end[live]]
        if overflow.any() and not whole:
            raise StreamFallback(f"rows of table {name} were moved to other pages")
        if overflow.any():  # rows moved to another page: follow each pointer (rare)
            moved = [self._overflow_span(int(s), name) for s in a_start[overflow]]
            starts.append(np.array([m[0] for m in moved], dtype=np.int64))
            ends.append(np.array([m[1] for m in moved], dtype=np.int64))
        a_start, a_end = np.concatenate(starts), np.concatenate(ends)
        header = table.table_header
        ncols = header.column_count
        fixed = [c for c in table.columns.values() if c.column_flags.fixed_length and c.type != 1]
        min_len = 2 + max((c.fixed_offset + c.length for c in fixed), default=0)
        min_len += (ncols + 7) // 8
        if np.any(a_end - a_start < min_len):
            raise _bad(f"rows of table {name} are too short for its columns (corrupted file)")
        count = flat[a_start].astype(np.int64) | (flat[a_start + 1].astype(np.int64) << 8)
        if np.any(count != ncols):
            raise _bad(f"rows of table {name} do not have its {ncols} columns (corrupted file)")
        if whole:
            _check_row_count(name, len(a_start), header.number_of_rows)
        return a_start, a_end

    def _overflow_span(self, slot: int, name: str) -> tuple[int, int]:
        ps = self.page_size
        ptr = int.from_bytes(self._mm[slot : slot + 4], "little")
        page, row = ptr >> 8, ptr & 0xFF
        if not 0 <= page < len(self.is_data) or not self.is_data[page]:
            raise _bad(f"a moved row of table {name} points outside the data (corrupted file)")
        base = page * ps
        count = int.from_bytes(self._mm[base + 12 : base + 14], "little")
        if row >= count:
            raise _bad(f"a moved row of table {name} points to no row (corrupted file)")

        def entry(i: int) -> int:
            return int.from_bytes(self._mm[base + 14 + 2 * i : base + 16 + 2 * i], "little")

        start = entry(row) & 0x1FFF
        end = entry(row - 1) & 0x1FFF if row else ps
        if not 14 + 2 * count <= start < end <= ps:
            raise _bad(f"a moved row of table {name} is corrupted")
        return base + start, base + end

    def _columns_slow(self, name: str, present: list[str]) -> dict[str, np.ndarray]:
        rows = self.records(name)
        return {
            w: pd.to_numeric(pd.Series(rows.get(w, []), dtype=object)).to_numpy(float)
            for w in present
        }


def _check_row_count(name: str, found: int, counted: int) -> None:
    if found != counted:
        raise _bad(
            f"table {name} holds {found} rows but its definition counts "
            f"{counted}: the file is truncated or corrupted"
        )


def _first(rows: Mapping[str, list], key: str, i: int = 0) -> Any:
    values = rows.get(key)
    if not values or i >= len(values):
        return None
    v = values[i]
    if isinstance(v, str):
        v = v.strip()
        return v or None
    if isinstance(v, np.generic):
        v = v.item()
    return v


def _ole_to_datetime(days: float | None) -> _dt.datetime | None:
    if days is None or not np.isfinite(days) or days <= 0:
        return None
    return (_OLE_EPOCH + _dt.timedelta(days=float(days))).replace(microsecond=0)


def _metadata(db: _Jet, test_ids: np.ndarray) -> dict[str, Any]:
    meta: dict[str, Any] = {"tester": VENDOR}
    extra: dict[str, Any] = {}
    if "Global_Table" in db.catalog:
        rows = db.records("Global_Table")
        ids = rows.get("Test_ID") or []
        i = ids.index(int(test_ids[0])) if len(test_ids) and int(test_ids[0]) in ids else 0
        if _first(rows, "Channel_Index", i) is not None:
            meta["channel"] = str(_first(rows, "Channel_Index", i))
        if _first(rows, "Schedule_File_Name", i):
            meta["schedule"] = _first(rows, "Schedule_File_Name", i)
        start = _ole_to_datetime(_first(rows, "Start_DateTime", i))
        if start is not None:
            meta["start_time"] = start
        for key, field in (("MASS", "active_mass_g"), ("Capacity", "nominal_capacity_ah")):
            v = _first(rows, key, i)
            if isinstance(v, int | float) and np.isfinite(v) and v > 0:
                meta[field] = float(v)
        if _first(rows, "Item_ID", i):
            meta["cell_id"] = _first(rows, "Item_ID", i)
        for key in (
            "Test_ID",
            "Test_Name",
            "Channel_Number",
            "Creator",
            "Comments",
            "Specific_Capacity",
            "Software_Version",
            "Serial_Number",
            "Schedule_Version",
            "DAQ_Index",
            "Channel_Type",
        ):
            v = _first(rows, key, i)
            if v is not None and v != "" and not (key == "Specific_Capacity" and not v):
                extra[key] = v
    if "Version_Table" in db.catalog:
        v = _first(db.records("Version_Table"), "Version_Schema_Field")
        if v:
            extra["results_file_version"] = v
    extra["clock"] = (
        "DateTime and Start_DateTime are the tester's local clock (time zone not stated); "
        "unix_time_second reads that clock as UTC"
    )
    if len(test_ids) > 1:
        extra["test_ids"] = [int(t) for t in test_ids]
    meta["extra"] = extra
    return meta


def _aux_channels(db: _Jet) -> list[dict[str, Any]]:
    if "Aux_Global_Data_Table" not in db.catalog:
        return []
    rows = db.records("Aux_Global_Data_Table")
    n = len(rows.get("Data_Type") or [])
    return [
        {
            "type": _first(rows, "Data_Type", i),
            "index": _first(rows, "Auxiliary_Index", i),
            "unit": _first(rows, "Unit", i) or "",
            "nickname": _first(rows, "Nickname", i) or "",
        }
        for i in range(n)
    ]


def _aux_plan(db: _Jet, warnings: list[str]) -> list[tuple[str, np.ndarray, np.ndarray, Any]]:
    """The auxiliary channels to join onto the normal rows: (column, sorted keys, values,
    conversion) for the first temperature and pressure channels; the others are warned about.
    """
    if _AUX not in db.catalog or db.table(_AUX).table_header.number_of_rows == 0:
        return []
    aux = db.columns(_AUX, ("Test_ID", "Data_Point", "Auxiliary_Index", "Data_Type", "X"))
    if not {"Test_ID", "Data_Point", "Auxiliary_Index", "Data_Type", "X"} <= set(aux):
        warnings.append("the auxiliary table lacks its usual columns; auxiliary data left out")
        return []
    channels = {(c["type"], c["index"]): c for c in _aux_channels(db)}
    pairs = sorted(
        set(zip(aux["Data_Type"].tolist(), aux["Auxiliary_Index"].tolist(), strict=True))
    )
    used: set[tuple] = set()
    plan: list[tuple[str, np.ndarray, np.ndarray, Any]] = []
    for dtype, target in ((1, "surface_temperature_celsius"), (2, "applied_pressure_pa")):
        for pair in (p for p in pairs if p[0] == dtype):
            unit = str(channels.get(pair, {}).get("unit", "")).strip()
            if dtype == 1:
                if unit.lower() not in _TEMPERATURE_UNITS:
                    continue
                scale = _TEMPERATURE_UNITS[unit.lower()]
            elif unit.lower() not in _PRESSURE_UNITS_PA:
                continue
            sel = (aux["Data_Type"] == pair[0]) & (aux["Auxiliary_Index"] == pair[1])
            akey = aux["Test_ID"][sel].astype(np.int64) * (1 << 32) + aux["Data_Point"][sel]
            x = aux["X"][sel].astype(float)
            if len(akey) == 0:
                continue
            order = np.argsort(akey, kind="stable")
            conversion = scale if dtype == 1 else _PRESSURE_UNITS_PA[unit.lower()]
            plan.append((target, akey[order], x[order], conversion))
            used.add(pair)
            break
    left = [p for p in pairs if p not in used]
    if left:
        desc = ", ".join(
            f"Data_Type {t} #{i}"
            + (
                f" ({channels[(t, i)]['nickname'] or channels[(t, i)]['unit']})"
                if (t, i) in channels
                else ""
            )
            for t, i in left
        )
        warnings.append(f"auxiliary channels outside the schema were left out: {desc}")
    return plan


def _join_aux(
    data: dict[str, np.ndarray],
    keys: np.ndarray,
    plan: list[tuple[str, np.ndarray, np.ndarray, Any]],
) -> None:
    """Join the planned auxiliary channels onto the normal rows with these ``keys``."""
    for target, akey, x, conversion in plan:
        pos = np.clip(np.searchsorted(akey, keys, side="right") - 1, 0, None)
        values = np.where(akey[pos] == keys, x[pos], np.nan)
        if conversion == "F":
            values = (values - 32.0) * 5.0 / 9.0
        elif conversion == "K":
            values = values - 273.15
        elif target == "applied_pressure_pa":
            values = values * conversion
        data[target] = values


def _has_resistance(r: np.ndarray) -> bool:
    """Whether an ``Internal_Resistance`` column holds a measurement (0 = not measured)."""
    r = r.astype(float)
    return bool(np.isfinite(r[r != 0]).any())


class _Converter:
    """Normal-table rows (in key order) to BDF columns, range by range: carries the chaining
    of tests (time and cycle offsets) and the counters' resets across ranges, so consecutive
    ranges give the whole file's columns."""

    def __init__(self, tests: np.ndarray, resistance: bool, aux: list) -> None:
        self.chain = len(tests) > 1
        self.resistance = resistance
        self.aux = aux
        self.test: int | None = None
        self.off = {"t": 0.0, "c": 0.0}
        self.top = {"t": np.nan, "c": np.nan}
        self.last: dict[str, float] = {}
        self.sums: dict[str, float] = {}

    def convert(
        self, raw: dict[str, np.ndarray], test_id: np.ndarray, keys: np.ndarray
    ) -> dict[str, np.ndarray]:
        data: dict[str, np.ndarray] = {
            "test_time_second": raw["Test_Time"].astype(float),
            "voltage_volt": raw["Voltage"].astype(float),
            "current_ampere": raw["Current"].astype(float),
        }
        if "DateTime" in raw:
            days = raw["DateTime"].astype(float)
            days[days <= 0] = np.nan
            data["unix_time_second"] = (days - _OLE_UNIX_EPOCH_DAYS) * 86400.0
        if "Cycle_Index" in raw:
            data["cycle_count"] = raw["Cycle_Index"].astype(float)
        if "Step_Index" in raw:
            data["step_index"] = raw["Step_Index"].astype(float)
        if self.chain:
            self._chain(data, test_id)
        for src, dst in _COUNTERS.items():
            if src in raw:
                data[dst] = self._counter(dst, raw[src])
        if self.resistance:
            r = raw["Internal_Resistance"].astype(float)
            r[r == 0] = np.nan
            data["internal_resistance_ohm"] = r
        _join_aux(data, keys, self.aux)
        return data

    def _chain(self, data: dict[str, np.ndarray], test_id: np.ndarray) -> None:
        """Continue test time and cycle numbers of each later test from the one before."""
        cols = {"t": data["test_time_second"], "c": data.get("cycle_count")}
        for tid in np.unique(test_id):
            if tid != self.test:
                if self.test is not None:
                    self.off = {k: float(v) for k, v in self.top.items()}
                self.test, self.top = tid, {"t": np.nan, "c": np.nan}
            sel = test_id == tid
            for k, col in cols.items():
                if col is not None:
                    col[sel] += self.off[k]
                    self.top[k] = np.fmax(self.top[k], np.fmax.reduce(col[sel]))

    def _counter(self, key: str, values: np.ndarray) -> np.ndarray:
        """:func:`cumulative_counter`, continuing from the earlier ranges."""
        v = np.nan_to_num(np.asarray(values, dtype=float))
        last = self.last.get(key)
        falls = np.zeros(len(v), dtype=bool)
        falls[1:] = v[1:] < v[:-1]
        if last is not None:
            falls[0] = v[0] < last
        before = np.r_[0.0 if last is None else last, v[:-1]]
        offsets = np.cumsum(np.r_[self.sums.get(key, 0.0), np.where(falls, before, 0.0)])[1:]
        self.sums[key], self.last[key] = float(offsets[-1]), float(v[-1])
        return v + offsets


def read(path: Path) -> RawReading:
    """Read an Arbin ``.res`` file into BDF columns (see the module docstring).

    Parameters
    ----------
    path : Path
        The ``.res`` file; opened read-only and memory-mapped, never written.

    Returns
    -------
    RawReading
        Time series in BDF columns and SI units (current positive on charge, counters
        cumulative), the tester's metadata and any warnings.

    Raises
    ------
    CasipInputError
        If the file is not an Arbin results database, or is truncated or corrupted.
    """
    with _Jet(Path(path)) as db:
        if _NORMAL not in db.catalog:
            raise _bad(f"an MS Access database but not an Arbin results file (it has no {_NORMAL})")
        raw = db.columns(_NORMAL, _NORMAL_COLUMNS)
        _check_normal(raw.keys(), len(raw.get("Data_Point", ())))
        test_id = raw["Test_ID"].astype(np.int64)
        keys = test_id * (1 << 32) + raw["Data_Point"].astype(np.int64)
        if np.any(keys[1:] < keys[:-1]):  # rows are usually stored in order already
            order = np.argsort(keys, kind="stable")
            raw = {k: v[order] for k, v in raw.items()}
            test_id, keys = test_id[order], keys[order]
        tests = np.unique(test_id)
        warnings = _warnings(bool(np.any(keys[1:] == keys[:-1])), tests)
        aux = _aux_plan(db, warnings)
        resistance = "Internal_Resistance" in raw and _has_resistance(raw["Internal_Resistance"])
        data = _Converter(tests, resistance, aux).convert(raw, test_id, keys)
        metadata = _metadata(db, tests)
    return RawReading(data=pd.DataFrame(data, copy=False), metadata=metadata, warnings=warnings)


def _check_normal(present: Any, rows: int) -> None:
    missing = [c for c in _REQUIRED if c not in present]
    if missing:
        raise _bad(f"the {_NORMAL} has no {', '.join(missing)} column")
    if rows == 0:
        raise _bad(f"the results file holds no data rows ({_NORMAL} is empty)")


def _warnings(twice: bool, tests: np.ndarray) -> list[str]:
    warnings: list[str] = []
    if twice:
        warnings.append("some data points appear twice in the file (kept both)")
    if len(tests) > 1:
        warnings.append(
            f"the file holds {len(tests)} tests (Test_ID {', '.join(map(str, tests))}); "
            "they were chained in order"
        )
    return warnings


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in ranges of data pages holding about ``batch_rows`` rows each.

    A first pass over the pages decodes only ``Test_ID``, ``Data_Point`` and
    ``Internal_Resistance`` and checks every page's rows (the row count against the table
    definition, as :func:`read`); it finds the tests, repeated data points and whether any
    resistance was measured. Rows out of key order (which :func:`read` sorts) or moved to
    another page raise :class:`StreamFallback`. The auxiliary channels to join are read whole
    (sorted keys and values of the joined channels only). The second pass decodes each range
    and converts it, carrying the chaining of tests and the counters' resets.
    """
    with _Jet(Path(path)) as db:
        if _NORMAL not in db.catalog:
            raise _bad(f"an MS Access database but not an Arbin results file (it has no {_NORMAL})")
        present = db.fast_columns(_NORMAL, _NORMAL_COLUMNS)
        if present is None:
            raise StreamFallback("the table needs access-parser's row decoder")
        table = db.table(_NORMAL)
        pages = db.owned_pages(_NORMAL)
        slots = db.pages[pages, 12].astype(np.int64) | (db.pages[pages, 13].astype(np.int64) << 8)
        group = (np.cumsum(slots) - slots) // max(1, int(batch_rows))
        groups = np.split(pages, np.flatnonzero(np.diff(group)) + 1) if len(pages) else []
        first = [c for c in ("Test_ID", "Data_Point", "Internal_Resistance") if c in present]
        total, last, twice, resistance = 0, None, False, False
        tests: list[np.ndarray] = []
        for g in groups:
            try:
                starts, ends = db._row_spans(_NORMAL, table, g)
            except CasipInputError:
                db._row_spans(_NORMAL, table)  # the whole-file check names the first problem
                raise
            total += len(starts)
            if not len(starts) or not {"Test_ID", "Data_Point"} <= set(first):
                continue
            cols = db.gather(_NORMAL, first, starts, ends)
            keys = np.r_[
                [] if last is None else [last],
                cols["Test_ID"].astype(np.int64) * (1 << 32) + cols["Data_Point"].astype(np.int64),
            ].astype(np.int64)
            if np.any(keys[1:] < keys[:-1]):
                raise StreamFallback("the rows are not stored in key order")
            twice |= bool(np.any(keys[1:] == keys[:-1]))
            last = int(keys[-1])
            tests.append(np.unique(cols["Test_ID"].astype(np.int64)))
            if "Internal_Resistance" in cols and not resistance:
                resistance = _has_resistance(cols["Internal_Resistance"])
        _check_row_count(_NORMAL, total, table.table_header.number_of_rows)
        _check_normal(present, total)
        test_ids = np.unique(np.concatenate(tests))
        warnings = _warnings(twice, test_ids)
        conv = _Converter(test_ids, resistance, _aux_plan(db, warnings))
        metadata = _metadata(db, test_ids)
        for g in groups:
            starts, ends = db._row_spans(_NORMAL, table, g)
            if not len(starts):
                continue
            raw = db.gather(_NORMAL, present, starts, ends)
            test_id = raw["Test_ID"].astype(np.int64)
            keys = test_id * (1 << 32) + raw["Data_Point"].astype(np.int64)
            data = conv.convert(raw, test_id, keys)
            yield RawReading(data=pd.DataFrame(data), metadata=metadata, warnings=warnings)


def _chain_tests(data: dict[str, np.ndarray], test_id: np.ndarray, tests: np.ndarray) -> None:
    """Continue test time and cycle numbers of each later test from the one before (in place;
    ``test_id`` in ascending order, as :func:`read` sorts the rows)."""
    _Converter(tests, False, [])._chain(data, test_id)
