"""Harvest run reports: what was read, kept, rejected (with reasons) and warned about."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Reject(BaseModel):
    """One record the normaliser refused, with the reason."""

    reason: str = Field(description="Machine-readable reason, e.g. 'missing_series_uid'.")
    key: str | None = Field(None, description="Whatever identifies the record in the source.")
    detail: str | None = None


class UnmappedValue(BaseModel):
    value: str = Field(description="The raw value (procedure: 'MODALITY | StudyDescription').")
    records: int


class UnmappedField(BaseModel):
    """Raw values of one field the vocabulary tables do not know (harmonised to null)."""

    records: int = Field(description="Records whose value is unmapped.")
    distinct: int = Field(description="Distinct unmapped values.")
    top: list[UnmappedValue] = Field(
        default_factory=list, description="The most frequent ones (all: ihub vocab unmapped).")


class HarvestReport(BaseModel):
    """Outcome of one harvest of one source."""

    source: str
    run_id: str
    source_version: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field(
        "running", description="running / staged / published / held / failed / abandoned")
    read: int = 0
    series: int = 0
    collections: int = 0
    rejected: dict[str, int] = Field(default_factory=dict, description="reason -> count")
    reject_samples: list[Reject] = Field(default_factory=list, description="first few rejects")
    warnings: dict[str, int] = Field(
        default_factory=dict, description="value normalised to null, by kind -> count"
    )
    warning_samples: list[Reject] = Field(
        default_factory=list, description="first few warnings that name a record (e.g. a "
        "UID listed twice), with details")
    scope: str | None = Field(None, description="StudyDate window of an incremental run")
    added: int | None = Field(None, description="Series new since the last published run")
    updated: int | None = None
    unchanged: int | None = None
    deleted: int | None = Field(None, description="Published series no longer at the source")
    error: str | None = None
    unmapped: dict[str, UnmappedField] = Field(
        default_factory=dict, description="Per harmonised field, the raw values no vocabulary "
        "table maps (also counted as warnings 'unmapped_<field>').")
    vocabularies: str | None = Field(
        None, description="Fingerprint of the vocabulary tables the run was harmonised with.")

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())
