"""Every staff route reaches content only through the protection layer (overheard.protect.serving):
no staff-facing module opens content through the gate, reads blobs or identity itself."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

from fastapi.routing import APIRoute

from overheard.accounts.rbac import policies_of, routes_of
from overheard.web import create_app

FORBIDDEN_NAMES = {
    "open_audio",
    "open_text",
    "open_sealed",
    "open_answer",
    "open_identity",
    "blobs",
    "audio_blob",
    "data_key",
}
"""What only the content gate, the serving layer and the owner's own views may touch. (Handing the
gate to a review service that *seals* a lead's correction is allowed: sealing shows nothing.)"""
ALLOWED_MODULES = {"overheard.hazmat.reidentify"}
"""The fenced corner that may open identity, under the two-person rule (tested in tests/hazmat)."""


def staff_route_modules(platform) -> set[str]:
    app = create_app(platform, run_workers=False)
    modules = set()
    for route, dependant in routes_of(app):
        staff = dependant is not None and any(p.kind == "staff" for p in policies_of(dependant))
        if isinstance(route, APIRoute) and staff:
            modules.add(route.endpoint.__module__)
    return modules


def touched(module_name: str) -> set[str]:
    source = Path(inspect.getfile(importlib.import_module(module_name))).read_text()
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_NAMES:
            found.add(node.attr)
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            found.add(node.id)
        if isinstance(node, ast.ImportFrom):
            found.update(a.name for a in node.names if a.name in FORBIDDEN_NAMES)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            ("overheard.identity", "identity", "..identity")
        ):
            found.add(f"import {node.module}")
    return found


def test_staff_routes_exist_and_are_found(platform):
    modules = staff_route_modules(platform)
    assert {"overheard.workbench.routes", "overheard.privacy.routes"} <= modules | {
        m.rsplit(".", 1)[0] + ".routes" for m in modules
    }


def test_no_staff_route_module_opens_content_itself(platform):
    offenders = {
        module: sorted(attrs)
        for module in staff_route_modules(platform) - ALLOWED_MODULES
        if (attrs := touched(module))
    }
    assert offenders == {}


def test_the_checker_sees_the_one_module_that_does_open_content():
    assert "open_audio" in touched("overheard.recordings.gate") or "open_sealed" in touched(
        "overheard.recordings.gate"
    )
    assert touched("overheard.protect.serving") & {"open_answer", "open_audio", "open_text"}
