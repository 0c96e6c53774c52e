"""The real consultations of shared/reference/, loaded by `consult demo`."""
