"""The running suite seen from outside: starting its processes and calling its gateway.

Used by `keyart` (cli), the simulator (learning), the benchmarks and the tests;
no server imports it.
"""
