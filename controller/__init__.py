"""The sealer controller: a kopf operator that unseals SealedSecrets into Secrets."""
