"""Posture audit of a live AWS account (boto3), kept out of the Pulumi program: see ``checks``."""
