"""The mqttfast test suite; a package so that its modules never clash with the benchmarks'."""
