"""The privacy officer's corner: the emergency queue with audited cases, and re-identification
requests under the two-person rule. See ``docs/policies/emergency.md``."""
