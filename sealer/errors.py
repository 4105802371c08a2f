"""The exceptions sealer raises, one tree so callers catch at the depth they need.

SealerError                      every error of ours; its message never holds a secret
├── DecryptionError              any unseal failure, deliberately opaque (wrong key, label,
│                                tampering, truncation: the caller cannot tell which)
├── InputError                   bad user input; names the object and the field
│   ├── ManifestError            YAML/JSON that is not the Secret/SealedSecret expected
│   └── ScopeError               incoherent scope, name or namespace
├── CertificateError             missing, unreadable, non-RSA, expired or unpinned certificate
├── KeyMaterialError             a private key that cannot be read or is not RSA
└── ClusterError                 the API server or the controller cannot be reached or refused
"""

from __future__ import annotations


class SealerError(Exception):
    """Base of every sealer error."""


class DecryptionError(SealerError):
    """Raised for every decryption failure, whatever the cause."""

    def __init__(self, message: str = "no key could decrypt the item") -> None:
        super().__init__(message)


def printable(text: str) -> str:
    """``text`` with control characters and lone surrogates escaped (``\\n``, ``\\ud800``):
    names taken from hostile input must not split a one-line error or break its output."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class InputError(SealerError):
    """Bad input: ``where`` names the object and field so the user can find it."""

    def __init__(self, message: str, *, where: str = "") -> None:
        self.where = printable(where)
        message = printable(message)
        super().__init__(f"{self.where}: {message}" if where else message)


class ManifestError(InputError):
    """A manifest that cannot be read or is not the kind expected."""


class ScopeError(InputError):
    """A scope, name or namespace that contradicts the input."""


class CertificateError(SealerError):
    """A certificate that cannot be used for sealing."""


class KeyMaterialError(SealerError):
    """A private key that cannot be used for unsealing."""


class ClusterError(SealerError):
    """The API server or the controller failed or cannot be reached."""
