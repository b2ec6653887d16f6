"""Property-based and fuzz tests (hypothesis): bad input of every kind gets a clear, typed error.

Each property keeps `max_examples` modest and `deadline=None`, so the whole package runs in well
under a minute; `strategies` holds what the tests share (JSON values, document mutations).
"""
