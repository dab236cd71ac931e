"""Cost of turning a received camera image into a BGR array: rclpy message vs serialized bytes.

Usage:
    .venv/bin/python benchmarks/bench_image_cdr.py [--size 1080] [--reps 200]

What the detector's executor thread does per image, without DDS in between:

* **message** (``raw_images: false``): ``rclpy.serialization.deserialize_message`` into a
  ``sensor_msgs/Image`` (what a typed subscription does), then ``image_msg_to_bgr``;
* **serialized** (``raw_images: true``, the default): ``parse_image_cdr`` on the bytes a
  ``raw=True`` subscription delivers, then ``image_msg_to_bgr`` (a zero-copy view for bgr8).

Prints the median time per image of each and their ratio (same run). Then the same for a
``sensor_msgs/CompressedImage`` (JPEG, quality 95 as image_transport's compressed plugin sends by
default, of a smooth camera-like image): typed message vs ``parse_compressed_image_cdr``, both
decoded by ``compressed_msg_to_bgr``, with its ratio to the raw serialized path.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image

    from ros2_mvpose.ros.image_cdr import parse_image_cdr
    from ros2_mvpose.ros.image_conversion import bgr_to_image_msg, image_msg_to_bgr

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1080, help="image width = height, pixels")
    ap.add_argument("--reps", type=int, default=200)
    args = ap.parse_args()
    img = np.random.default_rng(0).integers(0, 255, (args.size, args.size, 3), np.uint8)
    data = serialize_message(bgr_to_image_msg(img))

    def message():
        return image_msg_to_bgr(deserialize_message(data, Image))

    def serialized():
        return image_msg_to_bgr(parse_image_cdr(data))

    assert np.array_equal(message(), serialized())
    med = _median_ms({"message": message, "serialized": serialized}, args.reps)
    print(f"{args.size}x{args.size} bgr8 ({len(data) / 1e6:.1f} MB serialized), median of {args.reps}:")
    print(f"- message (deserialize_message + image_msg_to_bgr): {med['message']:.3f} ms/image")
    print(f"- serialized (parse_image_cdr + image_msg_to_bgr): {med['serialized']:.3f} ms/image")
    print(f"- serialized is x{med['message'] / med['serialized']:.0f} faster")
    compressed_section(args, img, med["serialized"])
    return 0


def _median_ms(fns: dict, reps: int) -> dict[str, float]:
    """Median wall time (ms) of each callable, calls interleaved."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) * 1e3 for k, v in times.items()}


def compressed_section(args, img: np.ndarray, raw_ms: float) -> None:
    import cv2
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import CompressedImage

    from ros2_mvpose.ros.compressed_image import compressed_msg_to_bgr
    from ros2_mvpose.ros.image_cdr import parse_compressed_image_cdr

    smooth = cv2.GaussianBlur(img, (0, 0), 8)
    ok, jpg = cv2.imencode(".jpg", smooth, [cv2.IMWRITE_JPEG_QUALITY, 95])
    data = serialize_message(CompressedImage(format="bgr8; jpeg compressed bgr8", data=jpg.tobytes()))
    med = _median_ms({
        "message": lambda: compressed_msg_to_bgr(deserialize_message(data, CompressedImage)),
        "serialized": lambda: compressed_msg_to_bgr(parse_compressed_image_cdr(data)),
    }, max(args.reps // 4, 10))
    print(f"{args.size}x{args.size} JPEG q95 CompressedImage ({len(data) / 1e6:.2f} MB serialized):")
    print(f"- message (deserialize_message + compressed_msg_to_bgr): {med['message']:.2f} ms/image")
    print(f"- serialized (parse_compressed_image_cdr + compressed_msg_to_bgr): {med['serialized']:.2f} "
          "ms/image")
    print(f"- JPEG decoding costs x{med['serialized'] / raw_ms:.0f} the raw bgr8 serialized path")


if __name__ == "__main__":
    sys.exit(main())
