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


def camera_name_from_topic(topic: str) -> str:
    """``/cam1/image_raw`` -> ``cam1`` (the parent segment; the topic itself if it has none)."""
    parts = [p for p in topic.split("/") if p]
    return parts[-2] if len(parts) >= 2 else (parts[0] if parts else topic)


def transport_topic(image_topic: str, transport: str) -> str:
    """The topic image_transport uses for ``transport``: ``raw`` -> the image topic itself,
    otherwise ``<image_topic>/<transport>`` (``/cam1/image_raw/compressed``)."""
    return image_topic if transport == "raw" else f"{image_topic.rstrip('/')}/{transport}"
