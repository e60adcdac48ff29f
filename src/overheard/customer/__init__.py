"""The customer's privacy dashboard: recordings, who touched them, consent, retention, deletion, export."""
