"""The intent catalogue on the web: overseers read it, a signed-in lead extends it (CSRF, audited)."""

from __future__ import annotations

from sqlalchemy import select

from overheard import audit
from overheard.speech import catalogue
from overheard.workbench import flow
from tests.accounts.conftest import (  # noqa: F401 (fixtures)
    clock,
    csrf_of,
    make_staff,
    new_client,
    signed_in,
    web,
)

PAGE = "/review/lead/intents"


def test_a_lead_adds_an_intent_reviewers_can_pick(platform, web, signed_in, new_client):  # noqa: F811
    assert new_client().post(PAGE, follow_redirects=False).status_code in (303, 401, 403)
    signed_in("annotator")
    assert web.get(PAGE).status_code == 403
    web.cookies.clear()
    lead = signed_in("lead")
    shown = web.get(PAGE)
    assert shown.status_code == 200
    assert all(f'id="intent-{name}"' in shown.text for name in flow.intent_choices(platform)[:-1])
    assert 'id="intent-call_contact"' not in shown.text
    form = {"intent": "call_contact", "examples": "call mum\n\n  ring grandad on his mobile \n"}
    assert web.post(PAGE, data=form, follow_redirects=False).status_code == 403  # no CSRF token
    done = web.post(PAGE, data={**form, "csrf_token": csrf_of(shown.text)}, follow_redirects=False)
    assert done.status_code == 303
    assert catalogue.lead_examples(platform.settings) == [
        ("call mum", "call_contact"),
        ("ring grandad on his mobile", "call_contact"),
    ]
    assert "call_contact" in flow.intent_choices(platform)
    again = web.get(done.headers["location"])
    assert 'id="intent-call_contact"' in again.text and "Added" in again.text
    with platform.sessions() as s:
        (event,) = s.scalars(
            select(audit.AuditEvent).where(audit.AuditEvent.action == "intents.add")
        )
    assert (event.actor, event.subject, event.details) == (
        lead.pseudonym,
        "call_contact",
        {"examples": 2},
    )
    assert "mum" not in str(event.details)


def test_a_bad_label_or_line_writes_nothing(platform, web, signed_in):  # noqa: F811
    signed_in("lead")
    token = csrf_of(web.get(PAGE).text)
    for intent, examples in [
        ("Call Contact!", "call mum"),
        ("call_contact", ""),
        ("call_contact", "call mum\n" + "x" * 600),
        ("call_contact", "call mum\tnow"),
        ("call_contact", "call mum\n" * 201),
    ]:
        refused = web.post(
            PAGE,
            data={"intent": intent, "examples": examples, "csrf_token": token},
            follow_redirects=False,
        )
        assert refused.status_code == 400, (intent, examples[:20], refused.status_code)
    assert catalogue.lead_examples(platform.settings) == []
    with platform.sessions() as s:
        assert (
            s.scalars(
                select(audit.AuditEvent).where(audit.AuditEvent.action == "intents.add")
            ).all()
            == []
        )
