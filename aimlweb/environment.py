"""Reading the environment: typed values that stop start-up with a message naming the variable, and the
checks of what a value may be (a provider URL, proxy addresses, a secret key). aimlweb/settings.py reads
every setting through these.
"""

import ipaddress
import os
import socket
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = env.str(name, default=str(default))
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def env_number(name: str, default, cast=int, minimum=None):
    raw = env.str(name, default=str(default))
    try:
        value = cast(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a {cast.__name__}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.str(name, default=default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}.")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env.str(name, default=default).split(",") if item.strip()]


def private_file(path) -> None:
    """Create `path` empty with mode 0600 if missing (SQLite then makes its -wal/-shm alike), or chmod it."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        path.chmod(0o600)
    except PermissionError:
        pass


def weak_secret_key(key: str) -> bool:
    # Django's own check (security.W009): at least 50 characters, 5 distinct, not "django-insecure-".
    return len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-")


def parse_proxies(raw: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """TRUSTED_PROXIES: addresses or networks, comma-separated ("127.0.0.1, 10.0.0.0/8")."""
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item))  # strict, as gunicorn reads the same value
        except ValueError:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {item!r} is not an IP address or network (like 127.0.0.1 or 10.0.0.0/8)."
            ) from None
    return networks


def host_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a numeric host means to the resolver, or None for a name.

    The resolver (inet_aton) also reads "2852039166", "169.254.43518", "0xA9FEA9FE" and
    "0251.0376.0251.0376" as 169.254.169.254, which ipaddress alone calls names.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def base_url_problem(url: str, allow_private: bool) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    ip = host_address(host)
    loopback = host == "localhost" or host.endswith(".localhost") or (ip is not None and ip.is_loopback)
    if parts.scheme != "https" and not loopback:
        return "must be https:// (plain http is only allowed to this machine: 127.0.0.1 or localhost)"
    if ip is not None and not loopback and not ip.is_global and not allow_private:
        return "is a private, link-local or reserved address; set AIMLAPI_ALLOW_PRIVATE=true if that is intended"
    return ""


def env_usd(name: str):
    """A USD amount (Decimal), or None when the variable is empty or unset."""
    raw = env.str(name, default="").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an amount in USD (e.g. 50 or 12.5); empty for none.")
    return value


EMAIL_SCHEMES = {"smtp": 25, "smtps": 587, "smtp+tls": 587, "smtp+ssl": 465, "consolemail": None}


def email_config(raw: str) -> dict:
    """EMAIL_URL (django-environ's email_url) as Django's EMAIL_* settings.

    smtp:// (plain, port 25), smtp+tls:// or smtps:// (STARTTLS, 587), smtp+ssl:// (TLS from the start, 465),
    consolemail:// (printed by the process that sends). A user name or password with @ or : is percent-encoded.
    No message names the password.
    """
    scheme = urlsplit(raw).scheme.lower()
    if scheme not in EMAIL_SCHEMES:
        raise ImproperlyConfigured(
            f"EMAIL_URL must start with smtp://, smtp+tls://, smtp+ssl:// or consolemail:// (not {scheme or 'nothing'}://)."
        )
    config = environ.Env.email_url_config(raw)
    if scheme != "consolemail" and not config.get("EMAIL_HOST"):
        raise ImproperlyConfigured(
            "EMAIL_URL names no mail server, e.g. smtp+tls://user:password@mail.example.com:587."
        )
    config["EMAIL_PORT"] = config.get("EMAIL_PORT") or EMAIL_SCHEMES[scheme] or 25
    config["EMAIL_HOST"] = config.get("EMAIL_HOST") or "localhost"
    config["EMAIL_HOST_USER"] = config.get("EMAIL_HOST_USER") or ""
    config["EMAIL_HOST_PASSWORD"] = config.get("EMAIL_HOST_PASSWORD") or ""
    config.pop("EMAIL_FILE_PATH", None)
    return config


def site_url_problem(url: str, https_only: bool) -> str:
    """SITE_URL (the base of the links in emails and invitations): an http(s) origin, nothing else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL like https://chat.example.com"
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        return "must be the site's origin only (scheme, host and port: no path, query or user name)"
    if https_only and parts.scheme != "https":
        return "must be https:// with HTTPS_ONLY=true"
    return ""


def from_address_problem(value: str) -> str:
    """DEFAULT_FROM_EMAIL: one address, optionally with a name ("aimlweb <chat@example.com>"), on one line."""
    from email.utils import getaddresses, parseaddr

    from django.core.validators import validate_email

    if any(ch in value for ch in "\r\n\x00"):
        return "must be on one line"
    if len(getaddresses([value])) != 1:
        return "must be one address"
    name, address = parseaddr(value)
    try:
        validate_email(address)
    except Exception:
        return 'is not an email address (e.g. chat@example.com or "aimlweb <chat@example.com>")'
    return ""
