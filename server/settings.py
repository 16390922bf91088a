"""One frozen Settings Struct, loaded from the environment once.

Every field is read from the upper-case environment variable of the same name
(``database_url`` <- ``DATABASE_URL``). ``.env.example`` documents each one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from server.clock import parse_set_clock

Port = Annotated[int, Meta(ge=0, le=65535)]
PositiveInt = Annotated[int, Meta(ge=1)]
PositiveFloat = Annotated[float, Meta(gt=0)]


# The push services of Chrome/Android (FCM), Firefox, Safari/iOS and Edge/Windows.
DEFAULT_PUSH_ORIGINS = (
    "https://fcm.googleapis.com,https://updates.push.services.mozilla.com,"
    "https://web.push.apple.com,https://*.notify.windows.com"
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SettingsError(Exception):
    """A setting has a value the server cannot use; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    database_url: str | None = None
    pg_data_dir: str = ".data/pg"
    host: str = "127.0.0.1"
    port: Port = 8000
    workers: PositiveInt = 2
    public_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = False
    log_format: Literal["text", "json"] = "text"
    metrics_host: str = "127.0.0.1"
    metrics_port: Annotated[int, Meta(ge=1, le=65535)] | None = None
    trusted_proxies: str = "127.0.0.1"
    max_body_bytes: Annotated[int, Meta(ge=1024, le=10_485_760)] = 65_536
    db_pool_min_size: Annotated[int, Meta(ge=0, le=100)] = 2
    db_pool_max_size: Annotated[int, Meta(ge=1, le=200)] = 10
    db_command_timeout: PositiveFloat = 10.0
    extra_questionnaire_dir: str | None = None
    enroll_code_ttl_days: Annotated[int, Meta(ge=1, le=90)] = 14
    enroll_throttle_window_seconds: Annotated[int, Meta(ge=10, le=86_400)] = 900
    enroll_max_failures_per_client: PositiveInt = 10
    enroll_max_failures_global: PositiveInt = 1_000
    sign_in_max_failures_per_client: PositiveInt = 20
    sign_in_max_failures_global: PositiveInt = 500
    vapid_private_key: str | None = None
    vapid_subject: str | None = None
    push_allowed_origins: str = DEFAULT_PUSH_ORIGINS
    dispatcher: bool = True
    push_batch_size: Annotated[int, Meta(ge=1, le=2_000)] = 200
    push_concurrency: Annotated[int, Meta(ge=1, le=1_000)] = 100
    push_lease_seconds: Annotated[float, Meta(ge=1, le=3_600)] = 60.0
    push_timeout_seconds: Annotated[float, Meta(gt=0, le=120)] = 10.0
    push_max_attempts: Annotated[int, Meta(ge=1, le=50)] = 8
    push_retry_base_seconds: Annotated[float, Meta(gt=0, le=3_600)] = 30.0
    # Tests only: the server's clock starts at this instant (server/clock.py).
    test_clock: str | None = None

    def __post_init__(self) -> None:
        if self.db_pool_min_size > self.db_pool_max_size:
            raise SettingsError(
                "DB_POOL_MIN_SIZE must not be larger than DB_POOL_MAX_SIZE "
                f"({self.db_pool_min_size} > {self.db_pool_max_size})"
            )
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise SettingsError(
                "METRICS_PORT must differ from PORT: metrics are never served on the public port"
            )
        parts = urlsplit(self.origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise SettingsError(
                "PUBLIC_URL must be the server's origin as patients reach it, "
                "like https://checkin.example.org (no path)"
            )
        for origin in self.push_origins:
            parts = urlsplit(origin)
            # Plain http only for a push service on this machine (a test double).
            loopback_http = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
            if (
                (parts.scheme != "https" and not loopback_http)
                or not parts.netloc
                or parts.path
                or "*" in (parts.hostname or "").removeprefix("*.")
            ):
                raise SettingsError(
                    "PUSH_ALLOWED_ORIGINS must be comma-separated https origins of push "
                    "services, like https://fcm.googleapis.com or https://*.notify.windows.com "
                    f"(got {origin!r})"
                )
        rounds = -(-self.push_batch_size // self.push_concurrency)
        longest = self.push_timeout_seconds * rounds
        if self.push_lease_seconds <= longest:
            # A batch still being sent when its lease ran out would be sent again elsewhere.
            raise SettingsError(
                "PUSH_LEASE_SECONDS must be longer than a batch can take: PUSH_TIMEOUT_SECONDS "
                f"x PUSH_BATCH_SIZE / PUSH_CONCURRENCY rounds = {longest:g} s"
            )
        if self.vapid_subject is not None and not self.vapid_subject.startswith(
            ("mailto:", "https://")
        ):
            raise SettingsError(
                "VAPID_SUBJECT must be a mailto: address or an https:// URL where push services "
                "can reach the operator"
            )
        if self.test_clock is not None:
            try:
                parse_set_clock(self.test_clock)
            except ValueError as exc:
                raise SettingsError(f"TEST_CLOCK is not valid: {exc}") from None
        if self.test_clock is not None and not self.local_only:
            # A server whose clock is not the real one must never serve patients.
            raise SettingsError(
                "TEST_CLOCK is for tests: it is refused unless the server listens on and is "
                "reached at a loopback address (HOST 127.0.0.1 or ::1, PUBLIC_URL unset or "
                "http://127.0.0.1:…)"
            )
        if self.database_url is not None and not self.database_url.startswith(
            ("postgres://", "postgresql://")
        ):
            raise SettingsError("DATABASE_URL must start with postgresql:// (or postgres://)")

    @property
    def origin(self) -> str:
        """Where patients and coordinators reach the server (links are built from it)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    @property
    def local_only(self) -> bool:
        """Only this machine can reach the server: it listens on and is reached at loopback."""
        parts = urlsplit(self.origin)
        return (
            self.host in LOOPBACK_HOSTS
            and parts.scheme == "http"
            and parts.hostname in LOOPBACK_HOSTS
        )

    @property
    def push_origins(self) -> tuple[str, ...]:
        return tuple(
            o.strip().rstrip("/") for o in self.push_allowed_origins.split(",") if o.strip()
        )

    @property
    def push_subject(self) -> str:
        """Who push services contact about our messages (the VAPID ``sub`` claim)."""
        if self.vapid_subject:
            return self.vapid_subject
        if self.origin.startswith("https://"):
            return self.origin
        return "mailto:operator@localhost"

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry the Secure flag whenever the public origin is https."""
        return self.origin.startswith("https://")

    @classmethod
    def env_names(cls) -> tuple[str, ...]:
        return tuple(name.upper() for name in cls.__struct_fields__)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from the environment; a bad value names its variable."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        hints = msgspec.structs.fields(cls)
        for field in hints:
            name = field.name.upper()
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[field.name] = msgspec.convert(raw.strip(), field.type, strict=False)
            except msgspec.ValidationError as exc:
                message = str(exc).split(" - at ")[0]
                raise SettingsError(f"{name} is not valid: {message}") from None
        return cls(**values)  # type: ignore[arg-type]
