"""`mvpose export` on a real bag of skeleton clouds, and the ground-truth evaluation helpers."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from std_msgs.msg import Header

from ros2_mvpose.cli import main
from ros2_mvpose.evaluation import ErrorStats, match_people
from ros2_mvpose.io.rosbag_io import BagWriter, ns_to_stamp
from ros2_mvpose.io.tracks import read_tracks_from_bag
from ros2_mvpose.ros.pointcloud import skeletons_to_cloud
from ros2_mvpose.skeleton import COCO17_NAMES


@pytest.fixture
def skeleton_bag(tmp_path):
    """10 frames at 10 Hz: track 3 always, track 7 in frames 4..9, joint 5 of track 3 lost in frame 2."""
    rng = np.random.default_rng(1)
    base = {3: rng.uniform(-1, 1, (17, 3)), 7: rng.uniform(-1, 1, (17, 3)) + 2}
    truth = []
    path = tmp_path / "out_bag"
    with BagWriter(path) as w:
        for f in range(10):
            t = 5 * 10**9 + f * 10**8
            ids, joints = [3], [base[3] + 0.01 * f]
            if f >= 4:
                ids.append(7)
                joints.append(base[7] - 0.02 * f)
            joints = np.array(joints)
            if f == 2:
                joints[0, 5] = np.nan
            truth.append((ids, joints))
            cloud = skeletons_to_cloud(
                ids, joints, np.full((len(ids), 17), 0.9), Header(frame_id="world", stamp=ns_to_stamp(t))
            )
            w.write("/skeletons/points", cloud, t)
    return path, truth


def test_tracks_from_bag(skeleton_bag):
    path, truth = skeleton_bag
    tr = read_tracks_from_bag(path)
    assert sorted(tr.joints) == [3, 7]
    assert tr.frame_rate == pytest.approx(10.0)
    np.testing.assert_allclose(tr.joints[3][9], truth[9][1][0], atol=1e-6)
    assert np.isnan(tr.joints[3][2, 5]).all() and np.isfinite(tr.joints[3][2, 4]).all()
    assert np.isnan(tr.joints[7][:4]).all()
    np.testing.assert_allclose(tr.joints[7][6], truth[6][1][1], atol=1e-6)


def test_export_csv_json_trc(skeleton_bag, tmp_path):
    path, truth = skeleton_bag
    assert main(["export", str(path), "--format", "csv", "--out", str(tmp_path / "t.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert len(rows) == 10 * 17 + 6 * 17 - 1  # every reconstructed joint, the missing one left out
    r = next(
        r
        for r in rows
        if r["person"] == "7" and r["joint"] == "left_wrist" and float(r["time"]) == pytest.approx(5.5)
    )
    np.testing.assert_allclose([float(r["x"]), float(r["y"]), float(r["z"])], truth[5][1][1][9], atol=1e-5)

    assert main(["export", str(path), "--format", "json", "--out", str(tmp_path / "t.json")]) == 0
    doc = json.loads((tmp_path / "t.json").read_text())
    assert doc["joint_names"] == list(COCO17_NAMES) and len(doc["times"]) == 10
    assert doc["tracks"]["7"][0][0] is None and doc["tracks"]["3"][2][5] is None

    assert main(["export", str(path), "--format", "trc", "--out", str(tmp_path / "t.trc")]) == 0
    files = sorted(tmp_path.glob("t_id*.trc"))
    assert [f.name for f in files] == ["t_id3.trc", "t_id7.trc"]
    lines = files[0].read_text().splitlines()
    assert lines[0].startswith("PathFileType\t4") and lines[2].split("\t")[3] == "17"
    first = lines[6].split("\t")
    assert first[0] == "1" and float(first[1]) == 0.0
    # Z-up world -> TRC Y-up: (x, y, z) -> (x, z, -y)
    x, y, z = truth[0][1][0][0]
    np.testing.assert_allclose([float(v) for v in first[2:5]], [x, z, -y], atol=1e-5)


def test_export_errors_name_the_problem(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), "--format", "csv"]) == 2
    assert "does not exist" in capsys.readouterr().err
    path = tmp_path / "other"
    with BagWriter(path) as w:
        w.write("/foo", Header(frame_id="x"), 1)
    assert main(["export", str(path), "--format", "csv"]) == 2
    assert "/skeletons/points" in capsys.readouterr().err


def test_match_people_and_error_stats():
    rng = np.random.default_rng(2)
    truth = [rng.normal(size=(17, 3)) + 3 * k for k in range(3)]
    est = [truth[2] + 0.01, truth[0] - 0.02, rng.normal(size=(17, 3)) + 40]  # last one is false
    pairs = match_people(truth, est)
    assert sorted(pairs) == [(0, 1), (2, 0)]
    stats = ErrorStats()
    stats.add_frame(truth, est)
    assert stats.recall == pytest.approx(2 / 3) and stats.false_people == 1
    expected = 1000 * np.mean([np.sqrt(3) * 0.01, np.sqrt(3) * 0.02])
    assert stats.mean_mm == pytest.approx(expected)
    est[1][4] = np.nan
    s2 = ErrorStats()
    s2.add_frame(truth, est)
    assert np.isfinite(s2.per_joint_mm).all() and s2.joint_coverage == pytest.approx(33 / 34)
