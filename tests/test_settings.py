"""The console is configured from the environment, and production mode is strict."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from recovery_console.oidc.keys import new_private_key

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, **env):
    unset = {"SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    full_env = {k: v for k, v in os.environ.items() if k not in unset}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env,
        capture_output=True, text=True, timeout=120,
    )


def test_production_settings_pass_the_deployment_checklist():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_SETTINGS_MODULE="recovery_console.production",
        SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="console.example.org",
        OIDC_RSA_PRIVATE_KEY=new_private_key(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_the_openid_providers_signing_key():
    result = manage("check", DJANGO_SETTINGS_MODULE="recovery_console.production",
                    SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="console.example.org",
                    OIDC_RSA_PRIVATE_KEY="")
    assert result.returncode != 0
    assert "OIDC_RSA_PRIVATE_KEY must hold" in result.stderr


def test_production_refuses_to_start_without_a_real_secret_key():
    result = manage("check", DJANGO_SETTINGS_MODULE="recovery_console.production")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_malformed_number_in_the_environment_is_a_clear_error():
    result = manage("check", STAFF_IDLE_TIMEOUT_SECONDS="fifteen")
    assert result.returncode != 0
    assert "STAFF_IDLE_TIMEOUT_SECONDS must be an integer" in result.stderr


def test_an_unknown_phone_region_is_a_clear_error():
    result = manage("check", PHONE_REGION="UK")  # the United Kingdom's code is GB
    assert result.returncode != 0
    assert "PHONE_REGION must be a region code such as GB, US or DE, got 'UK'" in result.stderr


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy_without_inline_scripts(client):
    response = client.get("/accounts/sign-in/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.content.decode()
