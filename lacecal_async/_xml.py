"""Defused XML into an element tree, and the walk from it to the plain shape JSON gives.

The reference path: XML's valid path is `lacecal_async._xml_plain` (no tree), and this one
runs when that path refuses a body, to refuse it too (naming the element) or to read it.
Safety: expat runs inside defusedxml's parser, which refuses a DTD, entity declarations
and external references, so nothing is ever expanded. The bytes are decoded as the XML
declaration says (UTF-8 without one), by expat.

The walk knows which elements hold lists (the root, and ``Inverters`` in a record), so a
list of one is a Python list of one. A childless element is its text, None when it has
none, as JSON's null: an empty ``<nserie/>`` is no serial number, an empty ``<Inverters/>``
no inverters (the converter reads null where a list belongs as an empty list).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Final

from defusedxml.ElementTree import fromstring

from lacecal_async.endpoints import Endpoint

__all__ = ["XML_TAGS", "XmlShapeError", "element_path", "parse", "to_plain"]

#: Root and item element names per endpoint (the same as the encoder in testing.wire).
XML_TAGS: Final[Mapping[Endpoint, tuple[str, str]]] = {
    Endpoint.INVERTER_LIST: ("Inverters", "Inverter"),
    Endpoint.INVERTER: ("InvertersRecords", "InvertersRecord"),
    Endpoint.METER: ("MetersRecords", "MetersRecord"),
}
#: Elements inside a record whose children form a list, and their item name.
_LIST_ITEMS: Final[Mapping[str, str]] = {"Inverters": "Inverter"}


class XmlShapeError(ValueError):
    """Well-formed XML that is not the endpoint's document; `element` is where it went wrong."""

    def __init__(self, reason: str, element: ET.Element) -> None:
        super().__init__(reason)
        self.element = element


def parse(body: bytes) -> ET.Element:
    """Parse `body`; raises ET.ParseError or one of defusedxml's DefusedXmlException."""
    root: ET.Element = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    return root


def _items(element: ET.Element, item: str) -> list[object]:
    out = []
    for child in element:
        if child.tag != item:
            raise XmlShapeError(f"expected <{item}>, got <{child.tag}>", child)
        out.append(_value(child) if len(child) else child.text)
    return out


def _value(element: ET.Element) -> object:
    """Turn an element with children into a list (a list container) or a dict by tag.

    Leaves are handled inline, and with a loop, not a comprehension (a frame of its own on
    3.11): this walk is a third of XML decoding.
    """
    item = _LIST_ITEMS.get(element.tag)
    if item is not None:
        return _items(element, item)
    mapping = {}
    for child in element:
        mapping[child.tag] = _value(child) if len(child) else child.text
    if len(mapping) != len(element):
        seen: set[str] = set()
        for child in element:  # pragma: no branch - a duplicate exists, so the loop raises
            if child.tag in seen:
                raise XmlShapeError(f"<{child.tag}> appears more than once", child)
            seen.add(child.tag)
    return mapping


def to_plain(root: ET.Element, endpoint: Endpoint) -> list[object]:
    """Return the records of `endpoint`'s document as plain dicts; XmlShapeError if not one."""
    root_tag, item = XML_TAGS[endpoint]
    if root.tag != root_tag:
        raise XmlShapeError(f"expected root <{root_tag}>, got <{root.tag}>", root)
    return _items(root, item)


def element_path(root: ET.Element, element: ET.Element) -> str:
    """Where `element` sits, as a wire path like ``$[3].GRID_meter``; for error messages only."""
    parents = {child: parent for parent in root.iter() for child in parent}
    parts = []
    while element is not root:
        parent = parents[element]
        if parent is root or parent.tag in _LIST_ITEMS:
            parts.append(f"[{list(parent).index(element)}]")
        else:
            parts.append(f".{element.tag}")
        element = parent
    return "$" + "".join(reversed(parts))
