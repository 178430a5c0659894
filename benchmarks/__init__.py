"""The mqttfast benchmarks; a package so that its modules never clash with the tests'."""
