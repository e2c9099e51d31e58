"""The bot as it was at a git ref, for the e2e bench's `--baseline REF` (not a bench itself).

A temporary detached git worktree of REF (`git worktree add --detach`, removed with `git worktree
remove --force` afterwards); its bot runs with cwd and PYTHONPATH set to that worktree, so its own
bot/, db/ and handlers/ are imported rather than the venv's editable install (checked before the
run). The bench migrates the database with the current code, so REF must have the same migrations.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
MIGRATIONS = Path("db") / "migrations"
PACKAGES = ("bot", "db", "handlers")
SERVE_BOT = ("-m", "bench.serve_bot", "--http", "aiohttp", "--loop", "asyncio")
CLI_RUN = ("-c", "import sys, bot.cli; sys.exit(bot.cli.main(['run']))")


@dataclass(frozen=True)
class Baseline:
    """A checkout of `ref` and how its bot is started there (the arguments after `python`)."""

    ref: str
    commit: str
    checkout: Path
    argv: tuple[str, ...]
    imported: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.ref} (before)"

    @property
    def environment(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.checkout)}

    def describe(self) -> str:
        started = (
            " ".join(("python", *self.argv)) if self.argv == SERVE_BOT else "bot.cli.main(['run'])"
        )
        files = ", ".join(f"{name} from {path}" for name, path in self.imported.items())
        return (
            f"{self.name}: commit {self.commit[:12]} in {self.checkout}, run as {started}; {files}"
        )


def git(*args: str, cwd: Path = REPOSITORY) -> str:
    result = subprocess.run(("git", *args), cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def python_in(checkout: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`python argv` as the baseline bot is run: cwd and PYTHONPATH = the checkout."""
    return subprocess.run(
        (sys.executable, *argv),
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def migration_differences(checkout: Path) -> list[str]:
    """Migration files (db/migrations/**.py) that differ between the checkout and this code."""

    def files(root: Path) -> set[Path]:
        return {p.relative_to(root) for p in (root / MIGRATIONS).rglob("*.py")}

    ours, theirs = files(REPOSITORY), files(checkout)
    differing = ours ^ theirs
    differing |= {
        p for p in ours & theirs if not filecmp.cmp(REPOSITORY / p, checkout / p, shallow=False)
    }
    return sorted(str(p) for p in differing)


def imported_files(checkout: Path) -> dict[str, str]:
    """The `__file__` of each of the checkout's packages as its bot process imports them; each
    must be inside the checkout."""
    packages = [name for name in PACKAGES if (checkout / name / "__init__.py").is_file()]
    probe = (
        f"import json, importlib; print(json.dumps({{n: importlib.import_module(n).__file__ "
        f"for n in {packages!r}}}))"
    )
    result = python_in(checkout, "-c", probe)
    if result.returncode != 0:
        raise SystemExit(f"the baseline's packages do not import:\n{result.stderr[-2000:]}")
    imported: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    outside = {
        n: f
        for n, f in imported.items()
        if not Path(f).resolve().is_relative_to(checkout.resolve())
    }
    if outside or "bot" not in imported:
        raise SystemExit(f"the baseline imports code outside its checkout {checkout}: {outside}")
    return imported


def start_command(checkout: Path) -> tuple[str, ...]:
    """bench.serve_bot --http/--loop if the ref's takes them, else `bot.cli.main(["run"])`."""
    result = python_in(checkout, "-m", "bench.serve_bot", "--help")
    if result.returncode == 0 and "--http" in result.stdout and "--loop" in result.stdout:
        return SERVE_BOT
    probe = python_in(checkout, "-c", "import bot.cli; bot.cli.main")
    if probe.returncode != 0:
        raise SystemExit("the baseline has neither bench.serve_bot --http/--loop nor bot.cli.main")
    return CLI_RUN


@contextmanager
def baseline_checkout(ref: str) -> Iterator[Baseline]:
    """REF checked out in a temporary detached worktree, checked; removed at the end."""
    commit = git("rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}")
    parent = Path(tempfile.mkdtemp(prefix="detectx-baseline-"))
    checkout = parent / "checkout"
    git("worktree", "add", "--detach", str(checkout), commit)
    try:
        if differing := migration_differences(checkout):
            raise SystemExit(
                f"--baseline {ref}: its database migrations differ from this code's (the bench "
                f"migrates with this code, so the baseline would run on a schema it does not "
                f"know): {', '.join(differing)}"
            )
        imported = imported_files(checkout)
        yield Baseline(ref, commit, checkout, start_command(checkout), imported)
    finally:
        git("worktree", "remove", "--force", str(checkout))
        shutil.rmtree(parent, ignore_errors=True)
