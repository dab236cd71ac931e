"""In-process hand-off: detector nodes give their keypoints straight to a triangulator node.

When detector and triangulator share a process (``mvpose run``, composed nodes), the keypoint
clouds need not make a round trip through DDS and the executor: each detector, from its worker
thread, hands the triangulator the keypoint arrays of every camera whose keypoint topic the
triangulator reads (the topic names are the contract, as over DDS), and the triangulator
synchronizes and reconstructs them right there, in that thread. The triangulator stops
subscribing to those topics, so nothing is counted twice; the detector still publishes the
clouds for every other consumer (recorders, RViz, a second triangulator). Cameras served by
detectors in other processes keep arriving over DDS and join the same sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ros2_mvpose.stages.triangulation import DecodedKeypoints


def link_keypoints(detectors: Sequence[Any], triangulator: Any) -> list[str]:
    """Hand the keypoints of ``detectors`` (``DetectorNode``) to ``triangulator``
    (``TriangulatorNode``) directly, for every camera whose keypoint topic both use.

    Returns the linked topics (resolved names); call before spinning.
    """
    resolve = triangulator.resolve_topic_name
    index = {resolve(t): j for j, t in enumerate(triangulator.keypoint_topics)}
    linked: list[str] = []
    for det in detectors:
        mapping = [index.get(det.resolve_topic_name(t)) for t in det.keypoint_topics]
        targets = [j for j in mapping if j is not None]
        if not targets:
            continue
        triangulator.take_local_inputs(targets)
        linked += [triangulator.keypoint_topics[j] for j in targets]

        def sink(keypoints, headers, mapping=mapping):
            triangulator.add_local_keypoints([
                (j, DecodedKeypoints(h, kp))
                for j, kp, h in zip(mapping, keypoints, headers)
                if j is not None and kp is not None
            ])

        det.keypoint_sinks.append(sink)
    return linked


def link_nodes(nodes: Sequence[Any]) -> list[str]:
    """:func:`link_keypoints` for the detector and triangulator nodes among ``nodes`` (one
    triangulator at most is linked; [] when there is none or no detector)."""
    from ros2_mvpose.nodes.detector_node import DetectorNode
    from ros2_mvpose.nodes.triangulator_node import TriangulatorNode

    detectors = [n for n in nodes if isinstance(n, DetectorNode)]
    triangulators = [n for n in nodes if isinstance(n, TriangulatorNode)]
    if not detectors or not triangulators:
        return []
    return link_keypoints(detectors, triangulators[0])
