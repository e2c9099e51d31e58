"""Generate bot/detection/tfserving_api/*_pb2.py(i) and the two *_pb2_grpc.py from its .proto files.

    .venv/bin/python scripts/generate_protos.py           # rewrite the committed modules
    .venv/bin/python scripts/generate_protos.py --check   # exit 1 when they differ (CI)

The messages carry TensorFlow's own full names (`tensorflow.TensorProto`,
`tensorflow.serving.PredictRequest`, ...) so the gRPC method paths and the `Any` type URL are TF
Serving's. The official `tensorflow_serving.apis` modules (tests, the in-process image) register
the same names in protobuf's default descriptor pool, where a second definition is an error;
the generated modules are therefore pointed at the package's private pool (`pool.py`).
Generated with the grpcio-tools version pinned in pyproject.toml, so regenerating is exact.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path("bot/detection/tfserving_api")
SERVICES = ("prediction_service", "model_service")

_DEFAULT_POOL_IMPORT = "from google.protobuf import descriptor_pool as _descriptor_pool\n"
_PRIVATE_POOL_IMPORT = "from bot.detection.tfserving_api import pool as _private_pool\n"
_DEFAULT_POOL = "_descriptor_pool.Default()"
_PRIVATE_POOL = "_private_pool.POOL"


def generate(out_dir: Path) -> dict[str, str]:
    """Run protoc into `out_dir`; return {file name: text} of the modules to commit."""
    protos = sorted(str(p.relative_to(ROOT)) for p in (ROOT / PACKAGE).glob("*.proto"))
    well_known = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("generate_protos: protoc failed")
    generated: dict[str, str] = {}
    for path in sorted((out_dir / PACKAGE).iterdir()):
        name = path.name
        text = path.read_text(encoding="utf-8")
        if name.endswith("_pb2_grpc.py"):
            if name.removesuffix("_pb2_grpc.py") not in SERVICES:
                continue
        elif name.endswith("_pb2.py"):
            text = _use_private_pool(text, name)
        elif not name.endswith("_pb2.pyi"):
            continue
        generated[name] = text
    return generated


def _use_private_pool(text: str, name: str) -> str:
    for old, new in ((_DEFAULT_POOL_IMPORT, _PRIVATE_POOL_IMPORT), (_DEFAULT_POOL, _PRIVATE_POOL)):
        if text.count(old) != 1:
            raise SystemExit(f"generate_protos: {name}: expected {old.strip()!r} once")
        text = text.replace(old, new)
    return text


def committed() -> dict[str, str]:
    target = ROOT / PACKAGE
    return {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted(target.iterdir())
        if p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"))
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
    if check:
        current = committed()
        if fresh == current:
            print(f"generate_protos: {len(fresh)} generated modules are up to date")
            return 0
        for name in sorted(set(fresh) | set(current)):
            diff = difflib.unified_diff(
                current.get(name, "").splitlines(keepends=True),
                fresh.get(name, "").splitlines(keepends=True),
                f"committed/{name}",
                f"regenerated/{name}",
            )
            sys.stdout.writelines(diff)
        print("generate_protos: run `.venv/bin/python scripts/generate_protos.py` and commit")
        return 1
    target = ROOT / PACKAGE
    for name in committed():
        (target / name).unlink()
    for name, text in fresh.items():
        (target / name).write_text(text, encoding="utf-8")
    print(f"generate_protos: wrote {len(fresh)} modules into {PACKAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
