"""3D tracks read from ``skeletons/points`` clouds, and writers for analysis tools (CSV, JSON, TRC).

A ``Tracks`` holds ``T`` frame times and, per track id, a ``(T, 17, 3)`` array of world
coordinates in metres (NaN where the person or joint was not reconstructed in that frame).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ros2_mvpose.skeleton import COCO17_NAMES, NUM_JOINTS


@dataclass
class Tracks:
    times: np.ndarray  # (T,) seconds
    joints: dict[int, np.ndarray] = field(default_factory=dict)  # id -> (T, 17, 3) metres
    scores: dict[int, np.ndarray] = field(default_factory=dict)  # id -> (T, 17)

    @property
    def frame_rate(self) -> float:
        """Median frame rate in Hz (0 when fewer than two frames)."""
        if len(self.times) < 2:
            return 0.0
        return float(1.0 / np.median(np.diff(self.times)))


def read_tracks_from_bag(path: str | Path, topic: str = "/skeletons/points") -> Tracks:
    """Collect every ``skeletons/points`` cloud of a bag into ``Tracks`` (frames ordered by stamp)."""
    from ros2_mvpose.io.rosbag_io import BagError, bag_topics, read_bag, stamp_to_ns
    from ros2_mvpose.ros.pointcloud import cloud_to_skeletons

    if topic not in bag_topics(path):
        raise BagError(f"bag {path} has no topic {topic}; was it written by `mvpose bag`?")
    frames = []
    for m in read_bag(path, topics=[topic]):
        frames.append((stamp_to_ns(m.msg.header.stamp) * 1e-9, cloud_to_skeletons(m.msg)))
    frames.sort(key=lambda f: f[0])
    return _assemble(frames)


def _assemble(frames: list[tuple[float, dict]]) -> Tracks:
    times = np.array([t for t, _ in frames], dtype=np.float64)
    ids = sorted({i for _, d in frames for i in d})
    tracks = Tracks(times)
    for i in ids:
        tracks.joints[i] = np.full((len(frames), NUM_JOINTS, 3), np.nan)
        tracks.scores[i] = np.zeros((len(frames), NUM_JOINTS))
    for f, (_, d) in enumerate(frames):
        for i, (j, s) in d.items():
            tracks.joints[i][f] = j
            tracks.scores[i][f] = s
    return tracks


def write_csv(tracks: Tracks, path: str | Path) -> None:
    """Long format: ``time, person, joint, x, y, z, score`` (one row per reconstructed joint)."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "person", "joint", "x", "y", "z", "score"])
        for pid, arr in tracks.joints.items():
            for f, t in enumerate(tracks.times):
                for j in range(NUM_JOINTS):
                    x = arr[f, j]
                    if np.all(np.isfinite(x)):
                        w.writerow(
                            [
                                f"{t:.6f}",
                                pid,
                                COCO17_NAMES[j],
                                *(f"{v:.6f}" for v in x),
                                f"{tracks.scores[pid][f, j]:.4f}",
                            ]
                        )


def write_json(tracks: Tracks, path: str | Path) -> None:
    """``{"joint_names", "times", "tracks": {id: [[x, y, z] | null per joint] per frame}}``."""

    def frame(a):
        return [None if not np.all(np.isfinite(v)) else [round(float(c), 6) for c in v] for v in a]

    doc = {
        "joint_names": list(COCO17_NAMES),
        "units": "m",
        "times": [round(float(t), 6) for t in tracks.times],
        "tracks": {str(pid): [frame(a) for a in arr] for pid, arr in tracks.joints.items()},
    }
    Path(path).write_text(json.dumps(doc))


def write_trc(tracks: Tracks, path: str | Path, up: str = "z") -> list[Path]:
    """OpenSim / Pose2Sim TRC files, one per track (``<stem>_id<N>.trc``; a single track keeps ``path``).

    TRC (OpenSim's marker format) expects Y up: with ``up="z"`` (world Z up, the default) points
    are rotated by (x, y, z) -> (x, z, -y); ``up="y"`` writes them unchanged. Units: metres. Missing
    joints are empty cells, as OpenSim expects.
    """
    path = Path(path)
    rate = tracks.frame_rate or 30.0
    written = []
    for pid, arr in tracks.joints.items():
        out = (
            path if len(tracks.joints) == 1 else path.with_name(f"{path.stem}_id{pid}{path.suffix or '.trc'}")
        )
        pts = arr.copy()
        if up == "z":
            pts = np.stack([arr[..., 0], arr[..., 2], -arr[..., 1]], axis=-1)
        elif up != "y":
            raise ValueError(f"up must be 'z' or 'y', got {up!r}")
        n_frames = len(tracks.times)
        lines = [
            f"PathFileType\t4\t(X/Y/Z)\t{out.name}",
            "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
            f"{rate:.2f}\t{rate:.2f}\t{n_frames}\t{NUM_JOINTS}\tm\t{rate:.2f}\t1\t{n_frames}",
            "Frame#\tTime\t" + "\t\t\t".join(COCO17_NAMES) + "\t\t",
            "\t\t" + "\t".join(f"X{k + 1}\tY{k + 1}\tZ{k + 1}" for k in range(NUM_JOINTS)),
            "",
        ]
        t0 = tracks.times[0] if n_frames else 0.0
        for f in range(n_frames):
            cells = []
            for j in range(NUM_JOINTS):
                v = pts[f, j]
                cells += [f"{c:.6f}" for c in v] if np.all(np.isfinite(v)) else ["", "", ""]
            lines.append(f"{f + 1}\t{tracks.times[f] - t0:.6f}\t" + "\t".join(cells))
        out.write_text("\n".join(lines) + "\n")
        written.append(out)
    return written
