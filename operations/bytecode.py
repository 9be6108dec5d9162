"""Compiled bytecode for the deployment zip.

Lambda's /var/task is read-only and `chalice package` ships no .pyc, so every cold start
compiles every module it imports (B5-zip in bench/): redis-py alone took ~200 ms. Every .py
that ships gets its bytecode, redis-py included (+1.1 MB zipped; Lambda takes 50 MB).
Unchecked-hash .pyc files are used without comparing timestamps, which Chalice sets to 1980 for
every entry. Bytecode is only valid for the Python that wrote it: it sits under a name carrying
that Python's cache tag (`cpython-311`) and starts with its magic number, so a runtime of another
version ignores it and compiles the sources as before: slower, never broken. packaging.py adds
it only when the stage's Lambda runtime is this interpreter's version.
"""

from __future__ import annotations

import importlib.util
import marshal
import sys
import zipfile

# py_compile's PycInvalidationMode.UNCHECKED_HASH, written by hand to keep the zip's own bytes.
UNCHECKED_HASH_FLAGS = 0b01


def runtime_of_this_interpreter() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def pyc_path(source_path: str) -> str:
    folder, _, name = source_path.rpartition("/")
    cached = f"__pycache__/{name[:-3]}.{sys.implementation.cache_tag}.pyc"
    return f"{folder}/{cached}" if folder else cached


def compiled(source: bytes, source_path: str) -> bytes | None:
    """The .pyc bytes, or None for a file this Python cannot compile (left as source only)."""
    try:
        code = compile(source, source_path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    header = importlib.util.MAGIC_NUMBER + UNCHECKED_HASH_FLAGS.to_bytes(4, "little")
    return header + importlib.util.source_hash(source) + marshal.dumps(code)


def add_bytecode(zip_path: str) -> int:
    """Adds a .pyc beside every .py that has none; returns how many were added."""
    with zipfile.ZipFile(zip_path) as archive:
        entries = {info.filename: info for info in archive.infolist()}
        sources = {name: archive.read(name) for name in entries if name.endswith(".py")}
    added = 0
    with zipfile.ZipFile(zip_path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, source in sorted(sources.items()):
            target = pyc_path(name)
            if target in entries:
                continue
            bytecode = compiled(source, name)
            if bytecode is None:
                continue
            info = zipfile.ZipInfo(target, date_time=entries[name].date_time)
            info.external_attr = entries[name].external_attr
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, bytecode)
            added += 1
    return added
