"""Entry points behind bin/ (thin: parse flags, call the library)."""
