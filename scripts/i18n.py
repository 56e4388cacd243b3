"""Keep the gettext catalogues in step with the code: `python scripts/i18n.py update`.

Extracts every marked message from the templates (`{% trans %}`, `_()`) and from Python
(`i18n.gettext(...)`), adds new ones to `src/eresident/locale/<lang>/LC_MESSAGES/messages.po` with
an empty translation, and marks messages no longer used as obsolete. Translators fill in the
`msgstr` lines; `tests/test_i18n.py` fails while any is empty.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "eresident"
LOCALES = {"zh": "zh_Hans_CN", "ar": "ar"}
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}


def extract() -> Catalog:
    template = Catalog(project="eresident", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
            PACKAGE, method_map=METHODS, options_map=OPTIONS, keywords={"_": None, "N_": None, "gettext": None,
                                                                       "ngettext": (1, 2)}):
        template.add(message, locations=[(filename, lineno)], auto_comments=comments, context=context)
    return template


def catalogue_path(code: str) -> Path:
    return PACKAGE / "locale" / code / "LC_MESSAGES" / "messages.po"


def update() -> None:
    template = extract()
    for code, babel_locale in LOCALES.items():
        path = catalogue_path(code)
        if path.exists():
            with path.open("rb") as handle:
                catalogue = read_po(handle, locale=babel_locale)
        else:
            catalogue = Catalog(locale=babel_locale, project="eresident", charset="utf-8")
        catalogue.update(template, no_fuzzy_matching=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalogue, width=100, omit_header=False, ignore_obsolete=True)
        missing = sum(1 for m in catalogue if m.id and not m.string)
        print(f"{code}: {len(catalogue)} messages, {missing} without a translation -> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["update"]:
        sys.exit(__doc__)
    update()
