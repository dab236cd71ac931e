"""Streaming rosbag2 reading and writing without a ROS install.

The ``rosbags`` library handles storage (MCAP and sqlite3); messages are (de)serialized with
rclpy's own CDR code into the real ROS message classes, so bags and live nodes share the same
message builders (``ros2_mvpose.ros.pointcloud``, ``ros2_mvpose.ros.markers``...).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rosbags.rosbag2 import CompressionFormat, CompressionMode, Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

_TYPESTORE = None


class BagError(RuntimeError):
    """A bag cannot be opened or read further; the message names the file and the problem."""


def typestore():
    """The rosbags type store for ROS 2 Jazzy (message definitions written into MCAP files)."""
    global _TYPESTORE
    if _TYPESTORE is None:
        _TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
    return _TYPESTORE


def msg_class(msgtype: str):
    """The rclpy message class for a type name like ``sensor_msgs/msg/Image``."""
    parts = msgtype.split("/")
    if len(parts) != 3:
        raise ValueError(f"not a ROS 2 message type name: {msgtype!r}")
    pkg, kind, name = parts
    try:
        return getattr(importlib.import_module(f"{pkg}.{kind}"), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"message type {msgtype!r} is not available in this environment") from exc


def msg_type_name(msg) -> str:
    """``pkg/msg/Name`` for an rclpy message instance or class."""
    cls = msg if isinstance(msg, type) else type(msg)
    return f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"


@dataclass
class BagMessage:
    """One message read from a bag: topic, type name, receive time (ns) and the rclpy message."""

    topic: str
    msgtype: str
    timestamp_ns: int
    msg: object


def _storage_of(path: Path) -> str:
    if path.is_dir():
        if any(path.glob("*.mcap")):
            return "mcap"
        if any(path.glob("*.db3")):
            return "sqlite3"
    return path.suffix.lstrip(".") or "unknown"


def bag_topics(path: str | Path) -> dict[str, tuple[str, int]]:
    """``{topic: (msgtype, message_count)}`` of a bag.

    For a damaged MCAP (no footer), the topics and counts of its intact messages; reading it with
    ``read_bag`` then yields those messages and ends with a ``BagError``.
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    try:
        with Reader(path) as reader:
            return {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
    except Exception as exc:  # rosbags raises several types for unreadable bags
        mcaps = sorted(path.glob("*.mcap")) if path.is_dir() else [path] if path.suffix == ".mcap" else []
        if not mcaps:
            raise BagError(f"cannot open bag {path}: {exc}") from exc
        from ros2_mvpose.io.mcap_recovery import scan_mcap

        found: dict[str, tuple[str, int]] = {}
        for f in mcaps:
            for topic, msgtype, _t, _raw in scan_mcap(f):
                found[topic] = (msgtype, found.get(topic, (msgtype, 0))[1] + 1)
        if not found:
            raise BagError(f"cannot open bag {path}: {exc}") from exc
        return found


def read_bag(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """Stream messages of a rosbag2 (MCAP or sqlite3 directory, or a single ``.mcap`` file).

    Messages come in receive-time order, one at a time (memory stays flat). A truncated or
    corrupt bag yields everything readable and then raises ``BagError`` naming the file.

    Args:
        path: the bag directory (with ``metadata.yaml``) or an ``.mcap`` file.
        topics: only these topics (default: all).
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:
        mcaps = sorted(path.glob("*.mcap")) if path.is_dir() else [path] if path.suffix == ".mcap" else []
        if mcaps:
            yield from _recover_mcap(path, mcaps, topics, exc)
        raise BagError(f"cannot open bag {path} ({_storage_of(path)}): {exc}") from exc
    try:
        wanted = set(topics) if topics is not None else None
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        classes = {}
        for c in conns:
            try:
                classes[c.id] = msg_class(c.msgtype)
            except ValueError:
                classes[c.id] = None
        from rclpy.serialization import deserialize_message

        it = reader.messages(connections=conns)
        while True:
            try:
                conn, t_ns, raw = next(it)
            except StopIteration:
                return
            except Exception as exc:
                raise BagError(f"bag {path} is truncated or corrupt: {exc}") from exc
            cls = classes.get(conn.id)
            if cls is None:
                continue
            try:
                msg = deserialize_message(bytes(raw), cls)
            except Exception as exc:
                raise BagError(
                    f"bag {path}: message on {conn.topic} at t={t_ns} ns cannot be decoded as "
                    f"{conn.msgtype}: {exc}"
                ) from exc
            yield BagMessage(conn.topic, conn.msgtype, int(t_ns), msg)
    finally:
        try:
            reader.close()
        except Exception:
            pass


def _recover_mcap(path: Path, mcaps: list[Path], topics: Iterable[str] | None, exc: Exception):
    """Yield the intact messages of damaged MCAP files, then raise ``BagError`` saying how many."""
    from rclpy.serialization import deserialize_message

    from ros2_mvpose.io.mcap_recovery import scan_mcap

    wanted = set(topics) if topics is not None else None
    n = 0
    classes: dict[str, object] = {}
    for f in mcaps:
        for topic, msgtype, t_ns, raw in scan_mcap(f):
            if wanted is not None and topic not in wanted:
                continue
            if msgtype not in classes:
                try:
                    classes[msgtype] = msg_class(msgtype)
                except ValueError:
                    classes[msgtype] = None
            if classes[msgtype] is None:
                continue
            try:
                msg = deserialize_message(raw, classes[msgtype])
            except Exception:
                break
            n += 1
            yield BagMessage(topic, msgtype, int(t_ns), msg)
    raise BagError(
        f"bag {path} is truncated or corrupt ({exc}); recovered the {n} intact messages before the damage"
    ) from exc


class BagWriter:
    """Write rclpy messages to a new rosbag2 (MCAP by default), registering topics on first use.

    Use as a context manager; the bag is finalised on exit even when an exception propagates, so
    everything written before an error is kept.
    """

    def __init__(self, path: str | Path, storage: str = "mcap", compress: bool = False):
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"output bag {self.path} already exists; remove it or choose another path")
        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise ValueError(f"unknown bag storage {storage!r}; use 'mcap' or 'sqlite3'")
        self._writer = Writer(self.path, version=9, storage_plugin=plugins[storage])
        if compress:
            self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        self._conns: dict[str, object] = {}
        self.count = 0

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write(self, topic: str, msg, timestamp_ns: int) -> None:
        """Serialize ``msg`` (an rclpy message) and append it on ``topic`` at ``timestamp_ns``."""
        from rclpy.serialization import serialize_message

        conn = self._conns.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msg_type_name(msg), typestore=typestore())
            self._conns[topic] = conn
        self._writer.write(conn, int(timestamp_ns), serialize_message(msg))
        self.count += 1


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int):
    """Integer nanoseconds -> builtin_interfaces/Time."""
    from builtin_interfaces.msg import Time

    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))
