"""Read template.yaml as plain data, and evaluate the little of CloudFormation that tests need.

The sandbox builds its moto resources from the template and the tests read its rules and
policies, so both must see exactly what CloudFormation would: short-form tags (``!Ref``,
``!GetAtt``, ``!Sub`` ...) become their long form (``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``),
and :func:`resolve` evaluates intrinsic functions against parameter values the caller supplies.

This module is never imported by a Lambda handler; it needs PyYAML, which the layer omits.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from leak_responder.domain.errors import LeakResponderError

# Every AWS pseudo parameter a template of ours refers to; callers supply the values.
PSEUDO_PARAMETERS = (
    "AWS::AccountId",
    "AWS::Region",
    "AWS::Partition",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::URLSuffix",
    "AWS::NoValue",
)

# A name Fn::Sub substitutes ("${!Literal}" is an escape, not a name); the provisioner orders
# resources by the same names.
SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(LeakResponderError):
    """The template cannot be read, or an intrinsic function cannot be evaluated."""


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation's short-form tags and never parses dates.

    ``Version: 2012-10-17`` must stay a string, as CloudFormation reads it.
    """


_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"unsupported YAML node for !{tag_suffix}")
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # The short form "Resource.Attribute" splits on the first dot only: attribute names
        # such as "Endpoint.Address" keep theirs.
        logical_id, _, attribute = value.partition(".")
        value = [logical_id, attribute]
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


TEMPLATE_ENV = "LEAK_RESPONDER_TEMPLATE"


def find_template(start: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The template to run: ``$LEAK_RESPONDER_TEMPLATE``, else the nearest ``template.yaml`` in
    ``start`` (the working directory) or a folder above it that also holds ``functions/``.

    Not a path relative to this file: an installed package lives in site-packages, far from any
    checkout.
    """
    env = os.environ if env is None else env
    if env.get(TEMPLATE_ENV):
        path = Path(env[TEMPLATE_ENV]).expanduser()
        if not path.is_file():
            raise TemplateError(f"{TEMPLATE_ENV} names no file: {path}")
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "template.yaml"
        if candidate.is_file() and (folder / "functions").is_dir():
            return candidate
    raise TemplateError(
        f"no template.yaml (with functions/ beside it) in {here} or above it: run from the "
        f"checkout, pass --template PATH, or set {TEMPLATE_ENV}"
    )


def load_template(path: str | Path) -> dict[str, Any]:
    """The whole template as plain data, intrinsic functions in their long (JSON) form."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read the template: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: a template is a mapping at the top level")
    return data


def parameter_defaults(template: Mapping[str, Any]) -> dict[str, Any]:
    """Each Parameter's Default, as CloudFormation would pass it to Ref.

    ``CommaDelimitedList`` defaults become lists; every other type stays a string, because Ref
    of a ``Number`` parameter yields a string too.
    """
    values: dict[str, Any] = {}
    for name, spec in (template.get("Parameters") or {}).items():
        if "Default" not in spec:
            continue
        default = spec["Default"]
        if spec.get("Type") == "CommaDelimitedList":
            values[name] = [p.strip() for p in str(default).split(",")]
        else:
            values[name] = str(default)
    return values


def pseudo_parameters(
    account_id: str = "123456789012",
    region: str = "us-east-1",
    stack_name: str = "leak-responder",
    partition: str = "aws",
) -> dict[str, str]:
    return {
        "AWS::AccountId": account_id,
        "AWS::Region": region,
        "AWS::Partition": partition,
        "AWS::StackName": stack_name,
        "AWS::StackId": (
            f"arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/sandbox"
        ),
        "AWS::URLSuffix": "amazonaws.com",
    }


class _NoValue:
    """The value of ``Ref: AWS::NoValue``: the enclosing key or list item disappears."""


NO_VALUE = _NoValue()


class Resolver:
    """Evaluates intrinsic functions against known values.

    ``refs`` maps parameter names, pseudo parameters and logical IDs to what Ref returns;
    ``attributes`` maps ``"LogicalId.Attribute"`` to what Fn::GetAtt returns. Anything not
    known raises :class:`TemplateError`, so a caller never acts on a half-resolved value.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        refs: Mapping[str, Any],
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self.template = template
        self.refs = dict(refs)
        self.attributes = dict(attributes or {})
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = (self.template.get("Conditions") or {}).get(name)
            if spec is None:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" or key == "Condition" or key.startswith("Fn::"):
                return self._intrinsic(key, arg)
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _intrinsic(self, name: str, arg: Any) -> Any:
        handler = getattr(self, "_fn_" + name.removeprefix("Fn::").lower(), None)
        if handler is None:
            raise TemplateError(f"{name} is not supported here")
        return handler(arg)

    def _fn_ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name not in self.refs:
            raise TemplateError(f"no value for Ref {name!r}")
        return self.refs[name]

    def _fn_condition(self, name: str) -> bool:
        return self.condition(name)

    def _fn_getatt(self, arg: list[str] | str) -> Any:
        key = arg if isinstance(arg, str) else ".".join(arg)
        if key not in self.attributes:
            raise TemplateError(f"no value for Fn::GetAtt {key!r}")
        return self.attributes[key]

    def _fn_sub(self, arg: str | list[Any]) -> str:
        if isinstance(arg, str):
            text, local = arg, {}
        else:
            text, local = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if name in self.refs:
                return str(self.refs[name])
            if "." in name and name in self.attributes:
                return str(self.attributes[name])
            raise TemplateError(f"no value for ${{{name}}} in Fn::Sub")

        # "${!Literal}" is CloudFormation's escape for a literal "${Literal}".
        return SUB_VARIABLE.sub(substitute, text).replace("${!", "${")

    def _fn_join(self, arg: list[Any]) -> str:
        delimiter, items = arg
        return str(delimiter).join(str(i) for i in self.resolve(items))

    def _fn_split(self, arg: list[Any]) -> list[str]:
        delimiter, text = arg
        return str(self.resolve(text)).split(str(delimiter))

    def _fn_select(self, arg: list[Any]) -> Any:
        index, items = arg
        return self.resolve(items)[int(self.resolve(index))]

    def _fn_findinmap(self, arg: list[Any]) -> Any:
        mapping, top, second = (self.resolve(a) for a in arg)
        try:
            return self.template["Mappings"][mapping][top][second]
        except KeyError as exc:
            raise TemplateError(f"Fn::FindInMap {mapping}/{top}/{second} is missing") from exc

    def _fn_if(self, arg: list[Any]) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_equals(self, arg: list[Any]) -> bool:
        left, right = (self.resolve(a) for a in arg)
        return bool(left == right)

    def _fn_not(self, arg: list[Any]) -> bool:
        return not self.resolve(arg[0])

    def _fn_and(self, arg: list[Any]) -> bool:
        return all(self.resolve(a) for a in arg)

    def _fn_or(self, arg: list[Any]) -> bool:
        return any(self.resolve(a) for a in arg)


def event_rules(
    template: Mapping[str, Any],
    refs: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every ``AWS::Events::Rule``, by logical ID, with its EventPattern resolved to a dict.

    ``refs`` defaults to the Parameters' defaults plus sandbox pseudo parameters. A pattern
    written as a JSON string (needed where a number comes from a Parameter, since Ref would turn
    it into a string) is decoded after substitution.
    """
    if refs is None:
        refs = {**pseudo_parameters(), **parameter_defaults(template)}
    resolver = Resolver(template, refs)
    rules: dict[str, dict[str, Any]] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Events::Rule":
            continue
        props = resource.get("Properties") or {}
        pattern = resolver.resolve(props.get("EventPattern"))
        if isinstance(pattern, str):
            try:
                pattern = json.loads(pattern)
            except json.JSONDecodeError as exc:
                raise TemplateError(f"{logical_id}: EventPattern is not JSON: {exc}") from exc
        rules[logical_id] = {
            "EventPattern": pattern,
            "State": props.get("State", "ENABLED"),
            "EventBusName": props.get("EventBusName", "default"),
            "Targets": props.get("Targets") or [],
        }
    return rules


def flatten_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted paths to leaf values, as EventBridge sees an event when matching a pattern.

    EventBridge matches a field inside an array of objects against every element: the pattern
    ``{"detail": {"findings": {"Resources": {"Type": ["AwsIamAccessKey"]}}}}`` matches a
    Security Hub event whose findings[].Resources[].Type include that value. moto's matcher
    stops at arrays (in 5.1.22, 5.2.0 and 5.2.5, the versions checked), so such a rule never
    fires there. A path reached through an array maps to the list of every value found; moto's
    matcher already treats a list value as "any element matches". Install it in moto with
    ``EventPattern._flatten_dict = staticmethod(flatten_event)`` (moto.events.models).
    """
    found: dict[str, list[Any]] = {}
    through_array: set[str] = set()

    def walk(node: Any, path: str, in_array: bool) -> None:
        if isinstance(node, Mapping) and node:
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key), in_array)
        elif isinstance(node, list):
            for item in node:
                walk(item, path, True)
            if not node:
                found.setdefault(path, [])
                through_array.add(path)
        else:
            found.setdefault(path, []).append(node)
            if in_array:
                through_array.add(path)

    walk(event, "", False)
    return {
        path: values if path in through_array or len(values) != 1 else values[0]
        for path, values in found.items()
    }
