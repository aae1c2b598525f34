"""Regenerate the shipped vocabulary tables that are extracted from upstream sources
(``indexers/vocab/data/``); the hand-curated ones (aliases, regions, sex, race, ethnicity)
are edited directly. Provenance of each table: ``indexers/vocab/data/provenance.toml``.

    python scripts/vocab_tables.py annex-l  SDIST/src/highdicom/_standard/anatomic_regions.json
    python scripts/vocab_tables.py modality                       # from the installed pydicom
    python scripts/vocab_tables.py midrc    StudyDescription_mapping_table.tsv \
                                            StudyDescription_filtering_attributes.csv

``annex-l`` reads the DICOM PS3.16 Annex L table (BodyPartExamined code string -> SNOMED CT)
as highdicom ships it (``pip download highdicom --no-deps``, MIT) and adds our body region
(``REGIONS`` below: the coarse grouping people search by). ``midrc`` reads the MIDRC LOINC
mapping table (github.com/MIDRC/midrc_dicom_harmonization ``out/``, MIT).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "indexers" / "vocab" / "data"

# Body region of every Annex L term (the ids are the rows of body_region.csv; upper-cased
# like every coded value). A term that is
# no place of the body (a phantom) or names no particular place (artery, vein, joint) has none.
REGIONS: dict[str, str] = {
    "HEAD": "ACA ANTCOMMA BASILARA BRAIN CEREBELLUM CEREBRALA CEREBHEMISPHERE CHEEK "
            "CHOROIDPLEXUS CIRCLEOFWILLIS CORNEA EAR EAC ENDONASAL EYE EYELID FACE FACIALA "
            "FONTANEL 4THVENTRICLE HEAD IAC INTRACRANIAL JAW LACRIMALA LATVENTRICLE LINGUALA "
            "MANDIBLE MASTOID MAXILLA MCA MOUTH NOSE OCCPITALA OCCIPTALV OPHTHALMICA "
            "OPTICCANAL ORBIT PAROTID PCA POSCOMMA SCALP SCLERA SELLA SKULL THALAMUS "
            "3RDVENTRICLE TMJ TONGUE ZYGOMA",
    "NECK": "BULB CAROTID CCA ECA ENDONASOPHARYNYX EXTJUGV HYPOPHARYNX ICA INTJUGULARV LARYNX "
            "NASOPHARYNX NECK PARATHYROID PHARYNX PHARYNXLARYNX SUBMANDIBULAR SUPRACLAVICULAR "
            "SUPTHYROIDA THYROID VERTEBRALA",
    "HEAD+NECK": "HEADNECK",
    "CHEST": "ANTCARDIACV AORTICARCH ASCAORTA AXILLA AZYGOSVEIN BRONCHUS CHEST CORONARYARTERY "
             "CORONARYSINUS DESCAORTA ENDOCARDIAC ENDOESOPHAGEAL ESOPHAGUS HEART INNOMINATEA "
             "INNOMINATEV INTMAMMARYA LATRIUM LPULMONARYA LSUPPULMONARYV LUNG LVENTRICLE "
             "MEDIASTINUM PARASTERNAL PULMONARYA PULMONARYV RATRIUM RIB RPULMONARYA "
             "RSUPPULMONARYV RVENTRICLE SCJOINT STERNUM SUBCLAVIANA SUBCLAVIANV SVC "
             "THORACICAORTA THORAX THYMUS TRACHEA TRACHEABRONCHUS UPPERTRUNK",
    "BREAST": "BREAST",
    "ABDOMEN": "ABDOMEN ABDOMINALAORTA ADRENAL APPENDIX ASCENDINGCOLON BILEDUCT BILIARYTRACT "
               "CELIACA COLON COMMONBILEDUCT DESCENDINGCOLON DUODENUM ENDORENAL ENDOURETERIC "
               "EPIGASTRIC FLANK GALLBLADDER GASTRICV HEPATICA HEPATICV ILEUM INFMESA "
               "INFVENACAVA JEJUNUM KIDNEY LARGEINTESTINE LHEPATICV LHYPOCHONDRIAC LIVER LLQ "
               "LLUMBAR LPORTALV LUMBAR LUMBARA LUQ MESENTRICA MESENTRICV MIDHEPATICV "
               "MORISONSPOUCH PANCBILEDUCT PANCREAS PANCREATICDUCT PORTALV RENALA RENALV "
               "RETROPERITONEUM RHEPATICV RHYPOCHONDRIAC RLQ RLUMBAR RPORTALV RUQ SMA "
               "SMALLINTESTINE SPLEEN SPLENICA SPLENICV STOMACH SUBCOSTAL TRANSVERSECOLON "
               "UMBILICAL UPRURINARYTRACT URETER",
    "PELVIS": "AMNIOTICFLUID ANUSRECTUMSIGMD BLADDER BLADDERURETHRA BUTTOCK CERVIX COMILIACA "
              "COMILIACV CULDESAC ENDOMETRIUM ENDORECTAL ENDOURETHRAL ENDOVAGINAL ENDOVESICAL "
              "EPIDIDYMIS EXTILIACA EXTILIACV GESTSAC GLUTEAL HYPOGASTRIC ILIACA ILIACV ILIUM "
              "INGUINAL INTILIACA LINGUINAL OVARY PELVIS PENILEA PENIS PERINEUM PLACENTA "
              "PROSTATE RECTUM RINGUINAL SCROTUM SEMVESICLE SIGMOID SIJOINT SUPRAPUBIC TESTIS "
              "UMBILICALA UMBILICALV URETHRA UTERUS VAGINA VULVA",
    "ABDOMEN+PELVIS": "ABDOMENPELVIS LOWERTRUNK",
    "CHEST+ABDOMEN": "AORTA CHESTABDOMEN",
    "CHEST+ABDOMEN+PELVIS": "CHESTABDPELVIS",
    "NECK+CHEST": "NECKCHEST",
    "NECK+CHEST+ABDOMEN": "NECKCHESTABDOMEN",
    "NECK+CHEST+ABDOMEN+PELVIS": "NECKCHESTABDPELV",
    "PELVIS+LOWER LIMB": "PELVISLOWEXTREMT",
    "SPINE": "ANTSPINALA COCCYX CSPINE CTSPINE LSPINE LSSPINE SPINALCORD SPINE SSPINE TLSPINE "
             "TSPINE",
    "UPPER LIMB": "ACJOINT ANTECUBITALV AXILLARYA AXILLARYV BRACHIALA BRACHIALV CEPHALICV "
                  "CLAVICLE ELBOW FINGER FOREARM HAND HUMERUS RADIALA RADIUS RADIUSULNA "
                  "SCAPULA SHOULDER THUMB ULNA ULNARA UPPERARM UPPERLIMB WRIST",
    "LOWER LIMB": "ANKLE ANTTIBIALA CALCANEUS CALF CFA CFV FEMORALA FEMORALV FEMUR FIBULA FOOT "
                  "GENICULARA GSV HIP KNEE LFEMORALA LOWERLEG LOWERLIMB PATELLA PERONEALA "
                  "POPLITEALA POPLITEALFOSSA POPLITEALV POSTIBIALA PROFFEMA PROFFEMV RFEMORALA "
                  "SAPHENOUSV SESAMOID SFA SFJ SFV THIGH TIBIA TIBIAFIBULA TOE",
    "LIMB": "EXTREMITY",
    "WHOLE BODY": "WHOLEBODY",
    "TRUNK": "BACK TRUNK",
    "": "ARTERY CARDIOVASCSYS ENDOARTERIAL ENDOVASCULAR ENDOVENOUS JOINT LUMEN PHANTOM VEIN",
}


EXTRA_MODALITIES = ("ANN",)


def _write(name: str, header: list[str], rows: list[list[str]]) -> None:
    with (DATA / name).open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {DATA / name}")


def annex_l(path: Path) -> None:
    """body_part.csv from highdicom's Annex L table plus ``REGIONS``."""
    table = json.loads(path.read_text())
    region_of: dict[str, str] = {}
    for region, terms in REGIONS.items():
        for term in terms.split():
            if term in region_of:
                sys.exit(f"{term} is in two regions")
            region_of[term] = region
    missing = sorted(set(table) - set(region_of))
    extra = sorted(set(region_of) - set(table))
    if missing or extra:
        sys.exit(f"REGIONS out of date: terms without a region {missing}, unknown {extra}")
    rows = [[term, code, meaning, region_of[term], "true" if paired else "false"]
            for term, (scheme, code, meaning, paired) in sorted(table.items())
            if scheme == "SCT"]
    _write("body_part.csv", ["term", "code", "meaning", "region", "paired"], rows)


def modality() -> None:
    """modality.csv: the DICOM modality codes of CID 29 and CID 33, as pydicom ships them."""
    from pydicom.sr._cid_dict import cid_concepts
    from pydicom.sr._concepts_dict import concepts

    rows: dict[str, str] = {}
    for cid in (29, 33):
        for keyword in cid_concepts[cid].get("DCM", []):
            for code, (meaning, _cids) in concepts["DCM"][keyword].items():
                rows[code] = meaning
    # Modality defined terms of PS3.3 C.7.3.1.1.1 that pydicom lists among its DCM concepts
    # but not (yet) in CID 29/33: Microscopy Bulk Simple Annotations (IDC has 7,448 series)
    for entry in concepts["DCM"].values():
        for code, (meaning, _cids) in entry.items():
            if code in EXTRA_MODALITIES:
                rows[code] = meaning
    _write("modality.csv", ["code", "meaning"], [[c, m] for c, m in sorted(rows.items())])


def _clean(text: str) -> str:
    return " ".join(text.replace('"', " ").split())


def midrc(mapping: Path, attributes: Path) -> None:
    """procedure.csv ((modality, study description) -> LOINC) and loinc.csv (names and
    axes of the codes used) from MIDRC's mapping table."""
    with mapping.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t"))[1:]
    procedures: dict[tuple[str, str], str] = {}
    ambiguous: set[tuple[str, str]] = set()
    names: dict[str, str] = {}
    for row in rows:
        modalities, description, loinc, name = (_clean(c) for c in row[:4])
        if not loinc or description.upper() in ("(BLANK)", "[BLANK]"):
            continue  # an empty description says nothing: not applied (provenance.toml)
        names.setdefault(loinc, name)
        for m in modalities.split(","):
            m = m.strip().upper()
            key = ("*" if m in ("[BLANK]", "") else m, description.upper())
            if procedures.setdefault(key, loinc) != loinc:
                ambiguous.add(key)
    for key in sorted(ambiguous):  # mapped to two codes upstream: left to curators
        print(f"ambiguous, left out: {key}")
        del procedures[key]
    names = {c: n for c, n in names.items() if c in set(procedures.values())}
    with attributes.open(newline="", encoding="utf-8-sig") as f:
        axes = {r["LOINC code"].strip(): r for r in csv.DictReader(f)}
    loinc_rows = []
    for code, name in sorted(names.items()):
        a = axes.get(code, {})
        loinc_rows.append([code, name, _clean(a.get("L-Method", "")),
                           _clean(a.get("L-System", "")), _clean(a.get("Rad.Timing", ""))])
    _write("procedure.csv", ["modality", "study_description", "loinc"],
           [[m, d, c] for (m, d), c in sorted(procedures.items())])
    _write("loinc.csv", ["loinc", "long_common_name", "method", "system", "timing"],
           loinc_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("annex-l").add_argument("json", type=Path)
    sub.add_parser("modality")
    m = sub.add_parser("midrc")
    m.add_argument("mapping", type=Path)
    m.add_argument("attributes", type=Path)
    args = parser.parse_args()
    if args.what == "annex-l":
        annex_l(args.json)
    elif args.what == "modality":
        modality()
    else:
        midrc(args.mapping, args.attributes)


if __name__ == "__main__":
    main()
