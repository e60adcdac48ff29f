"""Deny by default: every route of the app names who may call it, or this test fails."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from overheard.accounts.rbac import (
    FRAMEWORK_PUBLIC_PATHS,
    policies_of,
    public,
    require,
    routes_of,
    unguarded_routes,
)
from overheard.web import create_app


def test_every_route_declares_a_requirement(web):
    assert unguarded_routes(web.app) == []


def test_device_api_routes_are_marked_device(web):
    api = [
        {p.kind for p in policies_of(dep)}
        for route, dep in routes_of(web.app)
        if dep is not None and getattr(route, "path", "").startswith("/api/")
    ]
    assert api and all(kinds == {"device"} for kinds in api)


def test_account_pages_declare_what_they_should(web):
    declared = {
        (method, route.path): {(p.kind, tuple(sorted(p.roles))) for p in policies_of(dep)}
        for route, dep in routes_of(web.app)
        if dep is not None
        for method in route.methods
    }
    assert declared[("GET", "/admin/users")] == {("staff", ("admin",))}
    assert declared[("GET", "/me")] == {("customer", ())}
    assert declared[("POST", "/login")] == {("public", ())}
    assert declared[("GET", "/login/mfa")] == {("pending", ())}


def test_walk_catches_a_route_without_requirement(platform):
    app = create_app(platform, run_workers=False)
    stray = APIRouter()

    @stray.get("/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    @stray.get("/mixed", dependencies=[Depends(public()), Depends(require("admin"))])
    def mixed() -> dict[str, str]:
        return {}

    app.include_router(stray)
    assert sorted(unguarded_routes(app)) == ["['GET'] /forgotten", "['GET'] /mixed"]


def test_framework_routes_are_the_only_exceptions(web):
    others = {getattr(route, "path", None) for route, dep in routes_of(web.app) if dep is None}
    assert others <= FRAMEWORK_PUBLIC_PATHS | {"/static"}
