"""Pure value normalisers shared by every source (DICOM strings in, clean values out).

Each returns ``None`` for values it cannot read; callers count those as warnings.
"""

from __future__ import annotations

import html
import re

_AS = re.compile(r"^(\d{3})([DWMY])$")
_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}
SEXES = frozenset({"M", "F", "O"})


def parse_age(raw: str | None) -> float | None:
    """DICOM Age String (``nnnD|W|M|Y``) to years; ``None`` for empty or malformed values.

    Case and surrounding spaces are forgiven (``042y`` is 42); a bare number without unit,
    a wrong width or letters are not (DICOM PS3.5 §6.2 defines AS as exactly 4 characters).
    """
    if raw is None:
        return None
    match = _AS.match(raw.strip().upper())
    if match is None:
        return None
    return round(int(match.group(1)) * _UNIT_YEARS[match.group(2)], 4)


def code(raw: str | None) -> str | None:
    """A DICOM code string as stored: trimmed, upper-cased, empty → ``None``."""
    if raw is None:
        return None
    value = raw.strip().upper()
    return value or None


def sex(raw: str | None) -> str | None:
    """PatientSex to M/F/O; anything else (U, digits, empty) → ``None``."""
    value = code(raw)
    return value if value in SEXES else None


def text(raw: str | None) -> str | None:
    """Free text trimmed; empty → ``None``."""
    if raw is None:
        return None
    value = raw.strip()
    return value or None


# The subject rule, the same for every source type. A series whose PatientID is empty
# (DICOM type 2: present but may be empty) is kept, never dropped, and counted under one
# placeholder subject per StudyInstanceUID: a study belongs to exactly one patient, so this
# never merges two people, while keeping all empty-PatientID series as *one* subject would
# merge every unrelated person of the source. The cost: one person's several such studies
# count as several subjects, so for these series the subject count is an upper bound.
# The placeholder's parentheses and space mark it as ours; a real PatientID equal to it
# would have to spell "(no PatientID) " followed by a study UID of the same source.
NO_PATIENT_ID = "(no PatientID) "


def subject_id(patient_id: str | None, study_uid: str) -> str:
    """The subject a series counts under: its PatientID trimmed, or for an empty PatientID
    the placeholder ``(no PatientID) <StudyInstanceUID>`` (callers warn ``patient_id_empty``).
    """
    return text(patient_id) or f"{NO_PATIENT_ID}{study_uid.strip()}"


def is_placeholder_subject(subject: str) -> bool:
    """Whether ``subject`` is the placeholder of an empty PatientID (see ``subject_id``)."""
    return subject.startswith(NO_PATIENT_ID)


_NC = re.compile(r"\bNC\b|non-?commercial", re.IGNORECASE)
_OPEN_COMMERCIAL = re.compile(
    r"^(CC[ -]BY|CC0|PDDL|ODC-BY|Public Domain|Creative Commons (Attribution|Zero))",
    re.IGNORECASE)


def commercial_use(license_name: str | None) -> bool | None:
    """Whether a licence allows commercial use: CC BY/CC0 yes (short or long names, e.g.
    'Creative Commons Attribution 4.0 International License'), any NC no, unknown ``None``."""
    if not license_name:
        return None
    if _NC.search(license_name):
        return False
    if _OPEN_COMMERCIAL.match(license_name.strip()):
        return True
    return None


_QUALIFIER = re.compile(r"^(not otherwise specified|nos|not specified)$", re.IGNORECASE)


_INLINE_TAG = re.compile(r"</?(i|b|em|strong|span|a|sup|sub|u)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def html_text(raw: object) -> str | None:
    """HTML (a collection description, a formatted citation with ``<i>``) as plain text:
    inline tags dropped, block tags (``<p>``, ``<br>``) made spaces, entities decoded,
    whitespace collapsed; empty → ``None``."""
    if not isinstance(raw, str):
        return None
    flat = _TAG.sub(" ", _INLINE_TAG.sub("", raw))
    return text(" ".join(html.unescape(flat).split()))


def split_list(raw: str | None) -> list[str]:
    """Comma-separated list to values, keeping qualifiers such as ', Not Otherwise Specified'
    attached to the value they qualify."""
    if not raw:
        return []
    values: list[str] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if values and _QUALIFIER.match(part):
            values[-1] = f"{values[-1]}, {part}"
        else:
            values.append(part)
    return list(dict.fromkeys(values))
