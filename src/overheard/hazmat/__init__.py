"""The fenced corner: operations that can undo the platform's privacy guarantees.

Each one is narrow, has no options to get wrong, checks who is asking inside the service (not only
in the route), and writes an audit event with the household id in the same transaction, so the
household's own access log shows it. Nothing outside ``overheard.privacy`` should import this.
"""
