"""TF Serving's model config file (`--model_config_file`): a `model_config_list` in protobuf
text format, one `config { name base_path model_platform }` entry per model.

`add_model` appends an entry for a new model and leaves everything else in the file as written
(version policies and version labels an ML team put there by hand). The new file is written
next to the old one and renamed over it, so TF Serving, which re-reads the file every
`--model_config_file_poll_wait_seconds`, never sees half a file.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

EMPTY_CONFIG = "model_config_list {\n}\n"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ModelConfigError(Exception):
    """The config file cannot be extended (not a model_config_list, or a bad model name)."""


def listed_names(text: str) -> list[str]:
    """The model names a config file lists (`name: "..."` inside its `config` entries)."""
    return re.findall(r'\bname\s*:\s*"([^"]*)"', text)


def config_entry(name: str, base_path: str) -> str:
    return (
        "  config {\n"
        f'    name: "{name}"\n'
        f'    base_path: "{base_path}"\n'
        '    model_platform: "tensorflow"\n'
        "  }\n"
    )


def add_model(config_file: Path, name: str, base_path: str) -> bool:
    """List model `name` (served from `base_path`, the path TF Serving sees) in `config_file`,
    creating the file when missing; False when the model is listed already (its new version is
    picked up from its base dir without a config change)."""
    if not _NAME.match(name):
        raise ModelConfigError(f"invalid model name {name!r}: use letters, digits, '_', '-', '.'")
    text = config_file.read_text(encoding="utf-8") if config_file.exists() else EMPTY_CONFIG
    if name in listed_names(text):
        return False
    start = text.find("model_config_list")
    end = text.rfind("}")
    if start < 0 or end < start:
        raise ModelConfigError(f"{config_file} holds no model_config_list {{ ... }}")
    head = text[:end].rstrip(" ")
    if not head.endswith("\n"):
        head += "\n"
    _replace(config_file, head + config_entry(name, base_path) + text[end:])
    return True


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
