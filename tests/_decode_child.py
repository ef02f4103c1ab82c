"""Child process for the memory-ceiling test: decode files under an address-space limit.

Usage: python -m tests._decode_child CEILING_BYTES MAX_PIXELS MAX_SIDE FILE...; sets RLIMIT_AS to the
address space in use plus CEILING_BYTES, then prints one JSON line per file ("decoded WxH",
"refused <reason>" or "out_of_memory"), after a control line: allocating 32 MiB more than the ceiling
must fail, or the limit is not in force.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from lamuse.errors import ImageError
from lamuse.io import load_image


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")


def _say(name: str, outcome: str) -> None:
    sys.stdout.write(json.dumps({"file": name, "outcome": outcome}) + "\n")
    sys.stdout.flush()


def main() -> None:
    ceiling, max_pixels, max_side = (int(v) for v in sys.argv[1:4])
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_vm_size() + ceiling, hard))
    try:
        bytearray(ceiling + (32 << 20))
        _say("control", "allocated")
    except MemoryError:
        _say("control", "out_of_memory")
    for name in sys.argv[4:]:
        try:
            image = load_image(Path(name), max_pixels=max_pixels, max_side=max_side).image
            outcome = f"decoded {image.width}x{image.height}"
        except ImageError as error:
            outcome = f"refused {error.reason}"
        except MemoryError:
            outcome = "out_of_memory"
        _say(Path(name).name, outcome)


if __name__ == "__main__":
    main()
