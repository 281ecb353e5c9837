"""The everyday clinical data around care planning, for realistic benchmarks and filter tests.

A real GP export is mostly resources no care-planning measure reads: vital signs and lab results,
prescriptions, encounters, immunisations, diagnostic reports, and (in exports like Synthea's) claims
and explanations of benefit, which are the largest lines of all. ``write_noise`` streams such lines,
shaped after a real Synthea bulk export (several codings, valueQuantity with referenceRange,
dosageInstruction, contained resources, base64 reports), all invented. None of them can count: their
codes are from LOINC, SNOMED CT, RxNorm and CVX sets no ltcbridge mapping lists, prescriptions are
stopped, encounters ambulatory (unmapped) and appointments booked, unless ``active_share`` asks for
some active prescriptions (which then count as NHS use, as in life).
"""

from __future__ import annotations

import base64
import random
from pathlib import Path
from typing import TextIO

_LOINC = "http://loinc.org"
_SNOMED = "http://snomed.info/sct"
_UCUM = "http://unitsofmeasure.org"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"
_RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"

# (LOINC code, display, unit, low, high): vital signs and labs
_MEASURES = (
    ("8302-2", "Body Height", "cm", 150, 190),
    ("29463-7", "Body Weight", "kg", 50, 110),
    ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 18, 35),
    ("8867-4", "Heart rate", "/min", 55, 100),
    ("9279-1", "Respiratory rate", "/min", 12, 20),
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70, 140),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 150, 240),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4, 9),
    ("38483-4", "Creatinine [Mass/volume] in Blood", "mg/dL", 0, 2),
    ("6299-2", "Urea nitrogen [Mass/volume] in Blood", "mg/dL", 7, 20),
)
_DRUGS = (
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet"),
    ("197361", "amlodipine 5 MG Oral Tablet"),
    ("849574", "Naproxen sodium 220 MG Oral Tablet"),
)
_PROCEDURES = (
    ("430193006", "Medication Reconciliation (procedure)"),
    ("710824005", "Assessment of health and social care needs (procedure)"),
    ("171207006", "Depression screening (procedure)"),
)
_META = '"meta":{"profile":["' + _US_CORE + '/%s"],"lastUpdated":"2026-%02d-%02dT10:00:00Z"}'
_HEAD = '{"resourceType":"%s","id":"%s",' + _META + ","

VITAL = (
    _HEAD + '"status":"final","category":[{"coding":[{"system":"' + _CATEGORY + '",'
    '"code":"%s","display":"%s"}]}],"code":{"coding":[{"system":"' + _LOINC + '","code":"%s",'
    '"display":"%s"},{"system":"' + _SNOMED + '","code":"%s","display":"%s"}],"text":"%s"},'
    '"subject":{"reference":"Patient/%s"},"encounter":{"reference":"Encounter/%s"},'
    '"effectiveDateTime":"%d-%02d-%02dT09:%02d:00+01:00","issued":"%d-%02d-%02dT09:%02d:00.512+01:00",'
    '"valueQuantity":{"value":%.2f,"unit":"%s","system":"' + _UCUM + '","code":"%s"},'
    '"referenceRange":[{"low":{"value":%d,"unit":"%s","system":"' + _UCUM + '","code":"%s"},'
    '"high":{"value":%d,"unit":"%s","system":"' + _UCUM + '","code":"%s"},"text":"%d-%d %s"}],'
    '"note":[{"text":"%s"}]}\n'
)
ENCOUNTER = (
    _HEAD + '"identifier":[{"use":"official","system":"https://example.org/encounters",'
    '"value":"%s"}],"status":"finished","class":{"system":"' + _ACT + '","code":"AMB"},'
    '"type":[{"coding":[{"system":"' + _SNOMED + '","code":"185347001","display":"Encounter for '
    'problem (procedure)"}],"text":"Encounter for problem (procedure)"}],"subject":{"reference":'
    '"Patient/%s","display":"Invented Person"},"participant":[{"type":[{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"PPRF","display":'
    '"primary performer"}],"text":"primary performer"}],"period":{"start":"%d-%02d-%02dT09:00:00'
    '+01:00","end":"%d-%02d-%02dT09:15:00+01:00"},"individual":{"reference":"Practitioner/pr1",'
    '"display":"Dr. Invented Clinician"}}],"period":{"start":"%d-%02d-%02dT09:00:00+01:00",'
    '"end":"%d-%02d-%02dT09:15:00+01:00"},"reasonCode":[{"coding":[{"system":"' + _SNOMED + '",'
    '"code":"444814009","display":"Viral sinusitis (disorder)"}]}],"location":[{"location":'
    '{"reference":"Location/l1","display":"INVENTED HEALTH CENTRE"}}],"serviceProvider":'
    '{"reference":"Organization/o1","display":"INVENTED HEALTH CENTRE"}}\n'
)
MEDICATION = (
    _HEAD + '"status":"%s","intent":"order","category":[{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/medicationrequest-category","code":"community",'
    '"display":"Community"}],"text":"Community"}],"medicationCodeableConcept":{"coding":[{"system":'
    '"' + _RXNORM + '","code":"%s","display":"%s"}],"text":"%s"},"subject":{"reference":'
    '"Patient/%s"},"encounter":{"reference":"Encounter/%s"},"authoredOn":"%d-%02d-%02dT09:10:00'
    '+01:00","requester":{"reference":"Practitioner/pr1","display":"Dr. Invented Clinician"},'
    '"reasonReference":[{"reference":"Condition/%s"}],"dosageInstruction":[{"sequence":1,'
    '"text":"Take one tablet daily","timing":{"repeat":{"frequency":1,"period":1,"periodUnit":'
    '"d"}},"asNeededBoolean":false,"doseAndRate":[{"type":{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/dose-rate-type","code":"ordered","display":'
    '"Ordered"}]},"doseQuantity":{"value":1}}]}]}\n'
)
PROCEDURE = (
    _HEAD + '"status":"completed","code":{"coding":[{"system":"' + _SNOMED + '","code":"%s",'
    '"display":"%s"}],"text":"%s"},"subject":{"reference":"Patient/%s"},"encounter":'
    '{"reference":"Encounter/%s"},"performedPeriod":{"start":"%d-%02d-%02dT09:00:00+01:00",'
    '"end":"%d-%02d-%02dT09:15:00+01:00"},"location":{"reference":"Location/l1","display":'
    '"INVENTED HEALTH CENTRE"}}\n'
)
IMMUNIZATION = (
    _HEAD + '"status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/'
    'cvx","code":"140","display":"Influenza, seasonal, injectable, preservative free"}],"text":'
    '"Influenza, seasonal, injectable, preservative free"},"patient":{"reference":"Patient/%s"},'
    '"encounter":{"reference":"Encounter/%s"},"occurrenceDateTime":"%d-%02d-%02dT09:00:00+01:00",'
    '"primarySource":true,"location":{"reference":"Location/l1","display":"INVENTED HEALTH '
    'CENTRE"}}\n'
)
REPORT = (
    _HEAD + '"status":"final","category":[{"coding":[{"system":"http://loinc.org","code":'
    '"34117-2","display":"History and physical note"}]}],"code":{"coding":[{"system":'
    '"http://loinc.org","code":"34117-2","display":"History and physical note"}]},"subject":'
    '{"reference":"Patient/%s"},"encounter":{"reference":"Encounter/%s"},"effectiveDateTime":'
    '"%d-%02d-%02dT09:00:00+01:00","issued":"%d-%02d-%02dT09:00:00.512+01:00","presentedForm":'
    '[{"contentType":"text/plain; charset=utf-8","data":"%s"}]}\n'
)
CLAIM_ITEM = (
    '{"sequence":%d,"productOrService":{"coding":[{"system":"' + _SNOMED + '","code":"%s",'
    '"display":"%s"}],"text":"%s"},"servicedPeriod":{"start":"%d-%02d-%02dT09:00:00+01:00",'
    '"end":"%d-%02d-%02dT09:15:00+01:00"},"locationCodeableConcept":{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/ex-serviceplace","code":"21","display":'
    '"Inpatient Hospital"}]},"net":{"value":%.2f,"currency":"GBP"},"encounter":[{"reference":'
    '"Encounter/%s"}]}'
)
CLAIM = (
    _HEAD + '"status":"active","type":{"coding":[{"system":"' + _CLAIM_TYPE + '","code":'
    '"professional"}]},"use":"claim","patient":{"reference":"Patient/%s","display":"Invented '
    'Person"},"billablePeriod":{"start":"%d-%02d-%02dT09:00:00+01:00","end":"%d-%02d-%02dT09:15'
    ':00+01:00"},"created":"%d-%02d-%02dT09:15:00+01:00","provider":{"reference":"Organization/'
    'o1","display":"INVENTED HEALTH CENTRE"},"priority":{"coding":[{"system":"http://'
    'terminology.hl7.org/CodeSystem/processpriority","code":"normal"}]},"insurance":[{"sequence"'
    ':1,"focal":true,"coverage":{"display":"NHS"}}],"item":[%s],"total":{"value":%.2f,'
    '"currency":"GBP"}}\n'
)
EOB_ITEM = (
    '{"sequence":%d,"category":{"coding":[{"system":"https://bluebutton.cms.gov/resources/'
    'variables/line_cms_type_srvc_cd","code":"1","display":"Medical care"}]},"productOrService":'
    '{"coding":[{"system":"' + _SNOMED + '","code":"%s","display":"%s"}],"text":"%s"},'
    '"servicedPeriod":{"start":"%d-%02d-%02dT09:00:00+01:00","end":"%d-%02d-%02dT09:15:00+01:00"'
    '},"net":{"value":%.2f,"currency":"GBP"},"adjudication":[{"category":{"coding":[{"system":'
    '"https://bluebutton.cms.gov/resources/codesystem/adjudication","code":"https://bluebutton.'
    'cms.gov/resources/variables/line_coinsrnc_amt","display":"Line Beneficiary Coinsurance '
    'Amount"}]},"amount":{"value":%.2f,"currency":"GBP"}},{"category":{"coding":[{"system":'
    '"https://bluebutton.cms.gov/resources/codesystem/adjudication","code":"https://bluebutton.'
    'cms.gov/resources/variables/line_prvdr_pmt_amt","display":"Line Provider Payment Amount"}]}'
    ',"amount":{"value":%.2f,"currency":"GBP"}}]}'
)
EOB = (
    _HEAD + '"contained":[{"resourceType":"ServiceRequest","id":"referral","status":"completed",'
    '"intent":"order","subject":{"reference":"Patient/%s"},"requester":{"reference":'
    '"Practitioner/pr1"},"performer":[{"reference":"Practitioner/pr1"}]},{"resourceType":'
    '"Coverage","id":"coverage","status":"active","type":{"text":"NHS"},"beneficiary":'
    '{"reference":"Patient/%s"},"payor":[{"display":"NHS"}]}],"identifier":[{"system":'
    '"https://bluebutton.cms.gov/resources/variables/clm_id","value":"%s"}],"status":"active",'
    '"type":{"coding":[{"system":"' + _CLAIM_TYPE + '","code":"professional"}]},"use":"claim",'
    '"patient":{"reference":"Patient/%s"},"billablePeriod":{"start":"%d-%02d-%02dT09:00:00'
    '+01:00","end":"%d-%02d-%02dT09:15:00+01:00"},"created":"%d-%02d-%02dT09:15:00+01:00",'
    '"insurer":{"display":"NHS"},"provider":{"reference":"Practitioner/pr1"},"referral":'
    '{"reference":"#referral"},"claim":{"reference":"Claim/%s"},"outcome":"complete",'
    '"careTeam":[{"sequence":1,"provider":{"reference":"Practitioner/pr1"},"role":{"coding":'
    '[{"system":"http://terminology.hl7.org/CodeSystem/claimcareteamrole","code":"primary",'
    '"display":"Primary provider"}]}}],"insurance":[{"focal":true,"coverage":{"reference":'
    '"#coverage","display":"NHS"}}],"item":[%s],"total":[{"category":{"coding":[{"system":'
    '"http://terminology.hl7.org/CodeSystem/adjudication","code":"submitted","display":'
    '"Submitted Amount"}]},"amount":{"value":%.2f,"currency":"GBP"}}],"payment":{"amount":'
    '{"value":%.2f,"currency":"GBP"}}}\n'
)
# (template, share of the noise): roughly a Synthea export's mix
KIND_SHARES = (
    ("Observation", 0.45),
    ("Claim", 0.10),
    ("ExplanationOfBenefit", 0.10),
    ("Encounter", 0.08),
    ("MedicationRequest", 0.09),
    ("Procedure", 0.08),
    ("DiagnosticReport", 0.06),
    ("Immunization", 0.04),
)
_NOTES = (
    "Routine check",
    "Repeat at next review",
    "Patient well",
    "Discussed diet and exercise",
)


class _Noise:
    """The random stream and the patients of one run."""

    def __init__(self, patients: list[str], seed: int, active_share: float) -> None:
        self.rng = random.Random(seed)
        self.patients = patients
        self.active_share = active_share
        self.count = 0
        self._kinds = [k for k, _ in KIND_SHARES]
        self._weights = [w for _, w in KIND_SHARES]

    def line(self) -> tuple[str, str]:
        """One resource line of a kind drawn by ``KIND_SHARES``."""
        kind = self.rng.choices(self._kinds, self._weights)[0]
        self.count += 1
        return kind, getattr(self, "_" + kind.lower())(f"n{self.count}")

    def _when(self) -> tuple[int, int, int]:
        r = self.rng.random
        return 2016 + int(r() * 11), 1 + int(r() * 12), 1 + int(r() * 28)

    def _who(self) -> str:
        return self.patients[int(self.rng.random() * len(self.patients))]

    def _observation(self, rid: str) -> str:
        r = self.rng.random
        code, display, unit, low, high = _MEASURES[int(r() * len(_MEASURES))]
        year, month, day = self._when()
        vital = code in ("8302-2", "29463-7", "39156-5", "8867-4", "9279-1")
        category = ("vital-signs", "Vital signs") if vital else ("laboratory", "Laboratory")
        value = low + r() * (high - low)
        return VITAL % (
            "Observation", rid, "us-core-vital-signs", month, day, *category, code, display,
            str(100000 + int(r() * 900000)), display, display, self._who(), f"e{rid}",
            year, month, day, int(r() * 60), year, month, day, int(r() * 60), value, unit, unit,
            low, unit, unit, high, unit, unit, low, high, unit, _NOTES[int(r() * len(_NOTES))],
        )  # fmt: skip

    def _encounter(self, rid: str) -> str:
        year, month, day = self._when()
        head = ("Encounter", rid, "us-core-encounter", month, day, rid, self._who())
        return ENCOUNTER % (*head, *(year, month, day) * 4)

    def _medicationrequest(self, rid: str) -> str:
        r = self.rng.random
        code, display = _DRUGS[int(r() * len(_DRUGS))]
        year, month, day = self._when()
        status = "active" if r() < self.active_share else "stopped"
        head = ("MedicationRequest", rid, "us-core-medicationrequest", month, day, status)
        drug = (code, display, display)
        return MEDICATION % (*head, *drug, self._who(), f"e{rid}", year, month, day, f"c{rid}")

    def _procedure(self, rid: str) -> str:
        code, display = _PROCEDURES[int(self.rng.random() * len(_PROCEDURES))]
        year, month, day = self._when()
        head = ("Procedure", rid, "us-core-procedure", month, day, code, display, display)
        return PROCEDURE % (*head, self._who(), f"e{rid}", *(year, month, day) * 2)

    def _immunization(self, rid: str) -> str:
        year, month, day = self._when()
        head = ("Immunization", rid, "us-core-immunization", month, day)
        return IMMUNIZATION % (*head, self._who(), f"e{rid}", year, month, day)

    def _diagnosticreport(self, rid: str) -> str:
        year, month, day = self._when()
        text = " ".join(_NOTES[int(self.rng.random() * len(_NOTES))] for _ in range(40))
        data = base64.b64encode(text.encode()).decode()
        head = ("DiagnosticReport", rid, "us-core-diagnosticreport-note", month, day)
        return REPORT % (*head, self._who(), f"e{rid}", *(year, month, day) * 2, data)

    def _items(self, claim: bool, when: tuple[int, int, int]) -> str:
        """The billed items of a Claim (``claim``) or of an ExplanationOfBenefit."""
        r = self.rng.random
        items = []
        for sequence in range(1, 3 + int(r() * 4)):
            code, display = _PROCEDURES[int(r() * len(_PROCEDURES))]
            head = (sequence, code, display, display, *when * 2)
            if claim:
                items.append(CLAIM_ITEM % (*head, 20 + r() * 200, f"e{sequence}"))
            else:
                items.append(EOB_ITEM % (*head, *(20 + r() * 200,) * 3))
        return ",".join(items)

    def _claim(self, rid: str) -> str:
        _, month, day = when = self._when()
        head = ("Claim", rid, "us-core-claim", month, day, self._who())
        return CLAIM % (*head, *when * 3, self._items(True, when), 300.0)

    def _explanationofbenefit(self, rid: str) -> str:
        _, month, day = when = self._when()
        who = self._who()
        head = ("ExplanationOfBenefit", rid, "us-core-eob", month, day, who, who, rid, who)
        return EOB % (*head, *when * 3, rid, self._items(False, when), 300.0, 240.0)


def write_noise(
    directory: str | Path,
    n_resources: int,
    patients: list[str],
    *,
    seed: int = 17,
    active_share: float = 0.0,
) -> int:
    """Write ``n_resources`` unrelated resources about ``patients`` (their Patient ids), one
    ``Type.noise.ndjson`` file per type in ``directory``; returns the bytes written."""
    noise = _Noise(patients, seed, active_share)
    files: dict[str, list[str]] = {}
    written = 0
    folder = Path(directory)
    handles: dict[str, TextIO] = {}
    try:
        for _ in range(n_resources):
            kind, line = noise.line()
            batch = files.setdefault(kind, [])
            batch.append(line)
            if len(batch) >= 5000:
                written += _flush(folder, kind, batch, handles)
        for kind, batch in files.items():
            written += _flush(folder, kind, batch, handles)
    finally:
        for handle in handles.values():
            handle.close()
    return written


def _flush(folder: Path, kind: str, batch: list[str], handles: dict[str, TextIO]) -> int:
    if kind not in handles:
        handles[kind] = (folder / f"{kind}.noise.ndjson").open("w", encoding="utf-8")
    text = "".join(batch)
    handles[kind].write(text)
    batch.clear()
    return len(text.encode())
