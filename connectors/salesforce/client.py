"""Build a `simple_salesforce.Salesforce` client from `Settings`.

Credential precedence (first complete set wins, as `ARCHITECTURE.md` fixes it):
1. `SALESFORCE_ACCESS_TOKEN` — used as the session id as is;
2. `SALESFORCE_CLIENT_ID` + `SALESFORCE_CLIENT_SECRET` — OAuth 2.0 client-credentials flow, POST to
   `<instance>/services/oauth2/token` (a connected app with "client credentials" enabled);
3. `SALESFORCE_USERNAME` + `SALESFORCE_PASSWORD` + `SALESFORCE_SECURITY_TOKEN` — SOAP login.

The client always gets our own session (timeouts, GET retries, `trust_env=False`, and the
https→http rewrite when the instance URL is `http://`, i.e. a local fake; see `connectors/_http.py`),
`version="59.0"` so client and fake agree, and `parse_float=Decimal` so money stays exact.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from connectors._http import default_retry, make_session
from connectors.salesforce.errors import SalesforceConfigError  # noqa: F401 - re-exported
from connectors.settings import Settings

API_VERSION = "59.0"
LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")


@dataclass(frozen=True)
class SalesforceAuth:
    """The one credential variant chosen from the settings (secrets kept out of repr)."""

    instance_url: str
    method: str  # "access_token" | "client_credentials" | "password"

    @classmethod
    def from_settings(cls, settings: Settings) -> "SalesforceAuth":
        url = (settings.salesforce_instance_url or "").rstrip("/")
        if not url:
            raise SalesforceConfigError(
                "SALESFORCE_INSTANCE_URL is not set; set it to your org URL "
                "(https://<domain>.my.salesforce.com) or the sandbox fake (http://127.0.0.1:<port>)"
            )
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise SalesforceConfigError(f"SALESFORCE_INSTANCE_URL={url!r} is not an http(s) URL")
        if settings.salesforce_access_token:
            return cls(url, "access_token")
        if settings.salesforce_client_id and settings.salesforce_client_secret:
            return cls(url, "client_credentials")
        if settings.salesforce_username and settings.salesforce_password and settings.salesforce_security_token:
            return cls(url, "password")
        raise SalesforceConfigError(
            "no Salesforce credentials: set SALESFORCE_ACCESS_TOKEN, or SALESFORCE_CLIENT_ID + "
            "SALESFORCE_CLIENT_SECRET, or SALESFORCE_USERNAME + SALESFORCE_PASSWORD + SALESFORCE_SECURITY_TOKEN"
        )


def make_sf_session(instance_url: str, retry=None, read_timeout: float = 120.0) -> requests.Session:
    """`retry`: a urllib3 `Retry` for GETs (default `default_retry()`: 5 retries, exponential
    backoff with jitter); tests pass one with a tiny backoff. Every call gets a (10 s connect,
    `read_timeout`) timeout, `LTC_SF_TIMEOUT_S`; a read timeout on a GET is retried like a 5xx."""
    # for an http:// instance the login hosts are rewritten too, so password login reaches the fake
    return make_session(instance_url, retry=retry or default_retry(), extra_https_hosts=LOGIN_HOSTS,
                        timeout=(10.0, read_timeout))


def client_credentials_token(session: requests.Session, instance_url: str, settings: Settings) -> tuple[str, str]:
    """OAuth client-credentials grant → (access_token, instance_url)."""
    resp = session.post(
        f"{instance_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": settings.salesforce_client_id,
            "client_secret": settings.salesforce_client_secret,
        },
    )
    if resp.status_code != 200:
        try:
            detail = resp.json().get("error_description") or resp.json().get("error")
        except ValueError:
            detail = resp.text[:200]
        raise SalesforceConfigError(
            f"Salesforce OAuth client-credentials login failed ({resp.status_code}: {detail}); "
            "check SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET"
        )
    body = resp.json()
    # keep the configured scheme: an http fake answers with its own URL, a real org with https
    returned = body.get("instance_url") or instance_url
    if urlsplit(instance_url).scheme == "http":
        returned = instance_url
    return body["access_token"], returned.rstrip("/")


def _login_domain(instance_url: str) -> str:
    """simple-salesforce logs in at https://<domain>.salesforce.com: derive it from My Domain."""
    host = urlsplit(instance_url).hostname or ""
    if host.endswith(".salesforce.com"):
        return host.removesuffix(".salesforce.com")
    return "login"


def build_client(settings: Settings, *, retry=None) -> Salesforce:
    auth = SalesforceAuth.from_settings(settings)
    session = make_sf_session(auth.instance_url, retry, settings.salesforce_timeout_s)
    common = dict(session=session, version=API_VERSION, parse_float=decimal.Decimal, object_pairs_hook=dict)
    if auth.method == "access_token":
        return Salesforce(instance_url=auth.instance_url, session_id=settings.salesforce_access_token, **common)
    if auth.method == "client_credentials":
        token, instance_url = client_credentials_token(session, auth.instance_url, settings)
        return Salesforce(instance_url=instance_url, session_id=token, **common)
    domain = _login_domain(auth.instance_url)
    if urlsplit(auth.instance_url).scheme == "http":
        domain = "login"  # rewritten to the fake by the session
    try:
        return Salesforce(
            username=settings.salesforce_username,
            password=settings.salesforce_password,
            security_token=settings.salesforce_security_token,
            domain=domain,
            **common,
        )
    except SalesforceAuthenticationFailed as exc:
        # the library's message is the SOAP fault (code and text, no credentials)
        raise SalesforceConfigError(
            f"Salesforce username/password login failed ({exc.code}: {exc.message}); check SALESFORCE_USERNAME, "
            "SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN (a new token is mailed after a password reset)"
        ) from None
