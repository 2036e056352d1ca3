"""The tests of wsgiapp; tests.helpers is what they share."""
