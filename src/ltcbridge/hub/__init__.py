"""The commissioner hub: receiving, storing and collating practices' releases."""
