"""Country codes: ISO 3166-1 for people, and the ICAO 9303 codes that passports carry."""

from __future__ import annotations

from functools import lru_cache

import pycountry

# ICAO Doc 9303 Part 3 codes that are not ISO 3166-1 alpha-3.
_ICAO_SPECIAL = {"D": "DE", "GBD": "GB", "GBN": "GB", "GBO": "GB", "GBP": "GB", "GBS": "GB",
                 "RKS": "XK"}


@lru_cache(maxsize=512)
def alpha2(code: str) -> str | None:
    """The ISO alpha-2 code for an alpha-2, alpha-3 or ICAO code; None if unknown."""
    code = code.strip().upper()
    if code in _ICAO_SPECIAL:
        return _ICAO_SPECIAL[code]
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else (
        pycountry.countries.get(alpha_3=code) if len(code) == 3 else None)
    return country.alpha_2 if country else None


@lru_cache(maxsize=512)
def alpha3(code: str) -> str | None:
    two = alpha2(code)
    if two is None:
        return None
    country = pycountry.countries.get(alpha_2=two)
    return country.alpha_3 if country else None


@lru_cache(maxsize=512)
def name(code: str) -> str:
    two = alpha2(code)
    country = pycountry.countries.get(alpha_2=two) if two else None
    return getattr(country, "common_name", None) or (country.name if country else code)


def all_countries() -> list[tuple[str, str]]:
    return sorted(((c.alpha_2, getattr(c, "common_name", None) or c.name)
                   for c in pycountry.countries), key=lambda pair: pair[1])
