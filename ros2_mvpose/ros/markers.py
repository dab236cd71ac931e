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
from typing import NamedTuple

import numpy as np

from ros2_mvpose.ros.cdr import CdrWriter
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

    sec, nanosec = _sec_nanosec(seconds)
    return Duration(sec=sec, nanosec=nanosec)


def _sec_nanosec(seconds: float) -> tuple[int, int]:
    seconds = max(0.0, float(seconds))
    sec = int(seconds)
    return sec, int(round((seconds - sec) * 1e9)) % 1_000_000_000


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


# visualization_msgs/Marker constants (as in the message definition)
_SPHERE_LIST, _LINE_LIST, _TEXT_VIEW_FACING = 7, 5, 9
_ADD, _DELETE = 0, 2


class MarkerSpec(NamedTuple):
    """What one skeleton marker holds (the rest of ``visualization_msgs/Marker`` is default): built
    once, written as a message (:func:`_spec_to_msg`) or serialized (:func:`_spec_to_cdr`)."""

    ns: str
    id: int
    type: int = 0
    action: int = _ADD
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (0.0, 0.0, 0.0)
    color: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    lifetime: float = 0.0
    points: np.ndarray | None = None  # (N, 3) metres
    text: str = ""


def _skeleton_specs(
    track_id, joints, joint_radius, line_width, text_size, lifetime, alpha
) -> list[MarkerSpec]:
    j = np.asarray(joints, dtype=np.float64)
    if j.shape != (NUM_JOINTS, 3):
        raise ValueError(f"joints must have shape ({NUM_JOINTS}, 3), got {j.shape}")
    ok = np.all(np.isfinite(j), axis=1)
    if not ok.any():
        return []
    tid = int(track_id)
    colour = tuple(float(c) for c in track_color(tid)) + (float(alpha),)
    d = 2.0 * float(joint_radius)
    limb_ok = ok[_LIMBS[:, 0]] & ok[_LIMBS[:, 1]]
    top = j[ok][np.argmax(j[ok, 2])]  # highest joint (world z up), label above it
    label_at = (float(top[0]), float(top[1]), float(top[2] + 0.2 + text_size))
    return [
        MarkerSpec(NS_JOINTS, tid, _SPHERE_LIST, _ADD, scale=(d, d, d), color=colour, lifetime=lifetime,
                   points=j[ok]),
        MarkerSpec(NS_LIMBS, tid, _LINE_LIST, _ADD, scale=(float(line_width), 0.0, 0.0), color=colour,
                   lifetime=lifetime, points=j[_LIMBS[limb_ok].reshape(-1)]),  # pairs a0 b0 a1 b1 ...
        MarkerSpec(NS_LABELS, tid, _TEXT_VIEW_FACING, _ADD, position=label_at,
                   scale=(0.0, 0.0, float(text_size)), color=colour, lifetime=lifetime, text=f"id {tid}"),
    ]


def _delete_specs(track_id: int) -> list[MarkerSpec]:
    return [MarkerSpec(ns, int(track_id), action=_DELETE) for ns in SKELETON_NAMESPACES]


def _spec_to_msg(spec: MarkerSpec, header):
    from visualization_msgs.msg import Marker

    m = Marker()
    m.header = header
    m.ns = spec.ns
    m.id = spec.id
    m.type = spec.type
    m.action = spec.action
    m.pose.position.x, m.pose.position.y, m.pose.position.z = spec.position
    m.pose.orientation.w = 1.0
    m.scale.x, m.scale.y, m.scale.z = spec.scale
    if spec.action == _ADD:
        m.color = _color(spec.color[:3], spec.color[3])
        m.lifetime = _duration(spec.lifetime)
    if spec.points is not None:
        m.points = _points(spec.points)
    m.text = spec.text
    return m


_NO_ROWS = np.zeros((0, 3))


def _spec_to_cdr(w: CdrWriter, spec: MarkerSpec, stamp: tuple[int, int], frame_id: str) -> None:
    """One ``visualization_msgs/Marker`` (Jazzy definition, field order) into ``w``."""
    w.header(stamp[0], stamp[1], frame_id)
    w.string(spec.ns)
    w.i32(spec.id)
    w.i32(spec.type)
    w.i32(spec.action)
    w.f64s((*spec.position, 0.0, 0.0, 0.0, 1.0, *spec.scale))  # pose (position, orientation), scale
    w.f32s(spec.color if spec.action == _ADD else (0.0, 0.0, 0.0, 0.0))
    w.stamp(*(_sec_nanosec(spec.lifetime) if spec.action == _ADD else (0, 0)))
    w.boolean(False)  # frame_locked
    w.sequence(spec.points if spec.points is not None else _NO_ROWS, "<f8")  # points
    w.u32(0)  # colors
    w.string("")  # texture_resource
    w.header(0, 0, "")  # texture: sensor_msgs/CompressedImage (header, format, data)
    w.string("")
    w.octets(b"")
    w.u32(0)  # uv_coordinates
    w.string(spec.text)
    w.string("")  # mesh_resource
    w.string("")  # mesh_file: filename, data
    w.octets(b"")
    w.boolean(False)  # mesh_use_embedded_materials


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
    specs = _skeleton_specs(track_id, joints, joint_radius, line_width, text_size, lifetime, alpha)
    return [_spec_to_msg(spec, header) for spec in specs]


def delete_markers(track_id: int, header) -> list:
    """``DELETE`` actions for the three markers of one track id."""
    return [_spec_to_msg(spec, header) for spec in _delete_specs(track_id)]


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
    triangulator node on ``skeletons/markers``, ``mvpose bag`` into the output bag);
    ``update_serialized`` returns the same MarkerArray already serialized (CDR bytes, for
    ``Publisher.publish``), built from the arrays without message objects (~10x faster).

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
        from visualization_msgs.msg import MarkerArray

        header = self._header(header)
        return MarkerArray(markers=[_spec_to_msg(spec, header) for spec in self._plan(ids, joints)])

    def update_serialized(
        self, ids: Sequence[int], joints: Sequence[np.ndarray] | np.ndarray, header
    ) -> bytes:
        """``update_arrays`` as the serialized MarkerArray (CDR bytes; equal once deserialized)."""
        header = self._header(header)
        specs = self._plan(ids, joints)
        stamp, frame = (int(header.stamp.sec), int(header.stamp.nanosec)), header.frame_id
        w = CdrWriter()
        w.u32(len(specs))
        for spec in specs:
            _spec_to_cdr(w, spec, stamp, frame)
        return w.bytes()

    def _header(self, header):
        from std_msgs.msg import Header

        if header is None:
            return Header(frame_id=self.frame_id)
        if not header.frame_id:
            return Header(stamp=header.stamp, frame_id=self.frame_id)
        return header

    def _plan(self, ids: Sequence[int], joints) -> list[MarkerSpec]:
        """The markers of one set (adds, then deletes for the people who left); updates what is shown."""
        ids = [int(i) for i in ids]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate track ids in one set: {ids}")
        joints = np.asarray(joints, dtype=np.float64).reshape(len(ids), NUM_JOINTS, 3)
        specs, shown = [], set()
        for tid, j in zip(ids, joints):
            ms = _skeleton_specs(
                tid, j, self.joint_radius, self.line_width, self.text_size, self.lifetime, 1.0
            )
            if ms:
                specs.extend(ms)
                shown.add(tid)
        for tid in sorted(self._published - shown):
            specs.extend(_delete_specs(tid))
        self._published = shown
        return specs

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
