"""``mvpose play``: publish a bag live with its original timing and /clock (no ``ros2 bag play`` needed)."""

from __future__ import annotations

from ros2_mvpose.cli.common import fail


def register(sub) -> None:
    p = sub.add_parser(
        "play",
        help="publish a rosbag2's topics live with their timing and /clock",
        description="Publishes every topic of a rosbag2 (MCAP or sqlite3) with the original timing and "
        "/clock, for pip installs without `ros2 bag play`. Start nodes with use_sim_time:=true.",
    )
    p.add_argument("input", help="bag directory or .mcap file")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1.0)")
    p.add_argument("--topic", action="append", default=None, help="only this topic (repeatable)")
    p.add_argument("--loop", action="store_true", help="play again and again until Ctrl-C")
    p.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    p.add_argument(
        "--wait",
        type=float,
        default=2.0,
        help="wait up to this many seconds for the subscribers of the bag's topics to be discovered; "
        "topics nobody subscribes to do not hold playback up (default 2)",
    )
    p.add_argument(
        "--ack-wait",
        type=float,
        default=1.0,
        help="at the end, wait up to this many seconds until reliable subscribers have acknowledged "
        "every message, so the last ones are not lost when the player exits (like `ros2 bag play "
        "--wait-for-all-acked`, which takes milliseconds); 0: do not wait (default 1)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    import rclpy

    from ros2_mvpose.io.rosbag_io import BagError
    from ros2_mvpose.offline.bag_player import play_bag
    from ros2_mvpose.ros.dds import apply_large_image_profile

    apply_large_image_profile()  # large images reach best-effort subscribers (ros2_mvpose.ros.dds)
    rclpy.init(args=["mvpose"])  # not sys.argv: rcl would read the CLI's own options
    node = rclpy.create_node("mvpose_play")
    try:
        while True:
            n = play_bag(
                node,
                args.input,
                rate=args.rate,
                topics=args.topic,
                publish_clock=not args.no_clock,
                wait_for_subscribers=args.wait,
                ack_timeout=args.ack_wait,
            )
            node.get_logger().info(f"published {n} messages from {args.input}")
            if not args.loop:
                break
    except BagError as exc:
        return fail(str(exc))
    except ValueError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
