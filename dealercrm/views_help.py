"""`/help/`: the user guide, in the user's language, inside the layout.

The guide's text lives in `dealercrm/guide/<language>/<section>.md`, one file per section and language (long text
reads better there than as thousands of msgids); its screenshots in `static/guide/<language>/`, made from the demo by
`manage.py guide_screenshots`. The contributors' guides stay in docs/ and are not served."""
import re
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import Http404
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

GUIDE_DIR = Path(__file__).resolve().parent / "guide"
LANGUAGES = ("zh-hans", "en")
# The sections in the order of the guide's menu; "index" is /help/ itself.
SECTIONS = {
    "index": _("The guide"),
    "consultant": _("For consultants"),
    "manager": _("For store managers"),
    "admin": _("For group admins"),
    "figures": _("What the figures mean"),
}


def guide_language() -> str:
    """The guide's language for the active one: zh-hans for any Chinese, English otherwise."""
    return "zh-hans" if (get_language() or "").lower().startswith("zh") else "en"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _inline(text: str, lang: str) -> str:
    """Escape, then the inline marks the guide uses: `code`, **bold**, *emphasis*, [links](/path/#anchor)."""
    text = escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![*\w])\*([^*]+)\*(?!\*)", r"<em>\1</em>", text)
    # Links only to the app itself (a path or an anchor): the guide sends nobody elsewhere.
    return re.sub(r"\[([^\]]+)\]\(((?:/|#)[^)\s]*)\)", r'<a href="\2">\1</a>', text)


def _image(alt: str, name: str, lang: str) -> str:
    """A screenshot of static/guide/<lang>/, or nothing while the command has not made it yet."""
    path = f"guide/{lang}/{name}"
    if not finders.find(path):
        return ""
    return (f'<figure class="help-shot"><img src="{escape(static(path))}" alt="{escape(alt)}" loading="lazy">'
            f"<figcaption>{escape(alt)}</figcaption></figure>")


def render_markdown(source: str, lang: str = "en") -> str:
    """The subset of Markdown the guide is written in: headings (an id from `{#anchor}` or from the text),
    paragraphs, lists (one level, continued by indentation), pipe tables, screenshots (`![caption](file.png)` on a
    line of their own) and inline code, bold, emphasis and links within the app. Everything is escaped first, so
    the text cannot inject markup."""
    out: list[str] = []
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        heading = re.match(r"^(#{1,4})\s+(.*?)(?:\s+\{#([a-z0-9-]+)\})?\s*$", line)
        if heading:
            level = len(heading.group(1))
            text = heading.group(2).strip()
            anchor = heading.group(3) or _slug(text)
            attr = f' id="{anchor}"' if anchor else ""
            out.append(f"<h{level}{attr}>{_inline(text, lang)}</h{level}>")
            i += 1
            continue
        image = re.match(r"^!\[([^\]]*)\]\(([\w.-]+\.(?:png|jpg))\)\s*$", line)
        if image:
            out.append(_image(image.group(1), image.group(2), lang))
            i += 1
            continue
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            head, *body = rows
            out.append('<div class="table-responsive"><table class="table table-sm help-table"><thead><tr>'
                       + "".join(f"<th scope=\"col\">{_inline(c, lang)}</th>" for c in head) + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{_inline(c, lang)}</td>" for c in row) + "</tr>" for row in body)
                       + "</tbody></table></div>")
            continue
        item = re.match(r"^(\s*)(?:[-*]|(\d+)\.)\s+(.*)$", line)
        if item:
            tag = "ol" if item.group(2) else "ul"
            items: list[str] = []
            while i < len(lines):
                current = re.match(r"^(\s*)(?:[-*]|\d+\.)\s+(.*)$", lines[i])
                if current:
                    items.append(current.group(2))
                elif lines[i].startswith("  ") and lines[i].strip() and items:
                    items[-1] += " " + lines[i].strip()
                else:
                    break
                i += 1
            out.append(f"<{tag}>" + "".join(f"<li>{_inline(t, lang)}</li>" for t in items) + f"</{tag}>")
            continue
        paragraph = []
        while i < len(lines) and lines[i].strip() and not re.match(
                r"^(#{1,4}\s|\||!\[|\s*(?:[-*]|\d+\.)\s)", lines[i]):
            paragraph.append(lines[i].strip())
            i += 1
        out.append(f"<p>{_inline(' '.join(paragraph), lang)}</p>")
    return "\n".join(out)


def guide_source(section: str, lang: str) -> str:
    path = GUIDE_DIR / lang / f"{section}.md"
    if section not in SECTIONS or not path.is_file():
        raise Http404
    return path.read_text(encoding="utf-8")


@login_required
def help_page(request, name: str = "index"):
    """`/help/` (the guide's index, by role) and `/help/<section>/`, in the user's language."""
    lang = guide_language()
    body = render_markdown(guide_source(name, lang), lang)
    return render(request, "dealercrm/help.html", {
        "body": mark_safe(body),  # escaped in render_markdown
        "name": name, "title": SECTIONS[name], "sections": list(SECTIONS.items()),
    })
