"""Packaging checks: what hassfest and HACS would reject, checked offline.

hassfest and the HACS action run only on GitHub (.github/workflows/validate.yml); these tests catch
the same mistakes locally: manifest.json order and keys, hacs.json keys, the licence, and that
translations/en.json and icons.json cover (exactly) what the code uses. The code is read with
`ast` where a key is only visible in the source (flow steps, errors, exception keys), and imported
where the value lives in an object (entity descriptions, service schemas, trigger types). The
blueprints are validated with Home Assistant's own blueprint schema and run once each.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
import importlib
import json
from pathlib import Path
import pkgutil
import re
import shutil
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
from packaging.requirements import Requirement
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_service,
)
import voluptuous as vol
import yaml

import custom_components.tunnelbroker as integration
from custom_components.tunnelbroker import const, device_trigger
from custom_components.tunnelbroker.config_flow import TunnelbrokerConfigFlow
from custom_components.tunnelbroker.protocol.wan_address import WanAddressProblem
from custom_components.tunnelbroker.repair_issues import (
    BEHIND_NAT_ISSUE,
    NO_PUBLIC_IPV4_ISSUE,
    ROUTER_MOVED_ISSUE,
    EventsIssue,
    RecordIssue,
    StoreIssue,
    TunnelIssue,
)
from custom_components.tunnelbroker.wording import address_problem_key
from homeassistant.components.automation import DOMAIN as AUTOMATION_DOMAIN
from homeassistant.components.blueprint import BLUEPRINT_SCHEMA, models
from homeassistant.config_entries import ConfigFlow, ConfigSubentryFlow, OptionsFlow
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.entity import EntityDescription
from homeassistant.setup import async_setup_component
from homeassistant.util import yaml as yaml_util

from .conftest import ROUTER_UDN, TUNNEL_ID, WAN_IP, find_device

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(integration.__file__).resolve().parent
DOMAIN = const.DOMAIN
BLUEPRINTS = ROOT / "blueprints" / "automation" / DOMAIN


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


MANIFEST_PATH = PACKAGE / "manifest.json"
TRANSLATIONS_PATH = PACKAGE / "translations" / "en.json"


@pytest.fixture(name="translations")
def translations_fixture() -> dict[str, Any]:
    """translations/en.json."""
    return _json(TRANSLATIONS_PATH)  # type: ignore[no-any-return]


@pytest.fixture(name="icons")
def icons_fixture() -> dict[str, Any]:
    """icons.json."""
    return _json(PACKAGE / "icons.json")  # type: ignore[no-any-return]


@pytest.fixture(name="services_yaml")
def services_yaml_fixture() -> dict[str, Any]:
    """services.yaml."""
    return yaml.safe_load((PACKAGE / "services.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _get(tree: dict[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _keys(tree: dict[str, Any], dotted: str) -> set[str]:
    node = _get(tree, dotted)
    return set(node) if isinstance(node, dict) else set()


def _report(missing: set[str], orphans: set[str], where: str) -> list[str]:
    problems = [f"{where}: missing {key!r}" for key in sorted(missing)]
    problems += [
        f"{where}: {key!r} is in the translations but unused" for key in sorted(orphans)
    ]
    return problems


# -- manifest.json ----------------------------------------------------------------------------

REQUIRED_MANIFEST_KEYS = {
    "codeowners",
    "config_flow",
    "dependencies",
    "documentation",
    "integration_type",
    "iot_class",
    "issue_tracker",
    "loggers",
    "requirements",
    "ssdp",
    "version",
}
IOT_CLASSES = {
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
}
INTEGRATION_TYPES = {
    "device",
    "hub",
    "service",
    "helper",
    "entity",
    "hardware",
    "system",
}


def test_manifest_key_order() -> None:
    """Hassfest wants domain, name, then every other key in alphabetical order."""
    keys = list(_json(MANIFEST_PATH))
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:]), "keys after domain and name must be sorted"


def test_manifest_content() -> None:
    """Required keys are there and hold values hassfest and HACS accept."""
    manifest = _json(MANIFEST_PATH)
    missing = REQUIRED_MANIFEST_KEYS - set(manifest)
    assert not missing, missing
    assert manifest["domain"] == DOMAIN == PACKAGE.name
    assert manifest["name"]
    assert manifest["codeowners"]
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    assert manifest["config_flow"] is (PACKAGE / "config_flow.py").exists()
    for url in (manifest["documentation"], manifest["issue_tracker"]):
        assert url.startswith("https://")
    assert manifest["iot_class"] in IOT_CLASSES
    assert manifest["integration_type"] in INTEGRATION_TYPES
    for dependency in manifest["dependencies"]:
        importlib.import_module(f"homeassistant.components.{dependency}")
    assert all(isinstance(logger, str) and logger for logger in manifest["loggers"])
    for requirement in manifest["requirements"]:
        # Never pinned exactly: HA's own pin (ssdp's async-upnp-client) must win.
        assert not any(
            spec.operator == "==" for spec in Requirement(requirement).specifier
        )


def test_manifest_version() -> None:
    """The version is semver, and Home Assistant's loader accepts it."""
    version = AwesomeVersion(_json(MANIFEST_PATH)["version"])
    assert version.strategy == AwesomeVersionStrategy.SEMVER
    # The strategies homeassistant.loader accepts for a custom integration's version.
    AwesomeVersion(
        version,
        ensure_strategy=[
            AwesomeVersionStrategy.CALVER,
            AwesomeVersionStrategy.SEMVER,
            AwesomeVersionStrategy.SIMPLEVER,
            AwesomeVersionStrategy.BUILDVER,
            AwesomeVersionStrategy.PEP440,
        ],
    )


def test_manifest_ssdp_matches_igd_v1_and_v2() -> None:
    """SSDP matchers as core upnp: st and nt for IGD:1 and IGD:2 (miniupnpd answers as :2)."""
    matchers = {
        (key, value)
        for matcher in _json(MANIFEST_PATH)["ssdp"]
        for key, value in matcher.items()
    }
    for version in (1, 2):
        device_type = f"urn:schemas-upnp-org:device:InternetGatewayDevice:{version}"
        assert ("st", device_type) in matchers
        assert ("nt", device_type) in matchers


# -- hacs.json, LICENSE, brand ----------------------------------------------------------------

# HACS_MANIFEST_JSON_SCHEMA (hacs/integration, custom_components/hacs/utils/validate.py).
HACS_KEYS: dict[str, type] = {
    "name": str,
    "content_in_root": bool,
    "zip_release": bool,
    "filename": str,
    "hide_default_branch": bool,
    "country": object,
    "homeassistant": str,
    "hacs": str,
    "persistent_directory": str,
    "render_readme": bool,
}


def test_hacs_json() -> None:
    """Only keys HACS knows, of the right type; the minimum HA is the one tested against."""
    hacs = _json(ROOT / "hacs.json")
    assert set(hacs) <= set(HACS_KEYS), set(hacs) - set(HACS_KEYS)
    assert hacs.get("name")
    for key, value in hacs.items():
        assert isinstance(value, HACS_KEYS[key]), key
    floor = re.search(
        r"^homeassistant==(\S+)$",
        (ROOT / "requirements" / "floor.txt").read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    assert floor is not None, "requirements/floor.txt pins no homeassistant"
    assert hacs["homeassistant"] == floor.group(1), (
        "hacs.json's minimum must be the floor line's Home Assistant (requirements/floor.txt)"
    )
    if not hacs.get("content_in_root", False):
        assert len(list((ROOT / "custom_components").iterdir())) == 1


def test_license_is_mit() -> None:
    """HACS requires an OSI licence GitHub recognises."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text


def test_no_strings_json() -> None:
    """Custom integrations ship translations/en.json only (nothing would build strings.json)."""
    assert not (PACKAGE / "strings.json").exists()


def test_brand_images() -> None:
    """HACS's brands check and HA 2026.3+ read brand/icon.png; sizes as the brands rules."""
    from PIL import Image

    sizes = {}
    for path in (PACKAGE / "brand").glob("*.png"):
        with Image.open(path) as image:
            assert image.mode == "RGBA", path.name  # transparent background
            sizes[path.name] = image.size
    assert sizes["icon.png"] == (256, 256)
    assert sizes["icon@2x.png"] == (512, 512)
    for prefix in ("", "dark_"):
        if f"{prefix}logo.png" in sizes:
            width, height = sizes[f"{prefix}logo.png"]
            assert height == 256
            assert sizes[f"{prefix}logo@2x.png"] == (2 * width, 2 * height)


# -- translations: walking the source ---------------------------------------------------------


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_translations_have_no_key_references(translations: dict[str, Any]) -> None:
    """[%key:...] references are resolved only when building core's strings.json."""
    assert not [text for text in _strings(translations) if "[%key:" in text]


def _modules() -> dict[str, ast.Module]:
    return {
        path.stem: ast.parse(path.read_text(encoding="utf-8"), str(path))
        for path in sorted(PACKAGE.glob("*.py"))
    }


def _resolve(node: ast.expr, module: Any) -> set[str]:
    """Return the strings an expression can be: literals, both IfExp branches, constants."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _resolve(node.body, module) | _resolve(node.orelse, module)
    if isinstance(node, ast.Name) and isinstance(getattr(module, node.id, None), str):
        return {getattr(module, node.id)}
    if isinstance(node, ast.Call) and _call_name(node) == "address_problem_key":
        # One key per address problem, for the router's address or for one typed.
        router = next(kw.value for kw in node.keywords if kw.arg == "router")
        assert isinstance(router, ast.Constant)
        return {
            address_problem_key(problem, router=bool(router.value))
            for problem in WanAddressProblem
        }
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        # A key looked up in a module-level mapping: any of its values.
        mapping = getattr(module, node.value.id, None)
        if isinstance(mapping, dict):
            return {value for value in mapping.values() if isinstance(value, str)}
    if isinstance(node, ast.Subscript) and _is_self_attribute(node.value):
        # A key looked up in a class's mapping (each kind of updater has its own).
        assert isinstance(node.value, ast.Attribute)
        return {
            value
            for mapping in _class_attributes(node.value.attr)
            if isinstance(mapping, dict)
            for value in mapping.values()
            if isinstance(value, str)
        }
    if _is_self_attribute(node):
        assert isinstance(node, ast.Attribute)
        return {
            value for value in _class_attributes(node.attr) if isinstance(value, str)
        }
    return set()


def _is_self_attribute(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def _class_attributes(name: str) -> list[Any]:
    """Return the values of a class attribute on every class of the package that sets it."""
    modules = [
        importlib.import_module(f"{integration.__name__}.{module_name}")
        for module_name in _modules()
    ]
    return [
        vars(cls)[name]
        for module in modules
        for cls in vars(module).values()
        if isinstance(cls, type)
        and cls.__module__ == module.__name__
        and name in vars(cls)
    ]


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _exception_keys() -> set[str]:
    """Every translation_key given to an exception anywhere in the package."""
    keys: set[str] = set()
    for name, tree in _modules().items():
        module = importlib.import_module(f"{integration.__name__}.{name}")
        functions = {
            node.name: node
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        # A helper that takes the key as a parameter: its callers pass the literal.
        forwarded: dict[str, int] = {}
        for node in ast.walk(tree):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call) and not (_call_name(node) or "").endswith(
                ("EntityDescription", "SelectorConfig", "create_issue")
            ):
                values += [
                    kw.value for kw in node.keywords if kw.arg == "translation_key"
                ]
            if isinstance(node, ast.Dict):
                values += [
                    value
                    for key, value in zip(node.keys, node.values, strict=True)
                    if isinstance(key, ast.Constant) and key.value == "translation_key"
                ]
            for value in values:
                keys |= _resolve(value, module)
                if isinstance(value, ast.Name):
                    for function in functions.values():
                        params = [arg.arg for arg in function.args.args]
                        if value.id in params and any(
                            child is node for child in ast.walk(function)
                        ):
                            forwarded[function.name] = params.index(value.id)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _call_name(node) in forwarded:
                index = forwarded[_call_name(node)]  # type: ignore[index]
                if index < len(node.args):
                    found = _resolve(node.args[index], module)
                    assert found, f"{name}: cannot read the key in {ast.unparse(node)}"
                    keys |= found
    return keys


def test_exception_translations(translations: dict[str, Any]) -> None:
    """Every exception key has a message; every message is used."""
    used = _exception_keys()
    assert used, "no translated exception found: is the source walk broken?"
    present = _keys(translations, "exceptions")
    problems = _report(used - present, present - used, "exceptions")
    problems += [
        f"exceptions.{key}: no message"
        for key in sorted(used & present)
        if not _get(translations, f"exceptions.{key}.message")
    ]
    assert not problems, "\n".join(problems)


def test_issue_translations(translations: dict[str, Any]) -> None:
    """Every repair issue has a title and a description; every issue text is used."""
    used = (
        {issue.value for issue in TunnelIssue}
        | {issue.value for issue in EventsIssue}
        | {issue.value for issue in StoreIssue}
        | {issue.value for issue in RecordIssue}
        | {BEHIND_NAT_ISSUE, NO_PUBLIC_IPV4_ISSUE, ROUTER_MOVED_ISSUE}
    )
    present = _keys(translations, "issues")
    problems = _report(used - present, present - used, "issues")
    problems += [
        f"issues.{key}: no {part}"
        for key in sorted(used & present)
        for part in ("title", "description")
        if not _get(translations, f"issues.{key}.{part}")
    ]
    assert not problems, "\n".join(problems)


class _FlowSource:
    """What one flow class (and the module functions it calls) uses: steps, errors, aborts."""

    def __init__(self, tree: ast.Module, cls: ast.ClassDef, module: Any) -> None:
        self.module = module
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {
            node.name: node
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        self.dicts = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.AnnAssign | ast.Assign)
            and isinstance(node.value, ast.Dict)
            for target in (
                [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            )
            if isinstance(target, ast.Name)
        }
        self.methods = {
            node.name: node
            for node in cls.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        self.form_helpers = {
            name
            for name, function in self.functions.items()
            if self._calls(function) & {"async_show_form"}
        }
        self.steps: set[str] = set()
        self.errors: set[str] = set()
        self.aborts: set[str] = set()
        seen: set[str] = set()
        for name, method in self.methods.items():
            if name.startswith("async_step_") and self._calls(method) & (
                {"async_show_form"} | self.form_helpers
            ):
                self.steps.add(name.removeprefix("async_step_"))
            self._collect(method, seen)

    @staticmethod
    def _calls(function: ast.AST) -> set[str]:
        return {
            name
            for node in ast.walk(function)
            if isinstance(node, ast.Call) and (name := _call_name(node))
        }

    def _returned_keys(self, value: ast.expr | None) -> set[str]:
        if isinstance(value, ast.Tuple) and value.elts:
            value = value.elts[0]
        if value is None:
            return set()
        if isinstance(value, ast.Dict):  # errors by field: {field: error}
            return {v for item in value.values for v in _resolve(item, self.module)}
        if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name):
            table = self.dicts.get(value.value.id)
            if table is not None:
                return {v for item in table.values for v in _resolve(item, self.module)}
            # A mapping built from others (a | b): its values as the module holds them.
            mapping = getattr(self.module, value.value.id, None)
            if isinstance(mapping, dict):
                return {v for v in mapping.values() if isinstance(v, str)}
        return _resolve(value, self.module)

    def _collect(self, function: ast.AST, seen: set[str]) -> None:
        for node in ast.walk(function):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "step_id":
                        self.steps |= _resolve(keyword.value, self.module)
                    if keyword.arg == "reason":
                        self.aborts |= _resolve(keyword.value, self.module)
                name = _call_name(node)
                if name == "_abort_if_unique_id_configured":
                    self.aborts.add("already_configured")
                if name == "async_set_unique_id" and not any(
                    kw.arg == "raise_on_progress"
                    and isinstance(kw.value, ast.Constant)
                    and kw.value.value is False
                    for kw in node.keywords
                ):
                    self.aborts.add("already_in_progress")
                if name in self.form_helpers and len(node.args) > 1:
                    # _show_tunnel_form(self, "tunnel", ...): the step id is passed on.
                    self.steps |= _resolve(node.args[1], self.module)
                called = self.functions.get(name or "") or (
                    self.methods.get(name or "")
                    if isinstance(node.func, ast.Attribute)
                    else None
                )
                if called is not None and name not in seen:
                    seen.add(name)  # type: ignore[arg-type]
                    self._collect(called, seen)
            elif isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Subscript)
                and (
                    (isinstance(target.value, ast.Name) and target.value.id == "errors")
                    or (
                        isinstance(target.value, ast.Attribute)
                        and target.value.attr == "errors"
                    )
                )
                for target in node.targets
            ):
                self.errors |= _resolve(node.value, self.module)
            elif isinstance(node, ast.Return):
                self.errors |= self._returned_keys(node.value)


def _flow_sources() -> tuple[ast.Module, Any]:
    """The flow modules as one: their top-level code, and their names."""
    from custom_components.tunnelbroker import (
        config_flow,
        options_flow,
        record_flow,
        tunnel_flow,
    )

    modules = (options_flow, tunnel_flow, record_flow, config_flow)
    bodies = [
        ast.parse(Path(module.__file__).read_text(encoding="utf-8")).body
        for module in modules
    ]
    names: dict[str, Any] = {}
    for module in modules:
        names |= vars(module)
    tree = ast.Module(body=[node for body in bodies for node in body], type_ignores=[])
    return tree, SimpleNamespace(**names)


def _flows() -> dict[str, _FlowSource]:
    """The config, subentry and options flows by their translation section."""
    tree, config_flow = _flow_sources()
    subentry_types = {
        flow.__name__: subentry_type
        for subentry_type, flow in TunnelbrokerConfigFlow.async_get_supported_subentry_types(
            MagicMock()
        ).items()
    }
    sections: dict[str, _FlowSource] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(config_flow, node.name)
        if issubclass(cls, ConfigFlow):
            section = "config"
        elif issubclass(cls, ConfigSubentryFlow):
            section = f"config_subentries.{subentry_types[node.name]}"
        elif issubclass(cls, OptionsFlow):
            section = "options"
        else:
            continue
        sections[section] = _FlowSource(tree, node, config_flow)
    return sections


def test_flow_translations(translations: dict[str, Any]) -> None:
    """Every step, error and abort reason of every flow is translated, and nothing more."""
    flows = _flows()
    assert {
        "config",
        "config_subentries.tunnel",
        "config_subentries.dns_record",
        "options",
    } <= set(flows)
    problems: list[str] = []
    for section, flow in flows.items():
        assert flow.steps, f"{section}: no step found: is the source walk broken?"
        for part, used in (
            ("step", flow.steps),
            ("error", flow.errors),
            ("abort", flow.aborts),
        ):
            present = _keys(translations, f"{section}.{part}")
            problems += _report(used - present, present - used, f"{section}.{part}")
        problems += [
            f"{section}.step.{step}: no title or description"
            for step in sorted(flow.steps)
            if not _keys(translations, f"{section}.step.{step}")
            & {"title", "description"}
        ]
    assert not problems, "\n".join(problems)


def test_selector_translations(translations: dict[str, Any]) -> None:
    """A selector's translation_key (config flow select options) has a selector section."""
    tree, config_flow = _flow_sources()
    used = {
        key
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (_call_name(node) or "").endswith("SelectorConfig")
        for keyword in node.keywords
        if keyword.arg == "translation_key"
        for key in _resolve(keyword.value, config_flow)
    }
    present = _keys(translations, "selector")
    assert not _report(used - present, present - used, "selector")


def _flattened(value: Any) -> list[Any]:
    """Return the items of nested tuples, lists and mappings' values (a value: itself)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [item for inner in value for item in _flattened(inner)]
    return [value]


def _entity_translation_keys() -> dict[str, dict[str, EntityDescription | None]]:
    """translation_key -> description (or None for _attr_translation_key) by platform."""
    found: dict[str, dict[str, EntityDescription | None]] = {}
    for info in pkgutil.iter_modules([str(PACKAGE)]):
        module = importlib.import_module(f"{integration.__name__}.{info.name}")
        for value in vars(module).values():
            for description in _flattened(value):
                # Plain descriptions (not subclassed) are instances of a frozen twin class
                # that isinstance(..., EntityDescription) does not recognise: go by name.
                if type(description).__name__.endswith("EntityDescription") and (
                    description.translation_key
                ):
                    found.setdefault(info.name, {})[description.translation_key] = (
                        description
                    )
        tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "_attr_translation_key"
                for target in node.targets
            ):
                for key in _resolve(node.value, module):
                    found.setdefault(info.name, {})[key] = None
    return found


def test_entity_translations_and_icons(
    translations: dict[str, Any], icons: dict[str, Any]
) -> None:
    """Entity names and icons for every translation_key; none left over."""
    used = _entity_translation_keys()
    assert used, "no entity description found: is the import walk broken?"
    problems: list[str] = []
    for platform in sorted(set(used) | _keys(translations, "entity")):
        keys = set(used.get(platform, {}))
        present = _keys(translations, f"entity.{platform}")
        problems += _report(keys - present, present - keys, f"entity.{platform}")
        problems += [
            f"entity.{platform}.{key}: no name"
            for key in sorted(keys & present)
            if not _get(translations, f"entity.{platform}.{key}.name")
        ]
        with_icon = _keys(icons, f"entity.{platform}")
        needs_icon = {
            key
            for key, description in used.get(platform, {}).items()
            if description is None or description.device_class is None
        }
        problems += [
            f"icons.json entity.{platform}: no icon for {key!r}"
            for key in sorted(needs_icon - with_icon)
        ]
        problems += [
            f"icons.json entity.{platform}: {key!r} is unused"
            for key in sorted(with_icon - keys)
        ]
        # An enum's every state has its words and its icon, and nothing else does.
        for key, description in used.get(platform, {}).items():
            options = set(getattr(description, "options", None) or ())
            if not options:
                continue
            for source, texts in (("en.json", translations), ("icons.json", icons)):
                states = set(_get(texts, f"entity.{platform}.{key}.state") or {})
                problems += _report(
                    options - states, states - options, f"{source} {platform}.{key}"
                )
    assert not problems, "\n".join(problems)


def _service_fields(fields: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Return (fields, sections) of a services.yaml `fields` mapping."""
    names: set[str] = set()
    sections: set[str] = set()
    for name, spec in fields.items():
        if isinstance(spec, dict) and "fields" in spec:
            sections.add(name)
            inner, _ = _service_fields(spec["fields"])
            names |= inner
        else:
            names.add(name)
    return names, sections


def _registered_services() -> dict[str, Any]:
    """Return service name -> schema, read from hass.services.async_register(...) calls."""
    registered: dict[str, Any] = {}
    for name, tree in _modules().items():
        module = importlib.import_module(f"{integration.__name__}.{name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _call_name(node) == "async_register":
                (service,) = _resolve(node.args[1], module)
                schema = next(
                    (
                        getattr(module, kw.value.id)
                        for kw in node.keywords
                        if kw.arg == "schema" and isinstance(kw.value, ast.Name)
                    ),
                    None,
                )
                registered[service] = schema
    return registered


def test_services(
    translations: dict[str, Any], icons: dict[str, Any], services_yaml: dict[str, Any]
) -> None:
    """services.yaml describes every registered action and field; texts and icons for all."""
    registered = _registered_services()
    assert set(registered) == set(services_yaml)
    problems: list[str] = []
    present = _keys(translations, "services")
    problems += _report(
        set(services_yaml) - present, present - set(services_yaml), "services"
    )
    with_icon = _keys(icons, "services")
    problems += [
        f"icons.json: no icon for action {s!r}" for s in set(services_yaml) - with_icon
    ]
    problems += [
        f"icons.json: action {s!r} is unused" for s in with_icon - set(services_yaml)
    ]
    for service, spec in services_yaml.items():
        fields, sections = _service_fields((spec or {}).get("fields", {}))
        schema = registered[service]
        if isinstance(schema, vol.Schema):
            assert {str(key) for key in schema.schema} == fields, service
        base = f"services.{service}"
        problems += [
            f"{base}: no {part}"
            for part in ("name", "description")
            if not _get(translations, f"{base}.{part}")
        ]
        if not _get(icons, f"services.{service}.service"):
            problems.append(f"icons.json services.{service}: no 'service' icon")
        present_fields = _keys(translations, f"{base}.fields")
        problems += _report(
            fields - present_fields, present_fields - fields, f"{base}.fields"
        )
        for field in sorted(fields & present_fields):
            problems += [
                f"{base}.fields.{field}: no {part}"
                for part in ("name", "description")
                if not _get(translations, f"{base}.fields.{field}.{part}")
            ]
        present_sections = _keys(translations, f"{base}.sections")
        problems += _report(
            sections - present_sections, present_sections - sections, f"{base}.sections"
        )
    assert not problems, "\n".join(problems)


def _trigger_types() -> set[str]:
    types = {
        value
        for name, value in vars(const).items()
        if name.startswith("TRIGGER_") and isinstance(value, str)
    }
    for name, value in vars(const).items():
        if name.endswith("_TRIGGER_TYPES"):
            types |= set(value)
    return types


def test_device_trigger_translations(translations: dict[str, Any]) -> None:
    """Every device trigger type has its text in device_automation.trigger_type."""
    used = _trigger_types()
    assert used
    # The trigger schema accepts exactly these types.
    for trigger_type in used:
        device_trigger.TRIGGER_SCHEMA(
            {
                "platform": "device",
                "domain": DOMAIN,
                "device_id": "x",
                "type": trigger_type,
            }
        )
    present = _keys(translations, "device_automation.trigger_type")
    problems = _report(used - present, present - used, "device_automation.trigger_type")
    assert not problems, "\n".join(problems)


def test_translation_sections_known(translations: dict[str, Any]) -> None:
    """No stray top-level section (a typo hides a whole block of texts)."""
    known = {
        "config",
        "config_subentries",
        "options",
        "selector",
        "entity",
        "device_automation",
        "services",
        "exceptions",
        "issues",
        "title",
    }
    assert set(translations) <= known, set(translations) - known
    subentry_types = set(
        TunnelbrokerConfigFlow.async_get_supported_subentry_types(MagicMock())
    )
    assert _keys(translations, "config_subentries") == subentry_types


# -- blueprints -------------------------------------------------------------------------------


def _blueprint(name: str) -> models.Blueprint:
    path = BLUEPRINTS / name
    return models.Blueprint(
        yaml_util.load_yaml_dict(path),
        path=str(path),
        expected_domain=AUTOMATION_DOMAIN,
        schema=BLUEPRINT_SCHEMA,
    )


@pytest.mark.parametrize(
    "name", ["notify_on_update_failure.yaml", "update_on_wan_change.yaml"]
)
def test_blueprint_schema(name: str) -> None:
    """Valid for Home Assistant's blueprint schema; modern syntax; runs on the tested HA."""
    blueprint = _blueprint(name)
    assert (
        blueprint.validate() is None
    )  # min_version <= the Home Assistant tested against
    assert blueprint.metadata["homeassistant"]["min_version"] == "2026.2.0"
    raw = (BLUEPRINTS / name).read_text(encoding="utf-8")
    for old in ("\ntrigger:", "\naction:", "\ncondition:", "platform:", "service:"):
        assert old not in raw, f"{name}: old syntax {old.strip()!r}"
    for trigger in blueprint.data["triggers"]:
        assert trigger["domain"] == DOMAIN
        assert trigger["type"] in _trigger_types()


async def _automation_from_blueprint(
    hass: HomeAssistant, config_dir: Path, name: str, inputs: dict[str, Any]
) -> None:
    """Set up one automation from the blueprint, as a user would (blueprint in the config)."""
    # A config directory of this test's own: the default one is shared, inside the test plugin.
    hass.config.config_dir = str(config_dir)
    target = config_dir / "blueprints" / "automation" / DOMAIN

    def copy() -> None:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(BLUEPRINTS / name, target / name)

    await hass.async_add_executor_job(copy)
    assert await async_setup_component(
        hass,
        AUTOMATION_DOMAIN,
        {
            AUTOMATION_DOMAIN: {
                "alias": name,
                "use_blueprint": {"path": f"{DOMAIN}/{name}", "input": inputs},
            }
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get(f"automation.{name.replace('.', '_')}") is not None


def _devices(hass: HomeAssistant) -> tuple[dr.DeviceEntry, dr.DeviceEntry]:
    router = find_device(hass, ROUTER_UDN)
    tunnel = find_device(hass, f"tunnel_{TUNNEL_ID}")
    assert router is not None
    assert tunnel is not None
    return router, tunnel


def _fire(
    hass: HomeAssistant, device: dr.DeviceEntry, trigger_type: str, **data: Any
) -> None:
    hass.bus.async_fire(
        const.EVENT_TUNNELBROKER, {"device_id": device.id, "type": trigger_type, **data}
    )


@pytest.mark.parametrize("notify_action", ["", "notify.my_phone"])
async def test_blueprint_notify_on_update_failure(
    hass: HomeAssistant, loaded: MockConfigEntry, tmp_path: Path, notify_action: str
) -> None:
    """A failed update of the chosen tunnel notifies, by the chosen action or persistently."""
    router, tunnel = _devices(hass)
    # The device selector's filter lets the user pick the tunnel (and not the router).
    (device_filter,) = _blueprint("notify_on_update_failure.yaml").inputs[
        "tunnel_device"
    ]["selector"]["device"]["filter"]
    assert device_filter["manufacturer"] == tunnel.manufacturer != router.manufacturer
    persistent = async_mock_service(hass, "persistent_notification", "create")
    notify = async_mock_service(hass, "notify", "my_phone")
    await _automation_from_blueprint(
        hass,
        tmp_path,
        "notify_on_update_failure.yaml",
        {"tunnel_device": tunnel.id, "notify_action": notify_action},
    )
    failure = {"tunnel_id": TUNNEL_ID, "ip": "84.17.1.2", "result": "badauth"}
    _fire(hass, tunnel, const.TRIGGER_ENDPOINT_UPDATED, **failure, message="good")
    _fire(
        hass, tunnel, const.TRIGGER_ENDPOINT_UPDATE_FAILED, **failure, message="bad key"
    )
    await hass.async_block_till_done()
    calls, others = (notify, persistent) if notify_action else (persistent, notify)
    assert not others
    assert len(calls) == 1
    assert calls[0].data["title"] == f"Tunnel {TUNNEL_ID}: update failed"
    assert "84.17.1.2" in calls[0].data["message"]
    assert '"badauth" bad key' in calls[0].data["message"]


async def test_blueprint_update_on_wan_change(
    hass: HomeAssistant, loaded: MockConfigEntry, tmp_path: Path
) -> None:
    """A new WAN address of the chosen router calls update_endpoint for it; no address: nothing."""
    router, _ = _devices(hass)
    calls = async_mock_service(hass, DOMAIN, const.SERVICE_UPDATE_ENDPOINT)
    await _automation_from_blueprint(
        hass, tmp_path, "update_on_wan_change.yaml", {"router_device": router.id}
    )
    _fire(hass, router, const.TRIGGER_WAN_IP_CHANGED, ip=None, previous_ip=WAN_IP)
    await hass.async_block_till_done()
    assert not calls
    _fire(
        hass, router, const.TRIGGER_WAN_IP_CHANGED, ip="84.17.1.2", previous_ip=WAN_IP
    )
    await hass.async_block_till_done()
    assert [call.data for call in calls] == [{"device_id": router.id}]
