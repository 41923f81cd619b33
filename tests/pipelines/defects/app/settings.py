"""Seeded defect: credentials in source code."""

AWS_ACCESS_KEY_ID = "AKIAZ7Q3TWLM4DEF5XQP"
AWS_SECRET_ACCESS_KEY = "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"
