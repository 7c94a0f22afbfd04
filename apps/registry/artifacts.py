"""Inspection of uploaded files by their content, never by their name alone, and never by loading them.

Model artifacts are accepted as skops (a zip with schema.json whose types are all on Docket's
allow-list) or ONNX (a ModelProto that passes `onnx.checker` and carries its weights inline).
Pickle in every disguise (raw pickle, joblib, cloudpickle, compressed pickles, PyTorch zip files) is
refused: unpickling runs arbitrary code, so Docket never unpickles anything.

Dataset files are accepted as CSV (UTF-8, header row) or Parquet; their schema and row count are read
from the content.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import io
import lzma
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.text import get_valid_filename

from apps.common.errors import RefusedFileFormat

from .models import ArtifactFormat, ColumnType, DatasetFileFormat

PICKLE_NAME_SUFFIXES = (".pkl", ".pickle", ".joblib", ".cloudpickle", ".dill", ".sav")
PICKLE_REFUSAL = (
    "Pickle-based files (pickle, joblib, cloudpickle) are refused: loading one runs arbitrary code chosen by "
    "whoever wrote the file, and Docket and its reviewers must be able to open every artifact safely. "
    "Save scikit-learn models with skops.io.dump(model, 'model.skops'), or export the model to ONNX."
)
HEAD_BYTES = 16


@dataclass(frozen=True)
class ArtifactInspection:
    """What Docket learned from an artifact's content."""

    format: str
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetFileInspection:
    """The format, columns and row count read from a dataset file."""

    format: str
    schema: list[dict[str, str]]
    row_count: int


def safe_file_name(name: str | None, *, default: str) -> str:
    """A file name without directories or unsafe characters, at most 100 characters."""
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    try:
        cleaned = get_valid_filename(base) if base else default
    except Exception:  # noqa: BLE001 - Django raises SuspiciousFileOperation for names like '..'
        cleaned = default
    stem, ext = os.path.splitext(cleaned)
    return (stem[: 100 - len(ext[:20])] + ext[:20]) or default


def _read_head(file, size: int = HEAD_BYTES) -> bytes:
    file.seek(0)
    head = file.read(size)
    file.seek(0)
    return head or b""


def _is_pickle_stream(head: bytes) -> bool:
    """Pickle protocol 2-5 streams start with the PROTO opcode 0x80 and the protocol number."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _decompressed_head(head_and_more: bytes) -> tuple[str, bytes] | None:
    """If the bytes start a compressed stream joblib can write, returns (compressor, first bytes)."""
    candidates = []
    if head_and_more[:2] == b"\x1f\x8b":
        candidates.append(("gzip", lambda data: zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 64)))
    if head_and_more[:1] == b"\x78" and head_and_more[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
        candidates.append(("zlib", lambda data: zlib.decompressobj().decompress(data, 64)))
    if head_and_more[:2] == b"ZF":  # joblib < 0.10 compressed pickles: "ZF" + length + zlib stream
        candidates.append(("joblib-zlib", lambda data: zlib.decompressobj().decompress(data[18:], 64)))
    if head_and_more[:3] == b"BZh":
        candidates.append(("bz2", lambda data: bz2.BZ2Decompressor().decompress(data, 64)))
    if head_and_more[:6] == b"\xfd7zXZ\x00" or head_and_more[:3] == b"\x5d\x00\x00":
        candidates.append(("lzma", lambda data: lzma.LZMADecompressor().decompress(data, 64)))
    if head_and_more[:4] == b"\x04\x22\x4d\x18":
        candidates.append(("lz4", lambda data: b""))
    for name, decompress in candidates:
        try:
            return name, decompress(head_and_more)
        except Exception:  # noqa: BLE001, S112 - the magic bytes were a coincidence (a CSV header "x^2")
            continue
    return None


def refuse_pickle_like(file, name: str | None, *, what: str) -> None:
    """Raises RefusedFileFormat if the content or the name says pickle, joblib or a compressed stream."""
    start = _read_head(file, 4096)
    if _is_pickle_stream(start):
        raise RefusedFileFormat(
            f"The {what} is a Python pickle (protocol {start[1]}). {PICKLE_REFUSAL}", detected_format="pickle"
        )
    compressed = _decompressed_head(start)
    if compressed is not None:
        compressor, inner = compressed
        if _is_pickle_stream(inner):
            raise RefusedFileFormat(
                f"The {what} is a {compressor}-compressed Python pickle, as joblib.dump(..., compress=...) writes. "
                f"{PICKLE_REFUSAL}",
                detected_format="joblib",
            )
        raise RefusedFileFormat(
            f"The {what} is a {compressor}-compressed stream; joblib writes compressed pickles this way and "
            f"Docket does not unpack compressed uploads. {PICKLE_REFUSAL}",
            detected_format=compressor,
        )
    if (name or "").lower().endswith(PICKLE_NAME_SUFFIXES):
        raise RefusedFileFormat(
            f"The {what} is named {os.path.basename(name)!r}, a pickle/joblib file name. {PICKLE_REFUSAL}",
            detected_format="pickle",
        )


# --- model artifacts --------------------------------------------------------------------------------


def inspect_artifact(file, name: str | None) -> ArtifactInspection:
    """Identifies a model artifact by its content; raises RefusedFileFormat for anything not accepted."""
    refuse_pickle_like(file, name, what="artifact")
    head = _read_head(file)
    if head.startswith(b"PK\x03\x04"):
        return _inspect_zip_artifact(file)
    if head[:1] == b"\x08":  # ModelProto field 1 (ir_version, varint) comes first in every ONNX writer
        return _inspect_onnx(file)
    raise RefusedFileFormat(
        "The artifact is not in an accepted format. Docket accepts skops files (skops.io.dump) and ONNX models; "
        "this content is neither.",
        detected_format="unknown",
    )


def _inspect_zip_artifact(file) -> ArtifactInspection:
    file.seek(0)
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise RefusedFileFormat(f"The artifact looks like a zip archive but cannot be read: {exc}.") from exc
    finally:
        file.seek(0)
    if any(entry == "data.pkl" or entry.endswith("/data.pkl") for entry in names):
        raise RefusedFileFormat(
            f"The artifact is a PyTorch checkpoint (a zip holding data.pkl, a pickle). {PICKLE_REFUSAL}",
            detected_format="pytorch",
        )
    if "schema.json" not in names:
        raise RefusedFileFormat(
            "The artifact is a zip archive without schema.json, so it is not a skops file. Docket accepts "
            "skops files (skops.io.dump) and ONNX models.",
            detected_format="zip",
        )
    return ArtifactInspection(format=ArtifactFormat.SKOPS, details=_check_skops_types(file))


def _check_skops_types(file) -> dict:
    import skops.io

    file.seek(0)
    try:
        found = skops.io.get_untrusted_types(file=file)
    except Exception as exc:
        raise RefusedFileFormat(f"The skops file's schema cannot be read: {exc}.", detected_format="skops") from exc
    finally:
        file.seek(0)
    trusted = set(settings.DOCKET_SKOPS_TRUSTED_TYPES)
    untrusted = sorted(set(found) - trusted)
    if untrusted:
        raise RefusedFileFormat(
            "The skops file contains types that are not on Docket's allow-list: "
            + ", ".join(untrusted)
            + ". An administrator can trust a type by adding it to DOCKET_SKOPS_TRUSTED_TYPES after reviewing it; "
            "Docket never uses a list that arrives with the upload.",
            detected_format="skops",
            untrusted_types=untrusted,
        )
    return {"allow_listed_types": sorted(set(found))}


def _inspect_onnx(file) -> ArtifactInspection:
    import onnx
    from google.protobuf.message import DecodeError

    file.seek(0)
    try:
        data = file.read()
        model = onnx.load(io.BytesIO(data), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise RefusedFileFormat(
            "The artifact is not in an accepted format: it is not a valid ONNX model "
            f"({exc.__class__.__name__}). Docket accepts skops files (skops.io.dump) and ONNX models.",
            detected_format="unknown",
        ) from exc
    finally:
        file.seek(0)
    if not model.graph.node and not model.opset_import:
        raise RefusedFileFormat(
            "The artifact is not in an accepted format: it decodes as protobuf but holds no ONNX graph. "
            "Docket accepts skops files (skops.io.dump) and ONNX models.",
            detected_format="unknown",
        )
    external = [tensor.name for tensor in _onnx_tensors(model.graph) if tensor.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise RefusedFileFormat(
            "The ONNX model keeps weights in external data files ("
            + ", ".join(external[:10])
            + "), which the registered hash would not cover. Save it as one file "
            "(onnx.save_model(model, path, save_as_external_data=False)).",
            detected_format="onnx",
        )
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise RefusedFileFormat(f"The ONNX model does not pass onnx.checker: {exc}", detected_format="onnx") from exc
    return ArtifactInspection(
        format=ArtifactFormat.ONNX,
        details={
            "ir_version": model.ir_version,
            "opsets": {entry.domain or "ai.onnx": entry.version for entry in model.opset_import},
            "producer": f"{model.producer_name} {model.producer_version}".strip(),
        },
    )


def _onnx_tensors(graph) -> Iterator:
    """Every initializer and attribute tensor of a graph and its subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _onnx_tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _onnx_tensors(subgraph)


# --- dataset files ----------------------------------------------------------------------------------

_INTEGER = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$", re.IGNORECASE)
_BOOLEAN = {"true", "false"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def inspect_dataset_file(file, name: str | None) -> DatasetFileInspection:
    """Reads the schema and row count of a CSV or Parquet file; raises RefusedFileFormat otherwise."""
    refuse_pickle_like(file, name, what="dataset file")
    head = _read_head(file, 4)
    if head == b"PAR1":
        return _inspect_parquet(file)
    return _inspect_csv(file)


def _inspect_parquet(file) -> DatasetFileInspection:
    import pyarrow as pa
    import pyarrow.parquet as pq

    file.seek(0)
    try:
        parquet = pq.ParquetFile(file)
        schema = [{"name": column.name, "type": _arrow_type(column.type, pa)} for column in parquet.schema_arrow]
        row_count = parquet.metadata.num_rows
    except Exception as exc:
        raise RefusedFileFormat(f"The dataset file starts like Parquet but cannot be read: {exc}.") from exc
    finally:
        file.seek(0)
    return DatasetFileInspection(format=DatasetFileFormat.PARQUET, schema=schema, row_count=row_count)


def _arrow_type(arrow_type, pa) -> str:
    types = pa.types
    if types.is_dictionary(arrow_type):
        return _arrow_type(arrow_type.value_type, pa)
    if types.is_boolean(arrow_type):
        return ColumnType.BOOLEAN
    if types.is_integer(arrow_type):
        return ColumnType.INTEGER
    if types.is_floating(arrow_type) or types.is_decimal(arrow_type):
        return ColumnType.FLOAT
    if types.is_string(arrow_type) or types.is_large_string(arrow_type) or types.is_string_view(arrow_type):
        return ColumnType.STRING
    if types.is_date(arrow_type):
        return ColumnType.DATE
    if types.is_timestamp(arrow_type):
        return ColumnType.DATETIME
    if types.is_binary(arrow_type) or types.is_large_binary(arrow_type) or types.is_fixed_size_binary(arrow_type):
        return ColumnType.BINARY
    return ColumnType.OTHER


def _text_lines(file) -> Iterator[str]:
    """Decodes the file as UTF-8 (BOM allowed) and yields lines with their endings, for csv.reader."""
    file.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    chunks = file.chunks() if hasattr(file, "chunks") else iter(lambda: file.read(1024 * 1024), b"")
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def _csv_refusal(message: str) -> RefusedFileFormat:
    return RefusedFileFormat(
        f"The dataset file is neither Parquet nor a readable CSV file: {message} "
        "Docket accepts CSV (UTF-8, comma-separated, one header row) and Parquet.",
        detected_format="unknown",
    )


def _inspect_csv(file) -> DatasetFileInspection:
    if b"\x00" in _read_head(file, 8192):
        raise _csv_refusal("it contains NUL bytes, so it is binary.")
    reader = csv.reader(_text_lines(file), strict=True)
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise _csv_refusal("it has no header row.")
        names = [cell.strip() for cell in header]
        if any(not name for name in names):
            raise _csv_refusal("a column in the header row has no name.")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise _csv_refusal(f"column names repeat in the header row: {', '.join(duplicates)}.")
        kinds: list[set[str]] = [set() for _ in names]
        rows = 0
        for row in reader:
            if not row:
                continue
            if len(row) != len(names):
                raise _csv_refusal(f"line {reader.line_num} has {len(row)} fields where the header has {len(names)}.")
            rows += 1
            for index, value in enumerate(row):
                if value.strip():
                    kinds[index].add(_value_kind(value.strip()))
    except UnicodeDecodeError as exc:
        raise _csv_refusal(f"it is not UTF-8 text (byte {exc.start} of a chunk cannot be decoded).") from exc
    except csv.Error as exc:
        raise _csv_refusal(f"line {reader.line_num}: {exc}.") from exc
    finally:
        file.seek(0)
    schema = [{"name": name, "type": _column_type(found)} for name, found in zip(names, kinds, strict=True)]
    return DatasetFileInspection(format=DatasetFileFormat.CSV, schema=schema, row_count=rows)


def _value_kind(value: str) -> str:
    if _INTEGER.match(value):
        return ColumnType.INTEGER
    if _FLOAT.match(value):
        return ColumnType.FLOAT
    if value.lower() in _BOOLEAN:
        return ColumnType.BOOLEAN
    if _DATE.match(value):
        return ColumnType.DATE
    if _DATETIME.match(value):
        return ColumnType.DATETIME
    return ColumnType.STRING


def _column_type(kinds: set[str]) -> str:
    """The narrowest type that holds every value of a column (integers widen to float)."""
    if not kinds:
        return ColumnType.STRING
    if kinds <= {ColumnType.INTEGER}:
        return ColumnType.INTEGER
    if kinds <= {ColumnType.INTEGER, ColumnType.FLOAT}:
        return ColumnType.FLOAT
    if len(kinds) == 1:
        return next(iter(kinds))
    if kinds <= {ColumnType.DATE, ColumnType.DATETIME}:
        return ColumnType.DATETIME
    return ColumnType.STRING
