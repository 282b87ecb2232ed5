"""Production settings: refuse to start without secrets, pass `check --deploy`, never mount the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SANDBOX_", "CREDENTIALS_"))}
    clean["DJANGO_ENV_FILE"] = ""  # never the developer's .env (bin/demo writes one with DJANGO_DEBUG=true)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "x" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
    "CREDENTIALS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "DJANGO_ALLOWED_HOSTS": "backoffice.example.com",
}


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", env={"DJANGO_DEBUG": "false"})
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_an_encryption_key():
    env = {k: v for k, v in PRODUCTION.items() if k != "CREDENTIALS_ENCRYPTION_KEYS"}
    result = _manage("check", env=env)
    assert result.returncode != 0 and "CREDENTIALS_ENCRYPTION_KEYS must be set" in result.stderr


def test_check_deploy_is_clean_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_sandbox_is_not_reachable_in_production():
    code = ("from django.urls import resolve, Resolver404\n"
            "try:\n    resolve('/sandbox/mirakl/api/orders'); print('MOUNTED')\n"
            "except Resolver404:\n    print('ABSENT')\n")
    result = _manage("shell", "-c", code, env=PRODUCTION)
    assert result.stdout.strip().splitlines()[-1] == "ABSENT", result.stderr


def test_check_deploy_warns_when_the_sandbox_is_mounted_in_production():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, "SANDBOX_ENABLED": "true"})
    assert result.returncode != 0 and "sandbox.W001" in result.stderr + result.stdout


def test_debug_is_off_unless_asked_for():
    code = "from django.conf import settings; print(settings.DEBUG, settings.SANDBOX_ENABLED)"
    result = _manage("shell", "-c", code, env={k: v for k, v in PRODUCTION.items() if k != "DJANGO_DEBUG"})
    assert result.stdout.strip().splitlines()[-1] == "False False", result.stderr


def test_migrations_match_the_models():
    result = _manage("makemigrations", "--check", "--dry-run", env={"DJANGO_DEBUG": "true"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_env_file_is_read_only_where_named(tmp_path):
    dot_env = tmp_path / ".env"
    dot_env.write_text("DJANGO_DEBUG=true\n")
    code = "from django.conf import settings; print(settings.DEBUG)"
    production = {k: v for k, v in PRODUCTION.items() if k != "DJANGO_DEBUG"}
    named = _manage("shell", "-c", code, env={**production, "DJANGO_ENV_FILE": str(dot_env)})
    assert named.stdout.strip().splitlines()[-1] == "True", named.stderr
    unnamed = _manage("shell", "-c", code, env=production)
    assert unnamed.stdout.strip().splitlines()[-1] == "False", unnamed.stderr


def test_the_tests_ignore_the_checkouts_env_file_and_data_folder():
    from django.conf import settings

    assert os.environ["DJANGO_ENV_FILE"] == ""
    assert Path(settings.DATA_DIR) != ROOT / "data" and not list(Path(settings.DATA_DIR).glob("*.txt"))
