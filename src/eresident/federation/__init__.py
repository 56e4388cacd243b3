"""Between region nodes: node keys, the trust list, signed messages (RFC 9421), outbox and inbox."""
