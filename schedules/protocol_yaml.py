"""A stricter YAML reader for protocol files.

Plain ``yaml.safe_load`` follows YAML 1.1, where ``at: 19:00`` is the number 1140
(base 60), ``yes``/``no``/``on``/``off`` are booleans and a repeated key silently
wins. Protocol authors mean none of that, so here times stay text, only
``true``/``false`` are booleans, and a repeated key is an error with its line.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode

# libyaml's parser when PyYAML was built with it (about ten times faster), else PyYAML's own.
SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ProtocolYamlLoader(SafeLoader):  # type: ignore[misc]
    """SafeLoader without the YAML 1.1 surprises described above."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    "found a key that is a list or a mapping",
                    key_node.start_mark,
                )
            if key in seen:
                raise ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice",
                    key_node.start_mark,
                )
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _int_or_text(loader: yaml.SafeLoader, node: ScalarNode) -> Any:
    if ":" in str(node.value):
        return loader.construct_scalar(node)
    return loader.construct_yaml_int(node)


def _float_or_text(loader: yaml.SafeLoader, node: ScalarNode) -> Any:
    if ":" in str(node.value):
        return loader.construct_scalar(node)
    return loader.construct_yaml_float(node)


def _bool_or_text(loader: yaml.SafeLoader, node: ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    if isinstance(text, str) and text.lower() in {"true", "false"}:
        return text.lower() == "true"
    return text


ProtocolYamlLoader.add_constructor("tag:yaml.org,2002:int", _int_or_text)
ProtocolYamlLoader.add_constructor("tag:yaml.org,2002:float", _float_or_text)
ProtocolYamlLoader.add_constructor("tag:yaml.org,2002:bool", _bool_or_text)


def read_yaml(text: str) -> Any:
    """Parse one YAML document with :class:`ProtocolYamlLoader`; raises ``yaml.YAMLError``
    (also for nesting too deep for PyYAML's recursive reader, which no protocol needs)."""
    try:
        return yaml.load(text, Loader=ProtocolYamlLoader)
    except RecursionError:
        raise yaml.YAMLError("the document is nested too deeply") from None


def describe_yaml_error(error: yaml.YAMLError) -> str:
    """``"YAML syntax error at line 4, column 7: ..."`` from a PyYAML error."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"YAML syntax error{where}: {problem}"
