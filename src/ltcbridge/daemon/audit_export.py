"""The audit log as FHIR R4 AuditEvent resources, for the practice's records or its DPO.

Entities are resource references and referral identifiers, never NHS numbers, so the export
can be shared inside the organisation without becoming patient-identifiable by itself.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from ltcbridge.uris import ODS_CODE

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
ACTION_CODES = "http://hl7.org/fhir/audit-event-action"
LTCBRIDGE_ACTIONS = "https://ltcbridge.github.io/fhir/CodeSystem/audit-action"
# Our action -> (FHIR AuditEvent.action: C create, R read, U update, E execute)
_FHIR_ACTION = {
    "read": "R",
    "referral-sent": "C",
    "written-back": "C",
    "referral-not-sent": "E",
    "replayed": "E",
}


def audit_events(rows: list[sqlite3.Row], practice_ods: str) -> Iterator[dict[str, Any]]:
    for row in rows:
        detail = json.loads(row["detail"])
        event: dict[str, Any] = {
            "resourceType": "AuditEvent",
            "id": f"ltcbridge-{row['seq']}",
            "type": {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
            "subtype": [{"system": LTCBRIDGE_ACTIONS, "code": row["action"]}],
            "action": _FHIR_ACTION.get(row["action"], "E"),
            "recorded": row["at"],
            "outcome": "0",
            "agent": [
                {
                    "who": {"identifier": {"system": ODS_CODE, "value": practice_ods}},
                    "requestor": True,
                }
            ],
            "source": {
                "observer": {"identifier": {"system": ODS_CODE, "value": practice_ods}},
                "type": [{"code": "4", "display": "Application Server"}],
            },
            "entity": [
                {
                    "what": {"reference": row["entity"]}
                    if "?" not in row["entity"]
                    else {"display": row["entity"]},
                    "detail": [
                        {"type": k, "valueString": json.dumps(v)} for k, v in sorted(detail.items())
                    ],
                }
            ],
        }
        if row["recipient"]:
            event["agent"].append(
                {
                    "who": {"identifier": {"system": ODS_CODE, "value": row["recipient"]}}
                    if row["recipient"] != "gp"
                    else {"display": "the practice's GP record"},
                    "requestor": False,
                }
            )
        if row["agreement"]:
            event["purposeOfEvent"] = [{"text": f"data-sharing agreement {row['agreement']}"}]
        yield event
