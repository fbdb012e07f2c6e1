"""Export: each export SELECT into gzip CSV parts in S3, by one of two paths.

- stream (always available): rows arrive unbuffered over the connection as MySQL's own text
  (no Python type conversion) and Python's csv module writes them.
- shared (DB_SHARED_DIR set; the server writes to a directory this process can read, as the
  task's shared volume): the server formats each row as an RFC 4180 line itself and writes the
  file with SELECT ... INTO OUTFILE; the job reads it while it grows. No per-row Python work.

Both produce the same bytes: header row, minimal quoting, CRLF, NULL as an empty field (or as
CSV_NULL when the job sets one; an empty string is then an empty field), binary
values (BINARY, VARBINARY, BLOB, GEOMETRY, binary expressions) as lowercase hex, BIT values as
unsigned integers; the manifest names each column's kind (COLUMN_KINDS). Parts
hold EXPORT_PART_ROWS records each and upload while the next part is written; memory holds one
chunk, never the result.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pymysql.cursors
from isal import igzip
from pymysql.constants import FIELD_TYPE

from etl import db, log
from etl.context import RunContext
from etl.convert import count_records
from etl.jobdef import ExportQuery
from etl.part_upload import PartUpload

# Rows fetched at a time on the stream path: 10,000, fewer for wide rows (each value is a
# Python object while the batch is formatted), which keeps a 40-column export under 150 MB,
# and never more than BATCH_BYTES of the server's packets (plus the row that crosses it): a
# batch's text is held about five times over while it is formatted (str, csv's buffer,
# encoded bytes), so 300 rows of 1 MB took 1.8 GB when batches were counted in rows only.
BATCH_ROWS = 10_000
BATCH_VALUES = 100_000
BATCH_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 1 << 20
# ISA-L's level 1 (of 0-3): zlib level 1's size within ~15 % at a quarter of its CPU; a
# CPU-bound Fargate task pays per second (zlib's level 6 saves ~10 % of bytes for ~3x CPU).
GZIP_LEVEL = 1
GZIP_BLOCK = 1 << 20  # what the compressor is given at a time (_Part)
MAX_LIMIT = "18446744073709551615"
BINARY_CHARSET = 63  # the protocol's charset number of binary strings
# Each column's kind, from its protocol type; the manifest states it per column.
_KIND_OF_TYPE = {
    **dict.fromkeys((FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.INT24, FIELD_TYPE.LONG,
                     FIELD_TYPE.LONGLONG), "integer"),
    FIELD_TYPE.DECIMAL: "decimal", FIELD_TYPE.NEWDECIMAL: "decimal",
    FIELD_TYPE.FLOAT: "float", FIELD_TYPE.DOUBLE: "float", FIELD_TYPE.YEAR: "year",
    FIELD_TYPE.DATE: "date", FIELD_TYPE.NEWDATE: "date", FIELD_TYPE.TIME: "time",
    FIELD_TYPE.DATETIME: "datetime", FIELD_TYPE.TIMESTAMP: "datetime",
    FIELD_TYPE.JSON: "json", FIELD_TYPE.BIT: "bit",
}  # fmt: skip
# Every kind, with what its field holds (docs/job-authoring.md, "A run": export).
COLUMN_KINDS = {
    "integer": "decimal digits", "decimal": "decimal digits", "float": "MySQL's float text",
    "year": "YYYY", "date": "YYYY-MM-DD", "time": "[-]HH:MM:SS[.ffffff]",
    "datetime": "YYYY-MM-DD HH:MM:SS[.ffffff], UTC", "json": "JSON text",
    "bit": "the bits as an unsigned integer", "binary": "the bytes as lowercase hex",
    "text": "the text",
}  # fmt: skip
# Kinds whose text never holds a comma, quote or line break, nor is empty.
_QUOTE_FREE = {"integer", "decimal", "float", "year", "date", "time", "datetime", "bit"}
_STRING_TYPES = {
    FIELD_TYPE.VARCHAR, FIELD_TYPE.VAR_STRING, FIELD_TYPE.STRING, FIELD_TYPE.TINY_BLOB,
    FIELD_TYPE.BLOB, FIELD_TYPE.MEDIUM_BLOB, FIELD_TYPE.LONG_BLOB, FIELD_TYPE.GEOMETRY,
}  # fmt: skip
# Strings whose bytes are their text in their own character set (not MySQL's JSON, 245).
_PLAIN_TEXT_TYPES = _STRING_TYPES - {FIELD_TYPE.GEOMETRY}


def column_kind(type_code: int, charsetnr: int) -> str:
    """A result column's kind: binary strings (charset `binary`) are told from text by their
    charset, as PyMySQL does when it returns them as bytes."""
    if type_code in _STRING_TYPES and charsetnr == BINARY_CHARSET:
        return "binary"
    return _KIND_OF_TYPE.get(type_code, "text")


def _fields(cursor: Any) -> list[Any]:
    # PyMySQL's description has no charset; its result's field list does.
    return list(cursor._result.fields)


def _kinds(cursor: Any) -> list[str]:
    return [column_kind(f.type_code, f.charsetnr) for f in _fields(cursor)]


class ExportError(Exception):
    """An export's query or output does not fit the contract."""


@contextmanager
def named_errors(name: str) -> Iterator[None]:
    """The server's error for an export, naming the export (as the C client's failure and a
    warning do): with several exports, `(1242, 'Subquery returns more than 1 row')` alone
    does not say which one the data broke."""
    try:
        yield
    except pymysql.err.MySQLError as exc:
        if len(exc.args) == 2:  # (code, message), as the server sent them
            raise ExportError(f"export {name}: {exc.args[1]} (MySQL {exc.args[0]})") from exc
        raise ExportError(f"export {name}: {exc}") from exc


@dataclass
class ExportFile:
    key: str
    rows: int
    bytes: int
    sha256: str


@dataclass
class ExportResult:
    name: str
    columns: list[str]
    kinds: list[str]
    files: list[ExportFile] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


def csv_line(values: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue().encode("utf-8")


class _HashingFile(io.RawIOBase):
    """A write-only file that counts and hashes the bytes on their way to S3."""

    def __init__(self, upload: PartUpload) -> None:
        self.upload = upload
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.upload.write(data)
        return len(data)


class _Part:
    """One gzip part being written, and uploaded as it is written (etl/part_upload.py)."""

    def __init__(self, upload: PartUpload, header: bytes) -> None:
        self.sink = _HashingFile(upload)
        self.rows = 0
        # mtime=0: the same rows give the same bytes, whichever path wrote them.
        self.gzip = igzip.GzipFile(fileobj=self.sink, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
        # ISA-L's deflate, unlike zlib's, makes other bytes of the same data written in other
        # pieces, and each engine's pieces are its own (batches, pipe reads, a growing file's
        # chunks, their sizes timing's): the compressor is fed GZIP_BLOCK bytes at a time.
        self.pending = bytearray()
        self.write(header)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        if self.pending:
            taken = GZIP_BLOCK - len(self.pending)
            self.pending += view[:taken]
            if len(self.pending) < GZIP_BLOCK:
                return
            self.gzip.write(self.pending)
            self.pending.clear()
            view = view[taken:]
        whole = len(view) - len(view) % GZIP_BLOCK
        for start in range(0, whole, GZIP_BLOCK):
            self.gzip.write(view[start : start + GZIP_BLOCK])
        self.pending += view[whole:]

    def close(self) -> Future[None]:
        self.gzip.write(self.pending)
        self.gzip.close()
        return self.sink.upload.finish()


class Parts:
    """The export's parts: `write` takes whole records and never more than `room`."""

    def __init__(  # noqa: PLR0917
        self,
        ctx: RunContext,
        root: str,
        name: str,
        columns: list[str],
        kinds: list[str],
        part_rows: int,
    ) -> None:
        self.ctx, self.prefix, self.name, self.part_rows = ctx, f"{root}{name}/", name, part_rows
        self.header = csv_line(columns)
        self.result = ExportResult(name, columns, kinds)
        self.current: _Part | None = None
        # Two workers: a part's upload may still finish while the next one starts.
        self.uploads = ThreadPoolExecutor(2)
        self.pending: Future[None] | None = None
        self.progress = log.Progress("export_progress", export=name)

    @property
    def room(self) -> int:
        if self.current is None or self.current.rows == self.part_rows:
            return self.part_rows
        return self.part_rows - self.current.rows

    def _start(self) -> None:
        key = f"{self.prefix}part-{len(self.result.files):05d}.csv.gz"
        upload = PartUpload(self.uploads, self.ctx.s3, self.ctx.bucket, key)
        self.current = _Part(upload, self.header)

    def write(self, data: bytes, records: int) -> None:
        if self.current is not None and self.current.rows == self.part_rows:
            self._finish()
        if self.current is None:
            self._start()
        assert self.current is not None
        self.current.write(data)
        self.current.rows += records
        self.progress.update(self.result.rows + self.current.rows)

    def _finish(self) -> None:
        part, self.current = self.current, None
        assert part is not None
        done = part.close()
        if self.pending is not None:
            self.pending.result()  # one finished part's upload in flight at most
        key = f"{self.prefix}part-{len(self.result.files):05d}.csv.gz"
        digest = part.sink.sha256.hexdigest()
        self.result.files.append(ExportFile(key, part.rows, part.sink.size, digest))
        self.pending = done

    def close(self) -> ExportResult:
        if self.current is None and not self.result.files:
            self._start()
        if self.current is not None:
            self._finish()
        if self.pending is not None:
            self.pending.result()
        self.uploads.shutdown()
        log.info("export_written", export=self.name, rows=self.result.rows,
                 files=len(self.result.files))  # fmt: skip
        return self.result

    def abort(self) -> None:
        if self.current is not None:
            self.current.sink.upload.abort()
        self.uploads.shutdown(wait=True, cancel_futures=True)


def _unique_columns(name: str, description: Any) -> list[str]:
    """The export's column names, unique as MySQL compares them (letter case ignored: a
    derived table, the shared path's and the C client's, refuses `id` beside `ID`)."""
    columns = [d[0] for d in description]
    folded = [c.lower() for c in columns]  # (not casefold: `ß` and `ss` are two names)
    duplicates = sorted({c for c, f in zip(columns, folded, strict=True) if folded.count(f) > 1})
    if duplicates:
        raise ExportError(f"export {name}: duplicate column name(s) {duplicates}; alias them")
    return columns


def _hex(value: bytes) -> str:
    return value.hex()


def _bits(value: bytes) -> str:
    return str(int.from_bytes(value, "big"))


# A text equal to CSV_NULL is written quoted ("NA"), NULL bare (NA): on the stream path the
# converter puts _CLASH in its place, which csv.writer quotes ("""\udcfe") and which no text
# from the server can hold (a lone surrogate), and the batch's text gets the quoted marker.
_CLASH = '"\udcfe'
_CLASH_WRITTEN = '"""\udcfe"'


def _converter(kinds: list[str], null: str) -> Any:
    """Rows of MySQL's text -> rows as the contract writes them (None: no change needed)."""
    convert = [{"binary": _hex, "bit": _bits}.get(kind) for kind in kinds]
    if not any(convert) and not null:
        return None
    marker = null or None  # csv.writer writes None as an empty field

    def field(change: Any, value: Any) -> Any:
        if value is None:
            return marker
        text = value if change is None else change(value)
        return _CLASH if text == null else text

    def rows(batch: Any) -> list[list[Any]]:
        if null:
            return [[field(f, v) for f, v in zip(convert, row)] for row in batch]  # noqa: B905
        return [
            [None if v is None else v if f is None else f(v) for f, v in zip(convert, row)]  # noqa: B905
            for row in batch
        ]

    return rows


def unclash(text: str, null: str) -> str:
    """The stream path's batch with each text equal to CSV_NULL quoted."""
    return text.replace(_CLASH_WRITTEN, f'"{null}"') if null and _CLASH in text else text


def fetch_batch(cursor: Any, conn: Any, limit: int, budget: int = BATCH_BYTES) -> list[Any]:
    """Up to `limit` rows of an unbuffered cursor, stopping once `budget` bytes have arrived."""
    start = conn.received
    batch: list[Any] = []
    read = cursor.read_next
    while len(batch) < limit and conn.received - start < budget:
        row = read()
        if row is None:
            break
        batch.append(row)
    return batch


def export_stream(ctx: RunContext, root: str, query: ExportQuery, part_rows: int) -> ExportResult:
    """Rows over the connection (SSCursor: streamed from the server as they are read)."""
    conn = ctx.conn
    cursor = conn.cursor(pymysql.cursors.SSCursor)
    with conn.guard(f"export {query.name}"):
        cursor.execute(query.sql)
        columns = _unique_columns(query.name, cursor.description)
        kinds = _kinds(cursor)
        convert = _converter(kinds, ctx.null)
        parts = Parts(ctx, root, query.name, columns, kinds, part_rows)
        try:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180; None -> empty
            rows = max(1, min(BATCH_ROWS, BATCH_VALUES // len(columns)))
            while batch := fetch_batch(cursor, conn, min(rows, parts.room)):
                writer.writerows(convert(batch) if convert else batch)
                parts.write(unclash(buffer.getvalue(), ctx.null).encode("utf-8"), len(batch))
                buffer.seek(0)
                buffer.truncate()
            cursor.close()
            db.check_warnings(conn, f"export {query.name}")
        except BaseException:
            parts.abort()
            raise
    return parts.close()


def _field_sql(  # noqa: PLR0917
    column: str,
    kind: str,
    only_column: bool,
    null: str = "",
    mariadb: bool = False,
    utf8: bool = False,
) -> str:
    """SQL that writes one column's value as an RFC 4180 field, exactly as the stream path
    does. Every text or binary value is made a string (CAST, HEX) before anything else
    touches it, so no branch takes the column's own type: a MariaDB UUID or INET6 column would
    turn a '' into NULL, and CONCAT_WS would drop the field (numbers and times are never '').
    NULL is `null` (CSV_NULL, never quoted; empty by default), a value is quoted (quotes
    doubled) when it holds a comma, quote, CR or LF or is the text `null` itself, and a record
    of one empty field is written as "" (csv.writer's rule). `mariadb`: the server is
    MariaDB (quotes doubled by the faster function). `utf8`: the column's bytes are its
    utf8mb4 text already (ExportColumns.utf8)."""
    ref = "`" + column.replace("`", "``") + "`"
    empty = "'\"\"'" if only_column else "''"
    nothing = f"'{null}'" if null else empty  # CSV_NULL holds no quote or backslash
    if kind == "binary":
        text = f"LOWER(HEX({ref}))"
        value = f"WHEN LENGTH({ref}) > 0 THEN {text} ELSE {empty}"
    elif kind == "bit":
        text = f"CAST(CAST({ref} AS UNSIGNED) AS CHAR)"
        value = f"ELSE {text}"
    elif kind in _QUOTE_FREE:
        text = f"CAST({ref} AS CHAR)"
        value = f"ELSE {text}"
        if not null:
            # A number's or time's own text is what CAST makes of it (the same conversion),
            # and IFNULL(x, '') is a string: the CAST cost a fifth of the held-out shape's
            # server time (MariaDB 10.11, docs/performance-stream.md).
            return f"IFNULL({ref}, {nothing})"
    else:
        # The tests read the value as a string anyway; the CAST in ELSE is what gives the CASE
        # a string type (and is the one conversion a row pays for). Quoting works on the CAST
        # too: a utf16/utf32/ucs2 column's own text would meet the other branches' utf8mb4 in
        # one CASE ("Illegal mix of collations"). A text already utf8mb4 needs no CAST, which
        # on MariaDB copies and checks every character (docs/performance-stream.md, fifth
        # session: 1.0-1.1 s of server CPU -> 0.7 on 111 MB of 1-5 KB bodies).
        text = ref if utf8 else f"CAST({ref} AS CHAR)"
        blank = f"WHEN LENGTH({ref}) = 0 THEN {empty} " if only_column else ""
        value = (
            f"{blank}WHEN {text} REGEXP '[\",\\r\\n]' "
            f"THEN CONCAT('\"', {_doubled_quotes(text, mariadb)}, '\"') ELSE {text}"
        )
    if not null and value == f"ELSE {text}":
        return f"IFNULL({text}, {nothing})"  # bits: never quoted
    # A text equal to CSV_NULL is written quoted, as the stream path does; compared as bytes
    # (the column's collation would match 'na' or 'NA ' too).
    clash = f"WHEN CAST({text} AS BINARY) = '{null}' THEN '\"{null}\"' " if null else ""
    return f"CASE WHEN {ref} IS NULL THEN {nothing} {clash}{value} END"


def _doubled_quotes(text: str, mariadb: bool) -> str:
    """`text` (utf8mb4) with each double quote doubled. MariaDB's REPLACE moves the rest of
    the value at each quote (quadratic: 1-5 KB bodies ran at ~40 MB/s); its REGEXP_REPLACE
    on the value's bytes is linear and byte-wise (a quote byte is never inside a UTF-8
    character), 0.14 s vs 0.94 s on 32 MB. MySQL 8.4's regular expressions refuse binary
    strings (ER_CHARACTER_SET_MISMATCH), so there it is REPLACE."""
    if mariadb:
        return f"REGEXP_REPLACE(CAST({text} AS BINARY), '\"', '\"\"')"
    return f"REPLACE({text}, '\"', '\"\"')"


def is_mariadb(conn: Any) -> bool:
    """Whether the server is MariaDB (its version string says so; MySQL's does not)."""
    return "mariadb" in str(conn.server_version).lower()


def derived_sql(query: ExportQuery, order: str = "") -> str:
    """The export's SQL as it can sit in a derived table, `order` its ORDER BY outside it."""
    sql = query.sql
    if query.offset and not query.limited:
        # MariaDB drops both ORDER BY and OFFSET n ROWS inside a derived table unless a
        # FETCH follows (LIMIT after OFFSET n ROWS is a syntax error).
        return f"{sql} FETCH NEXT {MAX_LIMIT} ROWS ONLY"
    if query.ordered and not query.limited and not order:
        # MariaDB drops ORDER BY inside a derived table unless it has a LIMIT.
        return f"{sql} LIMIT {MAX_LIMIT}"
    if order and query.unordered_sql:
        # The order is taken outside: without its own ORDER BY the derived table can merge
        # into the query, and a UNION is not sorted twice (MariaDB keeps a UNION's ORDER BY).
        return query.unordered_sql
    return sql


def outer_order(query: ExportQuery, columns: list[str]) -> str | None:
    """The export's ORDER BY over its derived table (`ORDER BY export_rows.`c` DESC, ...`),
    "" when it has none, None when a key is not one of the derived table's columns (by name,
    letter case ignored, or position). A plain name in ORDER BY is the select list's column
    of that name first (https://dev.mysql.com/doc/refman/8.4/en/problems-with-alias.html), so
    sorting the derived table by it is the query's own order. MariaDB loses a derived table's
    inner order once it materialises it in Aria (TEXT/BLOB, or over tmp_table_size)."""
    if not query.ordered:
        return ""
    if query.order_keys is None:
        return None
    folded = {c.lower(): c for c in columns}
    terms = []
    for key in query.order_keys:
        if isinstance(key.key, int):
            column = columns[key.key - 1] if key.key <= len(columns) else None
        else:
            column = folded.get(key.key.lower())
        if column is None:
            return None
        quoted = "`" + column.replace("`", "``") + "`"
        terms.append(f"export_rows.{quoted}{' DESC' if key.descending else ''}")
    return " ORDER BY " + ", ".join(terms)


def only_pymysql_keeps_order(conn: Any, query: ExportQuery, columns: list[str]) -> bool:
    """Whether only the PyMySQL engine keeps the export's order: on MariaDB, an ORDER BY by
    anything but the export's columns (outer_order). MySQL 8.4 keeps a derived table's inner
    order (asserted on CI's leg, tests/etl/test_export_paths.py)."""
    return outer_order(query, columns) is None and is_mariadb(conn)


def engine_order(ctx: RunContext, query: ExportQuery, columns: list[str]) -> str | None:
    """The ORDER BY the server-formatted engines (shared path, C client) put outside their
    derived table (outer_order, "" for none); None when the PyMySQL engine must run the
    export (logged)."""
    if only_pymysql_keeps_order(ctx.conn, query, columns):
        log.info("export_engine", export=query.name, engine="pymysql",
                 reason="ORDER BY keys other than the export's own columns, on MariaDB "
                 "(docs/job-authoring.md, Row order)")  # fmt: skip
        return None
    return outer_order(query, columns) or ""


def record_fields(
    columns: list[str],
    kinds: list[str],
    null: str = "",
    mariadb: bool = False,
    utf8: list[bool] | None = None,
) -> list[str]:
    """Each column's RFC 4180 field (the server-formatted record is their CONCAT_WS)."""
    single = len(columns) == 1
    plain = utf8 or [False] * len(columns)
    return [
        _field_sql(c, k, single, null, mariadb, u)
        for c, k, u in zip(columns, kinds, plain, strict=True)
    ]


def outfile_sql(  # noqa: PLR0917
    query: ExportQuery,
    columns: list[str],
    kinds: list[str],
    path: str,
    null: str = "",
    mariadb: bool = False,
    utf8: list[bool] | None = None,
    order: str = "",
) -> str:
    """The export as one CSV line per row, written by the server to `path` (an SQL string
    literal, quoted and escaped), in the order `order` (outer_order) gives."""
    sql = derived_sql(query, order)
    fields = record_fields(columns, kinds, null, mariadb, utf8)
    # INTO before FROM: MariaDB warns that INTO at the end is deprecated (1287), MySQL 8.4 that
    # INTO before a locking clause is; right after the select list neither warns, and an
    # export warning fails the run. https://dev.mysql.com/doc/refman/8.4/en/select-into.html
    return (
        f"SELECT CONCAT_WS(',', {', '.join(fields)}) "
        f"INTO OUTFILE {path} CHARACTER SET utf8mb4 "
        "FIELDS TERMINATED BY ',' ENCLOSED BY '' ESCAPED BY '' LINES TERMINATED BY '\\r\\n' "
        f"FROM ({sql}) AS export_rows{order}"
    )


def split_records(data: bytes, limit: int) -> tuple[int, int]:
    """(records, end) for up to `limit` complete CSV records at the start of `data`, which
    starts at a record boundary. A record ends at a CRLF outside quotes; splitting on the
    quote character alternates outside/inside segments (a doubled quote adds an empty one).
    Counted with bytes methods (no loop over records) when the chunk holds at most `limit`
    records: a third of the job's CPU on the held-out shape went to the loop."""
    records = count_records(data, b"\r\n")
    if records == 0:
        return 0, 0
    if records <= limit:
        end = data.rfind(b"\r\n")
        for _ in range(4):  # the last CRLF outside quotes: an even count of quotes before it
            if data.count(b'"', 0, end) % 2 == 0:
                return records, end + 2
            end = data.rfind(b"\r\n", 0, end)
    return _split_records_slowly(data, limit)


def _split_records_slowly(data: bytes, limit: int) -> tuple[int, int]:
    records = end = position = 0
    outside = True
    for segment in data.split(b'"'):
        if outside and (found := segment.count(b"\r\n")):
            if records + found >= limit:
                cut = position
                for _ in range(limit - records):
                    cut = data.index(b"\r\n", cut) + 2
                return limit, cut
            records += found
            end = position + segment.rindex(b"\r\n") + 2
        position += len(segment) + 1
        outside = not outside
    return records, end


def _follow(path: Path, done: Future[Any]) -> Iterator[bytes]:
    """Chunks of a file another process is still writing, until `done` and the end."""
    while not path.exists():
        if done.done():
            done.result()  # raises if the query failed before creating the file
            if not path.exists():  # (checked again: the query may just have written it)
                raise ExportError(f"the server wrote no file at {path}")
            break
        time.sleep(0.005)
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK_BYTES)
            if chunk:
                yield chunk
            elif done.done():
                done.result()
                if not (rest := handle.read()):
                    return
                yield rest
            else:
                time.sleep(0.005)


def server_files(shared_dir: Path, job: str) -> list[Path]:
    """The files the server writes for `job`'s exports (left behind if a run was killed)."""
    return sorted(shared_dir.glob(f"{glob.escape(job)}@*.csv"))


class ExportColumns(NamedTuple):
    names: list[str]
    kinds: list[str]
    # Each column is a text whose bytes are already utf8mb4 (utf8mb4, utf8mb3; not ascii, which
    # on MariaDB holds any byte unchecked, 0xE9 too: its CAST warns, its bytes are no UTF-8): its
    # field skips CAST(... AS CHAR), which on MariaDB copies and checks every character (half
    # the server's time on 1-5 KB bodies: docs/performance-stream.md, fifth session).
    utf8: list[bool]


def export_columns(ctx: RunContext, query: ExportQuery) -> ExportColumns:
    """The export's column names (unique), kinds and utf8 texts, from the query run with
    LIMIT 0 while character_set_results is NULL: each text column then reports its own
    character set (with results in utf8mb4, every one says utf8mb4)."""
    conn = ctx.conn
    with conn.guard(f"export {query.name}"), conn.cursor() as cursor:
        restore = f"SET character_set_results = {conn.charset}"
        cursor.execute("SET character_set_results = NULL")
        try:
            cursor.execute(f"SELECT * FROM ({query.sql}) AS export_rows LIMIT 0")
        except pymysql.err.MySQLError:
            if conn.open:  # the server answered (a lost connection keeps its own error)
                cursor.execute(restore)
            raise
        # Anything else (SIGTERM) leaves it to the guard, which kills the statement and closes
        # the session: PyMySQL closed the socket already, a SET would fail in the stop's place.
        fields, description = _fields(cursor), cursor.description
        cursor.execute(restore)
        names = _unique_columns(query.name, description)
        texts = {f.charsetnr for f in fields if f.type_code in _PLAIN_TEXT_TYPES}
        utf8_ids: set[int] = set()
        if texts:
            cursor.execute(
                "SELECT ID FROM information_schema.COLLATIONS WHERE ID IN %s "
                "AND CHARACTER_SET_NAME IN ('utf8mb4', 'utf8mb3', 'utf8')",
                (sorted(texts),),
            )
            utf8_ids = {int(row[0]) for row in cursor.fetchall()}  # the session returns text
    return ExportColumns(
        names,
        [column_kind(f.type_code, f.charsetnr) for f in fields],
        [f.type_code in _PLAIN_TEXT_TYPES and f.charsetnr in utf8_ids for f in fields],
    )


def export_shared(
    ctx: RunContext, shared_dir: Path, root: str, query: ExportQuery, part_rows: int
) -> ExportResult:
    """The server writes the CSV lines into the shared directory; parts are cut from them."""
    name, conn = query.name, ctx.conn
    columns, kinds, utf8 = export_columns(ctx, query)
    order = engine_order(ctx, query, columns)
    if order is None:
        return export_stream(ctx, root, query, part_rows)
    # `job@`: '@' is never in a job name, so a rerun finds exactly its own job's leftovers.
    path = shared_dir / f"{ctx.job}@{uuid.uuid4().hex}-{name}.csv"
    statement = outfile_sql(
        query, columns, kinds, conn.escape(str(path)), ctx.null, is_mariadb(conn), utf8, order
    )
    parts = Parts(ctx, root, name, columns, kinds, part_rows)
    server = ThreadPoolExecutor(1)
    done = server.submit(_execute, ctx, statement, f"export {name}")
    try:
        carry = b""
        for chunk in _follow(path, done):
            data = carry + chunk
            while data:
                records, end = split_records(data, parts.room)
                if not records:
                    break  # the rest is the start of a record still being written
                parts.write(data[:end], records)
                data = data[end:]
            carry = data
        if carry:
            raise ExportError(f"export {name}: the server's file ends inside a record")
    except BaseException:
        if not done.done():
            # A stop (SIGTERM) or a failure here never waits for the server. The statement may
            # not have left the worker thread yet, and a KILL would find nothing to stop: cut
            # the socket first (it can no longer be sent), then kill what the server runs.
            conn.cut()
            conn.kill_query()
        parts.abort()
        raise
    finally:
        server.shutdown(wait=True)
        path.unlink(missing_ok=True)
    return parts.close()


def _execute(ctx: RunContext, statement: str, what: str) -> None:
    with ctx.conn.guard(what), ctx.conn.cursor() as cursor:
        cursor.execute(statement)
        db.check_warnings(ctx.conn, what)


def export_all(
    ctx: RunContext, root: str, queries: list[ExportQuery], part_rows: int, shared: Path | None
) -> list[ExportResult]:
    """Every export under `root`: by the shared path when the server shares a directory with
    the job (DB_SHARED_DIR), else streamed: by the C client when the image has one (about 4x
    PyMySQL's speed, docs/performance-stream.md), else over the job's PyMySQL connection."""
    from etl import stream_client  # noqa: PLC0415 (it builds on this module)

    if shared is None:
        return stream_client.export_streamed(ctx, root, queries, part_rows)
    results = []
    for query in queries:
        with named_errors(query.name):
            results.append(export_shared(ctx, shared, root, query, part_rows))
    return results
