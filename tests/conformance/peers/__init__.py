"""The peers' own test suites, translated to losskit: one module per upstream file."""
