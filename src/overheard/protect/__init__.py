"""What staff hear and read: voice disguise, PII redaction, leak-tracing watermark."""
