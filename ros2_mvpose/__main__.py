import sys

from ros2_mvpose.cli import main

sys.exit(main())
