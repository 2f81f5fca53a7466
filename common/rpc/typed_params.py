"""libvirt's typed parameters: wire types, building them, and validating received ones."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Iterable, Mapping

from common import xdr
from common.errors import ErrorCode, ErrorDomain, VirtError

FIELD_LENGTH = 80
"""VIR_TYPED_PARAM_FIELD_LENGTH: a field name is at most 79 bytes."""


class ParamType(IntEnum):
    INT = 1
    UINT = 2
    LLONG = 3
    ULLONG = 4
    DOUBLE = 5
    BOOLEAN = 6
    STRING = 7


_TYPE_NAMES = {
    ParamType.INT: "int", ParamType.UINT: "uint", ParamType.LLONG: "llong",
    ParamType.ULLONG: "ullong", ParamType.DOUBLE: "double", ParamType.BOOLEAN: "boolean",
    ParamType.STRING: "string",
}


def typed_param_types(string_max: int) -> tuple[xdr.Union, xdr.Struct]:
    """The value union and the param struct for a protocol with the given string maximum."""
    value = xdr.Union("typed_param_value", {
        ParamType.INT: xdr.Int,
        ParamType.UINT: xdr.UInt,
        ParamType.LLONG: xdr.Hyper,
        ParamType.ULLONG: xdr.UHyper,
        ParamType.DOUBLE: xdr.Double,
        ParamType.BOOLEAN: xdr.Int,
        ParamType.STRING: xdr.String(string_max),
    })
    param = xdr.struct_type("typed_param", field=xdr.String(string_max), value=value)
    return value, param


def build(param_type: xdr.Struct, items: Iterable[tuple[str, ParamType, Any]]) -> list[Any]:
    """Wire params from (field, type, value) triples, booleans as 0/1."""
    out = []
    for name, kind, value in items:
        if kind == ParamType.BOOLEAN:
            value = 1 if value else 0
        out.append(param_type(name, (int(kind), value)))
    return out


def validate(params: Iterable[Any], allowed: Mapping[str, ParamType]) -> dict[str, Any]:
    """Check received params the way libvirt's virTypedParamsValidate does; return field -> value."""
    seen: dict[str, Any] = {}
    for param in params:
        name = param.field
        kind, value = param.value
        if len(name.encode()) >= FIELD_LENGTH:
            raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                            f"Parameter name '{name}' too long")
        expected = allowed.get(name)
        if expected is None:
            raise VirtError(ErrorCode.ARGUMENT_UNSUPPORTED, ErrorDomain.NONE,
                            f"parameter '{name}' not supported")
        if name in seen:
            raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                            f"parameter '{name}' occurs multiple times")
        if kind != expected:
            raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                            f"invalid type '{_TYPE_NAMES.get(kind, str(kind))}' for parameter "
                            f"'{name}', expected '{_TYPE_NAMES[expected]}'")
        seen[name] = value
    return seen
