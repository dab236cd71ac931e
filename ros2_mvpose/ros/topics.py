"""Topic-name conventions shared by the nodes and the offline tools."""

from __future__ import annotations


def sibling_topic(topic: str, leaf: str) -> str:
    """``/cam1/image_raw`` -> ``/cam1/<leaf>`` (the last path segment replaced).

    This is how a camera's keypoint topic is derived from its image topic
    (``/cam1/image_raw`` -> ``/cam1/keypoints2d``).
    """
    head, sep, _ = topic.rstrip("/").rpartition("/")
    if not sep:
        return leaf
    return f"{head}/{leaf}" if head else f"/{leaf}"
