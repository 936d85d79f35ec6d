"""Defused XML into an element tree, and the walk from it to the plain shape JSON gives.

The reference path: XML's valid path is `lacecal_async._xml_plain` (no tree) and
`lacecal_async._xml_records`; this one runs on a body they refuse, to refuse it too (naming
the element) or to read it. (An inverter list's dicts from `_xml_plain` go straight to the
detailed converter.)
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
from typing import Any, Final

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


def to_plain(root: ET.Element, endpoint: Endpoint) -> list[object]:
    """Return the records of `endpoint`'s document as plain dicts; XmlShapeError if not one.

    A walk with its own stack, not recursion: elements nested in one the records ignore are
    read at any depth, as `lacecal_async._xml_plain` reads them.
    """
    root_tag, item = XML_TAGS[endpoint]
    if root.tag != root_tag:
        raise XmlShapeError(f"expected root <{root_tag}>, got <{root.tag}>", root)
    records: list[object] = []
    # (element, the list or dict its children go into, their item tag if it is a list)
    work: list[tuple[ET.Element, Any, str | None]] = [(root, records, item)]
    while work:
        element, container, item_tag = work.pop()
        for child in element:
            value: object = child.text
            if len(child):
                inner = _LIST_ITEMS.get(child.tag)
                value = [] if inner is not None else {}
                work.append((child, value, inner))
            if item_tag is None:
                if child.tag in container:
                    raise XmlShapeError(f"<{child.tag}> appears more than once", child)
                container[child.tag] = value
            elif child.tag == item_tag:
                container.append(value)
            else:
                raise XmlShapeError(f"expected <{item_tag}>, got <{child.tag}>", child)
    return records


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
