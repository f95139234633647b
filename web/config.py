"""Settings from environment variables (``CRAFTMATCH_*``) with development defaults.

Production mode refuses to start with the development secret key, so a forgotten
variable cannot ship a guessable session signature.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import argon2

logger = logging.getLogger("craftmatch.config")

DEV_SECRET_KEY = "dev-only-secret-change-me"
# argon2-cffi's default, RFC 9106's second recommendation (64 MiB, 3 passes)
DEFAULT_PASSWORD_HASH_PROFILE = "RFC_9106_LOW_MEMORY"
DEFAULT_SQLITE_PATH = Path("instance") / "craftmatch.sqlite"


class ConfigError(RuntimeError):
    """The configuration cannot be used (e.g. production with the development secret)."""


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def default_database_url() -> str:
    return f"sqlite:///{DEFAULT_SQLITE_PATH.resolve()}"


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read the environment into a plain dict; ``overrides`` win (tests use them)."""
    env = os.environ
    config: dict[str, Any] = {
        "ENV": env.get("CRAFTMATCH_ENV", "development"),
        "SECRET_KEY": env.get("CRAFTMATCH_SECRET_KEY", DEV_SECRET_KEY),
        "DATABASE_URL": env.get("CRAFTMATCH_DATABASE_URL") or default_database_url(),
        "DATABASE_ECHO": _env_bool("CRAFTMATCH_DATABASE_ECHO", False),
        "REDIS_URL": env.get("CRAFTMATCH_REDIS_URL") or None,
        # None: the Redis server when CRAFTMATCH_REDIS_URL is set, else memory:// (see resolve_rate_limits)
        "RATELIMIT_STORAGE_URI": env.get("CRAFTMATCH_RATELIMIT_STORAGE_URI") or None,
        "RATELIMIT_ENABLED": _env_bool("CRAFTMATCH_RATELIMIT_ENABLED", True),
        # Redis down: count in each worker's memory meanwhile rather than answer 500
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "PUBLIC_SUBMIT_LIMIT": env.get("CRAFTMATCH_PUBLIC_SUBMIT_LIMIT", "10 per hour;30 per day"),
        "PUBLIC_LOOKUP_LIMIT": env.get("CRAFTMATCH_PUBLIC_LOOKUP_LIMIT", "20 per hour"),
        # failed logins only: per account (anyone can lock one account, never the whole office) and per address
        "LOGIN_ACCOUNT_LIMIT": env.get("CRAFTMATCH_LOGIN_ACCOUNT_LIMIT", "10 per 10 minutes"),
        "LOGIN_ADDRESS_LIMIT": env.get("CRAFTMATCH_LOGIN_ADDRESS_LIMIT", "20 per 10 minutes"),
        # argon2's parameters for staff passwords, by name in argon2.profiles (the test suite runs CHEAPEST)
        "PASSWORD_HASH_PROFILE": env.get("CRAFTMATCH_PASSWORD_HASH_PROFILE", DEFAULT_PASSWORD_HASH_PROFILE),
        # proxies in front of the app whose X-Forwarded-For/-Proto are believed (0: none, the peer is the client)
        "TRUSTED_PROXIES": env.get("CRAFTMATCH_TRUSTED_PROXIES", "0"),
        "MAX_CONTENT_LENGTH": int(env.get("CRAFTMATCH_MAX_CONTENT_LENGTH", str(8 * 1024 * 1024))),
        # A background solve is stopped after this long; a worker silent for the grace is taken as gone.
        "SOLVE_TIMEOUT_SECONDS": int(env.get("CRAFTMATCH_SOLVE_TIMEOUT_SECONDS", "900")),
        "SOLVE_HEARTBEAT_GRACE_SECONDS": int(env.get("CRAFTMATCH_SOLVE_HEARTBEAT_GRACE_SECONDS", "120")),
        # The outbox: the SMS gateway ("log" or "module:Class", built with the SMS_* settings), SMTP for
        # recipients with an e-mail address (MAIL_SERVER unset: e-mails are logged), retries with backoff.
        "NOTIFICATION_BACKEND": env.get("CRAFTMATCH_NOTIFICATION_BACKEND", "log"),
        "NOTIFICATION_MAX_ATTEMPTS": int(env.get("CRAFTMATCH_NOTIFICATION_MAX_ATTEMPTS", "5")),
        "NOTIFICATION_RETRY_SECONDS": int(env.get("CRAFTMATCH_NOTIFICATION_RETRY_SECONDS", "300")),
        "SMS_API_URL": env.get("CRAFTMATCH_SMS_API_URL") or None,
        "SMS_API_KEY": env.get("CRAFTMATCH_SMS_API_KEY") or None,
        "SMS_SIGN_NAME": env.get("CRAFTMATCH_SMS_SIGN_NAME", "劳模工匠助企行"),
        "MAIL_SERVER": env.get("CRAFTMATCH_MAIL_SERVER") or None,
        "MAIL_PORT": int(env.get("CRAFTMATCH_MAIL_PORT", "25")),
        "MAIL_USERNAME": env.get("CRAFTMATCH_MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("CRAFTMATCH_MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _env_bool("CRAFTMATCH_MAIL_USE_TLS", False),
        "MAIL_USE_SSL": _env_bool("CRAFTMATCH_MAIL_USE_SSL", False),
        "MAIL_TIMEOUT": int(env.get("CRAFTMATCH_MAIL_TIMEOUT", "10")),
        "MAIL_DEFAULT_SENDER": env.get("CRAFTMATCH_MAIL_DEFAULT_SENDER", "craftmatch@localhost"),
        "UPLOAD_DIR": env.get("CRAFTMATCH_UPLOAD_DIR", str(Path("instance") / "uploads")),
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "LANGUAGES": ("zh_CN", "en"),
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Flask-Compress compresses pages and JSON; a streamed file (static/) it would wrap without ever closing
        # the file, so those go out as they are (small, and cached by the browser)
        "COMPRESS_STREAMS": False,
        "SESSION_COOKIE_SECURE": _env_bool("CRAFTMATCH_SESSION_COOKIE_SECURE", False),
        # HTTPS: a TLS-terminating proxy sits in front, so the app does not redirect to https itself unless
        # asked; HSTS is sent in production on requests that arrived over https (X-Forwarded-Proto).
        "FORCE_HTTPS": _env_bool("CRAFTMATCH_FORCE_HTTPS", False),
        "HSTS_ENABLED": None,  # None: in production only (CRAFTMATCH_HSTS=0/1 overrides)
        "API_TITLE": "craftmatch API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
    if "CRAFTMATCH_HSTS" in env:
        config["HSTS_ENABLED"] = _env_bool("CRAFTMATCH_HSTS", False)
    if overrides:
        config.update(overrides)
    resolve_rate_limits(config)
    if config["HSTS_ENABLED"] is None:
        config["HSTS_ENABLED"] = config["ENV"] == "production"
    check_config(config)
    return config


def resolve_rate_limits(config: dict[str, Any]) -> None:
    """Counters live where every worker sees them: Redis when configured; memory:// counts per process."""
    if not config.get("RATELIMIT_STORAGE_URI"):
        config["RATELIMIT_STORAGE_URI"] = config.get("REDIS_URL") or "memory://"
    try:
        config["TRUSTED_PROXIES"] = int(config.get("TRUSTED_PROXIES") or 0)
    except (TypeError, ValueError):
        config["TRUSTED_PROXIES"] = -1
    if config["TRUSTED_PROXIES"] < 0:
        raise ConfigError("CRAFTMATCH_TRUSTED_PROXIES must be a whole number of proxies, 0 or more "
                          "(受信任的代理数量必须是非负整数).")
    if (config["ENV"] == "production" and config.get("RATELIMIT_ENABLED", True)
            and config["RATELIMIT_STORAGE_URI"].startswith("memory://")):
        logger.warning("Rate limits are counted in memory, separately by each worker process: with several "
                       "workers every limit is multiplied by their number. Set CRAFTMATCH_REDIS_URL (or "
                       "CRAFTMATCH_RATELIMIT_STORAGE_URI) to a Redis server shared by the workers.")


def check_config(config: dict[str, Any]) -> None:
    profile = config["PASSWORD_HASH_PROFILE"]
    if not isinstance(getattr(argon2.profiles, profile, None), argon2.Parameters):
        raise ConfigError(f"CRAFTMATCH_PASSWORD_HASH_PROFILE: {profile!r} is not a profile of argon2.profiles "
                          "(e.g. RFC_9106_LOW_MEMORY).")
    if config["ENV"] == "production":
        if profile == "CHEAPEST":
            raise ConfigError("CRAFTMATCH_PASSWORD_HASH_PROFILE=CHEAPEST is for tests only, never production "
                              "(生产环境不得使用测试用的密码哈希参数).")
        if config["SECRET_KEY"] in (None, "", DEV_SECRET_KEY) or len(config["SECRET_KEY"]) < 32:
            raise ConfigError(
                "CRAFTMATCH_SECRET_KEY must be set to a random value of at least 32 characters in "
                "production (生产环境必须设置 CRAFTMATCH_SECRET_KEY)."
            )
        config["SESSION_COOKIE_SECURE"] = True
