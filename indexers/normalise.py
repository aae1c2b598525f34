"""Pure value normalisers shared by every source (DICOM strings in, clean values out).

Each returns ``None`` for values it cannot read; callers count those as warnings
(``parse_age`` names the warning itself: unreadable, placeholder or implausible ages).
"""

from __future__ import annotations

import html
import math
import re
from typing import NamedTuple

_AS = re.compile(r"^(\d{3})([DWMY])$")
_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}
SEXES = frozenset({"M", "F", "O"})

# Ages that mean "not recorded". Measured on idc-index-data 25.0.5: `000Y` is on 10,622
# series of 607 patients in 29 collections, and all but two series are in adult or phantom
# collections (4D-Lung's 20 lung cancer patients are all 000Y; in ACRIN-FLT-Breast, EA1141,
# ISPY1, TCGA-LUAD ... the same patient's other studies carry 40-79 years). Only
# Pediatric-CT-SEG (ages 1-16, two series) could hold a real infant; a source recording
# infants precisely writes days, weeks or months. So `000Y` is a placeholder everywhere.
# `000D`/`000W`/`000M` are kept as ages (a newborn): IDC's only one, `000M` on slides of four
# Rhabdomyosarcoma patients, sits in a collection that writes every age in months
# (002M ... 543M). A source using those as placeholders passes its own set.
AGE_PLACEHOLDERS = frozenset({"000Y"})
# Above this an age is not a person's (IDC's phantoms are recorded at 111 and 155 years).
MAX_PLAUSIBLE_AGE = 110.0


class Age(NamedTuple):
    """An age read from a source: ``years`` is ``None`` unless it is a usable value, and
    ``warning`` then names why (a run-report warning kind), or is ``None`` for no value."""

    years: float | None
    warning: str | None = None


def parse_age(raw: str | None, placeholders: frozenset[str] = AGE_PLACEHOLDERS) -> Age:
    """DICOM Age String (``nnnD|W|M|Y``) to years, with the reason when it gives none.

    Case and surrounding spaces are forgiven (``042y`` is 42); a bare number without unit,
    a wrong width or letters are not (DICOM PS3.5 §6.2 defines AS as exactly 4 characters):
    ``age_unparseable``. A placeholder (``000Y``, see ``AGE_PLACEHOLDERS``) is
    ``age_placeholder``; an age over ``MAX_PLAUSIBLE_AGE`` is ``age_implausible``. Empty or
    ``None`` is no value and no warning. Callers keep ``raw`` as ``age_raw`` either way.
    """
    if raw is None or not raw.strip():
        return Age(None)
    value = raw.strip().upper()
    match = _AS.match(value)
    if match is None:
        return Age(None, "age_unparseable")
    if value in placeholders:
        return Age(None, "age_placeholder")
    return age_in_years(int(match.group(1)) * _UNIT_YEARS[match.group(2)])


def age_in_years(years: float) -> Age:
    """An age a source gives as a number of years (Gen3, metadata exports): negative or not
    finite is ``age_unparseable``, over ``MAX_PLAUSIBLE_AGE`` is ``age_implausible``."""
    if not math.isfinite(years) or years < 0:
        return Age(None, "age_unparseable")
    if years > MAX_PLAUSIBLE_AGE:
        return Age(None, "age_implausible")
    return Age(round(years, 4))


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
