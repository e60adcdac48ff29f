"""The identity zone: who a household is. Read only by the customer's own views and audited break-glass.

Review-facing code must never import this package (an import contract checks it).
"""
