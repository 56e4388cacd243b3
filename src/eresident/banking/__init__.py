"""Banking: account-opening requests to partner banks, their signed answers, and the sandbox bank."""
