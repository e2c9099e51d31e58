"""Serve a SavedModel through the TF Serving stand-in in its own process (for benchmarks).

Run as `python -m bench.serve_standin MODEL_BASE_DIR [--name detector] [--port 0]`; prints
`PORT <n>` once serving, then serves until stdin closes or the process is terminated. A separate
process keeps the server's Python work off the client's interpreter, as with real TF Serving.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.detection.inprocess import load_model
from tests.support.tfserving_standin import TFServingStandIn


async def serve(model_base_dir: Path, name: str, port: int) -> None:
    model = await asyncio.to_thread(load_model, model_base_dir, "serving_default", name)
    standin = TFServingStandIn(model, model_name=name, port=port)
    await standin.start()
    print(f"PORT {standin.port}", flush=True)
    try:
        await asyncio.to_thread(sys.stdin.read)
    finally:
        await standin.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_base_dir", type=Path)
    parser.add_argument("--name", default="detector")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.model_base_dir, args.name, args.port))


if __name__ == "__main__":
    main()
