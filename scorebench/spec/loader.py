"""Read a YAML config with limits, torch-free: every refusal is one line naming the file.

A file is read as bytes and refused past MAX_BYTES; it must decode as UTF-8 (a UTF-16 file, or
bytes of another encoding, are named as such); its event stream is walked once, without building
anything, and refused when it nests past MAX_DEPTH or when its aliases would expand it past
MAX_NODES (a "billion laughs" file of 2 KB is refused in milliseconds, before any code walks the
mapping). Only then is it constructed by YAML's safe loader (no tag builds an object), with merge keys
(`<<: *anchor`) and anchors as YAML defines them and a key given twice in one mapping refused.
"""
from __future__ import annotations

import codecs
from pathlib import Path

import yaml

from ..errors import ConfigError

MAX_BYTES = 1 << 20  # 1 MiB: the shipped benchmarks are 2-3 KB
MAX_DEPTH = 32  # nested mappings and lists, aliases counted where they are used
MAX_NODES = 100_000  # scalars, mappings and lists once every alias is expanded
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it
MERGE = "tag:yaml.org,2002:merge"


class StrictLoader(SAFE_LOADER):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last); keys a
    merge (`<<`) brings in may be overridden, as YAML's merge defines."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value if k.tag != MERGE]
        twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if twice is not None:
            raise yaml.constructor.ConstructorError(None, None, f"key {twice!r} given twice", node.start_mark)
        return super().construct_mapping(node, deep=deep)


def decode(path: Path, data: bytes) -> str:
    """The text of a config file: UTF-8 (a byte-order mark allowed), else one line saying what it is."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data[:64]:
        raise ConfigError(f"{path}: UTF-16 (or other wide) text; save the config as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); "
                          "save the config as UTF-8") from None


def check_size(path: Path, text: str) -> None:
    """Refuse nesting past MAX_DEPTH and alias expansion past MAX_NODES, from the events alone."""
    nodes, size, stack = 0, {}, []  # size: anchor -> (values, levels) of its expansion; stack: open collections
    for event in yaml.parse(text, Loader=SAFE_LOADER):
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, start, deepest = stack.pop()
            if anchor is not None:
                size[anchor] = (nodes - start + 1, deepest - len(stack))
            if stack:
                stack[-1][2] = max(stack[-1][2], deepest)
            continue
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in size:
                raise ConfigError(f"{path}: alias *{event.anchor} refers to a node that holds it (recursive)")
            count, levels = size[event.anchor]
        elif isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            count, levels = 1, 1
        else:
            continue
        nodes += count
        reached = len(stack) + levels
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, nodes, reached])
        elif stack:
            stack[-1][2] = max(stack[-1][2], reached)
        if isinstance(event, yaml.ScalarEvent) and event.anchor is not None:
            size[event.anchor] = (1, 1)
        if reached > MAX_DEPTH:
            raise ConfigError(f"{path}: nested deeper than {MAX_DEPTH} levels (aliases counted where they are used)")
        if nodes > MAX_NODES:
            raise ConfigError(f"{path}: expands to more than {MAX_NODES:,} values once its aliases are resolved")


def read_yaml(path: str | Path):
    """The YAML document in `path`, within the limits above; a problem is one line naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror})") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES >> 10} KiB, the limit of a config file")
    text = decode(path, data)
    try:
        check_size(path, text)
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())[:200]})") from None
