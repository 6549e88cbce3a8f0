/* Fixture: see check_breaker.c. No public declarations. */
