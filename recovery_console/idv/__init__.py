"""Identity verification providers: a script step of
kind ``idv`` passes only on a document + liveness check done by an external
provider, whose signed callback the console verifies (docs/identity-verification.md)."""
