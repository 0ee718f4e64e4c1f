"""``make demo``: the pacer on a bursty reply (until the sidecar can place a simulated call)."""

from __future__ import annotations

import sys

from trunkline import pacer_demo


def main() -> int:
    return pacer_demo.main()


if __name__ == "__main__":
    sys.exit(main())
