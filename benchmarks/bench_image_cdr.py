"""Cost of turning a received camera image into a BGR array: rclpy message vs serialized bytes.

Usage:
    .venv/bin/python benchmarks/bench_image_cdr.py [--size 1080] [--reps 200]

What the detector's executor thread does per image, without DDS in between:

* **message** (``raw_images: false``): ``rclpy.serialization.deserialize_message`` into a
  ``sensor_msgs/Image`` (what a typed subscription does), then ``image_msg_to_bgr``;
* **serialized** (``raw_images: true``, the default): ``parse_image_cdr`` on the bytes a
  ``raw=True`` subscription delivers, then ``image_msg_to_bgr`` (a zero-copy view for bgr8).

Prints the median time per image of each and their ratio (same run).
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
    times: dict[str, list[float]] = {"message": [], "serialized": []}
    for _ in range(args.reps):  # interleaved
        for name, fn in (("message", message), ("serialized", serialized)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    print(f"{args.size}x{args.size} bgr8 ({len(data) / 1e6:.1f} MB serialized), median of {args.reps}:")
    print(f"- message (deserialize_message + image_msg_to_bgr): {med['message']:.3f} ms/image")
    print(f"- serialized (parse_image_cdr + image_msg_to_bgr): {med['serialized']:.3f} ms/image")
    print(f"- serialized is x{med['message'] / med['serialized']:.0f} faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
