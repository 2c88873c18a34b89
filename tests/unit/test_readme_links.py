"""README.md's links resolve, and its top says where to start (newcomer54, finding 6: a 3,000-line README).

A link is a Markdown `[text](target)` or an autolink `<target>` outside code. A relative target names a file of the
repository; a `#fragment` names a heading of the README (or of the Markdown file linked) by GitHub's anchor rule:
the heading's text without its Markdown, lower-cased, every character but letters, digits, `_`, `-` and spaces
dropped, spaces turned to `-`, and a repeated anchor suffixed `-1`, `-2` in order.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^ *```.*?^ *```", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\]\(([^)\s]+)\)|<((?:https?://|#)[^>\s]+)>")
HEADING = re.compile(r"^#{1,6} +(.+?)(?: +#+)?$", re.M)


def _prose(text: str) -> str:
    """The text outside fenced code blocks (a `# comment` in a shell block is no heading)."""
    return FENCE.sub("", text)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading's text (its rule in the module docstring)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text.replace("`", "").strip().lower())
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every anchor the headings of a Markdown text define, repeated ones numbered as GitHub does."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in HEADING.findall(_prose(markdown)):
        anchor = _anchor(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def links(markdown: str) -> list[str]:
    """Every link target of a Markdown text, code blocks and code spans left out, in order."""
    prose = CODE_SPAN.sub("", _prose(markdown))
    return [inline or auto for inline, auto in LINK.findall(prose)]


def unresolved(markdown: str, base: Path) -> list[str]:
    """The relative link targets of a Markdown file at `base` whose file or heading does not exist."""
    own = anchors(markdown)
    broken = []
    for target in links(markdown):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: outside the repository
        path, _, fragment = target.partition("#")
        file = (base.parent / path) if path else base
        if not file.exists():
            broken.append(target)
        elif fragment and fragment not in (anchors(file.read_text(encoding="utf-8")) if path else own):
            broken.append(target)
    return broken


def test_the_anchor_rule_is_githubs() -> None:
    """Given headings with code, punctuation and a repeat, when anchored, then as GitHub anchors them."""
    assert _anchor("The GraphQL API") == "the-graphql-api"
    assert _anchor("Shared inventory pool: pushing to TikTok") == "shared-inventory-pool-pushing-to-tiktok"
    assert _anchor("`shopbridge demo`, the sandbox's state") == "shopbridge-demo-the-sandboxs-state"
    assert anchors("# A\n```sh\n# not a heading\n```\n## A\n### B.\n") == {"a", "a-1", "b"}


def test_every_link_of_the_readme_resolves() -> None:
    """Given README.md, when every relative link is followed, then its file and its heading exist."""
    text = README.read_text(encoding="utf-8")
    assert len(links(text)) >= 10, "the link finder found next to no link: its pattern is wrong"
    assert unresolved(text, README) == []


def test_the_readme_says_where_to_start() -> None:
    """Rule (README, "Where to start"): right after the introduction, before the quick start, a list links the
    quick start, the GraphQL API, the web console, configuration, operations and architecture."""
    text = README.read_text(encoding="utf-8")
    top = text.split("\n## ", 1)[0]
    assert "**Where to start**" in top
    listed = set(links(top.split("**Where to start**", 1)[1]))
    for section in ("quick-start", "the-graphql-api", "web-console", "configuration", "operations", "architecture"):
        assert f"#{section}" in listed, f"Where to start does not link #{section}"
        assert section in anchors(text)
