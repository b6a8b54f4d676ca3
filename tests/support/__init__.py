"""What the tests share: people, a clock, database set-up and readers, chat and Slack doubles.

Test modules and conftest files import from here; no test module imports another.
"""
