"""docker-compose.yml exposes only what it should and passes the bot only what it reads.
(`docker-compose config` with every profile runs in .ci/run.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def _interpolate(text: str) -> str:
    """What compose makes of `text` with .env.example as the .env."""
    env = _env_example()

    def value(match: re.Match[str]) -> str:
        name, kind, default = match.groups()
        given = env.get(name, "")
        return given if given or kind != "-" else default

    return VARIABLE.sub(value, text)


def test_the_bot_gets_only_the_variables_it_reads() -> None:
    bot = SERVICES["bot"]
    assert "env_file" not in bot
    fields = {name.upper() for name in Settings.model_fields}
    assert set(bot["environment"]) <= fields, set(bot["environment"]) - fields
    mentioned = " ".join(str(v) for v in bot["environment"].values())
    for name in ("MYSQL_ROOT_PASSWORD", "TELEGRAM_API_HASH", "TELEGRAM_API_ID"):
        assert name not in bot["environment"] and name not in mentioned


def test_every_variable_compose_reads_is_documented_in_env_example() -> None:
    used = set(VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    documented = set(_env_example())
    missing = {name for name, _, _ in used} - documented
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_only_the_tls_proxy_listens_beyond_loopback() -> None:
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            published = _interpolate(str(port))
            if name == "caddy":
                assert published.split(":")[0] in {"80", "443"}, published
            else:
                assert published.startswith("127.0.0.1:"), f"{name}: {published}"
    assert SERVICES["caddy"]["profiles"] == ["https"]


def test_the_bot_port_range_lets_replicas_scale_behind_the_proxy() -> None:
    (port,) = SERVICES["bot"]["ports"]
    _, ports, container = _interpolate(port).split(":")
    first, _, last = ports.partition("-")
    assert int(last) - int(first) >= 2, "three replicas need three host ports"
    assert container == SERVICES["bot"]["environment"]["LISTEN_PORT"]
    assert "container_name" not in SERVICES["bot"]
    caddyfile = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    assert re.search(r"dynamic a \{\s*name bot\s*port " + container, caddyfile)
    assert "lb_policy round_robin" in caddyfile


def test_images_are_pinned_and_the_bot_can_be_built_or_pulled() -> None:
    for name, service in SERVICES.items():
        image = _interpolate(service["image"])
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest", f"{name}: {image}"
    assert SERVICES["bot"]["build"] == "."
    assert SERVICES["bot"]["image"].startswith("${DETECTX_IMAGE:-")


def test_config_files_mounted_from_deploy_exist() -> None:
    mounted = [v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", [])]
    from_deploy = [source for source in mounted if source.startswith("./deploy/")]
    assert len(from_deploy) >= 5
    for source in from_deploy:
        assert (ROOT / source).exists(), source


def test_the_monitoring_profile_runs_prometheus_with_the_rules_and_grafana() -> None:
    assert SERVICES["prometheus"]["profiles"] == ["monitoring"]
    assert SERVICES["grafana"]["profiles"] == ["monitoring"]
    mounts = SERVICES["prometheus"]["volumes"]
    assert "./deploy/monitoring/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    assert "./deploy/monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
