"""W&B in tests: offline into a temporary folder, and an offline run file (``run-<id>.wandb``) read back.

The file is a LevelDB-style log: a 7-byte header (":W&B", magic 0xBEE1, version), then 32 KiB blocks
of records (crc32c: 4 bytes, length: 2, type: 1 = full / 2 first / 3 middle / 4 last, data), each a
serialized ``wandb_internal_pb2.Record``. The Python reader left wandb with its Go core, so this is it.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

from wandb.proto import wandb_internal_pb2

HEADER = 7
BLOCK = 32768


def read_records(path: Path) -> list[wandb_internal_pb2.Record]:
    data = path.read_bytes()
    assert data[:4] == b":W&B" and struct.unpack("<H", data[4:6])[0] == 0xBEE1, f"{path}: not a W&B run file"
    records, pending, position = [], b"", HEADER
    while position + 7 <= len(data):
        if BLOCK - position % BLOCK < 7:  # block trailer: too small for a record header
            position += BLOCK - position % BLOCK
            continue
        length, kind = struct.unpack("<HB", data[position + 4 : position + 7])
        chunk = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind == 0:  # zero padding
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def history(
    path: Path, expected: frozenset[str] | set[str] = frozenset(), timeout: float = 30.0
) -> list[dict]:
    """Every logged row, as {key: value}, once the rows hold every key of ``expected`` (or ``timeout``
    seconds have passed): W&B's core process writes the file, and under load its last records were
    seen to land after ``finish()`` had returned."""
    deadline = time.monotonic() + timeout
    while True:
        rows = _rows(path)
        if expected <= {key for row in rows for key in row} or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def _rows(path: Path) -> list[dict]:
    rows = []
    for record in read_records(path):
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.history.item
                }
            )
    return rows


def offline_wandb_environment(folder: Path) -> dict[str, str]:
    """W&B offline into ``folder``: no network, no login, no settings from the user's home."""
    return {
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(folder),
        "WANDB_CONFIG_DIR": str(folder / "config"),
        "WANDB_CACHE_DIR": str(folder / "cache"),
        "WANDB_DATA_DIR": str(folder / "data"),
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_GIT": "true",
    }
