"""Exceptions of the registry package: callers catch these, never bare OSErrors."""


class RegistryError(Exception):
    """Base class for every error the registry raises on purpose."""


class InvalidVersionName(RegistryError, ValueError):
    """A name that does not parse as a PEP 440 version, so it can never be a version folder."""


class VersionNotFound(RegistryError, LookupError):
    """No complete version of that name exists in the registry."""


class VersionExists(RegistryError):
    """Publishing would overwrite an existing version; versions are immutable."""


class CorruptVersion(RegistryError):
    """The version folder exists but its contents cannot be used (reason in the message)."""


class RegistryUnavailable(RegistryError):
    """`versions/` itself cannot be read (missing, not a folder, no permission).

    Says nothing about any one version, so callers keep what they know and try again later
    rather than forgetting every version.
    """
