from contacts.tests.recorder import events  # noqa: F401
