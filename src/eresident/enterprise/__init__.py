"""Enterprise formation: name declaration and conflict check, USCC issuance, business licence."""
