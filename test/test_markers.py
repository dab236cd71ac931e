"""MarkerArray builders: skeleton markers, deletes for people who leave, camera frustums."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from ros2_mvpose.ros.markers import (
    NS_FRUSTUMS,
    NS_JOINTS,
    NS_LABELS,
    NS_LIMBS,
    SkeletonMarkerPublisher,
    camera_frustum_markers,
    frustum_corners,
    skeleton_markers,
)
from ros2_mvpose.skeleton import COCO17_LIMBS
from ros2_mvpose.visualization import track_color


def _skeleton(offset=(0.0, 0.0, 0.0), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    j = rng.uniform(-0.3, 0.3, size=(17, 3)) + np.array([0.0, 0.0, 1.0])
    return j + np.asarray(offset)


def _header(sec=5, frame="world") -> Header:
    h = Header(frame_id=frame)
    h.stamp.sec = sec
    return h


def _by_key(arr):
    return {(m.ns, m.id): m for m in arr.markers}


def test_skeleton_markers_content_and_colour():
    j = _skeleton()
    j[3] = np.nan  # left ear missing: its limb (1, 3) must go too
    ms = skeleton_markers(7, j, _header(), joint_radius=0.04, lifetime=0.5)
    kinds = {m.ns: m for m in ms}
    assert set(kinds) == {NS_JOINTS, NS_LIMBS, NS_LABELS}
    sph, lines, text = kinds[NS_JOINTS], kinds[NS_LIMBS], kinds[NS_LABELS]
    assert sph.type == Marker.SPHERE_LIST and lines.type == Marker.LINE_LIST
    assert text.type == Marker.TEXT_VIEW_FACING and text.text == "id 7"
    assert all(m.id == 7 and m.header.frame_id == "world" and m.header.stamp.sec == 5 for m in ms)
    pts = np.array([[p.x, p.y, p.z] for p in sph.points])
    np.testing.assert_allclose(pts, np.delete(j, 3, axis=0))
    assert sph.scale.x == pytest.approx(0.08)
    expected_limbs = [(a, b) for a, b in COCO17_LIMBS if 3 not in (a, b)]
    lp = np.array([[p.x, p.y, p.z] for p in lines.points])
    assert lp.shape == (2 * len(expected_limbs), 3)
    np.testing.assert_allclose(lp[0::2], j[[a for a, _ in expected_limbs]])
    np.testing.assert_allclose(lp[1::2], j[[b for _, b in expected_limbs]])
    rgb = track_color(7)
    for m in ms:
        assert (m.color.r, m.color.g, m.color.b) == pytest.approx(rgb)
        assert m.lifetime.sec == 0 and m.lifetime.nanosec == 500_000_000
    assert text.pose.position.z > np.nanmax(j[:, 2])
    # colours differ between neighbouring ids
    assert track_color(1) != track_color(2)


def test_skeleton_markers_all_nan_and_bad_shape():
    assert skeleton_markers(1, np.full((17, 3), np.nan), _header()) == []
    with pytest.raises(ValueError, match="shape"):
        skeleton_markers(1, np.zeros((16, 3)), _header())


def test_publisher_replaces_then_deletes_people_who_leave():
    pub = SkeletonMarkerPublisher(frame_id="world", lifetime=1.0)
    a = SimpleNamespace(id=3, joints=_skeleton(seed=1))
    b = SimpleNamespace(id=9, joints=_skeleton((1.0, 0, 0), seed=2))
    m1 = _by_key(pub.update([a, b], _header(1)))
    assert set(m1) == {(ns, i) for ns in (NS_JOINTS, NS_LIMBS, NS_LABELS) for i in (3, 9)}
    assert all(m.action == Marker.ADD for m in m1.values())
    assert pub.published_ids == {3, 9}

    # b leaves: its three markers are deleted, a is re-sent with the same (ns, id)
    a2 = SimpleNamespace(id=3, joints=_skeleton((0.1, 0, 0), seed=1))
    m2 = _by_key(pub.update([a2], _header(2)))
    assert {k for k, m in m2.items() if m.action == Marker.DELETE} == {
        (NS_JOINTS, 9), (NS_LIMBS, 9), (NS_LABELS, 9)
    }
    added = {k for k, m in m2.items() if m.action == Marker.ADD}
    assert added == {(NS_JOINTS, 3), (NS_LIMBS, 3), (NS_LABELS, 3)}
    assert m2[(NS_JOINTS, 3)].points[0].x == pytest.approx(a2.joints[0, 0])
    assert pub.published_ids == {3}

    # deletes are sent once; a person whose joints are all NaN counts as gone
    gone = SimpleNamespace(id=3, joints=np.full((17, 3), np.nan))
    m3 = _by_key(pub.update([gone], _header(3)))
    assert set(m3) == {(NS_JOINTS, 3), (NS_LIMBS, 3), (NS_LABELS, 3)}
    assert all(m.action == Marker.DELETE for m in m3.values())
    assert pub.update([], _header(4)).markers == []
    # header without a frame gets the publisher's frame
    m5 = pub.update([a], Header())
    assert {m.header.frame_id for m in m5.markers} == {"world"}
    clear = pub.clear(_header(6))
    assert {(m.ns, m.id, m.action) for m in clear.markers} == {
        (ns, 3, Marker.DELETE) for ns in (NS_JOINTS, NS_LIMBS, NS_LABELS)
    }
    with pytest.raises(ValueError, match="duplicate"):
        pub.update_arrays([1, 1], np.zeros((2, 17, 3)), _header())


def _look_at_camera(name, centre, target, f=800.0, w=640, h=480):
    from ros2_mvpose.geometry import Camera

    z = np.asarray(target, float) - np.asarray(centre, float)
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    t = -R @ np.asarray(centre, float)
    K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])
    return Camera(name, K, np.zeros(5), R, t, w, h)


def test_frustum_corners_project_to_image_corners():
    cam = _look_at_camera("cam1", [3.0, 1.0, 2.0], [0.0, 0.0, 1.0])
    c = frustum_corners(cam, depth=0.5)
    np.testing.assert_allclose(c[0], cam.center, atol=1e-12)
    uv = cam.project(c[1:])
    np.testing.assert_allclose(uv, [[-0.5, -0.5], [639.5, -0.5], [639.5, 479.5], [-0.5, 479.5]], atol=1e-6)
    depth = (c[1:] @ cam.R.T + cam.t)[:, 2]
    np.testing.assert_allclose(depth, 0.5, atol=1e-12)


def test_camera_frustum_markers():
    left = _look_at_camera("left", [3.0, 0, 2], [0, 0, 1])
    cams = [left, None, _look_at_camera("right", [-3.0, 0, 2], [0, 0, 1])]
    arr = camera_frustum_markers(cams, _header(), depth=0.4)
    frusta = [m for m in arr.markers if m.ns == NS_FRUSTUMS]
    names = [m for m in arr.markers if m.type == Marker.TEXT_VIEW_FACING]
    assert [m.id for m in frusta] == [0, 2] and [m.text for m in names] == ["left", "right"]
    assert all(len(m.points) == 16 and m.type == Marker.LINE_LIST for m in frusta)
    assert frusta[0].points[0].x == pytest.approx(3.0) and frusta[1].points[0].x == pytest.approx(-3.0)
    assert all(m.lifetime.sec == 0 and m.lifetime.nanosec == 0 for m in arr.markers)
