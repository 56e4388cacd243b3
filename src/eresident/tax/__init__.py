"""Tax: registration of a new company with the tax bureau, its VAT taxpayer status, and its obligations."""
