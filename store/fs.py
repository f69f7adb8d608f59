"""Store URLs: `s3://bucket/prefix` names a store (or a trace) on object storage.

A local path stays the embedded default; only a URL is resolved to an fsspec filesystem (s3fs).
Endpoint, region and credentials come from the usual AWS environment variables (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION/AWS_DEFAULT_REGION, AWS_ENDPOINT_URL[_S3])
and from `--storage-option KEY=VALUE` (s3fs's own keys: key, secret, token, endpoint_url, region,
anon, ...). Every failure of the backend is one InputError naming the URL.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tdxray.schema.errors import InputError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

SCHEMES = ("s3://",)
CONNECT_TIMEOUT_S = 5
RETRIES = 2  # botocore's attempts on a dropped connection

_options: dict[str, str] = {}


def is_url(arg: str | os.PathLike[str]) -> bool:
    return isinstance(arg, str) and arg.startswith(SCHEMES)


def set_storage_options(items: Mapping[str, str]) -> None:
    """The `--storage-option` values of this command (they apply to every URL it opens)."""
    _options.clear()
    _options.update(items)


def storage_options() -> dict[str, str]:
    return dict(_options)


def parse_storage_options(given: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"{item!r}: expected KEY=VALUE", "--storage-option")
        out[key] = value
    return out


Listing = Mapping[str, Mapping[str, Any]]  # key (bucket/prefix/name) -> s3fs's info of it


@dataclass(frozen=True)
class Location:
    """A URL split into its filesystem and the path inside it (bucket/prefix, no scheme);
    `listing`: every object under the store it belongs to, when it was listed (one request
    per 1,000 objects instead of a request per object asked about)."""

    url: str
    fs: AbstractFileSystem
    path: str
    listing: Listing | None = field(default=None, compare=False, repr=False)

    def join(self, name: str) -> Location:
        path = f"{self.path.rstrip('/')}/{name}"
        return Location(f"s3://{path}", self.fs, path, self.listing)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def _s3_kwargs(options: Mapping[str, str]) -> dict[str, object]:
    opts: dict[str, object] = dict(options)
    client: dict[str, object] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint and "endpoint_url" not in opts:
        opts["endpoint_url"] = endpoint
    # named explicitly (not left to botocore's lookup) so that fsspec's cache of filesystems,
    # keyed by these arguments, gives a new one when the credentials change
    for key, env in (("key", "AWS_ACCESS_KEY_ID"), ("secret", "AWS_SECRET_ACCESS_KEY"),
                     ("token", "AWS_SESSION_TOKEN")):
        if env in os.environ and key not in opts:
            opts[key] = os.environ[env]
    region = opts.pop("region", None) or os.environ.get("AWS_REGION")
    if region:
        client["region_name"] = region
    if "anon" in opts:
        opts["anon"] = str(opts["anon"]).lower() in ("1", "true", "yes")
    return {**opts, "client_kwargs": client, "use_listings_cache": False,
            "config_kwargs": {"connect_timeout": CONNECT_TIMEOUT_S,
                              "retries": {"max_attempts": RETRIES}}}


def locate(url: str, options: Mapping[str, str] | None = None) -> Location:
    """The filesystem and path of a store URL (s3fs, from the environment and the options)."""
    if not is_url(url):
        raise InputError("not a store URL (s3://bucket/prefix)", url)
    try:
        import s3fs
    except ImportError:
        raise InputError("s3:// stores need s3fs: pip install s3fs", url) from None
    path = url[len("s3://"):].rstrip("/")
    if not path:
        raise InputError("a store URL names a bucket: s3://bucket/prefix", url)
    merged = {**_options, **(options or {})}
    try:
        fs = s3fs.S3FileSystem(**_s3_kwargs(merged))
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad storage option: {exc}", "--storage-option") from None
    return Location(url, fs, path)


@contextlib.contextmanager
def backend_errors(url: str) -> Iterator[None]:
    """A failure of the object store as one InputError naming the URL (credentials, a missing
    bucket, an unreachable endpoint), never a traceback."""
    try:
        yield
    except InputError:
        raise
    except FileNotFoundError as exc:
        raise InputError(f"not found: {_reason(exc)}", url) from None
    except PermissionError as exc:
        raise InputError(f"access denied (check the credentials): {_reason(exc)}", url) from None
    except OSError as exc:
        raise InputError(f"object store error: {_reason(exc)}", url) from None
    except Exception as exc:  # botocore's own errors (no endpoint, bad credentials) are not OSError
        if type(exc).__module__.split(".")[0] not in ("botocore", "aiobotocore", "s3fs",
                                                       "aiohttp"):
            raise
        raise InputError(f"object store error: {_reason(exc)}", url) from None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
