"""Declaring D-Bus interfaces once: members, their polkit action, their documentation.

The declarations drive dispatch, authorization and introspection alike, so a
method cannot exist without an action and every member is documented in
`busctl introspect` (org.freedesktop.DBus.DocString annotations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable
from xml.sax.saxutils import quoteattr

DOC_ANNOTATION = "org.freedesktop.DBus.DocString"
EMITS_CHANGED = "org.freedesktop.DBus.Property.EmitsChangedSignal"


@dataclass(frozen=True)
class Arg:
    name: str
    signature: str


@dataclass(frozen=True)
class Method:
    name: str
    inputs: tuple[Arg, ...]
    outputs: tuple[Arg, ...]
    action: str
    doc: str
    call: Callable[..., Any]
    """Called with the input values; returns the output values as a list."""
    wants_caller: bool = False
    """Also pass `caller=Caller(...)`: who called, for audit records."""

    @property
    def in_signature(self) -> str:
        return "".join(a.signature for a in self.inputs)

    @property
    def out_signature(self) -> str:
        return "".join(a.signature for a in self.outputs)


@dataclass(frozen=True)
class Caller:
    """A D-Bus caller as the bus daemon vouches for it."""

    bus_name: str
    pid: int
    uid: int


@dataclass(frozen=True)
class Property:
    name: str
    signature: str
    doc: str
    read_action: str
    get: Callable[[], Any]
    write_action: str | None = None
    set: Callable[[Any], None] | None = None
    emits_changed: bool = True
    """False for live figures (client counts, free workers) that change too often to signal."""


@dataclass(frozen=True)
class Signal:
    name: str
    args: tuple[Arg, ...]
    doc: str

    @property
    def signature(self) -> str:
        return "".join(a.signature for a in self.args)


@dataclass(frozen=True)
class Interface:
    name: str
    doc: str
    methods: tuple[Method, ...] = ()
    properties: tuple[Property, ...] = ()
    signals: tuple[Signal, ...] = ()

    def method(self, name: str) -> Method | None:
        return next((m for m in self.methods if m.name == name), None)

    def property(self, name: str) -> Property | None:
        return next((p for p in self.properties if p.name == name), None)


@dataclass
class DBusObject:
    path: str
    interfaces: list[Interface] = field(default_factory=list)

    def interface(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if i.name == name), None)


def _doc(text: str, indent: str) -> str:
    return f"{indent}<annotation name={quoteattr(DOC_ANNOTATION)} value={quoteattr(text)}/>\n"


def _args(args: tuple[Arg, ...], direction: str | None, indent: str) -> str:
    out = ""
    for arg in args:
        where = f" direction={quoteattr(direction)}" if direction else ""
        out += (f"{indent}<arg name={quoteattr(arg.name)} type={quoteattr(arg.signature)}"
                f"{where}/>\n")
    return out


STANDARD_INTERFACES = """  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg name="xml" type="s" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Peer">
    <method name="Ping"/>
    <method name="GetMachineId"><arg name="machine_uuid" type="s" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Properties">
    <method name="Get"><arg name="interface" type="s" direction="in"/><arg name="property" type="s" direction="in"/><arg name="value" type="v" direction="out"/></method>
    <method name="GetAll"><arg name="interface" type="s" direction="in"/><arg name="properties" type="a{sv}" direction="out"/></method>
    <method name="Set"><arg name="interface" type="s" direction="in"/><arg name="property" type="s" direction="in"/><arg name="value" type="v" direction="in"/></method>
    <signal name="PropertiesChanged"><arg name="interface" type="s"/><arg name="changed_properties" type="a{sv}"/><arg name="invalidated_properties" type="as"/></signal>
  </interface>
"""


def introspect(obj: DBusObject | None, children: list[str]) -> str:
    """The introspection XML of `obj` (None for a path that only has children)."""
    out = ('<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n'
           ' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n<node>\n')
    out += STANDARD_INTERFACES
    for iface in obj.interfaces if obj else []:
        out += f"  <interface name={quoteattr(iface.name)}>\n" + _doc(iface.doc, "    ")
        for m in iface.methods:
            out += f"    <method name={quoteattr(m.name)}>\n"
            out += _args(m.inputs, "in", "      ") + _args(m.outputs, "out", "      ")
            out += _doc(f"{m.doc} (polkit action {m.action})", "      ") + "    </method>\n"
        for p in iface.properties:
            access = "readwrite" if p.set is not None else "read"
            out += (f"    <property name={quoteattr(p.name)} type={quoteattr(p.signature)} "
                    f"access={quoteattr(access)}>\n")
            actions = f"read: {p.read_action}" + (f", write: {p.write_action}"
                                                   if p.write_action else "")
            out += _doc(f"{p.doc} (polkit actions {actions})", "      ")
            if not p.emits_changed:
                out += (f"      <annotation name={quoteattr(EMITS_CHANGED)} "
                        f"value=\"false\"/>\n")
            out += "    </property>\n"
        for s in iface.signals:
            out += f"    <signal name={quoteattr(s.name)}>\n" + _args(s.args, None, "      ")
            out += _doc(s.doc, "      ") + "    </signal>\n"
        out += "  </interface>\n"
    for child in children:
        out += f"  <node name={quoteattr(child)}/>\n"
    return out + "</node>\n"
