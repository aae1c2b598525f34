"""The project's exception tree, one place for every layer.

    IhubError
    ├── ConfigError            bad sources.toml entry, bad environment value
    ├── HarvestError           a harvest could not complete; nothing was published
    │   ├── SourceUnavailable  the source could not be reached or answered 5xx/timeouts
    │   └── SourceFormatError  the source answered, but not in the shape we expect
    ├── StoreError             the index store failed
    │   ├── NoIndexError       nothing has been published yet
    │   ├── StaleCursorError   a paging token from a generation no longer served
    │   └── StoreUnavailable   the search-engine cluster cannot answer (now)
    ├── QueryError             a well-formed request the index cannot answer (bad field, ...)
    ├── CohortNotFound         no saved cohort with that id the caller may read (404)
    └── AccessError            who is asking, and whether it can be recorded
        ├── ScopeError         a token scope that cannot be read (ihub token create)
        ├── TokenError         a token name that is taken, unknown, or already revoked
        ├── InvalidToken       a bearer token that is malformed, unknown or revoked (401)
        └── AuditError         the audit log cannot be written: the query is refused

Per-record problems are not exceptions: they are ``Reject`` entries counted in a
``HarvestReport`` (see ``imaging_hub.schemas.report``).
"""


class IhubError(Exception):
    """Base of every error imaging-hub raises on purpose."""


class ConfigError(IhubError):
    """The configuration (sources.toml, environment) is invalid."""


class HarvestError(IhubError):
    """A harvest failed as a whole; the previously published index keeps answering."""


class SourceUnavailable(HarvestError):
    """The source could not be reached, timed out, or kept answering 5xx."""


class SourceFormatError(HarvestError):
    """The source answered with a payload we cannot read at all."""


class StoreError(IhubError):
    """The index store failed to read or publish a generation."""


class NoIndexError(StoreError):
    """No generation has been published yet: run ``ihub harvest`` first."""


class StaleCursorError(StoreError):
    """A paging token names a generation that is no longer served."""


class StoreUnavailable(StoreError):
    """The search-engine cluster could not answer: unreachable, timed out, or shards
    unavailable. The API answers 503; retrying later is the remedy."""


class QueryError(IhubError):
    """The query names a field, value or range the index cannot answer."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CohortNotFound(IhubError):
    """No saved cohort with this id that the caller may read (the API answers 404, worded
    like an unknown id)."""


class AccessError(IhubError):
    """Tokens, scopes and the audit log."""


class ScopeError(AccessError):
    """A scope string that cannot be read; the message names the item."""


class TokenError(AccessError):
    """An operator's token command cannot be done (name taken, unknown, revoked)."""


class InvalidToken(AccessError):
    """The caller's bearer token is malformed, unknown or revoked: the API answers 401."""


class AuditError(AccessError):
    """The audit log could not be written; queries that must be audited are refused
    (the API answers 503) rather than answered unrecorded."""
