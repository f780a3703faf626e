"""Peak memory of decoding one image at the size limit, as the image loader and `predict` do.

Usage:
    python bench/image_memory.py            # the largest image data.max_image_pixels accepts
    python bench/image_memory.py --side 4000

Each size is decoded in a fresh process (PNG, RGB, mostly flat so the file is small), with
`decode_image` to the default 64 x 64 x 3 input; the figure is the process's peak resident
memory (ru_maxrss) minus its peak before decoding (TensorFlow imported and warmed up on a
small image, the file read).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CHILD = """
import resource, sys
from pathlib import Path
from tfpipeline.data.images import decode_image, pixel_count_error
from tfpipeline._keras import tf
path = Path(sys.argv[1])
contents = path.read_bytes()
assert pixel_count_error(contents, str(path)) is None, "over the limit"
import io
from PIL import Image
small = io.BytesIO()
Image.new("RGB", (16, 16)).save(small, "PNG")
decode_image(tf.constant(small.getvalue()), (64, 64), 3)  # warm up on a small image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
image = decode_image(tf.constant(contents), (64, 64), 3).numpy()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after)
"""


def measure(side: int, folder: Path) -> tuple[int, float, float]:
    from PIL import Image

    path = folder / f"{side}.png"
    image = Image.new("RGB", (side, side), (90, 120, 30))
    image.paste((200, 10, 10), (0, 0, side // 2, side // 2))
    image.save(path, optimize=False)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
    )
    before, after = (int(v) for v in done.stdout.split()[-2:])
    return path.stat().st_size, before / 1024, (after - before) / 1024  # KiB -> MiB


def main() -> None:
    from tfpipeline.config import DEFAULT_MAX_IMAGE_PIXELS

    parser = argparse.ArgumentParser()
    parser.add_argument("--side", type=int, nargs="*", default=None)
    args = parser.parse_args()
    largest = math.isqrt(DEFAULT_MAX_IMAGE_PIXELS)
    sides = args.side or [1000, 4000, largest]
    print(f"command: python {' '.join(sys.argv)}")
    cpus, python = os.cpu_count(), platform.python_version()
    print(f"machine: {platform.machine()}, {cpus} CPUs, Python {python}")
    print(f"limit: data.max_image_pixels = {DEFAULT_MAX_IMAGE_PIXELS:,}")
    with tempfile.TemporaryDirectory() as folder:
        for side in sides:
            size, base, peak = measure(side, Path(folder))
            pixels = side * side
            print(
                f"{side} x {side} = {pixels / 1e6:5.1f} MP, file {size / 1024:7.0f} KiB: "
                f"decoding adds {peak:7.0f} MiB peak RSS ({peak * 2**20 / pixels:4.1f} "
                f"bytes/pixel; process before: {base:.0f} MiB)"
            )


if __name__ == "__main__":
    main()
