"""Who made a photo and under which licence: GCompris' ``README`` credit files and Debian copyright files.

A GCompris image folder holds a plain-text ``README`` beside its images: blank-line-separated
entries of ``Key: value`` lines (``Copyright:``, ``Source:``, ``License:``, optional
``Comments:``) and ``Files:`` followed by one path per line, relative to the README, or by a
path on the same line. Licences are spelled freely (``Public Domain``, ``Public domain``,
``CC0-1.0``, ``CC-BY-SA 4.0``, ``CC-BY-2.0``, ``GPLv2+``); :func:`licence_id` gives one spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Credit", "licence_id", "package_credit", "parse_credits"]

_KEY = re.compile(r"^(copyright|source|license|licence|comments|files)\s*:\s*(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Credit:
    """The credit of one file: its author, licence (as written), source URL and the changes made."""

    copyright: str
    licence: str
    source: str = ""
    comments: str = ""


def parse_credits(text: str) -> dict[str, Credit]:
    """The files a GCompris ``README`` credits, with their credit.

    Args:
        text: the README's text.

    Returns:
        ``{path relative to the README: Credit}``; a file listed twice keeps its first entry.
        Entries without ``Files:`` are ignored.
    """
    credits: dict[str, Credit] = {}
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        fields: dict[str, str] = {}
        files: list[str] = []
        key = ""
        for raw in block.split("\n"):
            line = raw.strip()
            if not line:
                continue
            m = _KEY.match(line)
            if m:
                key = m[1].lower().replace("licence", "license")
                value = m[2].strip()
                if key == "files":
                    files.extend([value] if value else [])
                else:
                    fields[key] = value
            elif key == "files":
                files.append(line)
            elif key:
                fields[key] = f"{fields[key]} {line}".strip()  # a value continued on the next line
        credit = Credit(fields.get("copyright", ""), fields.get("license", ""), fields.get("source", ""),
                        fields.get("comments", ""))
        for f in files:
            credits.setdefault(f.removeprefix("./"), credit)
    return credits


def licence_id(raw: str) -> str:
    """One spelling of a licence name (SPDX where there is one), e.g. ``"CC-BY-SA 4.0"`` -> ``"CC-BY-SA-4.0"``.

    Args:
        raw: the licence as a README or copyright file writes it.

    Returns:
        ``"public-domain"``, ``"CC0-1.0"``, ``"CC-BY[-SA|-ND|-NC...]-<version>"``,
        ``"GPL-<n>.0-or-later"`` / ``"GPL-<n>.0-only"``, else ``raw`` stripped.
    """
    s = " ".join(raw.split())
    low = s.lower()
    if low.replace("-", " ") == "public domain":
        return "public-domain"
    if re.fullmatch(r"cc0(?:[- ]?v?1\.0)?", low):
        return "CC0-1.0"
    m = re.fullmatch(r"cc[- ]by((?:[- ](?:sa|nd|nc))*)[- ]v?(\d\.\d)", low)
    if m:
        parts = [p for p in re.split(r"[- ]", m[1]) if p]
        return "-".join(["CC-BY", *(p.upper() for p in parts), m[2]])
    m = re.fullmatch(r"gpl[- ]?v?(\d)(?:\.0)?(\+|[- ]or[- ]later)?", low)
    if m:
        return f"GPL-{m[1]}.0-{'or-later' if m[2] else 'only'}"
    return s


def package_credit(copyright_text: str) -> Credit:
    """The credit of a Debian package's files as a whole, from its ``copyright`` file.

    Reads the machine-readable format (the ``License:`` and ``Copyright:`` of the ``Files: *``
    paragraph) and the older free-form files (``Upstream Author:``, the GNU GPL's "version N ...
    or (at your option) any later version").

    Args:
        copyright_text: the text of ``usr/share/doc/<package>/copyright``.

    Returns:
        the credit; its licence is ``"unknown"`` when the file names none this reader knows.
    """
    text = copyright_text.replace("\r\n", "\n")
    source = re.search(r"(?im)^(?:Source|It was downloaded from)\s*:?\s*\n?\s*(\S+://\S+)", text)
    url = source[1] if source else ""
    for block in re.split(r"\n[ \t]*\n", text):
        if re.search(r"(?im)^Files:\s*\*\s*$", block):
            lic = re.search(r"(?im)^License:\s*(\S.*)$", block)
            who = re.search(r"(?im)^Copyright:\s*(\S.*)$", block)
            if lic:
                return Credit(who[1].strip() if who else "", lic[1].strip(), url)
    author = re.search(r"(?im)^Upstream Authors?:\s*\n?\s*(\S.*)$", text)
    flat = " ".join(text.split())
    gpl = re.search(r"GNU (Lesser |Library )?General Public License.{0,80}?version (\d)", flat)
    if gpl:
        later = "any later version" in flat[gpl.start():gpl.end() + 200]
        name = ("LGPL" if gpl[1] else "GPL") + f"-{gpl[2]}.0-{'or-later' if later else 'only'}"
    else:
        name = "unknown"
    return Credit(author[1].strip() if author else "", name, url)
