"""Ship / Show / Ask: the mode and its reason, path rules from config, size, Definition of Done."""

from __future__ import annotations

import pytest

from factory_tui.core.modes import classify, mode_from_labels, size_class
from factory_tui.core.modes_dod import definition_of_done
from factory_tui.core.modes_paths import (
    ChangedFile,
    ModeSettings,
    classify_file,
    component_of,
    settings_from_config,
)


def files(*paths: str, lines: int = 10) -> list[ChangedFile]:
    return [ChangedFile(p, lines, 0) for p in paths]


# -- labels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "mode"),
    [
        (["ship"], "ship"),
        (["Show"], "show"),
        (["ask"], "ask"),
        (["mode:ship"], "ship"),
        (["bug", "MODE: show"], "show"),
    ],
)
def test_a_label_decides(labels: list[str], mode: str) -> None:
    verdict = classify(files("alembic/versions/1.py"), labels=labels)
    assert verdict.mode == mode and verdict.source == "label"
    assert verdict.reason.startswith("label ")


def test_several_mode_labels_the_strictest_wins_and_says_so() -> None:
    verdict = mode_from_labels(["mode:ship", "ask", "show"])
    assert verdict is not None and verdict.mode == "ask"
    assert "strictest" in verdict.reason and "'mode:ship'" in verdict.reason


def test_unrelated_labels_are_ignored() -> None:
    assert mode_from_labels(["bug", "mode:later", "p1"]) is None


# -- files: the FORMATS.md table -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paths", "branch", "mode", "reason"),
    [
        (["alembic/versions/0042_add.py"], "", "ask", "touches alembic/ → migration → Ask"),
        (["backend/migrations/0001.py"], "fix/x", "ask", "touches backend/migrations/ → migration"),
        (["deploy/helm/values.yaml"], "", "ask", "touches deploy/helm/ → infra (Helm) → Ask"),
        (["k8s/gateway.yaml"], "", "ask", "infra (k8s)"),
        (["infra/network.yaml"], "", "ask", "touches infra/ → infra → Ask"),
        (["modules/vpc.tf"], "", "ask", "touches modules/vpc.tf → infra (Terraform) → Ask"),
        ([".github/workflows/ci.yml"], "", "ask", "CI pipeline"),
        (["src/gw/auth.py"], "fix/x", "ask", "touches src/gw/auth.py → security (auth) → Ask"),
        (["src/gw/rbac/roles.py"], "fix/x", "ask", "security (RBAC)"),
        (["src/gw/secrets_store.py"], "fix/x", "ask", "security (secrets)"),
        (["config/server.pem"], "", "ask", "security (secrets)"),
        (["src/gw/crypto.py"], "refactor/x", "ask", "security (crypto)"),
        (["api/openapi.yaml"], "docs/x", "ask", "API contract (OpenAPI)"),
        (["proto/gateway.proto"], "", "ask", "API contract (protobuf)"),
        (["src/gw/api.py"], "feat/CAB-1-x", "ask", "feat/ branch → feature → Ask"),
        (["src/gw/api.py"], "", "ask", "no fix/refactor/style marker → unsure → Ask"),
        (["tests/test_webhooks.py"], "fix/x", "show", "only tests (1 file) → Show"),
        (["tests/test_a.py", "README.md"], "", "show", "only tests and docs (2 files) → Show"),
        ([".prettierrc", ".editorconfig"], "", "show", "only style config (2 files) → Show"),
        (["portal/footer.html"], "fix/CAB-1321-tos", "show", "isolated bug fix → Show"),
        (["src/gw/routes.py"], "refactor/routes", "show", "→ refactor → Show"),
        (["docs/runbook.md"], "", "ship", "only docs (1 file) → Ship"),
        (["plan.md", "memory.md"], "", "ship", "only .md state files (2 files) → Ship"),
        ([".claude/settings.json"], "", "ship", "only .claude/ config (1 file) → Ship"),
        (["CLAUDE.md", "docs/a.md"], "", "ship", "only .claude/ config and docs (2 files) → Ship"),
        (["pyproject.toml", "uv.lock"], "", "ship", "minor dependency bump → Ship"),
    ],
)
def test_mode_from_files(paths: list[str], branch: str, mode: str, reason: str) -> None:
    verdict = classify(files(*paths), branch=branch)
    assert (verdict.mode, verdict.source) == (mode, "files"), verdict.reason
    assert reason in verdict.reason


def test_changes_across_components_are_ask() -> None:
    verdict = classify(files("src/gateway/a.py", "portal/b.py"), branch="fix/x")
    assert verdict.mode == "ask"
    assert verdict.reason == "changes across components (gateway, portal) → Ask"


def test_a_big_fix_is_not_isolated() -> None:
    verdict = classify([ChangedFile("portal/a.html", 200, 10)], branch="fix/x")
    assert verdict.mode == "ask" and "not an isolated bug fix" in verdict.reason


def test_a_conventional_title_beats_the_branch_prefix_and_bang_is_breaking() -> None:
    assert classify(files("src/gw/a.py"), branch="feat/x", title="fix: y").mode == "show"
    breaking = classify(files("src/gw/a.py"), branch="fix/x", title="fix!: drop v1")
    assert breaking.mode == "ask" and "breaking change" in breaking.reason


def test_no_files_known_is_ask_when_unsure() -> None:
    nothing: tuple[list[ChangedFile] | None, ...] = (None, [])
    for empty in nothing:
        verdict = classify(empty)
        assert verdict.mode == "ask" and "unsure" in verdict.reason


def test_tests_of_security_code_are_still_tests_and_docs_about_it_docs() -> None:
    assert classify_file("tests/test_auth.py").category == "tests"
    assert classify_file("docs/security.md").category == "docs"
    assert classify_file("src/author_names.py").category == "code"  # "author" is not "auth"


def test_dependency_bumps_minor_or_major() -> None:
    patch = '-dependencies = ["httpx>=0.27"]\n+dependencies = ["httpx>=1.0"]\n'
    major = classify(files("pyproject.toml", lines=1), patches={"pyproject.toml": patch})
    assert major.mode == "ask" and major.reason.startswith("httpx 0.x → 1.x in pyproject.toml")
    minor_patch = '-  "react": "^17.0.2"\n+  "react": "^17.1.0"\n'
    minor = classify(files("package.json", lines=1), patches={"package.json": minor_patch})
    assert minor.mode == "ship"
    big = classify([ChangedFile("package.json", 30, 5), ChangedFile("package-lock.json", 900, 800)])
    assert big.mode == "ask" and "35 changed lines" in big.reason
    # Lock files are not counted: a minor bump rewrites many of their lines.
    lock = classify([ChangedFile("package.json", 1, 1), ChangedFile("package-lock.json", 900, 800)])
    assert lock.mode == "ship"


# -- config overrides ------------------------------------------------------------------------------


def test_path_rules_from_config_come_first() -> None:
    settings = settings_from_config(
        {
            "prs": {
                "paths": {"scripts/**": "show", "src/payments/": "security", "vendor/": "ship"},
                "components": {"gateway": ["src/gateway/", "portal/"]},
            }
        },
        "factory.toml",
    )
    assert settings.problems == ()
    assert classify(files("scripts/x/run.sh"), settings=settings).mode == "show"
    paid = classify(files("src/payments/charge.py"), branch="fix/x", settings=settings)
    assert paid.mode == "ask" and paid.reason == "touches src/payments/ → security → Ask"
    vendored = classify(files("vendor/lib/x.py"), settings=settings)
    assert vendored.mode == "ship" and "a Ship path (config)" in vendored.reason
    # Without the components table these would be two components.
    one = classify(files("src/gateway/a.py", "portal/b.py"), branch="fix/x", settings=settings)
    assert one.mode == "show"
    assert component_of("portal/b.py", settings) == "gateway"


def test_config_problems_are_named_and_skipped() -> None:
    settings = settings_from_config(
        {"prs": {"paths": {"x/": "sometimes"}, "components": {"a": 3}, "fix_max_lines": -1}},
        "/repo/factory.toml",
    )
    assert len(settings.problems) == 3
    assert "/repo/factory.toml: [prs.paths] 'x/' = 'sometimes'" in settings.problems[0]
    assert settings.rules == () and settings.fix_max_lines == 150
    assert settings_from_config({}) == ModeSettings()


def test_components_default_skips_container_folders() -> None:
    assert component_of("src/tinygate/api.py") == "tinygate"
    assert component_of("packages/web/src/App.tsx") == "web"
    assert component_of("portal/footer.html") == "portal"
    assert component_of("setup.py") == "(top level)"


# -- size ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "size"),
    [
        (0, "ideal"),
        (49, "ideal"),
        (50, "good"),
        (150, "good"),
        (151, "acceptable"),
        (300, "acceptable"),
        (301, "must split"),
    ],
)
def test_size_class(lines: int, size: str) -> None:
    assert size_class(lines) == size


# -- Definition of Done ----------------------------------------------------------------------------


def dod(**kw: object) -> dict[str, tuple[bool | None, str]]:
    base: dict[str, object] = {
        "pr_exists": True,
        "pr_detail": "#1 on GitHub",
        "ci": "green",
        "ci_detail": "3 checks passed",
        "session_detail": "SESSION-START for t at x",
        "files": files("src/gw/a.py", "tests/test_a.py"),
        "tickets": ("CAB-1",),
        "state_texts": {"memory.md": "- CAB-1 doing it"},
    }
    base.update(kw)
    return {i.name: (i.ok, i.detail) for i in definition_of_done(**base)}  # type: ignore[arg-type]


def test_definition_of_done_all_met() -> None:
    items = dod()
    assert all(ok for ok, _ in items.values())
    assert items["tests changed"][1] == "1 test file with 1 code file"
    assert items["state files updated"][1] == "memory.md mentions CAB-1"


def test_definition_of_done_failures_say_why() -> None:
    items = dod(
        ci="red",
        ci_detail="1 of 2 checks failing: test",
        session_detail=None,
        files=files("src/gw/a.py", "src/gw/b.py"),
        state_texts={"memory.md": "nothing"},
    )
    assert items["CI green"] == (False, "1 of 2 checks failing: test")
    assert items["session logged"][0] is False
    assert items["tests changed"] == (False, "2 code files changed, no test")
    assert items["state files updated"][0] is False


def test_definition_of_done_unknowns_are_none() -> None:
    items = dod(ci="none", ci_detail="no CI", files=None)
    assert items["CI green"][0] is None
    assert items["tests changed"][0] is None and items["state files updated"][0] is None
    docs_only = dod(files=files("docs/a.md", "plan.md"))
    assert docs_only["tests changed"] == (True, "no code changed")
    assert docs_only["state files updated"] == (True, "changes plan.md")
