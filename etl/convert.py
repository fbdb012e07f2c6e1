"""The loader's converter: an input file's bytes -> the records LOAD DATA reads.

The server reads RFC 4180 itself (FIELDS TERMINATED BY ',' ENCLOSED BY '"' ESCAPED BY ''), so
most of a file goes to it as it is: each chunk of whole records is matched against one regular
expression of a record (each field's spelling that the value checks pass unchanged, values.py)
and what matches is handed over as the file spells it (but for its empty fields, below).
Python's csv module parses only what does not match — a time with an offset to normalise, a bad
value or malformed CSV to name, a field the server would read otherwise (an unquoted NULL, which
it takes for NULL; CSV_NULL; an empty field of a NOT NULL column) — and those records are
written again: each field quoted, NULL as the bare word NULL. An empty field, unquoted or "", is
NULL (CSV_NULL unset); the server would read either as '', so: with `spell` (load.py: but for
a table with a long-text column) the records handed over as they are have each empty field
spelt NULL (spell_nulls; a quoted field with a comma beside a comma or a line break is parsed
then) and the LOAD has no SET for it; without, they go byte for byte and the LOAD's SET turns
'' into NULL for the nullable columns (load.load_data_sql). A NOT NULL column's empty field
goes the parsed way, as NULL, which the server refuses, on both.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import IO, NamedTuple

from etl import log, values
from etl.extract import BadInput

# The largest field the parsed path accepts (Python's csv module stops at 128 KiB by default).
FIELD_LIMIT = 16 * 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)
_CHUNK = 1 << 20  # read and matched at a time (the FIFO to the server holds 1 MiB)
# Parsed records are checked and written in batches of at most _BATCH_ROWS records or
# _BATCH_CHARS characters (4 bytes each at most once written).
_BATCH_ROWS = 10_000
_BATCH_CHARS = _CHUNK // 4
_WINDOW = 16 * 1024  # parsed at first, widened as needed (Converter._parse)
_SHOWN = 200  # characters of a value quoted in an error message
_TERMS = {b"\r\n": r"\r\n", b"\n": r"\n", b"\r": r"\r"}  # a record's end, as a regex

# Placeholders while parsed records are checked: lone surrogates, which text decoded from
# UTF-8 (strictly, as every input is) can never hold, nor CSV_NULL (settings refuse them).
_FIELD = values.SEPARATOR  # between fields
_RECORD = values.RECORD_END  # after each record
_EMPTY = "\udcff"  # a NULL field (empty, or CSV_NULL when set)


class Stopped(Exception):
    """The load this conversion feeds was stopped (it failed, or the run is stopping)."""


def shown(value: str | None) -> str | None:
    """A value as an error message quotes it: at most _SHOWN characters."""
    if value is None or len(value) <= _SHOWN:
        return value
    return f"{value[:_SHOWN]}… ({len(value)} characters)"


def nullif(column: values.Column | None, null: str) -> bool:
    """Whether an empty field of this column is NULL and may go as it is: spelt NULL by the
    converter (spell_nulls) or read as '' and made NULL by the LOAD's SET (an empty field is
    NULL unless CSV_NULL is set; a NOT NULL column's empty fields are never passed raw)."""
    return not null and (column is None or column.nullable)


def _empty_as_is(column: values.Column | None, null: str) -> bool:
    """Whether an empty field goes to the server as it is (spelt NULL with `spell`): NULL for a
    nullable column (nullif), or with CSV_NULL set the empty string (a column without checks)."""
    if not null:
        return nullif(column, null)
    return column is None or values.checker(column) is None


def record_pattern(
    header: list[str],
    columns: dict[str, values.Column],
    null: str,
    term: bytes,
    spell: bool = False,
) -> str | None:
    """The regular expression of one whole record the server may read as it is, or None when
    no record may (a column whose every field needs its check). `spell`: records that
    spell_nulls may spell by its replacements alone (values.QUOTED_SPELT)."""
    end = f"(?=,|{_TERMS[term]})"
    fields = []
    for name in header:
        column = columns.get(name)
        spelling = values.raw_spelling(column, spell)
        if spelling is None:
            return None
        bare, inside = spelling
        # Unquoted NULL is NULL to the server; unquoted CSV_NULL is NULL to the job.
        guards = [f"(?!{re.escape(word)}{end})" for word in sorted({"NULL", null} - {""})
                  if re.fullmatch(bare, word)]  # fmt: skip
        # An alternative that matched is kept (the group is atomic): one that may match
        # nothing (at a quote too) goes after the quoted one, and the empty field last.
        empty = re.fullmatch(bare, "") is not None
        choices = [f'"{inside}"', bare] if empty else [bare, f'"{inside}"']
        if _empty_as_is(column, null):
            choices.append('""|')
        elif empty or re.fullmatch(inside, ""):
            guards.append(f'(?!(?:"")?{end})')  # an empty field: parsed, checked, NULL
        fields.append("".join(guards) + f"(?>{'|'.join(choices)})")
    blank = f"(?!{_TERMS[term]})" if len(header) == 1 else ""  # csv skips a blank line
    return blank + ",".join(fields) + _TERMS[term]


_NOT_QUOTE_OR_BREAK = bytes(b for b in range(256) if b not in b'"\r\n')


class Breaks(NamedTuple):
    """The line break bytes of a text: LF, CR and CR LF pairs, counted once for both its
    records and its lines (counting twice was a quarter of the converter's time on quoted
    text)."""

    lf: int
    cr: int
    crlf: int

    @classmethod
    def of(cls, data: bytes) -> Breaks:
        lf, cr = data.count(b"\n"), data.count(b"\r")
        return cls(lf, cr, data.count(b"\r\n") if lf and cr else 0)

    def lines(self) -> int:
        """Lines as csv.reader counts them (CR, LF or CRLF each end one)."""
        return self.lf + self.cr - self.crlf


def count_records(data: bytes, term: bytes, breaks: Breaks | None = None) -> int:
    """The record ends in `data` (which starts outside quotes) that are outside quotes:
    splitting on the quote alternates outside and inside (a doubled quote adds an empty
    segment); a line end never spans a quote, and NUL keeps the inside segments apart.
    Only the quotes and line breaks are split when no CR stands alone (no CR…LF can join
    once the rest is gone), without adjacent quote pairs (no parity changes): long text
    with many quotes made a segment of every word between them. `breaks`: data's, if known."""
    breaks = Breaks.of(data) if breaks is None else breaks
    total = {b"\r\n": breaks.crlf, b"\n": breaks.lf, b"\r": breaks.cr}[term]
    if not total or b'"' not in data:
        return total
    if term != b"\r\n" or breaks.cr == total:
        data = data.translate(None, _NOT_QUOTE_OR_BREAK).replace(b'""', b"")
    return total - b"\0".join(data.split(b'"')[1::2]).count(term)


# Of the parts of whole records split at their quotes: an empty quoted part between two
# non-empty unquoted parts (or at the start), at an odd index (a start at an even one).
_QUOTED_EMPTY = re.compile(rb"(?=(?:^\x00|\x01)\x00\x01)")


def spell_nulls(data: bytes, term: bytes, matched: bool = False) -> bytes:
    """Whole records that the record pattern passed (RFC 4180: no quote in an unquoted field,
    no NUL) with each empty field, unquoted or "", spelt NULL: the word the server reads as
    NULL unquoted, so that its LOAD needs no variable and SET per nullable column (8-19 % of
    its time here). Beside the server's LOAD, not in it: passes over the bytes in C, ~5-9 ms
    of CPU per MiB; with "" fields 10-20, but ~60-120 where most fields are "" (every field
    quoted; each "" is a part of the split that Python looks at), about the server's own time
    for that MiB (review27, on a busy 2-core machine). `matched`: the pattern was
    record_pattern's `spell` form, so no quoted field holds a comma beside a comma or a line
    break, and the passes go over the whole records without cutting the quoted text out
    (a quarter of the wide shape's converter time)."""
    if b'"' not in data:
        return _empties(data, term)
    empty_quoted = _empty_quoted(data, term)
    if matched and not empty_quoted:
        return _empties(data, term)
    # Between the quotes, parts alternate outside and inside a quoted field (an escaped quote
    # leaves an empty outside part); an unquoted empty field is in the outside parts only.
    split = data.split(b'"')
    parts = _quoted_empties(split) if empty_quoted else split
    outside = b"\0".join(parts[0::2])
    spelt = _empties(outside, term)
    if spelt == outside and parts is split:
        return data  # no empty field
    parts[0::2] = spelt.split(b"\0")
    return b'"'.join(parts)


# Two quotes at a field's start: a "" field, or a quoted value that starts with a quote. The
# quotes first, the lookbehind at each: three searches for ,"" and the like took 3x as long.
_FIELD_QUOTES = {t: re.compile(b'""(?<=[,' + t[-1:] + b']"")') for t in _TERMS}


def _empty_quoted(data: bytes, term: bytes) -> bool:
    """Whether records may hold a "" field: a field that starts with two quotes."""
    return data.startswith(b'""') or _FIELD_QUOTES[term].search(data) is not None


def _quoted_empties(parts: list[bytes]) -> list[bytes]:
    """The parts of whole records split at their quotes, with each "" field as NULL (merged
    into the unquoted parts around it). An unquoted part is empty only at the start or between
    the two quotes of an escaped one; an inside part is empty for a "" field and after an
    escaped quote that ends a value, where an empty unquoted part comes before it."""
    found = [m.start() + 1 for m in _QUOTED_EMPTY.finditer(bytes(map(bool, parts)))]
    centres = [i for i in found if i % 2]
    if not centres:
        return parts
    merged = parts[: centres[0]]  # ends with the unquoted part before the first ""
    for centre, following in zip(centres, [*centres[1:], len(parts)], strict=True):
        merged[-1] += b"NULL" + parts[centre + 1]
        merged.extend(parts[centre + 2 : following])
    return merged


def _empties(data: bytes, term: bytes) -> bytes:
    """Whole records whose quoted text holds no comma beside a comma or a line break, or the
    unquoted text of any (its quoted fields cut out, NUL between the parts), with each empty
    field spelt NULL. Between two separators twice: a pass replaces every other one of a run
    (",,," is ",NULL,,"), the second the rest; bytes.replace is about 4x faster than a regular
    expression with a lookahead."""
    # The second pass finds only what the first left: ,, after the NULL it wrote (a needle
    # that starts with a rarer byte is searched for faster: 1.4 ms a MiB instead of 2.5).
    data = data.replace(b",,", b",NULL,").replace(b"NULL,,", b"NULL,NULL,")
    data = data.replace(b"," + term, b",NULL" + term).replace(term + b",", term + b"NULL,")
    return b"NULL" + data if data.startswith(b",") else data


def _last_line_end(data: bytes, final: bool) -> int:
    """The length of `data`'s complete lines (a CR at the end may be half a CRLF)."""
    cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
    if cut == len(data) and data.endswith(b"\r") and not final:
        cut = max(data.rfind(b"\n", 0, cut - 1), data.rfind(b"\r", 0, cut - 1)) + 1
    return len(data) if final else cut


def server_csv(text: str, term: str) -> str:
    """Checked records (fields ended by _FIELD, records by _RECORD, NULL as _EMPTY) as the
    LOAD reads them: every field quoted, its quotes doubled; NULL the bare word NULL."""
    text = text.replace('"', '""').replace(_FIELD, '","').replace(_RECORD, f'"{term}"')
    return ('"' + text[:-1]).replace(f'"{_EMPTY}"', "NULL")


@contextmanager
def _read_errors(key: str) -> Iterator[None]:
    try:
        yield
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise BadInput(f"{key}: not a complete gzip file ({err})") from None


class Lines:
    """A text's lines for csv.reader (split as newline='' splits them), counting the
    characters read and, with `keep`, the lines of the record being read: whether a field
    equal to CSV_NULL was quoted is in the raw text only (csv.reader drops quotes)."""

    def __init__(self, text: str, keep: bool) -> None:
        self.source = iter(io.StringIO(text, newline=""))
        self.keep = keep
        self.ascii = text.isascii()
        self.record: list[str] = []
        self.used = 0  # bytes, once encoded
        self.exhausted = False

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        try:
            line = next(self.source)
        except StopIteration:
            self.exhausted = True
            raise
        self.used += len(line) if self.ascii else len(line.encode("utf-8"))
        if self.keep:
            self.record.append(line)
        return line


_RAW_FIELD = re.compile(r'"(?:[^"]|"")*"|[^,]*')


def quoted_fields(raw: str) -> list[bool]:
    """For each field of one raw CSV record (RFC 4180, already read by csv.reader), whether
    it was quoted."""
    raw = raw.rstrip("\r\n")
    flags: list[bool] = []
    position = 0
    while True:
        found = _RAW_FIELD.match(raw, position)
        assert found is not None  # the pattern matches the empty string too
        flags.append(raw.startswith('"', position))
        position = found.end() + 1  # past the comma
        if position > len(raw):
            return flags


def _nulls(row: list[str], null: str, raw: list[str]) -> list[str]:
    """The record with each unquoted CSV_NULL as NULL; a quoted one ("NA") is that text."""
    quoted = quoted_fields("".join(raw))
    return [
        _EMPTY if v == null and not (i < len(quoted) and quoted[i]) else v
        for i, v in enumerate(row)
    ]


# Why a record may end early: Python's csv module (the oracle, and the parser here) ends one at
# any line break outside quotes, and its writer (pandas' too) leaves a lone CR unquoted in LF files.
_SHORT_RECORD = (
    " (a CR, LF or CRLF outside quotes ends a record whatever the header's line end; Python's "
    "csv.writer and pandas leave a lone CR in a value unquoted when lines end in LF: quote it)"
)


class Converter:
    """One input file for LOAD DATA: `header()`, then `copy()` the records after it."""

    def __init__(self, source: IO[bytes], key: str, null: str = "", spell: bool = False) -> None:
        self.source, self.key, self.null = source, key, null
        # Whether each empty field goes as NULL (spell_nulls), not '' for the LOAD's SET.
        self.spell = spell and not null
        self.buffer = b""
        self.pos = 0  # where the buffer's unread bytes start (not sliced off at each record)
        self.window = _WINDOW  # the bytes _parse decodes first
        self.eof = False
        self.line = 1  # the line of the buffer's first record
        # Whether the bytes consumed so far end in CR: a LF next is the rest of a CRLF, no
        # line of its own (a CR-ended header's records handed over up to CR of their CRLF).
        self.cr = False
        self.term = b"\r\n"  # the header's line end, every record's in the common case
        self.rows = 0
        self.width = 0
        self.checks: _ColumnChecks | None = None
        # The fields of NOT NULL TIMESTAMP columns: LOAD DATA stores the current time for a
        # NULL there, with no warning, where other NOT NULL columns refuse it.
        self.clocks: list[tuple[int, str]] = []
        self.probe: re.Pattern[bytes] | None = None  # one record that goes as it is
        # Whether the records that go as they are may hold an empty field to spell: not
        # when every column's empty field is parsed (NOT NULL), where the passes change nothing
        # and their pattern (values.QUOTED_SPELT) would parse quoted ",," for nothing.
        self.spelling = False

    def _read(self, size: int = _CHUNK) -> None:
        with _read_errors(self.key):
            chunk = self.source.read(size)
        if chunk:
            self.buffer = self.buffer[self.pos :] + chunk
            self.pos = 0
        else:
            self.eof = True

    def header(self) -> list[str] | None:
        """The first record (None for an empty file); its line end is the records'."""
        self._read()
        if self.buffer.startswith(codecs.BOM_UTF8):  # spreadsheet tools write one
            self.buffer = self.buffer[len(codecs.BOM_UTF8) :]
        while True:
            records, used = self._parse(1)
            if used or self.eof:
                break
            self._read(max(_CHUNK, len(self.buffer)))  # the header goes on past the buffer
        if not used:
            return None
        head = self.buffer[:used]
        self.term = next((t for t in _TERMS if head.endswith(t)), self.term)
        self._advance(head)
        self.pos = used
        return records[0][0]

    def copy(
        self,
        out: IO[bytes],
        header: list[str],
        columns: dict[str, values.Column],
        stop: threading.Event | None = None,
    ) -> int:
        """Write the records after the header to `out` as the LOAD reads them; returns how
        many. Gives up at the next chunk once `stop` is set."""
        self.spelling = self.spell and any(_empty_as_is(columns.get(n), self.null) for n in header)
        record = record_pattern(header, columns, self.null, self.term, self.spelling)
        pattern = re.compile(f"(?:{record})*".encode()) if record else None
        self.probe = re.compile(record.encode()) if record else None
        checks = values.checks(header, columns)
        self.width = len(header)
        self.clocks = [
            (index, name)
            for index, name in enumerate(header)
            if (column := columns.get(name)) is not None
            and column.data_type == "timestamp"
            and not column.nullable
        ]
        self.checks = _ColumnChecks(checks, self.key, header, self.width) if checks else None
        progress = log.Progress("load_progress", key=self.key)
        while True:
            if stop is not None and stop.is_set():
                raise Stopped(self.key)
            while not self.eof and len(self.buffer) - self.pos < _CHUNK:
                self._read()
            if self.pos == len(self.buffer):
                return self.rows
            if not (pattern and self._as_is(pattern, out)) and not self._parsed(out):
                self._read(max(_CHUNK, len(self.buffer) - self.pos))  # a record past the buffer
            progress.update(self.rows)  # rows handed to the server so far

    def _as_is(self, pattern: re.Pattern[bytes], out: IO[bytes]) -> bool:
        """Hand over the whole records at the buffer's start that match `pattern`."""
        # Records of at most FIELD_LIMIT bytes: a longer one (the buffer grew for it) is
        # parsed, so that csv refuses a field over the limit wherever its record is.
        found = pattern.match(self.buffer, self.pos, self.pos + FIELD_LIMIT)
        end = found.end() if found else self.pos
        data = self.buffer[self.pos : end]
        if data and not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as err:
                # The records before the bad byte go as they are; the one holding it is
                # parsed, and its error names the line. Not all parsed again: with a bad byte
                # deep in the buffer, each record before it cost a scan of the whole buffer.
                found = pattern.match(self.buffer, self.pos, self.pos + err.start)
                end = found.end() if found else self.pos
                data = self.buffer[self.pos : end]
        if not data:
            return False
        out.write(spell_nulls(data, self.term, matched=True) if self.spelling else data)
        breaks = Breaks.of(data)
        self.rows += count_records(data, self.term, breaks)
        self._advance(data, breaks)
        self.pos = end
        return True

    def _advance(self, data: bytes, breaks: Breaks | None = None) -> None:
        """Count the lines of `data` (`breaks`: its, if known), consumed from the buffer's
        start."""
        lines = (Breaks.of(data) if breaks is None else breaks).lines()
        self.line += lines - (self.cr and data.startswith(b"\n"))
        self.cr = data.endswith(b"\r")

    def _parsed(self, out: IO[bytes]) -> bool:
        """Parse, check and write a batch of records at the buffer's start; False when the
        first goes on past the buffer."""
        records, used = self._parse(_BATCH_ROWS)
        if not used:
            return False
        batch: list[str] = []
        starts: list[int] = []
        null = self.null
        for fields, start, raw in records:
            if len(fields) != self.width:
                if not fields:  # a blank line
                    continue
                raise BadInput(
                    f"{self.key} line {start}: {len(fields)} fields, the header has {self.width}"
                    + (_SHORT_RECORD if len(fields) < self.width else "")
                )
            if null:  # CSV_NULL: that text unquoted is NULL, an empty field an empty string
                row = _nulls(fields, null, raw) if null in fields else fields
            else:
                row = [v or _EMPTY for v in fields] if "" in fields else fields
            if self.clocks and _EMPTY in row:
                self._refuse_null_clock(row, start)
            batch.append(_FIELD.join(row))
            starts.append(start)
        if batch:
            text = _RECORD.join(batch) + _RECORD
            if self.checks is not None:
                text = self.checks.run(text, batch, starts)
            out.write(server_csv(text, self.term.decode()).encode("utf-8"))
            self.rows += len(batch)
        self._advance(self.buffer[self.pos : self.pos + used])
        self.pos += used
        return True

    def _refuse_null_clock(self, row: list[str], start: int) -> None:
        """Fail a record that has NULL for a NOT NULL TIMESTAMP column (see self.clocks)."""
        for index, name in self.clocks:
            if row[index] == _EMPTY:
                marker = f"unquoted {self.null}" if self.null else "an empty field"
                raise BadInput(
                    f"{self.key} line {start}, column {name}: {marker} is NULL, and the column "
                    "is NOT NULL TIMESTAMP (LOAD DATA would store the current time; CSV_NULL "
                    "sets the marker)"
                )

    def _parse(self, limit: int) -> tuple[list[tuple[list[str], int, list[str]]], int]:
        """Up to `limit` records (and about _BATCH_CHARS characters) parsed by Python's csv
        module from the buffer's start, each with its first line and, with CSV_NULL, its
        lines; and the bytes they took (0 when the first goes on past the buffer)."""
        # A window of the buffer, widened until the batch ends in it: decoding the whole
        # buffer for one record between two that go as they are cost a scan of 1 MiB for
        # each (a file where every other record is parsed converted at 14 s per MiB).
        while True:
            size = len(self.buffer) - self.pos
            records, used, ended = self._parse_window(limit, min(self.window, size))
            if ended or self.window >= size:
                # Kept for the next batch: small between records that go as they are.
                self.window = max(_WINDOW, 4 * used)
                return records, used
            self.window *= 4

    def _parse_window(
        self, limit: int, size: int
    ) -> tuple[list[tuple[list[str], int, list[str]]], int, bool]:
        """_parse over the buffer's next `size` bytes, and whether the batch ended there (at
        `limit`, a record that goes as it is, a bad byte or an error) rather than at the
        window's end."""
        whole = self.pos + size == len(self.buffer)
        data = self.buffer[self.pos : self.pos + size]
        data = data[: _last_line_end(data, self.eof and whole)]
        final = self.eof and whole and self.pos + len(data) == len(self.buffer)
        bad: str | None = None
        base = self.line - (self.cr and data.startswith(b"\n"))  # csv counts that LF a line
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:  # parse the lines before it; name it if it is next
            line = base + Breaks.of(data[: err.start]).lines()
            bad = f"{self.key} line {line}: not UTF-8 ({err.reason})"
            data = data[: _last_line_end(data[: err.start], final=False)]
            text, final = data.decode("utf-8"), False
        lines = Lines(text, keep=bool(self.null))
        reader = csv.reader(lines, strict=True)
        records: list[tuple[list[str], int, list[str]]] = []
        used, line = 0, base
        try:
            for fields in reader:
                records.append((fields, line, lines.record))
                lines.record = []
                used, line = lines.used, base + reader.line_num
                if len(records) >= limit or used >= _BATCH_CHARS:
                    return records, used, True
                if self.probe is not None and self.probe.match(self.buffer, self.pos + used):
                    return records, used, True  # the next record goes as it is
        except csv.Error as err:
            if final or not lines.exhausted:  # not a record going on past what was read
                raise BadInput(f"{self.key} line {line}: malformed CSV ({err})") from None
        if not used and bad is not None:
            raise BadInput(bad)
        return records, used, bad is not None


class _ColumnChecks:
    """The value checks of a file's fields (values.py), on each batch's text at once: one
    regular expression of a whole record (each checked field's common spelling, any text in
    the others) matched over the batch in C, and the per-field checks only for the columns
    whose spelling it does not cover (BIT) or when the batch does not match (an uncommon
    spelling, which the check may normalise, or a bad value, which it names): then column by
    column, each column's fields matched at once first (a file whose datetimes all have a 'T'
    checks that column field by field, not all of them)."""

    def __init__(
        self, checks: list[values.FieldCheck], key: str, header: list[str], width: int
    ) -> None:
        assert (values.SEPARATOR, values.RECORD_END) == (_FIELD, _RECORD)
        self.key, self.header, self.checks = key, header, checks
        self.always = [check for check in checks if check.common is None]
        self.columns = {
            check.index: re.compile(f"{one}(?:{_FIELD}{one})*")
            for check in checks
            if check.common is not None
            for one in [_field(check.common, rf"(?={_FIELD}|\Z)")]
        }
        spelled = {check.index: check.common for check in checks if check.common is not None}
        self.whole: re.Pattern[str] | None = None
        if spelled:
            last = max(spelled)
            fields = [
                _field(spelled[index], f"(?=[{_FIELD}{_RECORD}])")
                if index in spelled
                else f"[^{_FIELD}{_RECORD}]*"
                for index in range(last + 1)
            ]
            rest = f"[^{_RECORD}]*" if last < width - 1 else ""  # the fields after the last
            record = _FIELD.join(fields) + (_FIELD + rest if rest else "")
            self.whole = re.compile(f"(?:{record}{_RECORD})*")

    def run(self, text: str, lines: list[str], starts: list[int]) -> str:
        """The batch's text checked (records ended by _RECORD, `lines` the same records
        without their ends), with any normalised field (a time with an offset, in UTC)."""
        common = self.whole is not None and self.whole.fullmatch(text) is not None
        if common and not self.always:
            return text
        records = [line.split(_FIELD) for line in lines]
        checks = self.always if common else [c for c in self.checks if not self._column(c, records)]
        changed = self._fields(checks, records, starts)
        for number in changed:
            lines[number] = _FIELD.join(records[number])
        return _RECORD.join(lines) + _RECORD if changed else text

    def _column(self, check: values.FieldCheck, records: list[list[str]]) -> bool:
        """Whether all of the batch's fields of `check`'s column have the common spelling."""
        pattern = self.columns.get(check.index)
        column = _FIELD.join(map(itemgetter(check.index), records))
        return pattern is not None and pattern.fullmatch(column) is not None

    def _fields(
        self, checks: list[values.FieldCheck], batch: list[list[str]], starts: list[int]
    ) -> set[int]:
        changed: set[int] = set()
        for check in checks:
            index = check.index
            for number, value in enumerate(map(itemgetter(index), batch)):
                if value == _EMPTY:
                    continue
                try:
                    if (normal := check.check(value)) != value:
                        batch[number][index] = normal
                        changed.add(number)
                except values.BadValue as exc:
                    name = self.header[index] if index < len(self.header) else str(index + 1)
                    raise BadInput(
                        f"{self.key} line {starts[number]}, column {name} "
                        f"(value {shown(value)!r}): {exc}"
                    ) from None
        return changed


def _field(common: str, end: str) -> str:
    """One field of a batch: its common spelling or _EMPTY, up to the field's `end`, in an
    atomic group. No spelling crosses a separator, so any match that reaches the end is the
    whole field, and nothing is lost by not trying the others. Without the group, a batch that
    does not match backtracked through every way of matching each earlier field (a DECIMAL
    spelling matches 12.50 two ways, 3.00 three): exponential in the batch's rows, a job stuck
    in one regular expression on one bad value."""
    return f"(?>(?:{common}|{_EMPTY}){end})"
