"""The shared ``main()`` of the node executables: DDS set-up, spin, clean shutdown."""

from __future__ import annotations

import sys
from collections.abc import Callable


def spin_node(factory: Callable[[], object], name: str, args: list[str] | None = None) -> int:
    """Init rclpy (with the package's Fast DDS profile), build the node, spin until Ctrl-C.

    Returns 0 on a clean stop, 2 when the node cannot be built (bad parameters, missing files),
    after printing the reason. At run time nothing ends the node but a stop request.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from ros2_mvpose.ros.dds import apply_large_image_profile

    apply_large_image_profile()  # before the DDS participant exists (see ros2_mvpose.ros.dds)
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    try:
        try:
            node = factory()
        except (ValueError, FileNotFoundError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 2
        from rclpy.executors import SingleThreadedExecutor

        from ros2_mvpose.nodes.launcher import spin_until_stopped

        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spin_until_stopped(executor, rclpy.ok)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
