"""visualization_msgs/MarkerArray builders for 3D skeletons and camera frustums (RViz).

Per person (track id ``k``) three markers, each in its own namespace with ``id = k`` so that a
new set replaces the previous one in RViz:

- ``skeleton/joints``: one ``SPHERE_LIST`` of the reconstructed joints;
- ``skeleton/limbs``: one ``LINE_LIST`` of the COCO-17 limbs whose two ends were reconstructed;
- ``skeleton/labels``: one ``TEXT_VIEW_FACING`` ``"id k"`` above the head.

All three are coloured by track id (the palette of ``ros2_mvpose.visualization.track_color``).
``SkeletonMarkerPublisher`` remembers the ids it published and sends ``DELETE`` actions for
people who left; every marker also carries a ``lifetime`` so that nothing stale stays in RViz
if a delete is lost or the publisher dies.

Camera frustums (``camera_frustum_markers``): per camera a ``LINE_LIST`` pyramid from the
optical centre to the image corners at a fixed depth (namespace ``cameras/frustums``) and a
``TEXT_VIEW_FACING`` name (``cameras/names``), ids = camera index.

Nothing here talks to DDS: these are pure message builders, used by the triangulator node and
by the offline bag writer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ros2_mvpose.skeleton import COCO17_LIMBS, NUM_JOINTS
from ros2_mvpose.visualization import track_color

NS_JOINTS = "skeleton/joints"
NS_LIMBS = "skeleton/limbs"
NS_LABELS = "skeleton/labels"
NS_FRUSTUMS = "cameras/frustums"
NS_CAMERA_NAMES = "cameras/names"
SKELETON_NAMESPACES = (NS_JOINTS, NS_LIMBS, NS_LABELS)

_LIMBS = np.asarray(COCO17_LIMBS, dtype=np.int64)  # (L, 2)


def _duration(seconds: float):
    from builtin_interfaces.msg import Duration

    seconds = max(0.0, float(seconds))
    sec = int(seconds)
    return Duration(sec=sec, nanosec=int(round((seconds - sec) * 1e9)) % 1_000_000_000)


def _points(xyz: np.ndarray) -> list:
    from geometry_msgs.msg import Point

    return [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in np.asarray(xyz).reshape(-1, 3)]


def _color(rgb: Sequence[float], alpha: float = 1.0):
    from std_msgs.msg import ColorRGBA

    return ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=float(alpha))


def _base_marker(header, ns: str, marker_id: int, marker_type: int, lifetime: float):
    from visualization_msgs.msg import Marker

    m = Marker()
    m.header = header
    m.ns = ns
    m.id = int(marker_id)
    m.type = marker_type
    m.action = Marker.ADD
    m.pose.orientation.w = 1.0
    m.lifetime = _duration(lifetime)
    m.frame_locked = False
    return m


def skeleton_markers(
    track_id: int,
    joints: np.ndarray,
    header,
    *,
    joint_radius: float = 0.05,
    line_width: float = 0.025,
    text_size: float = 0.15,
    lifetime: float = 1.0,
    alpha: float = 1.0,
) -> list:
    """The three markers (joints, limbs, label) of one person.

    Args:
        track_id: stable track id (marker ``id`` in each namespace, and the colour).
        joints: ``(17, 3)`` world coordinates in metres in ``header.frame_id``; NaN rows (joints
            not reconstructed) are left out, limbs with a NaN end too.
        header: ``std_msgs/Header`` (frame and the set's stamp).
        joint_radius: sphere radius in metres.
        line_width: limb line width in metres.
        text_size: label height in metres.
        lifetime: seconds RViz keeps the markers without an update (0 = forever).

    Returns:
        ``[]`` when no joint is finite, else three ``visualization_msgs/Marker``.
    """
    from visualization_msgs.msg import Marker

    j = np.asarray(joints, dtype=np.float64)
    if j.shape != (NUM_JOINTS, 3):
        raise ValueError(f"joints must have shape ({NUM_JOINTS}, 3), got {j.shape}")
    ok = np.all(np.isfinite(j), axis=1)
    if not ok.any():
        return []
    colour = _color(track_color(track_id), alpha)

    spheres = _base_marker(header, NS_JOINTS, track_id, Marker.SPHERE_LIST, lifetime)
    spheres.scale.x = spheres.scale.y = spheres.scale.z = 2.0 * float(joint_radius)
    spheres.color = colour
    spheres.points = _points(j[ok])

    lines = _base_marker(header, NS_LIMBS, track_id, Marker.LINE_LIST, lifetime)
    lines.scale.x = float(line_width)
    lines.color = colour
    limb_ok = ok[_LIMBS[:, 0]] & ok[_LIMBS[:, 1]]
    lines.points = _points(j[_LIMBS[limb_ok].reshape(-1)])  # pairs a0 b0 a1 b1 ...

    label = _base_marker(header, NS_LABELS, track_id, Marker.TEXT_VIEW_FACING, lifetime)
    top = j[ok][np.argmax(j[ok, 2])]  # highest joint (world z up), label above it
    label.pose.position.x = float(top[0])
    label.pose.position.y = float(top[1])
    label.pose.position.z = float(top[2] + 0.2 + text_size)
    label.scale.z = float(text_size)
    label.color = colour
    label.text = f"id {int(track_id)}"
    return [spheres, lines, label]


def delete_markers(track_id: int, header) -> list:
    """``DELETE`` actions for the three markers of one track id."""
    from visualization_msgs.msg import Marker

    out = []
    for ns in SKELETON_NAMESPACES:
        m = Marker()
        m.header = header
        m.ns = ns
        m.id = int(track_id)
        m.action = Marker.DELETE
        out.append(m)
    return out


def delete_all_markers(header):
    """A MarkerArray holding one ``DELETEALL`` (clears every marker of this publisher in RViz)."""
    from visualization_msgs.msg import Marker, MarkerArray

    m = Marker()
    m.header = header
    m.action = Marker.DELETEALL
    return MarkerArray(markers=[m])


def _people_arrays(people: Iterable) -> tuple[list[int], list[np.ndarray]]:
    ids, joints = [], []
    for p in people:
        ids.append(int(p.id))
        joints.append(np.asarray(p.joints, dtype=np.float64))
    return ids, joints


class SkeletonMarkerPublisher:
    """Build one MarkerArray per set, with deletes for people who left since the last one.

    Not a ROS publisher itself: ``update`` returns the message, the caller publishes it (the
    triangulator node on ``skeletons/markers``, ``mvpose bag`` into the output bag).

    Args:
        frame_id: frame written into headers when the caller's header has none.
        joint_radius, line_width, text_size, lifetime: see ``skeleton_markers``.
    """

    def __init__(
        self,
        frame_id: str = "world",
        *,
        joint_radius: float = 0.05,
        line_width: float = 0.025,
        text_size: float = 0.15,
        lifetime: float = 1.0,
    ):
        self.frame_id = frame_id
        self.joint_radius = float(joint_radius)
        self.line_width = float(line_width)
        self.text_size = float(text_size)
        self.lifetime = float(lifetime)
        self._published: set[int] = set()

    @property
    def published_ids(self) -> frozenset[int]:
        """Track ids whose markers are currently shown (published and not deleted)."""
        return frozenset(self._published)

    def update(self, people: Iterable, header):
        """MarkerArray for one set of people (objects with ``.id`` and ``.joints`` (17, 3) m).

        People with no finite joint count as absent. Ids published before and absent now get
        ``DELETE`` actions (once).
        """
        ids, joints = _people_arrays(people)
        return self.update_arrays(ids, joints, header)

    def update_arrays(self, ids: Sequence[int], joints: Sequence[np.ndarray] | np.ndarray, header):
        """Like ``update`` with ``ids`` ``(P,)`` and ``joints`` ``(P, 17, 3)`` metres."""
        from std_msgs.msg import Header
        from visualization_msgs.msg import MarkerArray

        if header is None:
            header = Header(frame_id=self.frame_id)
        elif not header.frame_id:
            header = Header(stamp=header.stamp, frame_id=self.frame_id)
        ids = [int(i) for i in ids]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate track ids in one set: {ids}")
        joints = np.asarray(joints, dtype=np.float64).reshape(len(ids), NUM_JOINTS, 3)
        markers, shown = [], set()
        for tid, j in zip(ids, joints):
            ms = skeleton_markers(
                tid,
                j,
                header,
                joint_radius=self.joint_radius,
                line_width=self.line_width,
                text_size=self.text_size,
                lifetime=self.lifetime,
            )
            if ms:
                markers.extend(ms)
                shown.add(tid)
        for tid in sorted(self._published - shown):
            markers.extend(delete_markers(tid, header))
        self._published = shown
        return MarkerArray(markers=markers)

    def clear(self, header):
        """MarkerArray deleting everything published so far (e.g. on shutdown or reset)."""
        from visualization_msgs.msg import MarkerArray

        markers = []
        for tid in sorted(self._published):
            markers.extend(delete_markers(tid, header))
        self._published = set()
        return MarkerArray(markers=markers)


def frustum_corners(camera, depth: float) -> np.ndarray:
    """World coordinates ``(5, 3)`` of a camera's optical centre and its four image corners.

    The corners are the rays through the pixel corners ``(-0.5, -0.5)`` ... ``(W-0.5, H-0.5)``
    (ideal pinhole, distortion ignored) at ``depth`` metres along the optical axis.

    Args:
        camera: ``ros2_mvpose.geometry.Camera`` (``K``, ``R``, ``t``, ``width``, ``height``).
        depth: distance of the frustum's base from the centre, metres.
    """
    K = np.asarray(camera.K, dtype=np.float64)
    R = np.asarray(camera.R, dtype=np.float64)
    t = np.asarray(camera.t, dtype=np.float64).reshape(3)
    w, h = float(camera.width), float(camera.height)
    px = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    rays = np.linalg.solve(K, np.c_[px, np.ones(4)].T).T  # (4, 3) with z = 1 in camera frame
    cam_pts = rays * float(depth)
    centre = -R.T @ t
    world = cam_pts @ R + centre  # R^T (x_cam - t) = x_cam @ R - R^T t
    return np.vstack([centre, world])


def camera_frustum_markers(
    cameras: Sequence,
    header,
    *,
    depth: float = 0.3,
    line_width: float = 0.01,
    text_size: float = 0.12,
    rgb: Sequence[float] = (0.9, 0.9, 0.9),
):
    """MarkerArray of camera frustums and names, to check a rig in RViz.

    Args:
        cameras: ``Camera`` objects (``name``, ``K``, ``R``, ``t``, ``width``, ``height``), or
            ``None`` for cameras without intrinsics yet (left out).
        header: ``std_msgs/Header`` in the world frame.
        depth: frustum depth in metres.
    Returns:
        ``visualization_msgs/MarkerArray``; lifetime 0 (meant for a latched topic).
    """
    from visualization_msgs.msg import Marker, MarkerArray

    colour = _color(rgb)
    out = []
    edges = np.array([[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [2, 3], [3, 4], [4, 1]])
    for idx, cam in enumerate(cameras):
        if cam is None:
            continue
        c = frustum_corners(cam, depth)
        lines = _base_marker(header, NS_FRUSTUMS, idx, Marker.LINE_LIST, 0.0)
        lines.scale.x = float(line_width)
        lines.color = colour
        lines.points = _points(c[edges.reshape(-1)])
        out.append(lines)
        name = _base_marker(header, NS_CAMERA_NAMES, idx, Marker.TEXT_VIEW_FACING, 0.0)
        name.pose.position.x, name.pose.position.y, name.pose.position.z = (float(v) for v in c[0])
        name.pose.position.z += float(text_size)
        name.scale.z = float(text_size)
        name.color = colour
        name.text = str(cam.name)
        out.append(name)
    return MarkerArray(markers=out)
