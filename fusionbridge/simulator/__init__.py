"""In-process fakes of FusionSolar and REDEX that speak real HTTP, for tests, demo and benchmarks."""
