"""Config files in libvirt's syntax, checked against a typed key registry."""

from common.config.parser import ConfFile, parse_bytes, parse_text
from common.config.schema import STR_LIST, Config, Key, Schema

__all__ = ["STR_LIST", "ConfFile", "Config", "Key", "Schema", "parse_bytes", "parse_text"]
