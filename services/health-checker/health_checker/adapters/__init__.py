"""The health-checker's ports to the outside: tables, repositories, platforms, leases."""
